"""Images linked to the archived page their request record's ``Referer`` names, when the page's HTML does not
reference them (a CSS background from a stylesheet, an image inserted by script): ``ref_kind`` ``referer``."""

from __future__ import annotations

from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter
from warcs import png, write_response

from audit.ingest.run import ingest
from audit.outputs.summary import store_summary
from audit.store.db import Store


def test_a_real_crawl_s_referers_link_its_images_to_their_pages(corpora, tmp_path):
    warc = corpora / "warc" / "pywb" / "iana.warc.gz"
    requested_by: dict[str, str] = {}
    html_pages: set[str] = set()
    with warc.open("rb") as fh:  # what the archive itself says, read independently with warcio
        for record in ArchiveIterator(fh):
            url = record.rec_headers.get_header("WARC-Target-URI")
            if record.rec_type == "request" and record.http_headers.get_header("Referer"):
                requested_by.setdefault(url, record.http_headers.get_header("Referer"))
            elif record.rec_type == "response" and "html" in (record.http_headers.get_header("Content-Type") or ""):
                html_pages.add(url)
    with Store.open(tmp_path / "iana.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        linked = store.query("SELECT image_url, page_url, sha256 FROM sightings WHERE ref_kind = 'referer'")
        summary = store_summary(store, result.crawl_id)
    assert linked and result.referer_links == len(linked)
    for image_url, page_url, sha in linked:
        assert requested_by[image_url] == page_url and page_url in html_pages
        assert sha is not None
    assert summary["images_without_page"] == 0  # the homepage logo, requested by the homepage, was tied to none


def test_referers_link_only_to_archived_pages_and_never_twice(tmp_path):
    warc = tmp_path / "site.warc.gz"
    page = "http://example.org/team"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        write_response(w, page, "text/html", b'<html><head><link rel="stylesheet" href="/site.css"></head>'
                                     b'<body><img src="/logo.png"><div class="hero"></div></body></html>')
        write_response(w, "http://example.org/site.css", "text/css", b".hero{background:url(/hero.png)}", referer=page)
        write_response(w, "http://example.org/logo.png", "image/png", png((1, 2, 3)), referer=page)  # also in the HTML
        write_response(w, "http://example.org/hero.png", "image/png", png((200, 2, 3)), referer=page)  # only the CSS
        write_response(w, "http://example.org/ad.png", "image/png", png((2, 200, 3)),
               referer="http://elsewhere.example/")  # a page that is not in the archive
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        rows = {(r[0], r[1]): r[2] for r in store.query("SELECT image_url, page_url, ref_kind FROM sightings")}
    assert rows == {("http://example.org/logo.png", page): "img", ("http://example.org/hero.png", page): "referer"}
    assert result.referer_links == 1
