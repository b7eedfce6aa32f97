# cdrweb: `make run` and `make test` are all a new machine needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MANAGE := $(PY) manage.py
PYTEST_ARGS ?=

.PHONY: run test lint fmt migrations-check demo bench ci setup serve chromium clean

$(VENV)/.installed: requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

.env:
	$(PYTHON) scripts/init_env.py

setup: $(VENV)/.installed .env
	mkdir -p var
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0

## Set up, migrate, load the demo, then serve on 127.0.0.1:8000 with a worker (Ctrl-C stops both).
run: setup
	$(MANAGE) load_demo
	$(MANAGE) setup_schedules
	$(MANAGE) serve

## The whole test suite on SQLite (browser journeys skip when chromium is absent outside CI).
test: $(VENV)/.installed-dev
	CDRWEB_TESTING=1 $(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

fmt: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(VENV)/.installed
	CDRWEB_TESTING=1 $(MANAGE) makemigrations --check --dry-run

demo: setup
	$(MANAGE) load_demo

bench: setup
	$(PY) -m benchmarks

chromium:
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

ci:
	.ci/run

clean:
	rm -rf var/static .pytest_cache
