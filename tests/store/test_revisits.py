"""WARC revisit records: resolved to their original within a file and across the files of one ingest, each capture
recorded at its own URI and date; revisits with no original counted and named."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter
from warcs import png, write_response, write_revisit

from audit.ingest.run import ingest
from audit.store.db import Store

PYWB = "warc/pywb"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``provaudit ARGS`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _revisits(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for record in ArchiveIterator(fh) if record.rec_type == "revisit")


def _utc(value: object) -> dt.datetime:
    assert isinstance(value, dt.datetime)
    return value.astimezone(dt.UTC)


def test_real_crawl_revisits_are_all_resolved(corpora, tmp_path):
    warc = corpora / PYWB / "iana.warc.gz"
    expected = _revisits(warc)
    assert expected > 100  # the file is a real crawl with many revisits
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        assert result.errors == []
        assert (result.revisits_resolved, result.revisits_unresolved) == (expected, 0)
        (stats,) = store.query("SELECT stats FROM crawls")[0]
        assert json.loads(stats)["revisits"] == {"resolved": expected, "unresolved": 0}


def test_url_agnostic_revisit_across_files(corpora, tmp_path):
    orig = corpora / PYWB / "example-url-agnostic-orig.warc.gz"
    revisit = corpora / PYWB / "example-url-agnostic-revisit.warc.gz"
    assert (_revisits(orig), _revisits(revisit)) == (0, 1)
    with revisit.open("rb") as fh:
        (rec,) = [r for r in ArchiveIterator(fh) if r.rec_type == "revisit"]
        url = rec.rec_headers.get_header("WARC-Target-URI")
        stamp = rec.rec_headers.get_header("WARC-Date")
        when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    for order in ([orig, revisit], [revisit, orig]):  # the original before or after the revisit
        with Store.open(tmp_path / f"{order[0].name}.duckdb") as store:
            result = ingest(store, order, workers=1)
            assert (result.revisits_resolved, result.revisits_unresolved) == (1, 0), result.errors
            rows = store.query("SELECT fetched_at FROM pages WHERE url = ?", [url])
            assert [_utc(r[0]) for r in rows] == [when]


def test_revisit_file_alone_reports_its_revisits_unresolved(corpora, tmp_path):
    for name in ("example-url-agnostic-revisit.warc.gz", "dupes.warc.gz"):
        warc = corpora / PYWB / name
        with Store.open(tmp_path / f"{name}.duckdb") as store:
            result = ingest(store, [warc], workers=1)
            assert result.revisits_resolved + result.revisits_unresolved == _revisits(warc)
            assert result.revisits_unresolved > 0
            named = [e for e in result.errors if "no original in this ingest" in e]
            assert len(named) == result.revisits_unresolved
            assert all(e.startswith(f"{warc}: offset ") for e in named), named


def test_generated_revisits_within_and_across_files(tmp_path):
    page = b'<html><body><img src="/photo.png" alt="staff"></body></html>'
    photo, late = png((200, 10, 10)), png((10, 10, 200))
    first, second = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    with first.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        p = write_response(w, "http://a.example/", "text/html", page, date="2020-01-01T00:00:00Z")
        i = write_response(w, "http://a.example/photo.png", "image/png", photo, date="2020-01-01T00:00:01Z")
        # same payload digest, later date: the page and the image captured again
        write_revisit(w, "http://a.example/", "2021-06-01T00:00:00Z", p.rec_headers.get_header("WARC-Payload-Digest"),
                      "http://a.example/", "2020-01-01T00:00:00Z")
        write_revisit(w, "http://mirror.example/staff.png", "2021-06-01T00:00:02Z",
                      i.rec_headers.get_header("WARC-Payload-Digest"), "http://a.example/photo.png",
                      "2020-01-01T00:00:01Z")
        # the original of this one is in the second file
        with second.open("wb") as other:
            w2 = WARCWriter(other, gzip=True)
            o = write_response(w2, "http://b.example/late.png", "image/png", late, date="2019-05-05T00:00:00Z")
        write_revisit(w, "http://a.example/late-again.png", "2022-02-02T00:00:00Z",
                      o.rec_headers.get_header("WARC-Payload-Digest"), "http://b.example/late.png",
                      "2019-05-05T00:00:00Z")
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [first, second], workers=1)
        assert result.errors == []
        assert (result.revisits_resolved, result.revisits_unresolved) == (3, 0)
        rows = store.query("SELECT url, fetched_at, sha256 FROM fetches")
        fetches = {url: (_utc(when), sha) for url, when, sha in rows}
        assert fetches["http://mirror.example/staff.png"][0] == dt.datetime(2021, 6, 1, 0, 0, 2, tzinfo=dt.UTC)
        assert fetches["http://mirror.example/staff.png"][1] == fetches["http://a.example/photo.png"][1]
        assert fetches["http://a.example/late-again.png"][0] == dt.datetime(2022, 2, 2, tzinfo=dt.UTC)
        assert fetches["http://a.example/late-again.png"][1] == fetches["http://b.example/late.png"][1]
        assert store.count("images") == 2  # the revisits' bytes are the originals': no new image content

    with Store.open(tmp_path / "alone.duckdb") as store:
        result = ingest(store, [first], workers=1)
        assert (result.revisits_resolved, result.revisits_unresolved) == (2, 1)
        assert any("late-again.png" in e and "no original" in e for e in result.errors)
        urls = {r[0] for r in store.query("SELECT url FROM fetches")}
        assert "http://a.example/late-again.png" not in urls and "http://mirror.example/staff.png" in urls


def test_every_capture_of_one_url_is_kept_at_its_own_date(tmp_path):
    """A page and an image captured, then revisited twice at the same URLs: `pages` and `fetches` keep one row per
    URL, `captures` keeps every capture with its date, its record's offset and, for a revisit, its original."""
    page = b'<html><body><img src="/photo.png"></body></html>'
    warc = tmp_path / "again.warc.gz"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        p = write_response(w, "http://a.example/", "text/html", page, date="2020-01-01T00:00:00Z")
        i = write_response(w, "http://a.example/photo.png", "image/png", png((1, 2, 3)), date="2020-01-01T00:00:01Z")
        for year in (2021, 2022):
            write_revisit(w, "http://a.example/", f"{year}-06-01T00:00:00Z",
                          p.rec_headers.get_header("WARC-Payload-Digest"), "http://a.example/", "2020-01-01T00:00:00Z")
            write_revisit(w, "http://a.example/photo.png", f"{year}-06-01T00:00:01Z",
                          i.rec_headers.get_header("WARC-Payload-Digest"), "http://a.example/photo.png",
                          "2020-01-01T00:00:01Z")
    with warc.open("rb") as fh:
        offsets = [it.get_record_offset() for it in [ArchiveIterator(fh)] for _ in it]
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        assert (result.revisits_resolved, result.revisits_unresolved) == (4, 0), result.errors
        assert store.count("pages") == 1 and store.count("fetches") == 1
        rows = store.query("SELECT kind, url, fetched_at, sha256, archive, archive_offset, revisit_of FROM captures "
                           "ORDER BY kind, fetched_at")
        assert [(k, u, _utc(t).year) for k, u, t, *_ in rows] == [
            ("image", "http://a.example/photo.png", 2020), ("image", "http://a.example/photo.png", 2021),
            ("image", "http://a.example/photo.png", 2022), ("page", "http://a.example/", 2020),
            ("page", "http://a.example/", 2021), ("page", "http://a.example/", 2022)]
        (sha,) = store.query("SELECT sha256 FROM fetches")[0]
        assert [r[3] for r in rows[:3]] == [sha] * 3 and [r[3] for r in rows[3:]] == [None] * 3
        assert {r[4] for r in rows} == {str(warc)}
        assert sorted(r[5] for r in rows) == sorted(offsets)  # each capture names its own record
        originals = {r[0]: f"{warc}: offset {r[5]}" for r in rows if _utc(r[2]).year == 2020}
        assert [r[6] for r in rows] == [None, originals["image"], originals["image"],
                                        None, originals["page"], originals["page"]]
        again = ingest(store, [warc], workers=1)  # replaying the same archive adds no capture
        assert again.errors == [] and store.count("captures") == 6


