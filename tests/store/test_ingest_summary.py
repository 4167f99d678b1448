"""The ingest summary counts every image the store holds, not only those a sighting shows, and says how many are
tied to no page (an archive's image responses that no archived page references)."""

from __future__ import annotations

from warcio.warcwriter import WARCWriter
from warcs import png, write_response

from audit.ingest.run import ingest
from audit.outputs.summary import store_summary
from audit.store.db import Store


def test_images_no_page_references_are_counted_and_named(tmp_path):
    warc = tmp_path / "site.warc.gz"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        write_response(w, "http://example.org/", "text/html", b'<html><body><img src="/shown.png"></body></html>')
        write_response(w, "http://example.org/shown.png", "image/png", png((200, 10, 10)))
        # captured (the crawler found them elsewhere: a sitemap, a feed), referenced by no archived page
        write_response(w, "http://example.org/orphan-1.png", "image/png", png((10, 200, 10)))
        write_response(w, "http://example.org/orphan-2.png", "image/png", png((10, 10, 200)))
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        summary = store_summary(store, result.crawl_id)
        whole = store_summary(store)
    assert summary["images"] == 3 and whole["images"] == 3  # was 1: only the image a sighting showed
    assert summary["images_without_page"] == 2 and whole["images_without_page"] == 2
    assert summary["sightings"] == 1
    assert summary["captures"] == whole["captures"] == 4 and summary["revisit_captures"] == 0
