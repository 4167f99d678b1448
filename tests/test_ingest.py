"""Ingest real archives and real photo folders from ../shared/corpora."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from audit.ingest import IngestError, ingest, is_archive
from audit.store import Store
from conftest import ROOT


def test_real_crawl_archive_links_images_to_pages(corpora, tmp_path):
    warc = corpora / "warc/pywb/iana.warc.gz"
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc])
        assert result.errors == []
        assert result.pages > 0 and result.images > 0
        # images referenced by the archived pages and archived themselves are linked to those pages
        (linked,) = store.query("SELECT count(*) FROM sightings WHERE sha256 IS NOT NULL AND page_url IS NOT NULL")[0]
        assert linked > 0
        (readable,) = store.query("SELECT count(*) FROM images WHERE error IS NULL AND width > 0")[0]
        assert readable > 0
        (kind,) = store.query("SELECT kind FROM crawls")[0]
        assert kind == "warc"


@pytest.mark.parametrize("name", [
    "warc/warcio/example.warc.gz", "warc/warcio/example.arc", "warc/warcio/example.arc.gz",
    "warc/ukwa-small/IAH-20080430204825-00000-blackbook-truncated.warc.gz",
    "warc/ukwa-small/IAH-20080430204825-00000-blackbook-truncated.arc.gz",
    "warc/ukwa-small/IAH-urls-wget.warc.gz",
])
def test_archives_of_several_kinds_ingest(corpora, tmp_path, name):
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [corpora / name])
        assert result.pages > 0, result
        # one row per page URL: an archive holding two captures of a URL keeps the first
        assert 0 < store.count("pages") <= result.pages
        (distinct,) = store.query("SELECT count(DISTINCT url) FROM pages")[0]
        assert distinct == store.count("pages")


def test_reingest_is_idempotent(corpora, tmp_path):
    paths = [corpora / "warc/pywb/iana.warc.gz", corpora / "photos/exif-samples/jpg/gps"]
    with Store.open(tmp_path / "s.duckdb") as store:
        first = ingest(store, paths)
        counts = {t: store.count(t) for t in ("crawls", "pages", "fetches", "images", "sightings")}
        second = ingest(store, list(reversed(paths)))
        assert second.crawl_id == first.crawl_id
        assert {t: store.count(t) for t in counts} == counts


def test_broken_archives_are_named_not_fatal(corpora, tmp_path):
    broken = [corpora / "warc/warcio/example-trunc.warc", corpora / "warc/warcio/bad.arc",
              corpora / "warc/warcio/example-bad.warc.gz.bad", corpora / "warc/warcio/example-wrong-chunks.warc.gz"]
    good = corpora / "warc/warcio/example.warc.gz"
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [*broken, good])
        assert store.count("pages") >= 1  # the good archive after the broken ones is still read
        for err in result.errors:
            assert "warc/warcio/" in err


def test_folder_of_photos_keeps_gps(corpora, tmp_path):
    folder = corpora / "photos/exif-samples/jpg/gps"
    files = sorted(p for p in folder.iterdir() if p.is_file())
    photos = [p for p in files if p.suffix.lower() == ".jpg"]
    assert len(photos) == len(files) - 1  # and a README, which is recorded as unreadable, not dropped
    with Store.open(tmp_path / "s.duckdb") as store:
        ingest(store, [folder])
        assert store.count("sightings") == len(files)
        (with_gps,) = store.query("SELECT count(*) FROM images WHERE gps_lat IS NOT NULL")[0]
        assert with_gps == len(photos)
        (unreadable,) = store.query("SELECT count(*) FROM images WHERE error LIKE 'not a readable image%'")[0]
        assert unreadable == 1
        (page_urls,) = store.query("SELECT count(page_url) FROM sightings")[0]
        assert page_urls == 0
        urls = {r[0] for r in store.query("SELECT image_url FROM sightings")}
        assert urls == {p.resolve().as_uri() for p in files}


def test_missing_path_is_a_clear_error(tmp_path):
    with Store.open(tmp_path / "s.duckdb") as store, pytest.raises(IngestError, match="no such file"):
        ingest(store, [tmp_path / "nope.warc.gz"])


def test_archive_sniffing(corpora, tmp_path):
    assert is_archive(corpora / "warc/warcio/example.warc.gz")
    assert is_archive(corpora / "warc/pywb/example-bad.warc.gz.bad")  # by content, not name
    assert not is_archive(corpora / "photos/exif-samples/jpg/gps/DSCN0010.jpg")


def test_cli_ingest_and_inspect(corpora, tmp_path):
    db = tmp_path / "cli.duckdb"
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "ingest", str(corpora / "warc/warcio/example.warc.gz"),
                           "--db", str(db)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "pages fetched" in proc.stdout
    missing = subprocess.run([sys.executable, "-m", "audit.cli", "ingest", str(tmp_path / "none"), "--db", str(db)],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr

    gps = sorted((corpora / "photos/exif-samples/jpg/gps").iterdir())[:3]
    pdf = next((corpora / "photos/exiftool-t-images").glob("*.pdf"))
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "inspect", "--json", *map(str, gps), str(pdf)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objs) == 4
    keys = {"path", "sha256", "format", "width", "height", "phash", "dhash", "gps", "taken_at", "utc_offset",
            "location", "error"}
    for obj in objs:
        assert keys <= set(obj)
    for obj in objs[:3]:
        assert obj["error"] is None and obj["gps"] is not None and len(obj["phash"]) == 16
        # the image-level signals and attribution (these photos were taken in Tuscany)
        assert [s["kind"] for s in obj["signals"]] == ["exif_gps"]
        assert obj["signals"][0]["country"] == "IT" and obj["signals"][0]["evidence"].startswith("EXIF GPS ")
        assert obj["country"] == "IT" and obj["attribution"]["tier"] == "strong"
    assert objs[3]["error"] and objs[3]["sha256"]
    assert objs[3]["signals"] == [] and objs[3]["country"] is None
