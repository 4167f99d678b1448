"""How far an audit of the test web's LAION-style table (:mod:`audit.testbed.exports`) agrees with the audit of its
crawl: for every image URL the table lists, the signals a URL + alt-text row can carry (image host TLD, places and
language of the text and the URL path), as the crawl found them and as the table's audit found them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

#: the signals a row of URL and alt text can carry; the crawl reads the text as an ``alt``, the table as a caption
VISIBLE = ("(g.kind IN ('image_cctld', 'image_geo_tld', 'alt_language') "
           "OR (g.kind = 'place_in_text' AND g.detail->>'where' IN ('alt', 'caption', 'url')))")
_TLD = "regexp_extract({h}, '[.]([^.]*)$', 1)"

_SETS = """
SELECT s.image_url, list_sort(list(DISTINCT g.kind || ':' ||
       coalesce(g.country, array_to_string(list_sort(g.candidates), ',')))) AS sig
FROM {schema}.signals g JOIN {schema}.sightings s USING (sighting_id)
WHERE g.via_sha256 IS NULL AND {visible}
GROUP BY 1
"""


def table_agreement(crawl_db: Path, table_db: Path, country: str) -> dict[str, Any]:
    """For the image URLs of ``table_db`` (a store of the table) also in ``crawl_db`` (the crawl's audited store):
    how many have the same visible signals in both (``same``), and among the URLs whose every page shares the image
    host's TLD (the evidence of a caption's place hints is then the same: ``same_tld``) how many; and the share of
    each store's images attributed to ``country``. Both stores are opened read-only, external access off."""
    con = duckdb.connect(":memory:", config={"enable_external_access": True})
    try:
        con.execute(f"ATTACH '{_quote(crawl_db)}' AS c (READ_ONLY)")
        con.execute(f"ATTACH '{_quote(table_db)}' AS t (READ_ONLY)")
        con.execute("SET enable_external_access = false")
        row = con.execute(f"""
            WITH urls AS (SELECT DISTINCT image_url FROM t.sightings
                          WHERE image_url IN (SELECT image_url FROM c.sightings)),
                 same_tld AS (SELECT image_url FROM c.sightings WHERE image_url IN (SELECT image_url FROM urls)
                              GROUP BY 1 HAVING bool_and({_TLD.format(h='page_host')} =
                                                         {_TLD.format(h='image_host')})),
                 cs AS ({_SETS.format(schema='c', visible=VISIBLE)}),
                 ts AS ({_SETS.format(schema='t', visible=VISIBLE)}),
                 cmp AS (SELECT u.image_url, coalesce(cs.sig, []) = coalesce(ts.sig, []) AS same,
                                u.image_url IN (SELECT image_url FROM same_tld) AS tld
                         FROM urls u LEFT JOIN cs USING (image_url) LEFT JOIN ts USING (image_url))
            SELECT count(*), count(*) FILTER (WHERE same), count(*) FILTER (WHERE tld),
                   count(*) FILTER (WHERE tld AND same) FROM cmp""").fetchall()[0]
        shares = {}
        for name in ("c", "t"):
            n, hits = con.execute(f"SELECT count(*), count(*) FILTER (WHERE country = ? AND tier <> 'none') "
                                  f"FROM {name}.attributions", [country]).fetchall()[0]
            shares[name] = {"images": int(n), "attributed": int(hits)}
    finally:
        con.close()
    urls, same, tld, tld_same = (int(v) for v in row)
    return {"urls": urls, "same": same, "same_tld_urls": tld, "same_tld_same": tld_same, "country": country,
            "crawl": shares["c"], "table": shares["t"]}


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
