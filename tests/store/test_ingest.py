"""Ingest real archives and real photo folders from ../shared/corpora."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from audit.errors import IngestError
from audit.ingest.run import ingest, is_archive
from audit.store.db import Store
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


# --- broken archives: every archive ingests, breaks are named with file and offset, records after them are kept ---

BROKEN = {  # archive -> what its error says
    "warc/warcio/example-bad.warc.gz.bad": "offset 0: a gzip member holds several records",
    "warc/pywb/example-bad.warc.gz.bad": "offset 0: a gzip member holds several records",
    "warc/warcio/example-bad-non-chunked.warc.gz": "offset 0: a gzip member holds several records",
    # its response's block is split over two gzip members: read whole (before: its body was lost and the second
    # member reported at offset 516 as an unreadable record)
    "warc/warcio/example-wrong-chunks.warc.gz": "offset 0: record continues over 1 more gzip member(s)",
    # its last record declares 12 bytes more than the file holds: read as cut short (before: no error)
    "warc/warcio/example-space-in-url.arc": "offset 151: record declares Content-Length 1,591, past the end",
    "warc/warcio/example-trunc.warc": "offset 1197: record length does not match its Content-Length",
    "warc/warcio/bad.arc": "offset 134: record declares Content-Length '-1'",
    "warc/pywb/bad.arc": "offset 262: record declares Content-Length 'abc'",
}


def test_every_archive_in_the_corpus_ingests(corpora, tmp_path):
    archives = sorted(p for p in (corpora / "warc").rglob("*") if p.is_file() and is_archive(p))
    assert len(archives) == 38  # all but README.md and urls.txt
    with Store.open(tmp_path / "s.duckdb") as store:
        for path in archives:
            result = ingest(store, [path])
            name = str(path.relative_to(corpora))
            for err in result.errors:
                assert err.startswith(f"{path}: offset "), err
            if name in BROKEN:
                assert any(BROKEN[name] in e for e in result.errors), (name, result.errors)
            else:
                assert all("record unreadable" not in e for e in result.errors), (name, result.errors)
    # the whole folder at once: archives in a folder are read as archives, the two text files recorded as files
    with Store.open(tmp_path / "folder.duckdb") as store:
        result = ingest(store, [corpora / "warc"])
        assert result.pages > 40
        (files,) = store.query("SELECT count(*) FROM sightings WHERE image_url LIKE 'file://%'")[0]
        assert files == 2


def test_non_chunked_gzip_is_read_whole(corpora, tmp_path):
    with Store.open(tmp_path / "a.duckdb") as store:
        bad = ingest(store, [corpora / "warc/pywb/example-bad.warc.gz.bad"])
        bad_pages = {r[0] for r in store.query("SELECT url FROM pages")}
    with Store.open(tmp_path / "b.duckdb") as store:
        ingest(store, [corpora / "warc/pywb/example.warc"])
        good_pages = {r[0] for r in store.query("SELECT url FROM pages")}
    assert bad.errors and bad_pages == good_pages and len(good_pages) == 2


def _record_offsets(path):
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        return [(it.get_record_offset(), it.get_record_length(), r.rec_type,
                 r.rec_headers.get_header("WARC-Target-URI")) for r in it]


def _urls(db):
    with Store.open(db, read_only=True) as store:
        pages = {r[0] for r in store.query("SELECT url FROM pages")}
        images = {r[0] for r in store.query("SELECT url FROM fetches WHERE sha256 IS NOT NULL")}
    return pages, images


def _broken_copy(src, tmp_path, name, damage):
    responses = [o for o in _record_offsets(src) if o[2] == "response"]
    offset, length, _, _ = responses[len(responses) // 2]
    data = src.read_bytes()
    out = tmp_path / name
    out.write_bytes(damage(data, offset, length))
    return out, offset


@pytest.mark.parametrize("src, damage", [
    # a gzip member in the middle of a real crawl overwritten with zeros (CRC and deflate data broken)
    ("warc/pywb/iana.warc.gz", lambda d, o, n: d[: o + n // 2] + bytes(64) + d[o + n // 2 + 64:]),
    # 200 bytes cut out of an uncompressed record: its Content-Length runs into the next record
    ("warc/ukwa-small/IAH-20080430204825-00000-blackbook-truncated.warc",
     lambda d, o, n: d[: o + n // 2] + d[o + n // 2 + 200:]),
    # garbage lines between two records
    ("warc/ukwa-small/IAH-20080430204825-00000-blackbook-truncated.warc",
     lambda d, o, n: d[: o + n] + b"garbage garbage\r\nmore garbage\r\n\r\n" + d[o + n:]),
], ids=["gzip-member-corrupt", "uncompressed-cut", "garbage-between"])
def test_ingest_resumes_after_a_broken_record(corpora, tmp_path, src, damage):
    src = corpora / src
    broken, offset = _broken_copy(src, tmp_path, "broken" + "".join(src.suffixes), damage)
    with Store.open(tmp_path / "clean.duckdb") as store:
        assert ingest(store, [src]).errors == []
    with Store.open(tmp_path / "broken.duckdb") as store:
        result = ingest(store, [broken])
    assert any(e.startswith(f"{broken}: offset ") and "resumed at the next record" in e for e in result.errors), \
        result.errors
    clean_pages, clean_images = _urls(tmp_path / "clean.duckdb")
    pages, images = _urls(tmp_path / "broken.duckdb")
    lost = (clean_pages - pages) | (clean_images - images)
    assert len(lost) <= 1  # at most the damaged record itself
    assert len(pages) >= len(clean_pages) - 1 and len(images) >= len(clean_images) - 1
    # records after the break are there
    after = {url for o, _, kind, url in _record_offsets(src) if kind == "response" and o > offset + 300}
    assert after & (clean_pages | clean_images)
    assert after & (clean_pages | clean_images) <= pages | images


def test_ingest_keeps_the_page_title_and_the_heading_nearest_each_image(tmp_path):
    """An archived page's ``<title>`` and the ``<h1>``-``<h3>`` before each image are stored as a crawl stores them
    (the same decoder), for the audit to read the places they name."""
    from audit.testbed.archives import flat, http_response, image, warc_record

    html = ("<html><head><title>Fête des Lumières à Lyon</title></head><body><img src='/a.png' alt='x'>"
            "<h2>Jour deux : Annecy</h2><img src='/b.png'></body></html>")
    warc = tmp_path / "a.warc"
    warc.write_bytes(flat([
        *warc_record("response", "http://example.org/p", http_response([html.encode()], "text/html; charset=utf-8")),
        *image("http://example.org/a.png", 1), *image("http://example.org/b.png", 2)]))
    with Store.open(tmp_path / "s.duckdb") as store:
        assert ingest(store, [warc]).errors == []
        assert store.query("SELECT title FROM pages") == [("Fête des Lumières à Lyon",)]
        assert sorted(store.query("SELECT image_url, heading FROM sightings")) == [
            ("http://example.org/a.png", None), ("http://example.org/b.png", "Jour deux : Annecy")]
