"""``provaudit fetch``: fetch the images a dataset names by URL only (reference-only sightings,
:mod:`audit.ingest.tables`) through the project's crawl, and record whether each link still works.

The fetch is a crawl of its own (``crawls.kind`` ``fetch``) by :class:`FetchSpider`: the same robots.txt handling,
throttling, bounds, WARC and analysis (fingerprints, metadata, faces) as any crawl, with the image URLs as its only
requests (no page is fetched, no link followed). Afterwards :func:`link_fetched` gives every sighting of a fetched
URL the digest of the bytes received, and writes one ``link_checks`` row per URL: its status, redirect, and whether
the bytes are those the dataset published (when it published a hash). Running it again fetches only the URLs not yet
checked, so an interrupted fetch resumes where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import scrapy

from audit.crawl.spider import ProvenanceSpider
from audit.store.db import Store

logger = logging.getLogger(__name__)

#: the ``link_checks.content`` values
CONTENT_AS_PUBLISHED, CONTENT_CHANGED, CONTENT_UNKNOWN = "as published", "changed", "no published hash"


class FetchSpider(ProvenanceSpider):
    """Fetches the image URLs it is given (``start_urls``), each with its host's policy files; reads no page."""

    name = "provenance-fetch"
    run_kind = "fetch"

    def seed_requests(self) -> list[scrapy.Request]:
        requests: list[scrapy.Request] = []
        for url in self.start_urls:
            requests.extend(self.policy_requests(url))
            request = scrapy.Request(url, callback=self.parse_image, errback=self.image_failed,
                                     meta=self._image_meta(), priority=10)
            if not self.already_fetched(request):
                requests.append(request)
        return requests


def _ref(store: Store) -> bool:
    return "reference_only" in store.columns.get("images", frozenset())


def references_to_fetch(store: Store, *, sample: int | None = None, country: str | None = None) -> list[str]:
    """The image URLs of the store's reference-only sightings still without bytes and not checked by an earlier
    fetch (a link that failed is not asked again), in a stable order; of images attributed to ``country`` (any tier)
    only when given; at most ``sample`` of them, drawn by a hash of the URL (the same sample every time)."""
    if not _ref(store):
        return []
    where = ["i.reference_only"]
    params: list[Any] = []
    if country is not None:
        where.append("s.sha256 IN (SELECT sha256 FROM attributions WHERE country = ?)")
        params.append(country)
    if "link_checks" in store.columns:  # a store written before fetch existed has none (nothing was checked)
        where.append("s.image_url NOT IN (SELECT url FROM link_checks)")
    sql = (f"SELECT DISTINCT s.image_url, hash(s.image_url) AS h FROM sightings s JOIN images i USING (sha256) "
           f"WHERE {' AND '.join(where)} ORDER BY h, s.image_url")
    if sample is not None:
        sql += f" LIMIT {int(sample)}"
    return [str(r[0]) for r in store.query(sql, params)]


LINK_CHECKS_SQL = f"""
INSERT OR IGNORE INTO link_checks (crawl_id, url, reference, checked_at, status, final_url, redirected, sha256,
                                   published_sha256, content, error)
SELECT f.crawl_id, f.url, r.sha256, f.fetched_at, f.status, f.final_url,
       f.final_url IS NOT NULL AND f.final_url <> f.url, f.sha256, r.published_sha256,
       CASE WHEN f.sha256 IS NULL OR i.error IS NOT NULL THEN NULL
            WHEN r.published_sha256 IS NULL THEN '{CONTENT_UNKNOWN}'
            WHEN r.published_sha256 = f.sha256 THEN '{CONTENT_AS_PUBLISHED}' ELSE '{CONTENT_CHANGED}' END,
       coalesce(f.error, i.error)
FROM fetches f
JOIN images r ON r.sha256 = 'ref:' || sha256(f.url) AND r.reference_only
LEFT JOIN images i ON i.sha256 = f.sha256
WHERE f.crawl_id = ?
"""

RELINK_SQL = """
UPDATE sightings SET sha256 = c.sha256
FROM link_checks c JOIN images i ON i.sha256 = c.sha256
WHERE c.crawl_id = ? AND sightings.sha256 = c.reference AND sightings.image_url = c.url
  AND c.sha256 IS NOT NULL AND i.error IS NULL
"""


def link_fetched(store: Store, crawl_id: str) -> dict[str, int]:
    """After the fetch ``crawl_id``: one ``link_checks`` row per URL it requested, and every reference-only sighting
    of a URL that gave a readable image re-pointed at the image received. Returns counts: ``checked`` URLs,
    ``online`` (a readable image came back), ``relinked`` sightings, and ``changed`` (bytes other than the
    dataset's published hash)."""
    with store.transaction(wait=30.0):
        store.con.execute(LINK_CHECKS_SQL, [crawl_id])
        relinked = store.con.execute(RELINK_SQL, [crawl_id]).fetchall()
    checked, online, changed = store.query(
        f"SELECT count(*), count(*) FILTER (WHERE content IS NOT NULL), "
        f"count(*) FILTER (WHERE content = '{CONTENT_CHANGED}') FROM link_checks WHERE crawl_id = ?", [crawl_id])[0]
    return {"checked": int(checked), "online": int(online), "changed": int(changed),
            "relinked": int(relinked[0][0]) if relinked else 0}


def fetch_settings(urls: Sequence[str], db: str) -> dict[str, Any]:
    """The crawl settings of a fetch: its source label and no link following."""
    return {"AUDIT_SOURCE": f"fetch of {len(urls):,} reference-only image URL(s) of {db}",
            "AUDIT_FOLLOW_LINKS": False}
