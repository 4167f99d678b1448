"""Synthetic data is unmistakable: what the built-in test web writes on everything it serves and exports, how a run
that recorded it is marked in its store, and the banner every output built on such a store carries.

At the source. The test web's server sends :data:`HEADER` on every response (pages, images, robots.txt, errors),
its pages carry ``<meta name="provaudit-testweb">`` (:data:`META_NAME`) for a person reading them, and its dataset
exports (``provaudit testweb export``) give every LAION row and img2dataset sample a :data:`COLUMN` field, and every
page a WAT describes the header, so that a crawl, the ingest of a crawl's WARC and the ingest of an export all see it.

In the store. When a run ends (:meth:`audit.store.recorder.Recorder.finish`), :func:`mark_run` sets
``crawls.test_web``: true when the run recorded at least one marked response or dataset row and *every* HTTP
response (pages and image fetches with headers) and dataset row it recorded carries the marker. A real site cannot
get a real crawl marked by sending the header: a crawl of several sites, one of which does, is not marked (the other
sites' responses lack it), and the share marked is kept in ``crawls.stats`` (``test_web_marked``,
``test_web_unmarked``). A store is test web when any of its crawls is (:func:`is_test_web`), or when the test
web's ground truth was loaded into it.

Plain data and SQL: this module imports nothing of provaudit's but the store's type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.store.db import Store

#: the response header the test web's server sends on every response; its value names the generator
HEADER = "X-Provaudit-Testweb"
#: the ``<meta name>`` of every page of the test web
META_NAME = "provaudit-testweb"
#: the field of every row of a dataset exported from the test web (LAION tables, img2dataset samples)
COLUMN = "provaudit_testweb"
#: what the marker says
VALUE = "provaudit test web: synthetic data generated to measure the method"
#: the banner of every output built on a test-web store
BANNER = "test web — these figures measure the method, not the real web"

_HEADER_KEY = HEADER.lower()


def _units_sql(store: Store) -> str:
    """SQL (parameter ``$1``: a crawl id) counting the run's marked and unmarked units: pages and image fetches
    recorded with response headers, and dataset rows (sightings of ``ref_kind`` ``dataset``)."""
    has_attr = "attributes" in store.columns.get("sightings", frozenset())
    marked_hdr = f"json_extract(headers, '$.\"{_HEADER_KEY}\"') IS NOT NULL"
    has_hdr = "headers IS NOT NULL AND len(json_keys(headers)) > 0"
    parts = [f"SELECT {marked_hdr} AS marked FROM pages WHERE crawl_id = $1 AND {has_hdr}",
             f"SELECT {marked_hdr} AS marked FROM fetches WHERE crawl_id = $1 AND {has_hdr}"]
    if has_attr:
        parts.append(f"SELECT coalesce(json_extract(attributes, '$.{COLUMN}') IS NOT NULL, false) AS marked "
                     "FROM sightings WHERE crawl_id = $1 AND ref_kind = 'dataset'")
    return ("SELECT count(*) FILTER (WHERE marked), count(*) FILTER (WHERE NOT marked) FROM ("
            + " UNION ALL ".join(parts) + ")")


def run_counts(store: Store, crawl_id: str) -> tuple[int, int]:
    """How many of the run's responses and dataset rows carry the test web's marker, and how many do not."""
    marked, unmarked = store.query(_units_sql(store), [crawl_id])[0]
    return int(marked or 0), int(unmarked or 0)


def mark_run(store: Store, crawl_id: str) -> bool | None:
    """Set ``crawls.test_web`` of ``crawl_id`` from what the run recorded (see the module doc) and add the counts to
    its ``stats``; returns the value (None: the run recorded nothing to judge by, and an earlier value is kept)."""
    marked, unmarked = run_counts(store, crawl_id)
    value: bool | None = None if marked + unmarked == 0 else (marked > 0 and unmarked == 0)
    store.con.execute(
        "UPDATE crawls SET test_web = coalesce(?, test_web), "
        "stats = json_merge_patch(coalesce(stats, '{}'), ?::JSON) WHERE crawl_id = ?",
        [value, f'{{"test_web_marked": {marked}, "test_web_unmarked": {unmarked}}}', crawl_id])
    return value


def marked_crawls(store: Store) -> list[str]:
    """The ids of the store's crawls marked as test web (none for a store written before the mark existed)."""
    if "test_web" not in store.columns.get("crawls", frozenset()):
        return []
    return [str(c) for (c,) in store.query("SELECT crawl_id FROM crawls WHERE test_web ORDER BY crawl_id")]


def is_test_web(store: Store) -> bool:
    """Whether any crawl of the store is marked as test web, or the test web's ground truth was loaded into it."""
    if marked_crawls(store):
        return True
    return "ground_truth" in store.columns and bool(store.query("SELECT count(*) FROM ground_truth")[0][0])


def banner_facts(store: Store) -> dict[str, Any]:
    """``{"test_web": bool, "banner": str | None, "crawls": [...]}``: what an output built on ``store`` says."""
    flag = is_test_web(store)
    return {"test_web": flag, "banner": BANNER if flag else None, "test_web_crawls": marked_crawls(store)}
