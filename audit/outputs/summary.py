"""Headline counts of a store, for the CLI's summaries and for notebooks."""

from __future__ import annotations

from typing import Any

from audit.store.db import Store
from audit.textsafe import markdown_cell

# the images one crawl holds: those its sightings show, and those it fetched that no sighting shows
_HELD_BY_CRAWL = "WHERE sha256 IN (SELECT sha256 FROM s UNION ALL SELECT sha256 FROM fetches WHERE crawl_id = $c)"


def store_summary(store: Store, crawl_id: str | None = None) -> dict[str, Any]:
    """Counts of pages, sightings, distinct images and the metadata they carry (for one crawl, or the whole store).

    The images counted are every image the crawl (or store) holds: those its sightings show and those it fetched
    that no sighting shows (an archive's image response no archived page references); ``images_without_page``
    counts the images no sighting ties to a page. ``captures`` counts every capture of a page or an image (an
    archive may hold several of one URL), ``revisit_captures`` those read through a WARC revisit record (both absent
    for a store made before captures were recorded). ``images`` counts contents read (bytes), not the
    ``reference_only_images`` a dataset names by URL only."""
    ref = "coalesce(reference_only, false)" if "reference_only" in store.columns.get("images", ()) else "false"
    where = "WHERE crawl_id = $c" if crawl_id else ""
    params = {"c": crawl_id} if crawl_id else {}
    q = store.con.execute
    row = q(
        f"""
        WITH s AS (SELECT * FROM sightings {where}),
             i AS (SELECT * FROM images {_HELD_BY_CRAWL if crawl_id else ""})
        SELECT
          (SELECT count(*) FROM pages {where}),
          (SELECT count(*) FROM pages {where + (' AND' if where else 'WHERE')} error IS NOT NULL),
          (SELECT count(*) FROM s),
          (SELECT count(DISTINCT image_url) FROM s),
          (SELECT count(*) FROM i WHERE NOT {ref}),
          (SELECT count(*) FROM i WHERE error IS NULL AND NOT {ref}),
          (SELECT count(*) FROM i WHERE exif IS NOT NULL),
          (SELECT count(*) FROM i WHERE gps_lat IS NOT NULL),
          (SELECT count(*) FROM i WHERE location IS NOT NULL),
          (SELECT count(*) FROM i WHERE utc_offset IS NOT NULL),
          (SELECT coalesce(sum(bytes), 0) FROM i),
          (SELECT count(*) FROM fetches {where + (' AND' if where else 'WHERE')} error IS NOT NULL),
          (SELECT count(*) FROM i WHERE sha256 NOT IN (SELECT sha256 FROM s WHERE page_url IS NOT NULL
                                                                            AND sha256 IS NOT NULL)),
          (SELECT count(*) FROM i WHERE {ref})
        """,
        params,
    ).fetchall()[0]
    assert row is not None
    keys = ("pages", "page_errors", "sightings", "image_urls", "images", "readable_images", "with_exif",
            "with_gps", "with_location", "with_utc_offset", "image_bytes", "fetch_errors", "images_without_page",
            "reference_only_images")
    out = dict(zip(keys, (int(v) for v in row), strict=True))
    has_captures = q("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'captures'"
                     ).fetchall()[0][0]
    if has_captures:
        captures = q(f"SELECT count(*), count(revisit_of) FROM captures {where}", params).fetchall()[0]
        out["captures"], out["revisit_captures"] = int(captures[0]), int(captures[1])
    return out


def host_coverage(store: Store, *, limit: int = 50) -> list[dict[str, Any]]:
    """Per page host: sightings, distinct images, and the share of its images with a signal of each strength and
    with an attribution, and the country most of its images are attributed to."""
    rows = store.con.execute(
        """
        WITH s AS (SELECT page_host, sha256 FROM sightings WHERE sha256 IS NOT NULL AND page_host IS NOT NULL),
             strongest AS (SELECT sha256, min(CASE strength WHEN 'strong' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END) AS r
                           FROM signals GROUP BY 1)
        SELECT s.page_host, count(*) AS sightings, count(DISTINCT s.sha256) AS images,
               count(DISTINCT s.sha256) FILTER (WHERE st.r = 1) AS with_strong,
               count(DISTINCT s.sha256) FILTER (WHERE st.r <= 2) AS with_medium_or_strong,
               count(DISTINCT s.sha256) FILTER (WHERE a.tier IN ('strong', 'medium')) AS attributed_medium_or_strong,
               mode(a.country) AS top_country
        FROM s LEFT JOIN strongest st USING (sha256) LEFT JOIN attributions a USING (sha256)
        GROUP BY 1 ORDER BY sightings DESC, 1 LIMIT ?
        """,
        [limit],
    )
    names = [d[0] for d in rows.description]
    return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]


def country_coverage(store: Store) -> list[dict[str, Any]]:
    """Per country: distinct images with at least one signal for it (any strength), and images attributed to it per
    tier, own signals and with near-duplicate propagation."""
    rows = store.con.execute(
        """
        WITH any_signal AS (SELECT country, count(DISTINCT sha256) AS n FROM signal_countries GROUP BY 1),
             prop AS (SELECT country, count(*) FILTER (WHERE tier = 'strong') AS strong,
                             count(*) FILTER (WHERE tier = 'medium') AS medium,
                             count(*) FILTER (WHERE tier = 'weak') AS weak
                      FROM attributions WHERE country IS NOT NULL GROUP BY 1),
             own AS (SELECT direct_country AS country, count(*) FILTER (WHERE direct_tier = 'strong') AS strong
                     FROM attributions WHERE direct_country IS NOT NULL GROUP BY 1)
        SELECT any_signal.country, any_signal.n AS images_with_a_signal,
               coalesce(own.strong, 0) AS strong_own, coalesce(prop.strong, 0) AS strong,
               coalesce(prop.medium, 0) AS medium, coalesce(prop.weak, 0) AS weak
        FROM any_signal LEFT JOIN prop USING (country) LEFT JOIN own USING (country)
        ORDER BY strong DESC, images_with_a_signal DESC, 1
        """
    )
    names = [d[0] for d in rows.description]
    return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a markdown table (for notebooks); cell text goes through :func:`audit.textsafe.markdown_cell`, so
    scraped values cannot become markup, links or images."""
    if not rows:
        return "*(no rows)*"

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, dict) and "value" in v:
            return f"{v['value']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"
        return markdown_cell(v)

    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(r.get(k)) for k in head) + " |" for r in rows]
    return "\n".join(lines)
