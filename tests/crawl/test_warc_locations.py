"""Every capture of a live crawl names its record in the crawl's WARC: file, WARC-Record-ID, offset and length. Read
back at (offset, length), the bytes are that one record, and an image's payload is the content the store recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

from warcs import read_located

from audit.store.db import Store


def _original(store: Store, record_id: str) -> tuple[str, int, int]:
    """Where the record a revisit refers to is (a live crawl writes a payload met again as a revisit record)."""
    rows = store.query("SELECT archive, archive_offset, record_length FROM captures WHERE record_id = ?", [record_id])
    assert rows, f"the original {record_id} of a revisit is not located"
    return str(rows[0][0]), int(rows[0][1]), int(rows[0][2])


def test_sightings_pages_and_images_locate_their_warc_records(crawled):
    db, crawl_id = crawled
    with Store.open(db, read_only=True) as store:
        (warc_path,) = store.query("SELECT warc_path FROM crawls WHERE crawl_id = ?", [crawl_id])[0]
        images = store.query("""
            SELECT DISTINCT c.url, c.archive, c.archive_offset, c.record_length, c.record_id, f.sha256, f.final_url
            FROM sightings s JOIN fetches f ON f.crawl_id = s.crawl_id AND f.url = s.image_url
            JOIN captures c ON c.crawl_id = s.crawl_id AND c.kind = 'image' AND c.url = s.image_url
            WHERE s.crawl_id = ? AND f.sha256 IS NOT NULL ORDER BY c.url""", [crawl_id])
        pages = store.query("""
            SELECT DISTINCT c.url, c.archive, c.archive_offset, c.record_length, c.record_id
            FROM sightings s JOIN captures c ON c.crawl_id = s.crawl_id AND c.kind = 'page' AND c.url = s.page_url
            WHERE s.crawl_id = ? ORDER BY c.url""", [crawl_id])
        assert len(images) > 100 and len(pages) > 50
        revisits = 0
        for url, archive, offset, length, record_id, sha, final_url in images:
            assert archive == warc_path and record_id.startswith("<urn:uuid:") and length > 0
            record, payload = read_located(archive, offset, length)
            assert record.rec_headers.get_header("WARC-Record-ID") == record_id
            assert record.rec_headers.get_header("WARC-Target-URI") == final_url
            if record.rec_type == "revisit":  # the same bytes met before under another URL
                revisits += 1
                original, payload = read_located(*_original(store, record.rec_headers.get_header("WARC-Refers-To")))
                assert original.rec_type == "response"
            else:
                assert record.rec_type == "response"
            assert hashlib.sha256(payload).hexdigest() == sha, url
        assert revisits > 0  # the test web serves some images under several URLs: written as revisits
        for url, archive, offset, length, record_id in pages:
            record, payload = read_located(archive, offset, length)
            assert record.rec_type == "response" and record.rec_headers.get_header("WARC-Record-ID") == record_id
            assert record.rec_headers.get_header("WARC-Target-URI") == url
            assert b"<html" in payload.lower()
        # every response a row was made of is located: only captures with no response (robots.txt refusals) are not
        (unlocated,) = store.query("SELECT count(*) FROM captures WHERE crawl_id = ? AND record_id IS NULL "
                                   "AND status IS NOT NULL", [crawl_id])[0]
        assert unlocated == 0
    assert Path(warc_path).is_file()
