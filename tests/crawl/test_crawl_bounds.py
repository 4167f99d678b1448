"""Polite crawl bounds: a crawl of an endless link space (the trap web, audit/testbed/trapweb.py) with the default
settings stops by itself, and the store's crawl stats and `provaudit crawl`'s summary say what was cut, per reason.
The bounds themselves (audit/crawl/bounds.py, audit/crawl/traps.py) on generated URLs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from audit.crawl.bounds import CUT_REASONS, PageAdmission, PageLimits
from audit.crawl.traps import calendar_position, repeated_segment
from audit.settings import DEFAULTS
from audit.store.db import Store
from audit.testbed.trapweb import TrapWeb
from conftest import ROOT

CRAWL_BOUND = 900  # seconds: the crawl must stop by itself well before (the endless web took 3.4 GB at 150 s)
# new links on every page of the exploding site: past AUDIT_MAX_LINKS_PER_PAGE, and light enough for a test (the
# benchmark, bench/trap_crawl.py, serves the 10,000)
LINKS_PER_PAGE = 1_500


def test_repeated_path_segments_are_a_trap():
    assert repeated_segment("http://h.test/a/b/a/b/a/b/", 3) is None  # three times: not yet
    assert repeated_segment("http://h.test/a/b/a/b/a/b/a/", 3) == "a"
    assert repeated_segment("http://h.test/2024/01/01/01/", 3) is None
    assert repeated_segment("http://h.test/x/x/x/x", 3) == "x"
    assert repeated_segment("http://[::1", 3) is None


def test_calendar_positions():
    day = calendar_position("http://h.test/cal?date=2024-06-15")
    assert day == ("h.test/cal?date", "date=2024-06-15")
    assert calendar_position("http://h.test/cal?date=2031-01-02")[0] == day[0]
    assert calendar_position("http://h.test/events?year=2031&month=7&lang=fr") == (
        "h.test/events?lang,month,year", "month=7&year=2031")
    assert calendar_position("http://h.test/archive?d=20240131")[1] == "d=20240131"
    assert calendar_position("http://h.test/article?id=12345") is None  # an id is no date
    assert calendar_position("http://h.test/page?p=2") is None


def test_page_admission_counts_each_bound():
    adm = PageAdmission(PageLimits(max_pages=6, max_pages_per_host=3, max_depth=4, segment_repeats=3, max_dates=2))
    assert adm.refusal("http://a.test/x", "a.test", 5) == "depth"
    assert adm.refusal("http://a.test/a/a/a/a", "a.test", 1) == "trap_repeated_segment"
    for i in range(3):
        assert adm.refusal(f"http://a.test/{i}", "a.test", 1) is None
        adm.admit(f"http://a.test/{i}", "a.test")
    assert adm.refusal("http://a.test/3", "a.test", 1) == "pages_per_host"
    for d in ("2024-01-01", "2024-01-02"):
        assert adm.refusal(f"http://b.test/c?date={d}", "b.test", 1) is None
        adm.admit(f"http://b.test/c?date={d}", "b.test")
    assert adm.refusal("http://b.test/c?date=2024-01-03", "b.test", 1) == "trap_calendar"
    assert adm.refusal("http://b.test/c?date=2024-01-01", "b.test", 1) is None  # a date already in: not a new one
    adm.admit("http://c.test/", "c.test")
    assert adm.refusal("http://d.test/", "d.test", 1) == "pages_total"
    unbounded = PageAdmission(PageLimits())
    assert unbounded.refusal("http://a.test/a/a/a/a/a?date=2024-01-01", "a.test", 10**6) is None


def test_every_bound_is_a_documented_setting_with_a_default():
    for name in ("AUDIT_MAX_PAGES", "AUDIT_MAX_PAGES_PER_HOST", "AUDIT_MAX_DEPTH", "AUDIT_MAX_LINKS_PER_PAGE",
                 "AUDIT_MAX_QUEUED_PER_HOST", "AUDIT_TRAP_SEGMENT_REPEATS", "AUDIT_TRAP_MAX_DATES"):
        assert DEFAULTS[name] > 0
    doc = (ROOT / "docs/settings.md").read_text(encoding="utf-8")
    for setting in {s for what in CUT_REASONS.values() for s in what.split() if s.startswith("AUDIT_")}:
        assert f"`{setting}`" in doc, setting


@pytest.fixture(scope="module")
def trap_crawl(tmp_path_factory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("traps") / "traps.duckdb"
    with TrapWeb(links_per_page=LINKS_PER_PAGE) as web:
        proc = subprocess.run([sys.executable, "-m", "audit.cli", "crawl", *web.start_urls, "--db", str(db),
                               "--no-throttle", "--no-warc"],
                              cwd=ROOT, capture_output=True, text=True, timeout=CRAWL_BOUND)
        served = web.pages_served
        hosts = {name: urlsplit(site.origin).hostname for name, site in web.sites.items()}
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return {"db": db, "stdout": proc.stdout, "served": served, "hosts": hosts}


def test_a_crawl_of_endless_links_stops_by_itself_within_the_default_bounds(trap_crawl):
    db: Path = trap_crawl["db"]
    hosts = trap_crawl["hosts"]
    with Store.open(db, read_only=True) as store:
        per_host = dict(store.query("SELECT host, count(*) FROM pages GROUP BY 1"))
        stats = json.loads(store.query("SELECT stats FROM crawls")[0][0])
        deepest = store.query("SELECT max(length(url)) FROM pages WHERE host = ?", [hosts["repeat"]])[0][0]
    assert stats["finish_reason"] == "finished"
    # every page admitted was fetched and recorded, and no host got more than its bound
    assert per_host[hosts["explode"]] == DEFAULTS["AUDIT_MAX_PAGES_PER_HOST"] == trap_crawl["served"]["explode"]
    assert per_host[hosts["calendar"]] <= DEFAULTS["AUDIT_TRAP_MAX_DATES"] + 1  # the start URL may be a date more
    assert per_host[hosts["repeat"]] == 6 and deepest < 60  # /a/ ... /a/b/a/b/a/b/: the next holds a fourth a
    cut = {k.removeprefix("provaudit/cut/"): v for k, v in stats.items() if k.startswith("provaudit/cut/")}
    assert set(cut) == {"pages_per_host", "links_per_page", "trap_calendar", "trap_repeated_segment"}, cut
    assert cut["links_per_page"] >= (LINKS_PER_PAGE - DEFAULTS["AUDIT_MAX_LINKS_PER_PAGE"]) * per_host[
        hosts["explode"]]
    assert cut["trap_repeated_segment"] >= 1 and cut["trap_calendar"] >= 1 and cut["pages_per_host"] >= 1
    # the summary says what was cut, per reason
    for reason in cut:
        assert f"cut: {CUT_REASONS[reason]}" in " ".join(trap_crawl["stdout"].split()), reason
