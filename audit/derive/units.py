"""The extraction units of an audit run: each kind of distinct input (an image's metadata, a page, a host, an alt
text, a URL under a robots.txt or tdmrep.json, an image response's headers), the query that lists them, the pure
function that turns a batch of them into signal and opt-out rows, and the temporary tables those rows go to.

:func:`extract` runs one unit over every distinct input, in a process pool when one is given; the batch functions
are module-level so that worker processes can run them.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby, islice
from typing import Any

import pyarrow as pa

from audit.derive.sql import (
    DATASET_EXIF_SQL,
    FETCH_HEADERS_SQL,
    HOSTS_SQL,
    IMAGE_URLS_SQL,
    IMAGES_SQL,
    PAGES_SQL,
    ROBOTS_FRAGMENTS_SQL,
    ROBOTS_SQL,
    TDMREP_SQL,
    TEXTS_SQL,
)
from audit.errors import StoreError
from audit.records import ImageRecord
from audit.schema import (
    O_FETCH,
    O_IMAGE,
    O_PAGE,
    O_ROBOTS,
    O_TDMREP,
    ROBOTS_FRAGMENTS,
    U_DATASET,
    U_HOST,
    U_IMAGE,
    U_PAGE,
    U_TEXT,
    U_URL,
)
from audit.signals.base import OptOut, Signal
from audit.store.db import Store

UNIT_BATCH = 2_000  # distinct inputs read, and sent to a worker, at a time
POOL_DEPTH = 4  # batches in flight per worker pool
LOAD_BYTES = 64 * 1024**2  # bytes of unit files loaded into a temporary table per statement

# The modules the batch functions import on first use (not at this module's import, which every command pays for).
# A worker pool's preload imports them all (``audit.derive.preload``); a test checks the list against the imports.
EXTRACTOR_MODULES = ("audit.signals.c2pa", "audit.signals.consent", "audit.signals.host", "audit.signals.image",
                     "audit.signals.network", "audit.signals.page", "audit.signals.places", "audit.signals.text")


def parse_json(value: Any) -> Any:
    """A JSON column's value as Python (DuckDB may hand it over parsed or as text); None when it is not JSON."""
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
        exif=parse_json(row.get("exif")), iptc=parse_json(row.get("iptc")), xmp=parse_json(row.get("xmp")),
        gps_lat=row.get("gps_lat"), gps_lon=row.get("gps_lon"), gps_alt=row.get("gps_alt"),
        taken_at=taken if isinstance(taken, dt.datetime) else None, utc_offset=row.get("utc_offset"),
        location=parse_json(row.get("location")), c2pa=parse_json(row.get("c2pa")),
    )


_GROUP_KEY = operator.attrgetter("kind", "strength", "evidence", "weight")


# The signals of an ambiguous value met on many pages (a bare ``<html lang="en">``: one signal for each of 58
# countries) come from an extractor's cache (audit.signals.page._language_signals), the same objects every time.
# Such a run's countries are gathered once: a run met a second time is remembered by its first signal's identity
# (the entry keeps the signals alive, so the identity cannot pass to another object) and reused where the same
# signals follow. Runs met once (a photo's UTC offset, whose evidence names its time) are never remembered.
_RUNS: dict[int, tuple[list[Signal], tuple[str, str, str, float], frozenset[str]]] = {}
_MET_ONCE: dict[int, Signal] = {}
_RUNS_MAX = 4096  # remembered runs (and runs met once) per process, then forgotten all at once
_RUN_MIN = 8  # shorter runs are gathered each time: cheaper than remembering them
_COUNTRY = operator.attrgetter("country")


def _remember(run: list[Signal], key: tuple[str, str, str, float], countries: frozenset[str]) -> None:
    first = run[0]
    if _MET_ONCE.get(id(first)) is first:
        if len(_RUNS) >= _RUNS_MAX:
            _RUNS.clear()
        _RUNS[id(first)] = (run, key, countries)
    else:
        if len(_MET_ONCE) >= _RUNS_MAX:
            _MET_ONCE.clear()
        _MET_ONCE[id(first)] = first


