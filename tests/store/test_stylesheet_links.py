"""Images named by the stylesheets archived pages link (``text/css`` responses of the archive), linked to each page
that links the stylesheet, whatever the order of the records and files: ``ref_kind`` ``stylesheet``."""

from __future__ import annotations

import io
import json
import re

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter
from warcs import png, write_response

from audit.ingest.run import ingest
from audit.store.db import Store

PAGE = "http://example.org/team"
OTHER = "http://example.org/about"
HTML = (b'<html><head><link rel="stylesheet" href="/css/site.css"></head>'
        b'<body><img src="/logo.png"><div class="portrait"></div></body></html>')
CSS = (b'.portrait{background-image:url("../img/economist.jpg")}'
       b".logo{background:url(/logo.png)}.x{background:url(data:image/png;base64,AAAA)}")


def _sightings(store: Store) -> dict[tuple[str, str], tuple[str, str | None, str | None]]:
    rows = store.query("SELECT image_url, page_url, ref_kind, attributes, sha256 FROM sightings")
    return {(r[0], r[1]): (r[2], json.loads(r[3]).get("stylesheet") if r[3] else None, r[4]) for r in rows}


@pytest.mark.parametrize("order", ["page first", "stylesheet first", "two files"])
def test_a_stylesheet_s_images_are_linked_to_the_pages_that_link_it(tmp_path, order):
    photo = png((90, 60, 30))
    files = [tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"]
    records = [
        ("page", lambda w: write_response(w, PAGE, "text/html; charset=utf-8", HTML)),
        ("page", lambda w: write_response(w, OTHER, "text/html", HTML.replace(b"/logo.png", b"/other.png"))),
        ("css", lambda w: write_response(w, "http://example.org/css/site.css", "text/css", CSS)),
        ("image", lambda w: write_response(w, "http://example.org/img/economist.jpg", "image/png", photo)),
    ]
    if order == "stylesheet first":
        records.sort(key=lambda r: r[0] != "css")
    with files[0].open("wb") as fa, files[1].open("wb") as fb:
        wa, wb = WARCWriter(fa, gzip=True), WARCWriter(fb, gzip=True)
        for kind, write in records:
            write(wb if order == "two files" and kind != "page" else wa)
    paths = files if order == "two files" else files[:1]
    if order == "two files":
        paths = list(reversed(paths))  # the stylesheet's file is read before the pages' file
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, paths, workers=1)
        rows = _sightings(store)
        sheets = store.query("SELECT url, status, images, skipped, error FROM stylesheets")
    sheet = "http://example.org/css/site.css"
    portrait = "http://example.org/img/economist.jpg"
    assert rows[(portrait, PAGE)][:2] == ("stylesheet", sheet)
    assert rows[(portrait, OTHER)][:2] == ("stylesheet", sheet)
    assert rows[(portrait, PAGE)][2] is not None  # the archived photo's content
    assert rows[("http://example.org/logo.png", PAGE)][0] == "img"  # the HTML's reference is kept, not doubled
    assert rows[("http://example.org/logo.png", OTHER)][:2] == ("stylesheet", sheet)
    assert not any(url.startswith("data:") for url, _ in rows)
    assert result.stylesheet_links == 3 and result.stylesheets == 1
    assert sheets == [(sheet, 200, 2, 1, None)]


def test_imports_are_followed_one_level_and_loops_end(tmp_path):
    warc = tmp_path / "imports.warc.gz"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        write_response(w, PAGE, "text/html", b"<html><head><style>@import '/a.css';</style></head></html>")
        write_response(w, "http://example.org/a.css", "text/css", b"@import 'b.css'; .a{background:url(a.jpg)}")
        write_response(w, "http://example.org/b.css", "text/css",
                       b"@import 'a.css'; @import 'c.css'; .b{background:url(b.jpg)}")
        write_response(w, "http://example.org/c.css", "text/css", b".c{background:url(c.jpg)}")
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        rows = _sightings(store)
    assert {k[0]: v[:2] for k, v in rows.items()} == {
        "http://example.org/a.jpg": ("stylesheet", "http://example.org/a.css"),
        "http://example.org/b.jpg": ("stylesheet", "http://example.org/b.css"),  # imported by a.css
    }  # c.css is two levels deep: not followed
    assert result.stylesheet_links == 2 and result.stylesheets == 3


def test_an_oversized_or_failed_stylesheet_is_recorded_with_what_was_cut(tmp_path):
    warc = tmp_path / "big.warc.gz"
    big = b".a{background:url(/early.jpg)}" + b"a{color:red}" * 300_000 + b".b{background:url(/late.jpg)}"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        write_response(w, PAGE, "text/html", b'<link rel="stylesheet" href="/big.css">')
        write_response(w, "http://example.org/big.css", "text/css", big)
    with Store.open(tmp_path / "s.duckdb") as store:
        ingest(store, [warc], workers=1)
        rows = _sightings(store)
        (bytes_read, error), = store.query("SELECT bytes, error FROM stylesheets")
    assert ("http://example.org/early.jpg", PAGE) in rows and ("http://example.org/late.jpg", PAGE) not in rows
    assert bytes_read == 2 * 1024 * 1024
    assert "read to its first 2,097,152" in error


def test_a_stylesheet_the_archiving_crawl_cut_says_so(tmp_path):
    warc = tmp_path / "cut.warc.gz"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        write_response(w, PAGE, "text/html", b'<link rel="stylesheet" href="/cut.css">')
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/css")], protocol="HTTP/1.1")
        body = b".a{background:url(/a.jpg)}"
        w.write_record(w.create_warc_record("http://example.org/cut.css", "response", payload=io.BytesIO(body),
                                            http_headers=http, warc_headers_dict={"WARC-Truncated": "length"}))
    with Store.open(tmp_path / "s.duckdb") as store:
        ingest(store, [warc], workers=1)
        rows = _sightings(store)
        (error,) = store.query("SELECT error FROM stylesheets")[0]
    assert ("http://example.org/a.jpg", PAGE) in rows
    assert error is not None and "AUDIT_MAX_STYLESHEET_BYTES" in error


def test_a_real_archive_s_stylesheets_link_their_images(corpora, tmp_path):
    warc = corpora / "warc" / "pywb" / "iana.warc.gz"
    named: dict[str, set[str]] = {}
    with warc.open("rb") as fh:  # what the archive's stylesheets name, read independently with warcio
        for record in ArchiveIterator(fh):
            ctype = (record.http_headers.get_header("Content-Type") or "") if record.http_headers else ""
            if record.rec_type == "response" and ctype.startswith("text/css"):
                text = record.content_stream().read().decode("utf-8", "replace")
                named[record.rec_headers.get_header("WARC-Target-URI")] = set(re.findall(r"url\(['\"]?([^'\")]+)",
                                                                                         text))
    assert named
    with Store.open(tmp_path / "iana.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        linked = store.query("SELECT image_url, page_url, sha256, attributes FROM sightings "
                             "WHERE ref_kind = 'stylesheet'")
        pages = {r[0] for r in store.query("SELECT url FROM pages")}
    assert result.stylesheet_links == len(linked) > 0
    with_content = {(image, page) for image, page, sha, _ in linked if sha is not None}
    assert len(with_content) >= 15  # the home-page logo of every archived page, a CSS background
    for image, page, _, attributes in linked:
        sheet = json.loads(attributes)["stylesheet"]
        assert page in pages
        assert any(image.endswith(u.lstrip("./").split("/", 1)[-1]) for u in named[sheet.replace("https:", "http:")])
