# The two commands: `make demo` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: install services lint test test-unit test-integration demo clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(STAMP) node_modules/.package-lock.json

services:
	bash .ci/services

lint: install
	$(VENV)/bin/ruff check provisioning triggers emulator tests function_app.py
	$(VENV)/bin/ruff format --check provisioning triggers function_app.py
	$(VENV)/bin/mypy --strict provisioning triggers
	$(VENV)/bin/lint-imports

test: install services lint
	$(VENV)/bin/pytest

test-unit: install
	$(VENV)/bin/pytest tests/unit

demo: install services
	$(PY) -m emulator.demo

clean:
	rm -rf .state .artifacts .pytest_cache .mypy_cache .ruff_cache
