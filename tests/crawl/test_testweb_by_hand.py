"""A hand crawl of the test web is one command (`provaudit crawl --testweb DIR`), a store crawled by hand gets the
ground truth with `provaudit testweb truth`, and `testweb serve` prints every start URL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

from audit.store.db import Store
from conftest import ROOT, provaudit


def test_crawl_testweb_is_one_command_and_loads_the_truth(small_web, tmp_path):
    db = tmp_path / "hand.duckdb"
    proc = provaudit("crawl", "--testweb", str(small_web.root), "--db", str(db))
    assert "ground truth of the test web loaded" in proc.stderr
    with Store.open(db, read_only=True) as store:
        pages = {r[0] for r in store.query("SELECT DISTINCT page_host FROM sightings")}
        truth = store.query("SELECT count(*) FROM ground_truth")[0][0]
    assert truth > 0 and len(pages) >= len(small_web.start_urls) // 2
    # the last progress line counts robots.txt refusals once, as refusals, and the other failures as errors
    (done,) = [line for line in proc.stderr.splitlines() if line.startswith("crawl: done, ")]
    with Store.open(db, read_only=True) as store:
        refusals = store.query("SELECT count(*) FROM fetches WHERE error LIKE '%Forbidden by robots.txt%'")[0][0]
        failed = store.query("SELECT count(*) FROM fetches WHERE error IS NOT NULL AND error NOT LIKE "
                             "'%Forbidden by robots.txt%'")[0][0]
        failed += store.query("SELECT count(*) FROM pages WHERE error IS NOT NULL")[0][0]
        stat = json.loads(store.query("SELECT stats FROM crawls")[0][0]).get("robotstxt/forbidden", 0)
    assert refusals and stat >= refusals
    assert f"robots.txt refusals {stat:,}" in done
    assert (f"errors {failed:,}" in done) if failed else ("errors" not in done)
    provaudit("audit", "--db", str(db))
    ev = provaudit("evaluate", "--db", str(db), "--json")
    assert '"precision' in ev.stdout
    bad = provaudit("crawl", "--testweb", str(tmp_path / "nothing"), "--db", str(tmp_path / "x.duckdb"), check=False)
    assert bad.returncode == 1 and "is not a built test web" in bad.stderr
    both = provaudit("crawl", "https://example.org/", "--testweb", str(small_web.root), "--db",
                     str(tmp_path / "y.duckdb"), check=False)
    assert both.returncode == 1 and "give no URL" in both.stderr


def test_testweb_truth_fills_a_store_crawled_by_hand(crawled, small_web, tmp_path):
    db, _ = crawled
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    with Store.open(copy) as store:
        store.con.execute("DELETE FROM ground_truth")
    out = provaudit("testweb", "truth", "--dir", str(small_web.root), "--db", str(copy))
    with Store.open(copy, read_only=True) as store, Store.open(db, read_only=True) as orig:
        assert store.query("SELECT count(*) FROM ground_truth") == orig.query("SELECT count(*) FROM ground_truth")
        known = store.query("SELECT count(DISTINCT image_url) FROM sightings JOIN ground_truth USING (image_url)")
    assert f"{known[0][0]:,} of the store's image URLs are in it" in out.stdout
    again = provaudit("testweb", "truth", "--dir", str(small_web.root), "--db", str(copy))
    assert again.returncode == 0


def test_serve_prints_every_start_url(small_web):
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "testweb", "serve", "--dir", str(small_web.root),
                             "--photos", str(small_web.photos), "--seed", str(small_web.seed), "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("then load its ground truth"):
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = "\n".join(lines)
    for url in small_web.start_urls:
        assert f"  {url}" in lines, url
    assert f"provaudit crawl --testweb {small_web.root}" in text
    assert "..." not in text
