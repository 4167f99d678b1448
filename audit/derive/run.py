"""``provaudit audit``: compute signals, opt-outs, near-duplicate clusters and attributions for a whole store.

The run is a pure recomputation from what the crawl recorded (images, sightings, pages' facts and headers,
robots.txt, tdmrep.json): it replaces the four derived tables in one transaction, so running it again gives the
same rows and a run killed midway leaves the previous results intact. No network is used.

It is computed set-wise, because a crawl repeats itself: a page carries several images, a host thousands of pages,
an image is sighted on several pages. Python runs each extractor once per distinct input (image, page, host, alt
text, URL under a robots.txt) into temporary tables; DuckDB then fans the results out to the sightings, carries
them across near-duplicate clusters and groups each image's evidence. The attribution rule runs once per distinct
set of evidence, not once per image. ``audit.derive.reference`` computes the same tables row by row and is what this
module is tested against.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import operator
import os
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import numpy as np
import pyarrow as pa

from audit.checkpoints import checkpoint
from audit.derive.attribution import NONE, Attribution, Evidence, attribute
from audit.derive.neardup import (
    DEFAULT_DHASH_THRESHOLD,
    DEFAULT_PHASH_THRESHOLD,
    HashSet,
    cluster_labels,
    near_duplicate_pairs,
)
from audit.records import ImageRecord
from audit.signals.base import OptOut, Signal
from audit.signals.kinds import needed_columns
from audit.store.db import TABLES_BY_NAME, Store

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

BATCH_ROWS = 20_000  # rows buffered before a flush to a temporary table
UNIT_BATCH = 2_000  # distinct inputs read, and sent to a worker, at a time
POOL_DEPTH = 4  # batches in flight per worker pool
PARALLEL_FROM = 50_000  # sightings from which the extractors run in worker processes by default


@dataclass
class AuditResult:
    images: int = 0
    sightings: int = 0
    signals: int = 0
    propagated_signals: int = 0
    opt_outs: int = 0
    clusters: int = 0
    clustered_images: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    workers: int = 1


def _loads(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError, RecursionError):
        return None


def _record_from_row(row: dict[str, Any]) -> ImageRecord:
    taken = row.get("taken_at")
    return ImageRecord(
        sha256=row["sha256"], size=0, format=None, width=None, height=None,
        exif=_loads(row.get("exif")), iptc=_loads(row.get("iptc")), xmp=_loads(row.get("xmp")),
        gps_lat=row.get("gps_lat"), gps_lon=row.get("gps_lon"), gps_alt=row.get("gps_alt"),
        taken_at=taken if isinstance(taken, dt.datetime) else None, utc_offset=row.get("utc_offset"),
        location=_loads(row.get("location")), c2pa=_loads(row.get("c2pa")),
    )


_GROUP_KEY = operator.attrgetter("kind", "strength", "evidence", "weight")


def collapse(signals: Iterable[Signal]) -> list[tuple[Signal, list[str] | None]]:
    """One entry per signal, except that the per-country signals of one ambiguous value (same kind, strength,
    evidence and weight 1/n: a bare ``fr``, a UTC offset) become one entry with its candidate countries; exact
    repeats are dropped. (Extractors emit a value's signals one after the other, so they are taken as runs.)"""
    groups: dict[tuple[str, str, str, float], list[Signal]] = {}
    out: list[tuple[Signal, list[str] | None]] = []
    seen: set[tuple[str, str, str]] = set()
    for (kind, strength, evidence, weight), run in groupby(signals, _GROUP_KEY):
        if weight < 1.0:
            groups.setdefault((kind, str(strength), evidence, round(weight, 9)), []).extend(run)
            continue
        for s in run:
            if (s.kind, s.country, s.evidence) not in seen:
                seen.add((s.kind, s.country, s.evidence))
                out.append((s, None))
    for group in groups.values():
        if len(group) == 1:
            out.append((group[0], None))
        else:
            out.append((group[0], sorted({g.country for g in group})))
    return out


# --- temporary tables of per-unit results ---------------------------------------------------------------------

SIGNAL_FIELDS = [("kind", pa.string()), ("country", pa.string()), ("candidates", pa.list_(pa.string())),
                 ("strength", pa.string()), ("weight", pa.float64()), ("evidence", pa.string()),
                 ("detail", pa.string())]
OPT_OUT_FIELDS = [("ord", pa.int32()), ("kind", pa.string()), ("value", pa.string()), ("applies_to", pa.string()),
                  ("evidence", pa.string())]


def signal_rows(key: tuple[Any, ...], signals: Iterable[Signal]) -> list[tuple[Any, ...]]:
    """Rows of a ``SIGNAL_FIELDS`` temporary table for one unit's signals."""
    return [key + (s.kind, None if candidates else s.country, candidates, str(s.strength), float(s.weight),
                   s.evidence, json.dumps(s.detail) if s.detail else None)
            for s, candidates in collapse(signals)]


def opt_out_rows(key: tuple[Any, ...], opt_outs: Iterable[OptOut], rank: int) -> list[tuple[Any, ...]]:
    """Rows of an ``OPT_OUT_FIELDS`` temporary table; ``ord`` keeps the reference's order of precedence."""
    return [key + (rank * 10_000 + i, o.kind, o.value, o.applies_to, o.evidence) for i, o in enumerate(opt_outs)]


class _Sink:
    """One temporary table, appended to in bulk from Arrow tables (small ones are gathered first)."""

    def __init__(self, store: Store, name: str, schema: pa.Schema) -> None:
        self.con = store.con
        self.name = name
        self.schema = schema
        self.pending: list[pa.Table] = []
        self.rows = 0
        self.con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")
        cols = ", ".join(f"{f.name} {_duck_type(f.type)}" for f in schema)
        self.con.execute(f"CREATE TEMP TABLE {name} ({cols})")

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.pending.append(table)
            self.rows += table.num_rows
        if self.rows >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch = pa.concat_tables(self.pending)
        self.con.register("_sink_batch", batch)
        try:
            self.con.execute(f"INSERT INTO {self.name} SELECT * FROM _sink_batch")
        finally:
            self.con.unregister("_sink_batch")
        self.pending = []
        self.rows = 0


def _table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Rows (tuples in ``schema``'s column order) as an Arrow table."""
    if not rows:
        return schema.empty_table()
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays([pa.array(list(col), type=f.type) for col, f in zip(columns, schema, strict=True)],
                                schema=schema)


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return "VARCHAR[]"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_integer(t):
        return "INTEGER"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    return "VARCHAR"


def _batches(store: Store, sql: str, tables: dict[str, pa.Table] | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of ``sql``, a batch at a time (large columns such as page facts are not all in memory). They are
    read on a second connection, so that results can be written on the store's own meanwhile; ``tables`` are
    registered on it under their names for ``sql`` to read."""
    cursor = store.con.cursor()
    try:
        for name, table in (tables or {}).items():
            cursor.register(name, table)
        yield from cursor.sql(sql).to_arrow_reader(UNIT_BATCH)
    finally:
        cursor.close()


# --- per-unit extraction ----------------------------------------------------------------------------------------

# Only images where a kind can fire: one of the ``images.*`` columns some kind needs (audit.signals.kinds) is set.
# EXIF is large: unless a kind needs it, it is read only for the UTC offset's source label.
_IMAGE_NEEDS = needed_columns("images")
IMAGES_SQL = f"""
SELECT sha256, gps_lat, gps_lon, gps_alt, taken_at, utc_offset, location, iptc, xmp, c2pa,
       {"exif" if "exif" in _IMAGE_NEEDS else "CASE WHEN utc_offset IS NOT NULL THEN exif END AS exif"}
FROM images
WHERE {" OR ".join(f"{column} IS NOT NULL" for column in _IMAGE_NEEDS)}
"""

PAGES_SQL = """
SELECT p.crawl_id, p.url, p.facts, p.headers, p.server_ip
FROM pages p
WHERE EXISTS (SELECT 1 FROM sightings s WHERE s.crawl_id = p.crawl_id AND s.page_url = p.url
              AND s.sha256 IS NOT NULL)
"""

HOSTS_SQL = """
SELECT DISTINCT host, role FROM (
    SELECT page_host AS host, 'page' AS role FROM sightings WHERE sha256 IS NOT NULL AND page_host IS NOT NULL
    UNION ALL
    SELECT image_host, 'image' FROM sightings WHERE sha256 IS NOT NULL AND image_host IS NOT NULL
) WHERE host <> ''
"""

TEXTS_SQL = """
SELECT DISTINCT coalesce(alt_text, '') AS alt, coalesce(caption, '') AS caption
FROM sightings WHERE sha256 IS NOT NULL AND (coalesce(alt_text, '') <> '' OR coalesce(caption, '') <> '')
"""

# Every URL governed by a robots.txt: the sighting's image under its image host's file, its page under the page
# host's. A URL is looked up once however many sightings share it, and only if it contains the literal start of one
# of its host's Disallow rules (``_robots_fragments``; URLs with ``%``, controls or non-ASCII always go through):
# the others cannot be disallowed, and most URLs of a crawl are of that kind.
ROBOTS_FRAGMENTS_SQL = """
SELECT DISTINCT crawl_id, host, status, body, error FROM host_policies WHERE kind = 'robots.txt'
"""

# Whether ``url`` may be disallowed by a rule starting with ``fragment`` (a superset of the pre-filter, tested).
ROBOTS_URL_FILTER = "(contains(lower({url}), {fragment}) OR NOT regexp_full_match({url}, '[ -$&-~]*'))"

ROBOTS_SQL = """
WITH u AS (
    SELECT DISTINCT crawl_id, host, url FROM (
        SELECT crawl_id, image_host AS host, image_url AS url FROM sightings WHERE sha256 IS NOT NULL
        UNION ALL
        SELECT crawl_id, page_host, page_url FROM sightings WHERE sha256 IS NOT NULL AND page_url IS NOT NULL
    ) WHERE url IS NOT NULL AND url <> ''
), candidates AS (
    SELECT DISTINCT u.crawl_id, u.host, u.url
    FROM u JOIN _robots_fragments f ON f.crawl_id = u.crawl_id AND f.host = u.host
    WHERE {url_filter}
)
SELECT DISTINCT c.crawl_id, c.host, c.url, hp.status, hp.body, hp.error
FROM candidates c
JOIN host_policies hp ON hp.crawl_id = c.crawl_id AND hp.host = c.host AND hp.kind = 'robots.txt'
ORDER BY c.crawl_id, c.host
""".format(url_filter=ROBOTS_URL_FILTER.format(url="u.url", fragment="f.fragment"))


def _robots_fragments(store: Store) -> dict[str, pa.Table]:
    """``_robots_fragments`` for :data:`ROBOTS_SQL`: per crawl and host, the strings a URL must contain to be worth
    asking its robots.txt about (:func:`~audit.signals.consent.recorded_robots_fragments`: every URL of a host whose
    robots.txt was unreachable)."""
    from audit.signals.consent import recorded_robots_fragments

    rows: set[tuple[str, str, str]] = set()
    for crawl_id, host, status, body, error in store.con.execute(ROBOTS_FRAGMENTS_SQL).fetchall():
        rows.update((str(crawl_id), host, fragment) for fragment in recorded_robots_fragments(status, body, error))
    columns = list(zip(*sorted(rows), strict=True)) or [(), (), ()]
    return {"_robots_fragments": pa.table({name: pa.array(list(col), pa.string())
                                           for name, col in zip(("crawl_id", "host", "fragment"), columns,
                                                                strict=True)})}


TDMREP_SQL = """
SELECT DISTINCT s.crawl_id, s.image_host AS host, s.image_url AS url, hp.body
FROM sightings s
JOIN host_policies hp ON hp.crawl_id = s.crawl_id AND hp.host = s.image_host AND hp.kind = 'tdmrep.json'
     AND hp.status = 200 AND hp.body IS NOT NULL
WHERE s.sha256 IS NOT NULL AND s.image_url IS NOT NULL AND s.image_url <> ''
"""

# Only responses whose headers mention a directive can carry one (header names are matched case-insensitively).
FETCH_HEADERS_SQL = """
SELECT f.crawl_id, f.url, f.headers
FROM fetches f
WHERE f.headers IS NOT NULL
  AND (lower(CAST(f.headers AS VARCHAR)) LIKE '%x-robots-tag%' OR lower(CAST(f.headers AS VARCHAR)) LIKE '%tdm-%')
  AND EXISTS (SELECT 1 FROM sightings s WHERE s.crawl_id = f.crawl_id AND s.image_url = f.url
              AND s.sha256 IS NOT NULL)
"""


# Each ``*_batch`` function turns a batch of input rows into (signal rows, opt-out rows). They are pure and
# module-level, so that large stores can run them in worker processes.

Batch = list[dict[str, Any]]
BatchRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _image_batch(rows: Batch) -> BatchRows:
    from audit.signals.c2pa import training_opt_outs
    from audit.signals.image import image_signals

    sigs: list[tuple[Any, ...]] = []
    opts: list[tuple[Any, ...]] = []
    for row in rows:
        record = _record_from_row(row)
        key = (row["sha256"],)
        sigs += signal_rows(key, image_signals(record))
        if record.c2pa:
            opts += opt_out_rows(key, training_opt_outs(record.c2pa), rank=6)
    return sigs, opts


_ip_cache: dict[str, list[Signal]] = {}


def _page_batch(rows: Batch) -> BatchRows:
    from audit.signals.consent import header_opt_outs, meta_opt_outs
    from audit.signals.network import server_ip_signals
    from audit.signals.page import page_signals

    sigs: list[tuple[Any, ...]] = []
    opts: list[tuple[Any, ...]] = []
    for row in rows:
        key = (str(row["crawl_id"]), row["url"])
        facts = _loads(row.get("facts"))
        headers = _loads(row.get("headers"))
        facts = facts if isinstance(facts, dict) else {}
        headers = headers if isinstance(headers, dict) else {}
        signals = page_signals(facts, headers)
        ip = row.get("server_ip")
        if ip:
            if ip not in _ip_cache:
                _ip_cache[ip] = server_ip_signals(ip)
            signals = signals + _ip_cache[ip]
        sigs += signal_rows(key, signals)
        opts += opt_out_rows(key, header_opt_outs(headers) + meta_opt_outs(facts), rank=5)
    return sigs, opts


def _host_batch(rows: Batch) -> BatchRows:
    from audit.signals.host import host_signals

    sigs: list[tuple[Any, ...]] = []
    for row in rows:
        sigs += signal_rows((row["host"], row["role"]), host_signals(row["host"], row["role"]))
    return sigs, []


def _text_batch(rows: Batch) -> BatchRows:
    from audit.signals.text import text_language_signals

    sigs: list[tuple[Any, ...]] = []
    for row in rows:
        sigs += signal_rows((row["alt"], row["caption"]),
                            text_language_signals(row["alt"] or None, row["caption"] or None))
    return sigs, []


def _robots_batch(rows: Batch) -> BatchRows:
    from audit.signals.consent import recorded_robots_opt_outs

    opts: list[tuple[Any, ...]] = []
    for row in rows:
        # the file's rules (behind the pre-filter), or a complete disallow when it was unreachable (RFC 9309)
        opts += opt_out_rows((str(row["crawl_id"]), row["host"], row["url"]),
                             recorded_robots_opt_outs(row["status"], row["body"], row["error"], row["url"]), rank=1)
    return [], opts


def _tdmrep_batch(rows: Batch) -> BatchRows:
    from audit.signals.consent import tdmrep_opt_outs

    opts: list[tuple[Any, ...]] = []
    for row in rows:
        opts += opt_out_rows((str(row["crawl_id"]), row["host"], row["url"]),
                             tdmrep_opt_outs(row["body"], row["url"]), rank=3)
    return [], opts


def _fetch_batch(rows: Batch) -> BatchRows:
    from audit.signals.consent import header_opt_outs

    opts: list[tuple[Any, ...]] = []
    for row in rows:
        parsed = _loads(row["headers"])
        if isinstance(parsed, dict):
            opts += opt_out_rows((str(row["crawl_id"]), row["url"]), header_opt_outs(parsed), rank=4)
    return [], opts


KEY_CRAWL_URL = [("crawl_id", pa.string()), ("url", pa.string())]
KEY_CRAWL_HOST_URL = [("crawl_id", pa.string()), ("host", pa.string()), ("url", pa.string())]


@dataclass(frozen=True)
class _Units:
    """One kind of distinct input: the query that lists them, the function that reads a batch of them, and the
    temporary tables its signals and opt-outs go to."""

    name: str
    sql: str
    run: Callable[[Batch], BatchRows]
    keys: list[tuple[str, pa.DataType]]
    signals_table: str | None
    opt_outs_table: str | None
    parallel: bool = True
    prepare: Callable[[Store], dict[str, pa.Table]] | None = None  # Arrow tables that ``sql`` reads, by name


UNITS = (
    _Units("images_with_metadata", IMAGES_SQL, _image_batch, [("sha256", pa.string())], "_u_image", "_o_image"),
    _Units("pages", PAGES_SQL, _page_batch, KEY_CRAWL_URL, "_u_page", "_o_page"),
    _Units("hosts", HOSTS_SQL, _host_batch, [("host", pa.string()), ("role", pa.string())], "_u_host", None,
           parallel=False),
    _Units("texts", TEXTS_SQL, _text_batch, [("alt", pa.string()), ("caption", pa.string())], "_u_text", None),
    _Units("robots_urls", ROBOTS_SQL, _robots_batch, KEY_CRAWL_HOST_URL, None, "_o_robots",
           prepare=_robots_fragments),
    _Units("tdmrep_urls", TDMREP_SQL, _tdmrep_batch, KEY_CRAWL_HOST_URL, None, "_o_tdmrep", parallel=False),
    _Units("image_headers", FETCH_HEADERS_SQL, _fetch_batch, KEY_CRAWL_URL, None, "_o_fetch", parallel=False),
)


def _schemas(units: _Units) -> tuple[pa.Schema, pa.Schema]:
    return pa.schema(units.keys + SIGNAL_FIELDS), pa.schema(units.keys + OPT_OUT_FIELDS)


def _run_unit_batch(units: _Units, batch: pa.RecordBatch) -> tuple[pa.Table, pa.Table]:
    """``units.run`` on one batch of input, with its rows returned as Arrow tables: in a worker process, the
    conversions both ways happen there too, and the parent only moves Arrow buffers."""
    sigs, opts = units.run(batch.to_pylist())
    sig_schema, opt_schema = _schemas(units)
    return _table(sigs, sig_schema), _table(opts, opt_schema)


def _extract(store: Store, units: _Units, pool: Executor | None, result: AuditResult) -> None:
    """Run ``units.run`` over every distinct input, in the pool when there is one, into its temporary tables."""
    tables = units.prepare(store) if units.prepare is not None else None
    sig_schema, opt_schema = _schemas(units)
    sig_sink = _Sink(store, units.signals_table, sig_schema) if units.signals_table else None
    opt_sink = _Sink(store, units.opt_outs_table, opt_schema) if units.opt_outs_table else None
    n = 0

    def keep(out: tuple[pa.Table, pa.Table]) -> None:
        sigs, opts = out
        if sig_sink is not None:
            sig_sink.add(sigs)
        if opt_sink is not None:
            opt_sink.add(opts)

    if pool is None or not units.parallel:
        for batch in _batches(store, units.sql, tables):
            n += batch.num_rows
            keep(_run_unit_batch(units, batch))
    else:
        pending: deque[Future[tuple[pa.Table, pa.Table]]] = deque()
        for batch in _batches(store, units.sql, tables):
            n += batch.num_rows
            pending.append(pool.submit(_run_unit_batch, units, batch))
            while len(pending) > 2 * POOL_DEPTH:  # bounded: batches are read no faster than they are worked on
                keep(pending.popleft().result())
        while pending:
            keep(pending.popleft().result())
    for sink in (sig_sink, opt_sink):
        if sink is not None:
            sink.flush()
    result.units[units.name] = n


# --- set-wise SQL -----------------------------------------------------------------------------------------------

SIGNAL_ID = ("md5(concat_ws(chr(0), {sha}, coalesce({sighting}, ''), {kind}, "
             "coalesce({country}, array_to_string({candidates}, ',')), {evidence}, coalesce({via}, '')))")

SIGNAL_COLUMNS = "signal_id, sha256, sighting_id, kind, country, candidates, strength, weight, evidence, detail, " \
                 "via_sha256"


def _fan_out_sql(source: str, join: str, sighting: str = "s.sighting_id", sha: str = "s.sha256",
                 frm: str = "sightings s") -> str:
    sid = SIGNAL_ID.format(sha=sha, sighting=sighting, kind="u.kind", country="u.country",
                           candidates="u.candidates", evidence="u.evidence", via="NULL")
    where = "WHERE s.sha256 IS NOT NULL" if frm.startswith("sightings") else ""
    return (f"INSERT INTO signals ({SIGNAL_COLUMNS}) "
            f"SELECT {sid}, {sha}, {sighting}, u.kind, u.country, u.candidates, u.strength, u.weight, u.evidence, "
            f"u.detail, NULL FROM {frm} JOIN {source} u ON {join} {where}")


DIRECT_SIGNALS_SQL = [
    _fan_out_sql("_u_image", "u.sha256 = i.sha256", sighting="NULL", sha="i.sha256", frm="images i"),
    _fan_out_sql("_u_host", "u.host = s.page_host AND u.role = 'page'"),
    _fan_out_sql("_u_host", "u.host = s.image_host AND u.role = 'image'"),
    _fan_out_sql("_u_page", "u.crawl_id = s.crawl_id AND u.url = s.page_url"),
    _fan_out_sql("_u_text", "u.alt = coalesce(s.alt_text, '') AND u.caption = coalesce(s.caption, '')"),
]

PROPAGATE_SQL = f"""
INSERT INTO signals ({SIGNAL_COLUMNS})
WITH first_url AS (
    SELECT sha256, arg_min(coalesce(nullif(page_url, ''), image_url), sighting_id) AS url
    FROM sightings WHERE sha256 IS NOT NULL GROUP BY sha256
), prop AS (
    SELECT t.sha256 AS target, s.sighting_id, s.kind, s.country, s.candidates, s.strength, s.weight,
           'via near-duplicate ' || s.sha256 || ' on ' || coalesce(f.url, '') || ': ' || s.evidence AS evidence,
           s.detail, s.sha256 AS via
    FROM signals s
    JOIN clusters c ON c.sha256 = s.sha256 AND c.size > 1
    JOIN clusters t ON t.cluster_id = c.cluster_id AND t.sha256 <> s.sha256
    LEFT JOIN first_url f ON f.sha256 = s.sha256
    WHERE s.via_sha256 IS NULL
)
SELECT {SIGNAL_ID.format(sha="target", sighting="sighting_id", kind="kind", country="country",
                         candidates="candidates", evidence="evidence", via="via")},
       target, sighting_id, kind, country, candidates, strength, weight, evidence, detail, via
FROM prop
"""


def _opt_out_join(source: str, join: str) -> str:
    return (f"SELECT s.sighting_id, s.sha256, o.kind, o.value, o.applies_to, o.evidence, o.ord "
            f"FROM sightings s JOIN {source} o ON {join} WHERE s.sha256 IS NOT NULL")


OPT_OUTS_SQL = f"""
INSERT INTO opt_outs (sighting_id, sha256, kind, value, applies_to, evidence)
SELECT sighting_id, any_value(sha256), kind, value, applies_to, arg_min(evidence, ord)
FROM (
    {_opt_out_join("_o_robots", "o.crawl_id = s.crawl_id AND o.host = s.image_host AND o.url = s.image_url")}
    UNION ALL
    {_opt_out_join("_o_robots", "o.crawl_id = s.crawl_id AND o.host = s.page_host AND o.url = s.page_url")
     .replace("o.ord", "o.ord + 10000")}
    UNION ALL
    {_opt_out_join("_o_tdmrep", "o.crawl_id = s.crawl_id AND o.host = s.image_host AND o.url = s.image_url")}
    UNION ALL
    {_opt_out_join("_o_fetch", "o.crawl_id = s.crawl_id AND o.url = s.image_url")}
    UNION ALL
    {_opt_out_join("_o_page", "o.crawl_id = s.crawl_id AND o.url = s.page_url")}
    UNION ALL
    {_opt_out_join("_o_image", "o.sha256 = s.sha256")}
)
GROUP BY sighting_id, kind, value, applies_to
"""

# What the attribution reads of each signal. Each distinct piece of evidence gets a 64-bit key (collisions are
# checked for), and an image's evidence becomes a sorted list of keys, cheap to group and compare.
EVIDENCE_COLUMNS = """kind, CASE WHEN len(candidates) > 0 THEN candidates ELSE [country] END AS countries,
       strength, coalesce(nullif(weight, 0), 1.0) AS weight,
       CASE WHEN detail IS NOT NULL THEN TRY_CAST(json_extract_string(detail, '$.near_border_km') AS DOUBLE) END
           AS border_km, via_sha256 IS NULL AS direct"""

EVIDENCE_SETS_SQL = f"""
CREATE TEMP TABLE _evidence AS
SELECT sha256, list_sort(list_distinct(list(ev))) AS final_set,
       list_sort(list_distinct(list(ev) FILTER (WHERE direct))) AS direct_set
FROM (SELECT sha256, direct, hash(kind, countries, strength, weight, border_km, direct) AS ev
      FROM (SELECT sha256, {EVIDENCE_COLUMNS} FROM signals))
GROUP BY sha256
"""

EVIDENCE_VALUES_SQL = f"""
SELECT hash(kind, countries, strength, weight, border_km, direct) AS ev, kind, countries, strength, weight,
       border_km, NOT direct AS propagated
FROM (SELECT DISTINCT {EVIDENCE_COLUMNS} FROM signals)
"""

DISTINCT_SETS_SQL = """
CREATE TEMP TABLE _sets AS
SELECT evidence_set, (row_number() OVER ())::INTEGER AS set_id
FROM (SELECT final_set AS evidence_set FROM _evidence UNION SELECT direct_set FROM _evidence
      WHERE direct_set IS NOT NULL)
"""

ATTRIBUTIONS_SQL = """
INSERT INTO attributions (sha256, country, score, tier, runner_up, runner_up_score, kinds, propagated,
                          direct_country, direct_score, direct_tier, explanation)
SELECT i.sha256, f.country, coalesce(f.score, 0.0), coalesce(f.tier, 'none'), f.runner_up, f.runner_up_score,
       coalesce(f.kinds, []::VARCHAR[]),
       coalesce(f.country, '') <> coalesce(d.country, '') OR coalesce(f.tier, 'none') <> coalesce(d.tier, 'none'),
       d.country, coalesce(d.score, 0.0), coalesce(d.tier, 'none'), coalesce(f.explanation, 'no signal')
FROM images i
LEFT JOIN _evidence e ON e.sha256 = i.sha256
LEFT JOIN _sets fs ON fs.evidence_set = e.final_set
LEFT JOIN _sets ds ON ds.evidence_set = e.direct_set
LEFT JOIN _attr f ON f.set_id = fs.set_id
LEFT JOIN _attr d ON d.set_id = ds.set_id
"""


def _evidence_of(entry: dict[str, Any]) -> list[Evidence]:
    return [Evidence(kind=entry["kind"], country=c, strength=entry["strength"], weight=float(entry["weight"]),
                     border_km=entry["border_km"], propagated=bool(entry["propagated"]))
            for c in (entry["countries"] or []) if c]


def _attribute_sets(store: Store, result: AuditResult) -> None:
    """Run the attribution rule once per distinct evidence set and keep the answers in ``_attr``."""
    con = store.con
    for name in ("_evidence", "_sets", "_attr"):
        con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")
    evidence: dict[int, list[Evidence]] = {}
    for entry in con.sql(EVIDENCE_VALUES_SQL).to_arrow_table().to_pylist():
        if entry["ev"] in evidence:
            raise RuntimeError("two pieces of evidence share a 64-bit key; the attribution cannot tell them apart")
        evidence[entry["ev"]] = _evidence_of(entry)
    con.execute(EVIDENCE_SETS_SQL)
    con.execute(DISTINCT_SETS_SQL)
    cols: dict[str, list[Any]] = defaultdict(list)
    n = 0
    for row in con.sql("SELECT set_id, evidence_set FROM _sets").to_arrow_table().to_pylist():
        n += 1
        keys = row["evidence_set"] or []
        a: Attribution = attribute([e for k in keys for e in evidence[k]]) if keys else NONE
        cols["set_id"].append(row["set_id"])
        cols["country"].append(a.country)
        cols["score"].append(float(a.score))
        cols["tier"].append(a.tier)
        cols["runner_up"].append(a.runner_up)
        cols["runner_up_score"].append(a.runner_up_score)
        cols["kinds"].append(list(a.kinds))
        cols["explanation"].append(a.explanation)
    schema = pa.schema([("set_id", pa.int32()), ("country", pa.string()), ("score", pa.float64()),
                        ("tier", pa.string()), ("runner_up", pa.string()), ("runner_up_score", pa.float64()),
                        ("kinds", pa.list_(pa.string())), ("explanation", pa.string())])
    table = pa.Table.from_pydict({f.name: cols.get(f.name, []) for f in schema}, schema=schema)
    con.register("_attr_batch", table)
    try:
        con.execute("CREATE TEMP TABLE _attr AS SELECT * FROM _attr_batch")
    finally:
        con.unregister("_attr_batch")
    result.units["evidence"] = len(evidence)
    result.units["evidence_sets"] = n


def _clusters(store: Store, result: AuditResult, phash_threshold: int, dhash_threshold: int) -> None:
    con = store.con
    tbl = con.sql("SELECT sha256, phash, dhash, coalesce(phash_mirror, phash) AS pm, "
                      "coalesce(dhash_mirror, dhash) AS dm, phash IS NOT NULL AND dhash IS NOT NULL AS hashed "
                      "FROM images ORDER BY sha256").to_arrow_table()
    sha = np.asarray(tbl.column("sha256").to_pylist(), dtype=object)
    hashed = tbl.column("hashed").to_numpy(zero_copy_only=False).astype(bool)
    idx = np.flatnonzero(hashed)

    def col(name: str) -> np.ndarray:
        return np.asarray(tbl.column(name).to_numpy(zero_copy_only=False)[idx], dtype=np.uint64)

    hashes = HashSet(col("phash"), col("dhash"), col("pm"), col("dm")) if len(idx) else None
    cluster_id = sha.copy()
    size = np.ones(len(sha), dtype=np.int32)
    if hashes is not None:
        pairs = near_duplicate_pairs(hashes, phash_threshold=phash_threshold, dhash_threshold=dhash_threshold)
        labels = np.asarray(cluster_labels(len(idx), pairs))
        order = np.argsort(labels, kind="stable")  # rows sorted by sha256, so each group's first is its smallest
        sorted_labels = labels[order]
        starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        first = np.repeat(order[starts], counts)
        cluster_id[idx[order]] = sha[idx[first]]
        size[idx[order]] = np.repeat(counts, counts)
        result.clusters = int((counts > 1).sum())
        result.clustered_images = int(counts[counts > 1].sum())
    table = pa.table({"sha256": pa.array(sha.tolist(), pa.string()),
                      "cluster_id": pa.array(cluster_id.tolist(), pa.string()),
                      "size": pa.array(size, pa.int32())})
    con.execute("DROP TABLE IF EXISTS temp.main._clusters")
    con.register("_clusters_batch", table)
    try:
        con.execute("CREATE TEMP TABLE _clusters AS SELECT * FROM _clusters_batch")
    finally:
        con.unregister("_clusters_batch")


DERIVED = ("signals", "opt_outs", "clusters", "attributions")
TEMP_TABLES = ("_u_image", "_o_image", "_u_page", "_o_page", "_u_host", "_u_text", "_o_robots", "_o_tdmrep",
               "_o_fetch", "_clusters", "_evidence", "_sets", "_attr")


def default_workers(sightings: int) -> int:
    """Worker processes for a store of ``sightings``: none below ``PARALLEL_FROM`` (starting them costs more than
    they save), else one per core."""
    return 1 if sightings < PARALLEL_FROM else max(1, os.cpu_count() or 1)


# DuckDB settings for the store an audit runs on (``Store.open(path, options=AUDIT_OPTIONS)``; a store's settings are
# fixed when it is opened). The derived tables have no order: letting DuckDB write them in any order parallelises the
# bulk inserts.
AUDIT_OPTIONS: dict[str, Any] = {"preserve_insertion_order": False}


def run_audit(
    store: Store,
    *,
    phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
    dhash_threshold: int = DEFAULT_DHASH_THRESHOLD,
    workers: int | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Recompute signals, opt-outs, clusters and attributions for every image in ``store``. ``workers`` processes
    run the extractors (default: :func:`default_workers`); 1 runs everything in this process. Fastest on a store
    opened with ``options=AUDIT_OPTIONS``."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    result = AuditResult()
    say = progress or (lambda _msg: None)
    con = store.con
    if _count(store, "SELECT current_setting('preserve_insertion_order')::INTEGER"):
        logger.info("the store was not opened with AUDIT_OPTIONS: the derived tables are written in order (slower)")
    t0 = time.perf_counter()
    if workers is None:
        workers = default_workers(_count(store, "SELECT count(*) FROM sightings"))
    result.workers = workers

    try:
        pool: Executor | None = None
        if workers > 1:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["audit.derive.run"])
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        try:
            for units in UNITS:
                say(f"reading {units.name.replace('_', ' ')}")
                checkpoint(f"audit-reading-{units.name}")
                t = time.perf_counter()
                try:
                    _extract(store, units, pool, result)
                except BrokenProcessPool as exc:  # e.g. a __main__ the workers cannot import: carry on in-process
                    logger.warning("audit worker processes failed (%s); continuing in this process", exc)
                    pool.shutdown(cancel_futures=True)  # type: ignore[union-attr]
                    pool = None
                    _extract(store, units, pool, result)
                result.seconds[units.name] = time.perf_counter() - t
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        say("clustering near-duplicates")
        t = time.perf_counter()
        _clusters(store, result, phash_threshold, dhash_threshold)
        result.seconds["clusters"] = time.perf_counter() - t

        say("writing signals, opt-outs and clusters")
        t = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        try:
            for table in DERIVED:  # dropped, not emptied: their space is reused, and their definition is current
                con.execute(f"DROP TABLE IF EXISTS {table}")
                con.execute(TABLES_BY_NAME[table].ddl())
            checkpoint("audit-writing-begun")
            for sql in DIRECT_SIGNALS_SQL:
                con.execute(sql)
            checkpoint("audit-signals-written")
            con.execute(OPT_OUTS_SQL)
            con.execute("INSERT INTO clusters (sha256, cluster_id, size) SELECT sha256, cluster_id, size "
                        "FROM _clusters")
            result.signals = _count(store, "SELECT count(*) FROM signals")
            result.seconds["fan_out"] = time.perf_counter() - t
            t = time.perf_counter()
            say("propagating through clusters")
            con.execute(PROPAGATE_SQL)
            checkpoint("audit-propagated")
            result.propagated_signals = _count(store, "SELECT count(*) FROM signals WHERE via_sha256 IS NOT NULL")
            result.seconds["propagate"] = time.perf_counter() - t
            t = time.perf_counter()
            say("attributing")
            _attribute_sets(store, result)
            checkpoint("audit-attributed")
            con.execute(ATTRIBUTIONS_SQL)
            result.seconds["attribution"] = time.perf_counter() - t
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        for name in TEMP_TABLES:  # qualified: never a table of the store that happens to have the same name
            try:
                con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")
            except Exception:  # noqa: BLE001 - clean-up after a failure must not hide it
                logger.debug("could not drop %s", name, exc_info=True)
    result.images = _count(store, "SELECT count(*) FROM images")
    result.sightings = _count(store, "SELECT count(*) FROM sightings WHERE sha256 IS NOT NULL")
    result.opt_outs = _count(store, "SELECT count(*) FROM opt_outs")
    result.tiers = {str(t): int(n) for t, n in store.query("SELECT tier, count(*) FROM attributions GROUP BY tier")}
    result.seconds["total"] = time.perf_counter() - t0
    return result


def _count(store: Store, sql: str) -> int:
    rows = store.query(sql)
    return int(rows[0][0]) if rows else 0