def collapse(signals: Iterable[Signal]) -> list[tuple[Signal, list[str] | None]]:
    """One entry per signal, except that the per-country signals of one ambiguous value (same kind, strength,
    evidence and weight 1/n: a bare ``fr``, a UTC offset) become one entry with its candidate countries; exact
    repeats are dropped. (Extractors emit a value's signals one after the other, so they are taken as runs.)"""
    items = signals if isinstance(signals, list) else list(signals)
    # per ambiguous value: its first signal, how many signals it had, its countries
    groups: dict[tuple[str, str, str, float], tuple[Signal, list[int], set[str]]] = {}
    out: list[tuple[Signal, list[str] | None]] = []
    seen: set[tuple[str, str, str]] = set()
    i, n = 0, len(items)
    while i < n:
        s = items[i]
        if not s.weight < 1.0:
            if (s.kind, s.country, s.evidence) not in seen:
                seen.add((s.kind, s.country, s.evidence))
                out.append((s, None))
            i += 1
            continue
        known = _RUNS.get(id(s))
        if known is not None and items[i:i + len(known[0])] == known[0]:  # the same objects: compared at C speed
            run, key, countries = known
        else:
            run = list(next(groupby(islice(items, i, None), _GROUP_KEY))[1])  # the run that starts here
            key = (s.kind, str(s.strength), s.evidence, round(s.weight, 9))
            countries = frozenset(map(_COUNTRY, run))
            if len(run) >= _RUN_MIN:
                _remember(run, key, countries)
        group = groups.get(key)
        if group is None:
            groups[key] = (s, [len(run)], set(countries))
        else:
            group[1][0] += len(run)
            group[2].update(countries)
        i += len(run)
    for first, count, candidates in groups.values():
        out.append((first, None) if count[0] == 1 else (first, sorted(candidates)))
    return out


# --- temporary tables of per-unit results ---------------------------------------------------------------------

# An ambiguous signal's candidate countries are kept as one string, joined by commas (country codes hold none), and
# made lists again once per distinct list (audit.derive.sql.CANDIDATES_SQL): a list of strings per row (58 for a bare
# ``lang=en``) cost most of the memory of these tables and of the time to write them.
SIGNAL_FIELDS = [("kind", pa.string()), ("country", pa.string()), ("candidates_key", pa.string()),
                 ("strength", pa.string()), ("weight", pa.float64()), ("evidence", pa.string()),
                 ("detail", pa.string())]
OPT_OUT_FIELDS = [("ord", pa.int32()), ("kind", pa.string()), ("value", pa.string()), ("applies_to", pa.string()),
                  ("evidence", pa.string())]


def signal_rows(key: tuple[Any, ...], signals: Iterable[Signal]) -> list[tuple[Any, ...]]:
    """Rows of a ``SIGNAL_FIELDS`` temporary table for one unit's signals."""
    return [key + (s.kind, None if candidates else s.country, _candidates_key(candidates) if candidates else None,
                   str(s.strength), float(s.weight), s.evidence, detail_json(s.detail) if s.detail else None)
            for s, candidates in collapse(signals)]


# A signal's detail is a few short strings, and the same few recur (``{"candidates": "58"}`` on every bare
# ``lang=en``): each distinct one is written as JSON once per process. Bounded: a hostile store may hold many.
_DETAIL_JSON: dict[tuple[tuple[Any, Any], ...], str] = {}
_DETAIL_JSON_MAX = 16_384


def detail_json(detail: Mapping[str, Any]) -> str:
    """``json.dumps(detail)``, remembered per distinct detail of strings (key order included, as ``json.dumps``
    keeps it); any other detail is written each time."""
    key = tuple(detail.items())
    if not all(k.__class__ is str and v.__class__ is str for k, v in key):  # 1, 1.0 and True are one dict key
        return json.dumps(detail)
    text = _DETAIL_JSON.get(key)
    if text is None:
        text = json.dumps(detail)
        if len(_DETAIL_JSON) >= _DETAIL_JSON_MAX:
            _DETAIL_JSON.clear()
        _DETAIL_JSON[key] = text
    return text


def _candidates_key(candidates: list[str]) -> str:
    joined = ",".join(candidates)
    if joined.count(",") != len(candidates) - 1:  # the key would not split back into the same list
        raise ValueError(f"a candidate country holds a comma: {candidates!r}")
    return joined


def opt_out_rows(key: tuple[Any, ...], opt_outs: Iterable[OptOut], rank: int) -> list[tuple[Any, ...]]:
    """Rows of an ``OPT_OUT_FIELDS`` temporary table; ``ord`` keeps the reference's order of precedence."""
    return [key + (rank * 10_000 + i, o.kind, o.value, o.applies_to, o.evidence) for i, o in enumerate(opt_outs)]


