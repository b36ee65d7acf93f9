# traitsweb: `make run` and `make test` do all set-up themselves (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
GATEWAYS ?= 2
# RabbitMQ nodes: 1, or 3 for a cluster (docs/scaling.md)
BROKERS ?= 1
#: model processes: one active, the others standbys following the journal (MODELS=2)
MODELS ?= 1
PORT ?= 8000
# pkg.module:factory of the model to serve (empty: the chat)
MODEL ?=
PYTEST_ARGS ?=
#: what runs in this process alone: no RabbitMQ node, browser, Qt window or containers
IN_PROCESS := not stack and not browser and not gui and not compose

.PHONY: setup system containers venv run desktop check test lint bench bench-smoke soak compose-test compose-test-cluster screenshot clean

setup: system venv

system:
	@scripts/system-deps.sh base browser desktop bench

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
	$(PY) -m runner serve $(MODEL) --gateways $(GATEWAYS) --brokers $(BROKERS) --models $(MODELS) --port $(PORT)

## Lint, then every in-process test (the gateway's HTTP contract on the memory broker, the library's units):
## well under a minute, nothing to start.
check: lint
	$(PY) -m pytest -q -m "$(IN_PROCESS)" $(PYTEST_ARGS)

## ruff over the repository (rules in pyproject.toml), mypy --strict on the library.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict traitsweb/

## A desktop on the running `make run` stack: the window with DISPLAY, else PNGs in .run/local/desktop-snapshots
desktop: setup
	$(PY) -m runner.desktop

## Every test, against real RabbitMQ, real HTTP and a real browser; and the compose stack under podman
## (tests/compose: skipped, with the reason, when podman cannot run here).
test: setup containers
	$(PY) -m pytest $(PYTEST_ARGS)

## The fault tests again with ten times the clients and messages. Each wait of a fault test is bounded
## (tests/faults/load.py: MORE_TIMEOUT, SETTLE_TIMEOUT); the longest test's waits add up to ~900 s, so the
## per-test timeout is set above that here, and a stuck wait fails with its own message first.
SOAK_TIMEOUT ?= 1200
soak: setup
	TRAITSWEB_SOAK=1 $(PY) -m pytest -s --timeout=$(SOAK_TIMEOUT) tests/faults $(PYTEST_ARGS)

## compose.yaml for real: stand-in base images from Debian's packages, images, `--scale gateway=3`,
## the HTTP integration suite against the published port, always `down -v`.
compose-test: setup containers
	$(PY) -m runner.compose_harness

## The same with compose.cluster.yaml: 3 RabbitMQ nodes clustered by configuration, one killed under a round trip
compose-test-cluster: setup containers
	$(PY) -m runner.compose_harness --cluster

## Benchmarks: traitsweb beside the broker floor, Nchan and python-socketio, rewrites docs/benchmarks.md (~45 min);
## bench-smoke: the same at a tiny size, report in .run/bench-smoke/
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
	rm -rf .run/screenshot
	PYTHONPATH=. xvfb-run -a -s "-screen 0 1280x800x24" $(PY) scripts/screenshot.py \
		docs/screenshot-desktop-taskboard.png --model examples.taskboard:create --seconds 6
	TRAITSWEB_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/gateway/test_browser.py -k two_pages

clean:
	rm -rf .run .pytest_cache .hypothesis
