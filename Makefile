# churnlake: `make demo` runs the whole pipeline on the bundled data; `make test` runs the tests.
# Both set everything up on a fresh machine (Python 3.11 + Java 17): the venv with pinned
# packages, and the Delta Lake jars (cached in ~/.cache/churnlake/ivy after the first run).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DATE ?= $(shell date -u +%Y-%m-%d)
PYTEST_ARGS ?=

.PHONY: setup venv jars demo test unit clean help

help:
	@echo "make demo   - set up and run the whole pipeline on the bundled Telco data"
	@echo "make test   - set up and run the test suite"
	@echo "make setup  - only create the venv and resolve the Delta jars"

setup: venv jars

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: churnlake needs Python 3.11" >&2; exit 2; }
	@command -v java >/dev/null || { echo "java not found: churnlake needs a Java 17 runtime" >&2; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

jars: $(VENV)/.jars-resolved

# Resolving is a no-op (offline) when the user's Ivy cache already holds the jars.
$(VENV)/.jars-resolved: $(VENV)/.installed conf/spark-defaults.conf
	$(PY) -m churnlake.cli resolve-jars
	touch $@

demo: setup
	$(PY) -m churnlake.cli demo --run-date $(RUN_DATE)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

clean:
	rm -rf build state logs reports lakehouse/bronze/* lakehouse/silver/* lakehouse/gold/* data/inbox