class UnitFiles:
    """Where the extraction units' rows wait until the extraction is over: Arrow IPC files in one directory, written
    by whichever process ran a batch (a worker, or this process), listed here per temporary table. :meth:`load` then
    moves them into their temporary tables, a group of files at a time.

    While the units run, their rows are neither in this process nor in DuckDB (they used to be appended to the
    temporary tables as the batches came back, ~300 MiB of the 1M-sighting audit's peak, held while the workers ran)
    and no rows travel back through the pool's pipes: only file names do."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)
        self.tables: dict[str, tuple[pa.Schema, list[str]]] = {}

    def table(self, store: Store, name: str, schema: pa.Schema) -> None:
        """(Re)create the temporary table ``name`` in ``store``, empty, for files of ``schema`` to be loaded into."""
        store.con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")
        cols = ", ".join(f"{f.name} {_duck_type(f.type)}" for f in schema)
        store.con.execute(f"CREATE TEMP TABLE {name} ({cols})")
        self.tables[name] = (schema, [])

    def add(self, name: str, path: str | None) -> None:
        if path is not None:
            self.tables[name][1].append(path)

    def load(self, store: Store) -> None:
        """Append every table's files to it, about :data:`LOAD_BYTES` of files per statement, deleting them as they
        are read (they are memory-mapped: a group is released before the next is mapped)."""
        for name, (schema, files) in self.tables.items():
            start = 0
            while start < len(files):  # in the order the batches were read
                end, size = start + 1, os.path.getsize(files[start])
                while end < len(files) and size + os.path.getsize(files[end]) <= LOAD_BYTES:
                    size += os.path.getsize(files[end])
                    end += 1
                _load_files(store, name, schema, files[start:end])
                start = end
            files.clear()


def _load_files(store: Store, name: str, schema: pa.Schema, paths: list[str]) -> None:
    sources = [pa.memory_map(path) for path in paths]
    try:
        batch = pa.concat_tables([pa.ipc.open_file(source).read_all() for source in sources])
        if batch.schema != schema:
            raise RuntimeError(f"an audit file for {name} has the columns {batch.schema.names}, not {schema.names}")
        store.con.register("_unit_files", batch)
        try:
            store.con.execute(f"INSERT INTO {name} SELECT * FROM _unit_files")
        finally:
            store.con.unregister("_unit_files")
        del batch
    finally:
        for source in sources:
            source.close()
        for path in paths:
            os.unlink(path)


def write_unit_file(table: pa.Table, directory: str, name: str) -> str | None:
    """``table`` as an Arrow IPC file of its own in ``directory`` (for :class:`UnitFiles`); None when it is empty."""
    if not table.num_rows:
        return None
    path = os.path.join(directory, f"{name}-{uuid.uuid4().hex}.arrow")
    try:
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    except OSError as exc:  # a full disk, say
        raise StoreError(f"cannot write the audit's temporary file {path}: {exc}") from exc
    return path


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


def _robots_fragments(store: Store) -> dict[str, pa.Table]:
    """The table :data:`~audit.schema.ROBOTS_FRAGMENTS` for :data:`ROBOTS_SQL`: per crawl and host, the strings a URL
    must contain to be worth asking its robots.txt about (:func:`~audit.signals.consent.recorded_robots_fragments`:
    every URL of a host whose robots.txt was unreachable)."""
    from audit.signals.consent import recorded_robots_fragments

    rows: set[tuple[str, str, str]] = set()
    for crawl_id, host, status, body, error in store.con.execute(ROBOTS_FRAGMENTS_SQL).fetchall():
        rows.update((str(crawl_id), host, fragment) for fragment in recorded_robots_fragments(status, body, error))
    columns = list(zip(*sorted(rows), strict=True)) or [(), (), ()]
    return {ROBOTS_FRAGMENTS: pa.table({name: pa.array(list(col), pa.string())
                                           for name, col in zip(("crawl_id", "host", "fragment"), columns,
                                                                strict=True)})}


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


@lru_cache(maxsize=65_536)
def _server_ip_signals(ip: str) -> tuple[Signal, ...]:
    """:func:`audit.signals.network.server_ip_signals`, once per server address in a worker (bounded: a hostile store
    may name millions of addresses)."""
    from audit.signals.network import server_ip_signals

    return tuple(server_ip_signals(ip))


def _page_batch(rows: Batch) -> BatchRows:
    from audit.signals.consent import header_opt_outs, meta_opt_outs
    from audit.signals.page import page_signals
    from audit.signals.places import place_signals

    sigs: list[tuple[Any, ...]] = []
    opts: list[tuple[Any, ...]] = []
    for row in rows:
        key = (str(row["crawl_id"]), row["url"])
        facts = parse_json(row.get("facts"))
        headers = parse_json(row.get("headers"))
        facts = facts if isinstance(facts, dict) else {}
        headers = headers if isinstance(headers, dict) else {}
        signals = page_signals(facts, headers)
        if row.get("title"):
            hints, regions = _page_hints(row.get("host"), row.get("lang"), _str(facts.get("meta_language")),
                                         _str(facts.get("geo_region")))
            signals = signals + place_signals(row["title"], "page_title", hints=hints, region_hints=regions)
        ip = row.get("server_ip")
        if ip:
            signals = signals + list(_server_ip_signals(ip))
        sigs += signal_rows(key, signals)
        opts += opt_out_rows(key, header_opt_outs(headers) + meta_opt_outs(facts), rank=5)
    return sigs, opts


@lru_cache(maxsize=65_536)
def _page_hints(host: str | None, lang: str | None, meta_language: str | None,
                geo_region: str | None) -> tuple[frozenset[str], frozenset[str]]:
    """:func:`audit.signals.places.page_hints` of a page, once per worker for the pages of one site."""
    from audit.signals.places import page_hints

    return page_hints(host, (lang, meta_language), geo_region)


def _host_batch(rows: Batch) -> BatchRows:
    from audit.signals.host import host_signals

    sigs: list[tuple[Any, ...]] = []
    for row in rows:
        sigs += signal_rows((row["host"], row["role"]), host_signals(row["host"], row["role"]))
    return sigs, []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def text_hints(page_host: str | None, page_langs: str | None) -> tuple[frozenset[str], frozenset[str]]:
    """The place hints of a text on a page (:func:`audit.signals.places.page_hints`) from its host (or any host
    under the same TLD: :data:`audit.derive.sql.PAGE_TLD`) and the page's ``lang|meta_language|geo_region`` as
    :data:`audit.derive.sql.PAGE_LANGS` joins them."""
    from audit.signals.places import page_hints

    lang, meta, geo = ((page_langs or "").split("|", 2) + ["", ""])[:3]
    return page_hints(page_host, (lang, meta), geo or None)


@lru_cache(maxsize=65_536)
def _language_of(alt: str | None, caption: str | None) -> list[Any]:
    from audit.signals.text import text_language_signals

    return text_language_signals(alt, caption)


def _text_batch(rows: Batch) -> BatchRows:
    from audit.signals.places import text_place_signals  # its places are memoised per text (places._read_places)

    # one unit per (alt, caption, heading, page TLD, page languages): the language of an alt text is detected
    # once per worker whatever the heading, TLD and languages around it
    sigs: list[tuple[Any, ...]] = []
    for row in rows:
        alt, caption = row["alt"] or None, row["caption"] or None
        tld = row["page_tld"]
        hints, regions = text_hints(f"page.{tld}" if tld else None, row["page_langs"])
        places = text_place_signals(alt, caption, heading=row["heading"] or None, hints=hints,
                                    region_hints=regions)
        language = _language_of(alt, caption) if alt or caption else []
        sigs += signal_rows((row["alt"], row["caption"], row["heading"], tld, row["page_langs"]), language + places)
    return sigs, []


def _url_batch(rows: Batch) -> BatchRows:
    from audit.signals.places import place_signals

    sigs: list[tuple[Any, ...]] = []
    for row in rows:
        sigs += signal_rows((row["url"],), place_signals(row["url"], "url"))
    return sigs, []


def _dataset_exif_batch(rows: Batch) -> BatchRows:
    from audit.signals.image import dataset_exif_signals

    sigs: list[tuple[Any, ...]] = []
    for row in rows:
        exif = parse_json(row["exif"])
        sigs += signal_rows((row["sighting_id"],), dataset_exif_signals(
            exif if isinstance(exif, dict) else None, bytes_have_exif=bool(row["bytes_have_exif"])))
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
                             tdmrep_opt_outs(row["body"], row["url"], row.get("source")), rank=3)
    return [], opts


def _fetch_batch(rows: Batch) -> BatchRows:
    from audit.signals.consent import header_opt_outs

    opts: list[tuple[Any, ...]] = []
    for row in rows:
        parsed = parse_json(row["headers"])
        if isinstance(parsed, dict):
            opts += opt_out_rows((str(row["crawl_id"]), row["url"]), header_opt_outs(parsed), rank=4)
    return [], opts


KEY_CRAWL_URL = [("crawl_id", pa.string()), ("url", pa.string())]
KEY_CRAWL_HOST_URL = [("crawl_id", pa.string()), ("host", pa.string()), ("url", pa.string())]


@dataclass(frozen=True)
class Units:
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
    Units("images_with_metadata", IMAGES_SQL, _image_batch, [("sha256", pa.string())], U_IMAGE, O_IMAGE),
    Units("pages", PAGES_SQL, _page_batch, KEY_CRAWL_URL, U_PAGE, O_PAGE),
    Units("hosts", HOSTS_SQL, _host_batch, [("host", pa.string()), ("role", pa.string())], U_HOST, None,
           parallel=False),
    Units("texts", TEXTS_SQL, _text_batch, [("alt", pa.string()), ("caption", pa.string()),
                                            ("heading", pa.string()), ("page_tld", pa.string()),
                                            ("page_langs", pa.string())], U_TEXT, None),
    Units("image_urls", IMAGE_URLS_SQL, _url_batch, [("url", pa.string())], U_URL, None),
    Units("dataset_exif", DATASET_EXIF_SQL, _dataset_exif_batch, [("sighting_id", pa.string())], U_DATASET, None,
          parallel=False),
    Units("robots_urls", ROBOTS_SQL, _robots_batch, KEY_CRAWL_HOST_URL, None, O_ROBOTS,
           prepare=_robots_fragments),
    Units("tdmrep_urls", TDMREP_SQL, _tdmrep_batch, KEY_CRAWL_HOST_URL, None, O_TDMREP),
    Units("image_headers", FETCH_HEADERS_SQL, _fetch_batch, KEY_CRAWL_URL, None, O_FETCH),
)


def _schemas(units: Units) -> tuple[pa.Schema, pa.Schema]:
    return pa.schema(units.keys + SIGNAL_FIELDS), pa.schema(units.keys + OPT_OUT_FIELDS)


def _run_unit_batch(units: Units, batch: pa.RecordBatch, directory: str) -> tuple[str | None, str | None]:
    """``units.run`` on one batch of input, its rows written as Arrow files into ``directory``
    (:func:`write_unit_file`): in a worker process, the conversions and the writing happen there too, and the parent
    only receives two file names."""
    sigs, opts = units.run(batch.to_pylist())
    sig_schema, opt_schema = _schemas(units)
    return (write_unit_file(_table(sigs, sig_schema), directory, units.signals_table) if units.signals_table else None,
            write_unit_file(_table(opts, opt_schema), directory, units.opt_outs_table) if units.opt_outs_table
            else None)


def extract(store: Store, units: Units, pool: Executor | None, files: UnitFiles) -> int:
    """Run ``units.run`` over every distinct input, in the pool when there is one, its rows into ``files`` (loaded
    into the unit's temporary tables by ``files.load``). Returns the number of distinct inputs read."""
    tables = units.prepare(store) if units.prepare is not None else None
    sig_schema, opt_schema = _schemas(units)
    for name, schema in ((units.signals_table, sig_schema), (units.opt_outs_table, opt_schema)):
        if name:
            files.table(store, name, schema)
    n = 0

    def keep(out: tuple[str | None, str | None]) -> None:
        sigs, opts = out
        for name, path in ((units.signals_table, sigs), (units.opt_outs_table, opts)):
            if name:
                files.add(name, path)

    if pool is None or not units.parallel:
        for batch in _batches(store, units.sql, tables):
            n += batch.num_rows
            keep(_run_unit_batch(units, batch, files.directory))
    else:
        pending: deque[Future[tuple[str | None, str | None]]] = deque()
        for batch in _batches(store, units.sql, tables):
            n += batch.num_rows
            pending.append(pool.submit(_run_unit_batch, units, batch, files.directory))
            while len(pending) > 2 * POOL_DEPTH:  # bounded: batches are read no faster than they are worked on
                keep(pending.popleft().result())
        while pending:
            keep(pending.popleft().result())
    return n
