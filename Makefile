# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs provenance-audit, runs the demo (test web -> crawl -> DuckDB + WARC)
#   make test   creates .venv, installs with the dev extras, runs ruff, mypy and the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint typecheck pytest bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/provaudit demo --out demo-out

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check audit spiders tests bench

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

pytest: $(VENV)/.installed-dev
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

clean:
	rm -rf demo-out .pytest_cache .mypy_cache .ruff_cache
