"""Headline counts of a store, for the CLI's summaries and for notebooks."""

from __future__ import annotations

from typing import Any

from .store import Store


def store_summary(store: Store, crawl_id: str | None = None) -> dict[str, Any]:
    """Counts of pages, sightings, distinct images and the metadata they carry (for one crawl, or the whole store)."""
    where = "WHERE crawl_id = $c" if crawl_id else ""
    params = {"c": crawl_id} if crawl_id else {}
    q = store.con.execute
    row = q(
        f"""
        WITH s AS (SELECT * FROM sightings {where}),
             i AS (SELECT * FROM images WHERE sha256 IN (SELECT sha256 FROM s))
        SELECT
          (SELECT count(*) FROM pages {where}),
          (SELECT count(*) FROM pages {where + (' AND' if where else 'WHERE')} error IS NOT NULL),
          (SELECT count(*) FROM s),
          (SELECT count(DISTINCT image_url) FROM s),
          (SELECT count(*) FROM i),
          (SELECT count(*) FROM i WHERE error IS NULL),
          (SELECT count(*) FROM i WHERE exif IS NOT NULL),
          (SELECT count(*) FROM i WHERE gps_lat IS NOT NULL),
          (SELECT count(*) FROM i WHERE location IS NOT NULL),
          (SELECT count(*) FROM i WHERE utc_offset IS NOT NULL),
          (SELECT coalesce(sum(bytes), 0) FROM i),
          (SELECT count(*) FROM fetches {where + (' AND' if where else 'WHERE')} error IS NOT NULL)
        """,
        params,
    ).fetchall()[0]
    assert row is not None
    keys = ("pages", "page_errors", "sightings", "image_urls", "images", "readable_images", "with_exif",
            "with_gps", "with_location", "with_utc_offset", "image_bytes", "fetch_errors")
    return dict(zip(keys, (int(v) for v in row), strict=True))