def test_the_same_bytes_are_analysed_once(tmp_path):
    """One photo served at three URLs and revisited twice: decoded and fingerprinted once, every capture recorded
    with that one record."""
    photo, other = png((9, 9, 9)), png((200, 0, 0))
    warc = tmp_path / "same.warc.gz"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        first = write_response(w, "http://a.example/1.png", "image/png", photo, date="2020-01-01T00:00:00Z")
        write_response(w, "http://a.example/2.png", "image/png", photo, date="2020-01-01T00:00:01Z")
        write_response(w, "http://b.example/3.png", "image/png", photo, date="2020-01-01T00:00:02Z")
        write_response(w, "http://b.example/other.png", "image/png", other, date="2020-01-01T00:00:03Z")
        for day in (2, 3):
            write_revisit(w, "http://a.example/1.png", f"2020-01-0{day}T00:00:00Z",
                          first.rec_headers.get_header("WARC-Payload-Digest"), "http://a.example/1.png",
                          "2020-01-01T00:00:00Z")
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        assert result.errors == [] and result.revisits_resolved == 2
        assert (result.analysis["analysed"], result.analysis["reused"]) == (2, 4)
        assert store.count("images") == 2 and store.count("captures") == 6
        (shas,) = store.query("SELECT count(DISTINCT sha256), count(*) FROM captures WHERE url LIKE '%/1.png' "
                              "OR url LIKE '%/2.png' OR url LIKE '%/3.png'")
        assert shas == (1, 5)
        assert store.query("SELECT count(*) FROM images WHERE phash IS NOT NULL")[0][0] == 2


