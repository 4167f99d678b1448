# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs, runs the demo: test web -> crawl -> DuckDB + WARC -> audit -> report
#   make test   creates .venv, installs with dev extras (and Chromium and redis-server for the browser and
#               shared-crawl tests, and pywb in .venv-pywb for the WACZ replay test), runs ruff, mypy, pytest
# and to explore a store:
#   make notebooks   installs JupyterLab and matplotlib into .venv (the notebooks extra) and opens notebooks/ in
#                    JupyterLab (NOTEBOOKS_BROWSER=0: no browser is opened, JupyterLab prints its URL)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# every install is held to the exact versions of constraints.txt (`make lock` renews them)
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test test-fast lint typecheck pytest browser redis pywb docs notebooks lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-notebooks: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[dev,notebooks]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

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

# Renew the pins: resolve pyproject.toml's ranges afresh (the main environment with its dev extra, and pywb's) in
# throwaway environments and write what they installed to constraints.txt and tests/pywb-requirements.txt. Then run
# `make test` on a fresh clone before committing them.
LOCK_DIR ?= .lock
lock:
	rm -rf $(LOCK_DIR) && $(PYTHON) -m venv $(LOCK_DIR)/main && $(PYTHON) -m venv $(LOCK_DIR)/pywb
	$(LOCK_DIR)/main/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(LOCK_DIR)/pywb/bin/python -m pip install --quiet --disable-pip-version-check pywb
	{ sed -n '/^#/p' constraints.txt; $(LOCK_DIR)/main/bin/python -m pip freeze --exclude-editable | sort -f; } \
	  > constraints.txt.new && mv constraints.txt.new constraints.txt
	{ sed -n '/^#/p' tests/pywb-requirements.txt; $(LOCK_DIR)/pywb/bin/python -m pip freeze | sort -f; } \
	  > tests/pywb-requirements.txt.new && mv tests/pywb-requirements.txt.new tests/pywb-requirements.txt
	rm -rf $(LOCK_DIR)

# Regenerate the parts of docs/schema.md and docs/settings.md made from their single definitions.
docs: $(VENV)/.installed
	$(PY) -m audit.docs

# The notebooks (notebooks/*.ipynb) in JupyterLab, with this project's environment as their kernel. They read the
# demo's store unless PROVAUDIT_STORE names another (make demo writes demo-out/provenance.duckdb). JupyterLab is told
# not to fetch its news feed, check for updates or search PyPI for extensions: nothing is downloaded once it is
# installed. NOTEBOOKS_BROWSER=0: no browser is opened (JupyterLab prints its URL); as root (a container),
# --allow-root.
NOTEBOOKS_BROWSER ?= 1
JUPYTER_ROOT := $(shell [ "$$(id -u)" -eq 0 ] && echo --allow-root)
notebooks: $(VENV)/.installed-notebooks
	$(VENV)/bin/jupyter lab $(if $(filter 0 no false,$(NOTEBOOKS_BROWSER)),--no-browser) $(JUPYTER_ROOT) \
	  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	  --LabApp.extension_manager=readonly notebooks/

clean:
	rm -rf demo-out .pytest_cache .mypy_cache .ruff_cache
