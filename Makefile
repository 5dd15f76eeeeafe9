# The two commands: `make demo` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: install services lint test test-unit test-integration demo playground bench clean check-infra soak

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# The `passwordless` console script (pyproject.toml), installed editable so it runs this checkout.
EDITABLE := $(VENV)/.editable-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

$(EDITABLE): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.editable-* && touch $(EDITABLE)

# checkov pins packaging<24 and pytest 9 needs packaging>=24: checkov gets a virtualenv of its own.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat infra/requirements-checkov.txt | sha1sum | cut -c1-12)

$(CHECKOV_STAMP): infra/requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	rm -f $(CHECKOV_VENV)/.installed-* && touch $(CHECKOV_STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# Headless Chromium renders the HTML report in a test (Debian's package; installing needs root).
/usr/bin/chromium:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

install: $(STAMP) $(EDITABLE) node_modules/.package-lock.json /usr/bin/chromium

services:
	bash .ci/services

lint: install
	$(VENV)/bin/ruff check provisioning triggers emulator tests function_app.py
	$(VENV)/bin/ruff format --check provisioning triggers function_app.py
	$(VENV)/bin/mypy --strict provisioning triggers
	$(VENV)/bin/lint-imports

# The deployment under infra/: every Bicep file parses (pycep-parser), modules and settings agree with
# the code (tests/infra), and checkov passes with each waiver's reason printed.
check-infra: $(STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/pytest -q tests/infra
	$(PY) infra/checkov_gate.py --checkov $(CHECKOV_VENV)/bin/checkov infra

test: install services lint check-infra
	$(VENV)/bin/pytest

# The model-based histories of tests/model, twenty times as many as make test runs, new random ones
# each time (make test replays the same derandomized set).
soak: install services
	MODEL_SOAK=1 $(VENV)/bin/pytest -q tests/model --timeout=3600

test-unit: install
	$(VENV)/bin/pytest tests/unit

demo: install services
	$(PY) -m emulator.demo

# Try it by hand: the emulator with a small estate on fixed ports, Azurite, the local databases, the
# MySQL endpoint, a local host for the function app and a working local.settings.json (README).
PLAYGROUND_ARM_PORT ?= 8443
PLAYGROUND_HOST_PORT ?= 7071
PLAYGROUND_MYSQL_PORT ?= 13306
playground: install services
	$(PY) -m emulator.playground --arm-port $(PLAYGROUND_ARM_PORT) --host-port $(PLAYGROUND_HOST_PORT) \
	  --mysql-port $(PLAYGROUND_MYSQL_PORT)

# Every benchmark under bench/, side by side in one run: bench/results.json and a table of targets.
bench: install services
	$(PY) -m bench.run_all

clean:
	rm -rf .state .artifacts .pytest_cache .mypy_cache .ruff_cache
