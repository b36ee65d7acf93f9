# traitsweb: `make run` and `make test` do all set-up themselves (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
GATEWAYS ?= 2
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup system venv run test lint bench bench-smoke soak compose-test screenshot clean

setup: system venv

system:
	@scripts/system-deps.sh base browser desktop

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[gateway,desktop,runner,test,bench]'
	touch $@

## Run the whole stack in the foreground until Ctrl-C: http://127.0.0.1:$(PORT)
run: setup
	$(PY) -m runner --gateways $(GATEWAYS) --port $(PORT)

## Every test, against real RabbitMQ, real HTTP and a real browser.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

## Benchmarks (issue 5): rewrites docs/benchmarks.md (~15 min); bench-smoke: tiny run, report in .run/bench-smoke/
bench: setup
	$(PY) -m bench

bench-smoke: setup
	$(PY) -m bench --quick

## A screenshot of the live desktop window under Xvfb (a small stack plus chat traffic):
## docs/screenshot-desktop.png
screenshot: setup
	PYTHONPATH=. xvfb-run -a -s "-screen 0 1280x800x24" $(PY) scripts/screenshot.py docs/screenshot-desktop.png

clean:
	rm -rf .run .pytest_cache .hypothesis