def test_revisits_in_one_gzip_member_are_bounded(tmp_path, monkeypatch):
    """A whole WARC compressed as one gzip member: each revisit's original is found by reading the member from its
    start. The records passed over are bounded per ingest; past the bound a revisit is unresolved and says why."""
    import gzip as gz

    from audit.ingest import revisits as revisits_module

    plain = tmp_path / "one.warc"
    with plain.open("wb") as fh:
        w = WARCWriter(fh, gzip=False)
        firsts = [write_response(w, f"http://a.example/{i}.png", "image/png", png((i, 0, 0)),
                                 date="2020-01-01T00:00:00Z") for i in range(30)]
        for i, first in enumerate(firsts):
            write_revisit(w, f"http://a.example/{i}.png", "2021-01-01T00:00:00Z",
                          first.rec_headers.get_header("WARC-Payload-Digest"), f"http://a.example/{i}.png",
                          "2020-01-01T00:00:00Z")
    member = tmp_path / "one.warc.gz"
    member.write_bytes(gz.compress(plain.read_bytes()))
    with Store.open(tmp_path / "all.duckdb") as store:
        result = ingest(store, [member], workers=1)
        assert (result.revisits_resolved, result.revisits_unresolved) == (30, 0)
    # 30 revisits pass over 0 + 1 + ... + 29 = 435 records: a bound of 100 resolves the first few only
    monkeypatch.setattr(revisits_module, "REREAD_RECORDS", 100)
    with Store.open(tmp_path / "bounded.duckdb") as store:
        result = ingest(store, [member], workers=1)
    assert result.revisits_resolved == 14 and result.revisits_unresolved == 16  # 0+1+...+13 = 91 <= 100 < 105
    spent = [e for e in result.errors if "bound of records re-read for revisits is spent" in e]
    assert len(spent) == 16 and all(e.startswith(f"{member}: offset ") for e in spent), result.errors[:3]


