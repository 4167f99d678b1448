"""Synthetic data is unmistakable (issue 18): a store whose data comes from the built-in test web, by a crawl, by the
ingest of that crawl's WARC or by the ingest of a dataset exported from it, is marked so at the source
(``crawls.test_web``), and the report built on it carries the banner; a real WARC and a real photo folder are never
marked, nor is a crawl where only some responses carry the marker."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from audit.store.db import Store
from audit.testbed.exports import export_img2dataset, export_laion, export_wat
from audit.testweb_marker import BANNER, is_test_web, mark_run, marked_crawls
from conftest import provaudit


def flags(db: Path) -> list[tuple[str, bool | None, dict]]:
    with Store.open(db, read_only=True) as store:
        return [(str(c), t, json.loads(s) if s else {}) for c, t, s in
                store.query("SELECT crawl_id, test_web, stats FROM crawls ORDER BY crawl_id")]


def report(db: Path, out: Path) -> tuple[str, dict]:
    provaudit("audit", "--db", str(db))
    proc = provaudit("report", "--db", str(db), "--country", "FR", "--out", str(out / "r.html"))
    html = (out / "r.html").read_text(encoding="utf-8")
    data = json.loads((out / "r.json").read_text(encoding="utf-8"))
    assert (BANNER in proc.stdout) == data["test_web"]
    return html, data


def test_a_crawl_of_the_test_web_is_marked(crawled):
    db, crawl_id = crawled
    [(cid, test_web, stats)] = flags(db)
    assert cid == crawl_id and test_web is True
    assert stats["test_web_marked"] > 0 and stats["test_web_unmarked"] == 0


def test_the_ingest_of_the_test_webs_warc_is_marked_and_reported(crawled, tmp_path):
    db, _ = crawled
    with Store.open(db, read_only=True) as store:
        (warc,) = store.query("SELECT warc_path FROM crawls")[0]
    target = tmp_path / "from-warc.duckdb"
    provaudit("ingest", str(warc), "--db", str(target))
    [(_, test_web, stats)] = flags(target)
    assert test_web is True and stats["test_web_unmarked"] == 0
    with Store.open(target, read_only=True) as store:
        assert not store.query("SELECT count(*) FROM ground_truth")[0][0], "marked by the WARC, not by a truth"
        assert is_test_web(store)
    html, data = report(target, tmp_path)
    assert data["test_web"] is True and data["banner"] == BANNER
    assert f'<div class="testweb-banner" id="testweb-banner" role="note">{BANNER}</div>' in html


def test_real_archives_and_photos_are_never_marked(corpora, tmp_path):
    target = tmp_path / "real.duckdb"
    provaudit("ingest", str(corpora / "warc" / "pywb" / "iana.warc.gz"), "--db", str(target))
    provaudit("ingest", str(corpora / "photos" / "exif-samples" / "jpg"), "--db", str(target))
    rows = flags(target)
    assert len(rows) == 2 and all(t is not True for _, t, _ in rows)
    assert any(s.get("test_web_unmarked", 0) > 0 for _, _, s in rows), "the WARC's responses were judged"
    with Store.open(target, read_only=True) as store:
        assert not is_test_web(store) and marked_crawls(store) == []
    html, data = report(target, tmp_path)
    assert data["test_web"] is False and data["banner"] is None
    assert BANNER not in html and "testweb-banner\"" not in html


def test_a_laion_export_of_the_test_web_is_marked(small_web, tmp_path):
    out = tmp_path / "laion"
    export_laion(small_web, out)
    target = tmp_path / "laion.duckdb"
    provaudit("ingest", str(out), "--db", str(target), "--format", "table")
    [(_, test_web, stats)] = flags(target)
    assert test_web is True and stats["test_web_marked"] > 0 and stats["test_web_unmarked"] == 0
    html, data = report(target, tmp_path)
    assert data["test_web"] is True and BANNER in html


def test_img2dataset_and_wat_exports_of_the_test_web_are_marked(small_web, tmp_path):
    export_img2dataset(small_web, tmp_path / "i2d", layout="webdataset")
    i2d = tmp_path / "i2d.duckdb"
    provaudit("ingest", str(tmp_path / "i2d" / "images"), "--db", str(i2d))
    export_wat(small_web, tmp_path / "wat")
    wat = tmp_path / "wat.duckdb"
    provaudit("ingest", str(tmp_path / "wat" / "testweb.warc.wat.gz"), "--db", str(wat))
    for db in (i2d, wat):
        [(_, test_web, stats)] = flags(db)
        assert test_web is True and stats["test_web_marked"] > 0 and stats["test_web_unmarked"] == 0, db.name
        with Store.open(db, read_only=True) as store:
            assert is_test_web(store)


def test_a_site_sending_the_header_does_not_mark_a_crawl_of_other_sites(crawled, tmp_path):
    """The marker is only believed when every response of the run carries it: one real page without it among the
    test web's pages, and the run is not marked."""
    db, crawl_id = crawled
    copy = tmp_path / "mixed.duckdb"
    shutil.copy(db, copy)
    with Store.open(copy) as store:
        store.insert("pages", [{"crawl_id": crawl_id, "url": "https://example.org/", "host": "example.org",
                                "status": 200, "fetched_at": dt.datetime.now(dt.UTC),
                                "headers": json.dumps({"content-type": ["text/html"]})}])
        assert mark_run(store, crawl_id) is False
        assert not marked_crawls(store)
