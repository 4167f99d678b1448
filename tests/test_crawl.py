"""End to end: a real Scrapy crawl over loopback HTTP of a small generated test web, into a real DuckDB file and
WARC, checked against the test web's ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from warcio.archiveiterator import ArchiveIterator

from audit.groundtruth import check_against_ground_truth, load_ground_truth
from audit.store import Store
from conftest import ROOT, crawl_args, only_crawl_id, provaudit


def test_crawl_finds_everything_the_ground_truth_holds(crawled, small_web):
    db, crawl_id = crawled
    with Store.open(db, read_only=True) as store:
        truth = check_against_ground_truth(store, crawl_id)
        assert truth["gt_image_urls"] == small_web.image_urls
        assert truth["image_urls_found"] == truth["gt_image_urls"]
        assert truth["sightings_found"] == truth["gt_sightings"] == small_web.sightings
        assert truth["bytes_identical"] == truth["gt_image_urls"]
        assert truth["gt_with_gps"] > 0
        assert truth["gps_decoded"] == truth["gt_with_gps"]
        assert truth["gps_where_none_kept"] == 0
        # every sighting is linked to a page the crawl fetched, and to its image content
        (orphans,) = store.query(
            "SELECT count(*) FROM sightings s WHERE NOT EXISTS "
            "(SELECT 1 FROM pages p WHERE p.crawl_id = s.crawl_id AND p.url = s.page_url)")[0]
        assert orphans == 0
        (unlinked,) = store.query("SELECT count(*) FROM sightings WHERE sha256 IS NULL "
                                  "AND image_url IN (SELECT image_url FROM ground_truth)")[0]
        assert unlinked == 0
        # decoded GPS equals the coordinates the generator embedded
        rows = store.query("SELECT g.image_url, i.gps_lat, i.gps_lon FROM ground_truth g "
                           "JOIN images i ON i.sha256 = g.sha256 WHERE list_contains(g.kept_metadata, 'gps')")
        gt = {json.loads(line)["image_url"]: json.loads(line)
              for line in small_web.ground_truth_path.read_text().splitlines() if line.strip()}
        for url, lat, lon in rows:
            exp_lat, exp_lon = gt[url]["gps"]
            assert abs(lat - exp_lat) < 1e-4 and abs(lon - exp_lon) < 1e-4, url
        # pages carry what a later audit needs
        (with_lang, total, with_ip) = store.query(
            "SELECT count(lang), count(*), count(server_ip) FROM pages WHERE error IS NULL")[0]
        assert total > 0 and with_lang == total and with_ip == total
        (finished,) = store.query("SELECT finished_at IS NOT NULL FROM crawls")[0]
        assert finished


def test_warc_holds_every_response(crawled, small_web):
    db, crawl_id = crawled
    warcs = list(db.parent.glob("*.warc.gz"))
    assert len(warcs) == 1 and crawl_id in warcs[0].name
    responses: dict[str, int] = {}
    with open(warcs[0], "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response":
                url = rec.rec_headers.get_header("WARC-Target-URI")
                responses[url] = rec.http_headers.get_statuscode() and int(rec.http_headers.get_statuscode())
                rec.content_stream().read()
    with Store.open(db, read_only=True) as store:
        urls = {r[0] for r in store.query("SELECT url FROM pages UNION SELECT final_url FROM fetches "
                                          "WHERE final_url IS NOT NULL")}
        hosts = {r[0] for r in store.query("SELECT DISTINCT host FROM pages")}
    assert urls <= set(responses)
    for host in hosts:
        assert f"http://{host}/robots.txt" in responses


def test_warc_reingests_to_the_same_sightings(crawled, tmp_path):
    db, crawl_id = crawled
    warc = next(db.parent.glob("*.warc.gz"))
    db2 = tmp_path / "from-warc.duckdb"
    provaudit("ingest", str(warc), "--db", str(db2))
    query = "SELECT image_url, page_url, sha256 FROM sightings WHERE page_url IS NOT NULL"
    with Store.open(db, read_only=True) as a, Store.open(db2, read_only=True) as b:
        crawled_rows = set(a.query(query))
        ingested_rows = set(b.query(query))
        counts = {t: b.count(t) for t in ("pages", "images", "sightings", "fetches")}
    assert ingested_rows == crawled_rows
    provaudit("ingest", str(warc), "--db", str(db2))  # again: idempotent
    with Store.open(db2, read_only=True) as b:
        assert {t: b.count(t) for t in counts} == counts
        assert b.count("crawls") == 1


def test_jobdir_pause_and_resume(small_web, server, crawled, tmp_path):
    db = tmp_path / "resumed.duckdb"
    jobdir = tmp_path / "job"
    first = provaudit(*crawl_args(small_web, server, db, "--jobdir", str(jobdir), "--max-pages", "3"))
    assert "closespider_pagecount" in first.stdout
    with Store.open(db, read_only=True) as store:
        partial = store.count("sightings")
    provaudit(*crawl_args(small_web, server, db, "--jobdir", str(jobdir)))
    crawl_id = only_crawl_id(db)  # one crawl, resumed under the same id
    with Store.open(db) as store:
        load_ground_truth(store, small_web.ground_truth_path)
        truth = check_against_ground_truth(store, crawl_id)
        total = store.count("sightings")
    assert 0 < partial < total
    assert truth["sightings_found"] == truth["gt_sightings"]
    assert truth["bytes_identical"] == truth["gt_image_urls"]
    full_db, _ = crawled
    with Store.open(full_db, read_only=True) as full:
        assert full.count("sightings") == total


def test_scrapy_command_line_works_from_the_project_root(small_web, server, tmp_path):
    env = dict(os.environ)
    scrapy = [sys.executable, "-m", "scrapy"]
    listed = subprocess.run([*scrapy, "list"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["provenance"]
    db = tmp_path / "scrapy.duckdb"
    # the site whose pages hold the most images
    counts: dict[str, int] = {}
    for row in small_web.ground_truth():
        for page in row["page_urls"]:
            counts[page.split("/")[2]] = counts.get(page.split("/")[2], 0) + 1
    busiest = max(counts, key=lambda h: counts[h])
    start = next(u for u in small_web.start_urls if u.split("/")[2] == busiest)
    proc = subprocess.run(
        [*scrapy, "crawl", "provenance", "-a", f"start_urls={start}", "-s", f"AUDIT_DB={db}",
         "-s", f"AUDIT_PROXY={server.proxy_url}", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "LOG_LEVEL=WARNING"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    with Store.open(db, read_only=True) as store:
        assert store.count("pages") > 0
        assert store.count("images") > 0
        hosts = {r[0] for r in store.query("SELECT DISTINCT host FROM pages")}
    assert hosts == {start.split("/")[2]}  # stayed within the start URL's domain
