# traitsweb: `make run` and `make test` do all set-up themselves (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
GATEWAYS ?= 2
PORT ?= 8000
# pkg.module:factory of the model to serve (empty: the chat)
MODEL ?=
PYTEST_ARGS ?=

.PHONY: setup system containers venv run test lint bench bench-smoke soak compose-test screenshot clean

setup: system venv

system:
	@scripts/system-deps.sh base browser desktop

## podman, runc, debootstrap for the compose test (see docs/compose.md)
containers:
	@scripts/system-deps.sh containers

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[gateway,desktop,runner,test,bench]'
	touch $@

## Run the whole stack in the foreground until Ctrl-C: http://127.0.0.1:$(PORT) (MODEL=pkg.module:factory)
run: setup
	$(PY) -m runner serve $(MODEL) --gateways $(GATEWAYS) --port $(PORT)

## Every test, against real RabbitMQ, real HTTP and a real browser; and the compose stack under podman
## (tests/compose: skipped, with the reason, when podman cannot run here).
test: setup containers
	$(PY) -m pytest $(PYTEST_ARGS)

## The fault tests again with ten times the clients and messages.
soak: setup
	TRAITSWEB_SOAK=1 $(PY) -m pytest -s tests/faults $(PYTEST_ARGS)

## compose.yaml for real: stand-in base images from Debian's packages, images, `--scale gateway=3`,
## the HTTP integration suite against the published port, always `down -v`.
compose-test: setup containers
	$(PY) -m runner.compose_harness

## Benchmarks (issue 5): rewrites docs/benchmarks.md (~15 min); bench-smoke: tiny run, report in .run/bench-smoke/
bench: setup
	$(PY) -m bench

bench-smoke: setup
	$(PY) -m bench --quick

## Screenshots of the live desktop window under Xvfb (a small stack plus chat traffic):
## docs/screenshot-desktop.png; and its generated window for the instrument: docs/screenshot-desktop-instrument.png
screenshot: setup
	PYTHONPATH=. xvfb-run -a -s "-screen 0 1280x800x24" $(PY) scripts/screenshot.py docs/screenshot-desktop.png
	rm -rf .run/screenshot
	PYTHONPATH=. xvfb-run -a -s "-screen 0 1280x800x24" $(PY) scripts/screenshot.py \
		docs/screenshot-desktop-instrument.png --model examples.instrument:create --seconds 14
	TRAITSWEB_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/gateway/test_browser.py -k two_pages

clean:
	rm -rf .run .pytest_cache .hypothesis