def test_real_archive_keeps_each_capture(corpora, tmp_path):
    """pywb's iana.warc.gz revisits many URLs it captured before: each revisit of an image is a capture of its own,
    at the revisit's URI and date (revisits of scripts and stylesheets give no image or page capture)."""
    warc = corpora / PYWB / "iana.warc.gz"
    with warc.open("rb") as fh:
        revisits = {(r.rec_headers.get_header("WARC-Target-URI"), r.rec_headers.get_header("WARC-Date"))
                    for r in ArchiveIterator(fh) if r.rec_type == "revisit"}
    with warc.open("rb") as fh:
        svg = sum(1 for r in ArchiveIterator(fh) if r.rec_type == "revisit"
                  and (r.http_headers.get_header("Content-Type") or "").startswith("image/"))
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        rows = store.query("SELECT url, fetched_at FROM captures WHERE revisit_of IS NOT NULL")
        captured = {(url, _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")) for url, when in rows}
        assert len(rows) == len(captured) >= svg > 0
        assert captured <= revisits
        assert len(rows) <= result.revisits_resolved
        # every page and image URL has its captures, and a URL captured several times has one row per capture
        distinct = store.query("SELECT count(DISTINCT (kind, url)) FROM captures")[0][0]
        assert distinct == store.count("pages") + store.count("fetches")
        assert store.count("captures") > distinct


@pytest.mark.parametrize("gzip", [True, False])
def test_revisit_of_a_page_at_another_url_has_its_own_sightings(tmp_path, gzip):
    page = b'<html><body><img src="photo.png"></body></html>'
    warc = tmp_path / ("p.warc.gz" if gzip else "p.warc")
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=gzip)
        p = write_response(w, "http://a.example/dir/", "text/html", page, date="2020-01-01T00:00:00Z")
        write_revisit(w, "http://copy.example/x/", "2023-03-03T00:00:00Z",
                      p.rec_headers.get_header("WARC-Payload-Digest"), "http://a.example/dir/", "2020-01-01T00:00:00Z")
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        assert (result.revisits_resolved, result.revisits_unresolved) == (1, 0)
        pages = {url: _utc(when) for url, when in store.query("SELECT url, fetched_at FROM pages")}
        assert pages == {"http://a.example/dir/": dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                         "http://copy.example/x/": dt.datetime(2023, 3, 3, tzinfo=dt.UTC)}
        refs = {r[0]: r[1] for r in store.query("SELECT page_url, image_url FROM sightings")}
        assert refs["http://copy.example/x/"] == "http://copy.example/x/photo.png"


@pytest.mark.timeout(120)
def test_the_cli_summary_counts_revisits(corpora, tmp_path):
    paths = [corpora / PYWB / "dupes.warc.gz", corpora / PYWB / "example-url-agnostic-revisit.warc.gz"]
    with Store.open(tmp_path / "api.duckdb") as store:
        result = ingest(store, paths, workers=1)
    assert result.revisits_resolved + result.revisits_unresolved == sum(_revisits(p) for p in paths)
    assert result.revisits_resolved > 0 and result.revisits_unresolved > 0
    proc = cli("ingest", *map(str, paths), "--db", str(tmp_path / "s.duckdb"), "--workers", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"WARC revisits resolved to their original +│ +{result.revisits_resolved} │",
                     proc.stdout), proc.stdout
    with Store.open(tmp_path / "s.duckdb", read_only=True) as store:
        revisit_captures = store.query("SELECT count(*) FROM captures WHERE revisit_of IS NOT NULL")[0][0]
        captures = store.count("captures")
    assert 0 < revisit_captures < captures
    assert re.search(rf"captures read through a WARC revisit record +│ +{revisit_captures} │", proc.stdout)
    assert re.search(rf"captures of pages and images \(several of one URL counted apart\) +│ +{captures} │",
                     proc.stdout), proc.stdout
    assert re.search(rf"WARC revisits with no original in this ingest +│ +{result.revisits_unresolved} │",
                     proc.stdout), proc.stdout
    assert (f"{result.revisits_unresolved}WARCrevisitrecord(s)hadnooriginalinthisingest"
            in re.sub(r"\s", "", proc.stderr))
