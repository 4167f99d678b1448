# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs, runs the demo: test web -> crawl -> DuckDB + WARC -> audit -> report
#   make test   creates .venv, installs with dev extras (and Chromium and redis-server for the browser and
#               shared-crawl tests, and pywb in .venv-pywb for the WACZ replay test), runs ruff, mypy, pytest
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test test-fast lint typecheck pytest browser redis pywb docs clean

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

# The report is tested in a real headless browser: Debian's Chromium and its driver.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "installing Debian's chromium and chromium-driver for the browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# Shared crawls are tested against a real Redis server on loopback: Debian's redis-server.
redis:
	@if ! command -v redis-server >/dev/null; then \
	  echo "installing Debian's redis-server for the shared-crawl tests"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi

# The WACZ replay test (tests/outputs/test_package.py) replays packages in pywb, Webrecorder's wayback machine. pywb
# pins redis==2.10.6 (we need redis>=5) and its older releases greenlet<3 (Playwright needs >=3), so it cannot share
# our environment: it gets its own, at the version pinned in tests/pywb-requirements.txt, and runs as a server.
PYWB_VENV ?= .venv-pywb
$(PYWB_VENV)/.installed: tests/pywb-requirements.txt
	$(PYTHON) -m venv $(PYWB_VENV)
	$(PYWB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/pywb-requirements.txt
	touch $@

pywb: $(PYWB_VENV)/.installed

pytest: $(VENV)/.installed-dev browser redis pywb
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

# The unit tests alone (tests/unit/: pure functions, no server, no store built): under a minute.
test-fast: $(VENV)/.installed-dev
	$(VENV)/bin/pytest -q tests/unit

# Regenerate the parts of docs/schema.md and docs/settings.md made from their single definitions.
docs: $(VENV)/.installed
	$(PY) -m audit.docs

clean:
	rm -rf demo-out .pytest_cache .mypy_cache .ruff_cache
