"""Shared fixtures. The tests are grouped by what they need, one folder each, and each folder is also a marker
(``pytest -m unit``): see :data:`GROUPS`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audit.store.db import Store
from audit.testbed.groundtruth import load_ground_truth
from audit.testbed.testweb import TestWeb, TestWebServer, build_web

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPORA = SHARED / "corpora"

# folder (and marker) -> what its tests need
GROUPS = {
    "unit": "nothing but Python and small files: pure functions, in-process (make test-fast)",
    "store": "real DuckDB stores, archives, worker processes, the demo store",
    "crawl": "real crawls: loopback web servers, Scrapy, Redis",
    "outputs": "the demo store's reports, sweeps, verifications and lookups, a headless browser, notebooks",
}
# session fixtures that build a test web, crawl it or run the demo: never in tests/unit (tests/unit/test_groups.py)
HEAVY_FIXTURES = frozenset({"small_web", "server", "crawled", "audited_store", "demo_out", "store_path", "store"})


def pytest_configure(config: pytest.Config) -> None:
    for name, needs in GROUPS.items():
        config.addinivalue_line("markers", f"{name}: {needs}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = item.path.parent.name
        if group in GROUPS:
            item.add_marker(group)


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.fail(f"the shared test corpora are missing: expected {CORPORA} beside the project")
    return CORPORA


def provaudit(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"provaudit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def small_web(tmp_path_factory) -> TestWeb:
    return build_web(tmp_path_factory.mktemp("web"), photos=60, seed=11)


@pytest.fixture(scope="session")
def server(small_web):
    with TestWebServer(small_web) as srv:
        yield srv


def crawl_args(web: TestWeb, server: TestWebServer, db: Path, *extra: str) -> list[str]:
    args = ["crawl", *web.start_urls, "--db", str(db), "--proxy", server.proxy_url, "--no-throttle"]
    for d in web.allowed_domains:
        args += ["--allowed-domain", d]
    return args + list(extra)


def only_crawl_id(db: Path) -> str:
    with Store.open(db, read_only=True) as store:
        rows = store.query("SELECT crawl_id FROM crawls")
    assert len(rows) == 1
    return str(rows[0][0])


@pytest.fixture(scope="session")
def crawled(small_web, server, tmp_path_factory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("crawl") / "store.duckdb"
    provaudit(*crawl_args(small_web, server, db))
    crawl_id = only_crawl_id(db)
    with Store.open(db) as store:
        load_ground_truth(store, small_web.ground_truth_path)
    return db, crawl_id




@pytest.fixture(scope="session")
def audited_store(crawled, tmp_path_factory) -> Path:
    """A copy of the crawled test web's store, audited (signals, clusters, attributions)."""
    import shutil

    db, _ = crawled
    copy = tmp_path_factory.mktemp("audited") / "store.duckdb"
    shutil.copy(db, copy)
    provaudit("audit", "--db", str(copy))
    return copy


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory) -> Path:
    """One real `provaudit demo` run on a 60-photo test web (crawled, audited, reported, deletion verified), shared
    by the tests that read its outputs. Tests must not write into it: copy what they change."""
    out = tmp_path_factory.mktemp("demo")
    provaudit("demo", "--out", str(out), "--photos", "60")
    return out


@pytest.fixture(scope="session")
def store_path(demo_out) -> Path:
    """The shared demo run's store."""
    return demo_out / "provenance.duckdb"


@pytest.fixture(scope="session")
def store(store_path):
    """The shared demo run's store, opened read-only."""
    s = Store.open(store_path, read_only=True)
    yield s
    s.close()
