"""The DuckDB provenance store: one schema definition, bulk writes, idempotent inserts.

The schema below is the single source of truth: the DDL is generated from it and ``docs/schema.md`` documents it
(a test checks that every table and column is documented). Rows are written in bulk through Arrow tables with
``INSERT OR IGNORE``, so replaying the same input never creates duplicate rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

# the errors of a store, importable from here as before
from audit.errors import NotAStore as NotAStore
from audit.errors import StoreBusy as StoreBusy
from audit.errors import StoreError as StoreError
from audit.errors import StoreIncomplete as StoreIncomplete
from audit.errors import UnsafeStore as UnsafeStore
from audit.settings import DEFAULTS
from audit.store import sealed
from audit.store.check import Layout, check_catalog

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: seconds :meth:`Store.open` waits for another process to let go of the file, unless told (AUDIT_STORE_LOCK_WAIT)
DEFAULT_LOCK_WAIT = float(DEFAULTS["AUDIT_STORE_LOCK_WAIT"])


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    doc: str
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # False for the large tables that only `provaudit audit` writes, in bulk, once per run: their key is unique by
    # construction, and keeping an index on millions of rows would cost most of the audit's time.
    indexed: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        cols = [f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns]
        if self.indexed:
            cols.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"


C = Column

TABLES: tuple[Table, ...] = (
    Table(
        "crawls",
        "One row per crawl or ingest run: where the rows with this `crawl_id` came from.",
        (
            C("crawl_id", "VARCHAR", "Identifier of the crawl (live crawls) or of the ingested source.", False),
            C("source", "VARCHAR", "What was crawled or ingested: start URLs, archive paths, folder paths."),
            C("kind", "VARCHAR", "`crawl` (live Scrapy crawl), `warc` (archive ingest) or `files` (folder ingest)."),
            C("started_at", "TIMESTAMPTZ", "When the run started (UTC)."),
            C("finished_at", "TIMESTAMPTZ", "When the run finished; NULL while running or if it was killed."),
            C("settings", "JSON", "The settings the run used (AUDIT_*, concurrency, user agent, ...)."),
            C("warc_path", "VARCHAR", "The WARC file holding every response of a live crawl, or NULL."),
            C("stats", "JSON", "Counters at the end of the run (pages, images, errors, bytes)."),
        ),
        ("crawl_id",),
    ),
    Table(
        "pages",
        "One row per HTML page fetched (or read from an archive) in a crawl.",
        (
            C("crawl_id", "VARCHAR", "The crawl that fetched the page.", False),
            C("url", "VARCHAR", "Final URL of the page (after redirects).", False),
            C("host", "VARCHAR", "Host name of `url`, lower case."),
            C("status", "INTEGER", "HTTP status code."),
            C("fetched_at", "TIMESTAMPTZ", "When the response was received (UTC)."),
            C("server_ip", "VARCHAR", "IP address the response came from (the proxy's when crawling through one)."),
            C("lang", "VARCHAR", "The `<html lang>` attribute, as written in the page."),
            C("content_type", "VARCHAR", "The Content-Type header."),
            C("headers", "JSON", "Response headers: name (lower case) to list of values."),
            C("facts", "JSON", "Raw facts of the page the signals read (og:locale, hreflang, geo meta, "
              "schema.org addresses, phone numbers, robots meta), so the audit runs without the HTML."),
            C("error", "VARCHAR", "Why the page could not be fetched or parsed, or NULL."),
        ),
        ("crawl_id", "url"),
    ),
    Table(
        "host_policies",
        "One row per robots.txt and `/.well-known/tdmrep.json` a crawl asked for (responses are also kept in the "
        "WARC): the rules each host published for crawlers and text-and-data mining, or why none arrived.",
        (
            C("crawl_id", "VARCHAR", "The crawl that fetched it.", False),
            C("host", "VARCHAR", "Lower-case host name the file governs, as in `sightings.image_host`, with "
              "`:port` only for a non-default port (such files are not matched to sightings by the audit).", False),
            C("kind", "VARCHAR", "`robots.txt` or `tdmrep.json`.", False),
            C("url", "VARCHAR", "URL of the file."),
            C("status", "INTEGER", "HTTP status code (a 404 means the host published none); NULL when no response "
              "arrived (see `error`). A robots.txt answering 5xx or not at all means \"disallow everything\" "
              "(RFC 9309, section 2.3.1.4)."),
            C("body", "VARCHAR", "Its text (at most 512 KiB; Google reads at most 500 KiB of a robots.txt); NULL when "
              "no response arrived."),
            C("fetched_at", "TIMESTAMPTZ", "When it was fetched, or when the fetch failed (UTC)."),
            C("error", "VARCHAR", "Why no response arrived (connection refused or reset, timeout, DNS failure, ...), "
              "after the crawl's retries; NULL when one did."),
        ),
        ("crawl_id", "host", "kind"),
    ),
    Table(
        "fetches",
        "One row per image URL requested in a crawl: the response, or why there was none.",
        (
            C("crawl_id", "VARCHAR", "The crawl that requested the image.", False),
            C("url", "VARCHAR", "The image URL as referenced by the page (before redirects).", False),
            C("final_url", "VARCHAR", "The URL that answered, after redirects."),
            C("status", "INTEGER", "HTTP status code, NULL when no response arrived."),
            C("content_type", "VARCHAR", "The Content-Type header."),
            C("fetched_at", "TIMESTAMPTZ", "When the response (or the failure) happened (UTC)."),
            C("server_ip", "VARCHAR", "IP address the response came from."),
            C("headers", "JSON", "Response headers: name (lower case) to list of values."),
            C("bytes", "BIGINT", "Size of the body received."),
            C("sha256", "VARCHAR", "SHA-256 of the body, the key into `images`; NULL when nothing was received."),
            C("error", "VARCHAR", "Why the fetch failed (HTTP error, timeout, too large, ...), or NULL."),
        ),
        ("crawl_id", "url"),
    ),
    Table(
        "images",
        "One row per distinct image content (exact bytes), whatever URL or crawl it came from.",
        (
            C("sha256", "VARCHAR", "SHA-256 of the exact bytes served, hex.", False),
            C("format", "VARCHAR", "Image format as Pillow names it (JPEG, PNG, WEBP, HEIF, ...); NULL if unreadable."),
            C("width", "INTEGER", "Width in pixels."),
            C("height", "INTEGER", "Height in pixels."),
            C("bytes", "BIGINT", "Size of the content in bytes."),
            C("phash", "UBIGINT", "64-bit perceptual hash (imagehash.phash bit order)."),
            C("dhash", "UBIGINT", "64-bit difference hash (imagehash.dhash bit order)."),
            C("phash_mirror", "UBIGINT", "pHash of the left-right mirrored image (matches mirrored copies)."),
            C("dhash_mirror", "UBIGINT", "dHash of the left-right mirrored image."),
            C("exif", "JSON", "Raw EXIF tags read (MakerNote and thumbnails left out)."),
            C("iptc", "JSON", "Raw IPTC IIM datasets read."),
            C("xmp", "JSON", "XMP properties read."),
            C("gps_lat", "DOUBLE", "Decoded EXIF GPS latitude; NULL when absent or invalid (0/0, NaN, out of range)."),
            C("gps_lon", "DOUBLE", "Decoded EXIF GPS longitude; NULL when absent or invalid."),
            C("gps_alt", "DOUBLE", "Decoded EXIF GPS altitude in metres; NULL when absent or invalid."),
            C("taken_at", "TIMESTAMP", "DateTimeOriginal, the camera's local time (no time zone)."),
            C("utc_offset", "VARCHAR", "UTC offset of `taken_at` as `+HH:MM` (OffsetTimeOriginal or GPS time)."),
            C("location", "JSON", "IPTC/XMP location fields found (city, province, country_code, country, source)."),
            C("c2pa", "JSON", "The embedded C2PA manifest store (content credentials) read offline, or NULL."),
            C("error", "VARCHAR", "Why the content is not a readable image, or NULL."),
            C("field_errors", "VARCHAR[]", "Problems reading single metadata fields; the other fields were read."),
        ),
        ("sha256",),
    ),
    Table(
        "sightings",
        "One row per (crawl, image URL, page URL): where an image was seen.",
        (
            C("sighting_id", "VARCHAR", "Stable id: a digest of crawl_id, image_url and page_url.", False),
            C("crawl_id", "VARCHAR", "The crawl that saw it.", False),
            C("sha256", "VARCHAR", "The image content seen; NULL if the image could not be fetched."),
            C("image_url", "VARCHAR", "URL of the image (a `file:` URL for folder ingests).", False),
            C("page_url", "VARCHAR", "URL of the page that references it; NULL for an image met on its own."),
            C("image_host", "VARCHAR", "Host of `image_url`."),
            C("page_host", "VARCHAR", "Host of `page_url`."),
            C("alt_text", "VARCHAR", "The `alt` attribute of the referencing element."),
            C("caption", "VARCHAR", "The `<figcaption>` (or `title`) around the referencing element."),
            C("ref_kind", "VARCHAR", "How the page references it: img, srcset, picture, og:image, link, file."),
            C("attributes", "JSON", "The referencing element's attributes."),
            C("fetched_at", "TIMESTAMPTZ", "When the referencing page was fetched (UTC)."),
        ),
        ("sighting_id",),
    ),
    Table(
        "ground_truth",
        "The built-in test web's truth for every image URL it serves (only for test-web crawls).",
        (
            C("image_url", "VARCHAR", "Image URL as served by the test web.", False),
            C("photo_id", "VARCHAR", "The photo this image is a copy of (all copies share it)."),
            C("residence_country", "VARCHAR", "ISO 3166-1 alpha-2 country where the photo's subject lives."),
            C("capture_country", "VARCHAR", "ISO 3166-1 alpha-2 country where the photo was taken."),
            C("transforms", "VARCHAR[]", "What was done to the original: resize, recompress, crop, mirror, ..."),
            C("kept_metadata", "VARCHAR[]", "Metadata the served bytes still carry: exif, gps, iptc_location, ..."),
            C("sha256", "VARCHAR", "SHA-256 of the served bytes."),
            C("site", "VARCHAR", "Host of the site that published the image."),
            C("site_kind", "VARCHAR", "Kind of that site: news, blog, photo-sharing, forum, aggregator, ..."),
            C("page_urls", "VARCHAR[]", "Pages of the test web that reference the image."),
        ),
        ("image_url",),
    ),
    Table(
        "signals",
        "Every signal of a country found for an image: in its content (`sighting_id` NULL), on one sighting's page "
        "or hosts, or carried over from a near-duplicate copy (`via_sha256`). Rebuilt by `provaudit audit`.",
        (
            C("signal_id", "VARCHAR", "Stable id: a digest of the other columns.", False),
            C("sha256", "VARCHAR", "The image the signal speaks for.", False),
            C("sighting_id", "VARCHAR", "The sighting it was found on; NULL for signals in the image itself."),
            C("kind", "VARCHAR", "What it is: exif_gps, xmp_location, page_cctld, html_lang, phone, ... "
              "(docs/signals.md)."),
            C("country", "VARCHAR", "ISO 3166-1 alpha-2 country it points to; NULL when it fits several "
              "(see `candidates`)."),
            C("candidates", "VARCHAR[]", "For a value that fits n countries (a bare `fr`, a UTC offset): all of "
              "them, each with `weight`; NULL otherwise. The view `signal_countries` has one row per country."),
            C("strength", "VARCHAR", "strong, medium or weak (reasons in docs/signals-image.md, signals-page.md)."),
            C("weight", "DOUBLE", "Weight per country: 1, or 1/n when the value fits n countries."),
            C("evidence", "VARCHAR", "The raw value it came from, e.g. `EXIF GPS 48.856600,2.352200`."),
            C("detail", "JSON", "Extra facts, e.g. `near_border_km`."),
            C("via_sha256", "VARCHAR", "For a propagated signal: the near-duplicate copy it was found on."),
        ),
        ("signal_id",),
        indexed=False,
    ),
    Table(
        "opt_outs",
        "Opt-out and consent signals met on a sighting: robots.txt rules, noindex/noimageindex/noai directives, "
        "TDMRep reservations. Rebuilt by `provaudit audit`.",
        (
            C("sighting_id", "VARCHAR", "The sighting concerned.", False),
            C("sha256", "VARCHAR", "Its image."),
            C("kind", "VARCHAR", "robots_txt, x_robots_tag, meta_robots, tdm_reservation, ...", False),
            C("value", "VARCHAR", "The directive: disallow, noindex, noimageindex, noai, noimageai, 1, ...", False),
            C("applies_to", "VARCHAR", "The user agent named (`*` for all).", False),
            C("evidence", "VARCHAR", "Where it was read."),
        ),
        ("sighting_id", "kind", "value", "applies_to"),
        indexed=False,
    ),
    Table(
        "clusters",
        "Near-duplicate clusters: images whose perceptual hashes (or mirrored hashes) are within the threshold, "
        "joined transitively. Rebuilt by `provaudit audit`.",
        (
            C("sha256", "VARCHAR", "An image.", False),
            C("cluster_id", "VARCHAR", "The smallest sha256 of its cluster (an image alone is its own cluster)."),
            C("size", "INTEGER", "Number of images in the cluster."),
        ),
        ("sha256",),
    ),
    Table(
        "attributions",
        "One row per image: the most likely country, how sure, and why. Rebuilt by `provaudit audit`.",
        (
            C("sha256", "VARCHAR", "The image.", False),
            C("country", "VARCHAR", "Most likely country (ISO alpha-2), NULL when there is no signal."),
            C("score", "DOUBLE", "Confidence in [0, 1]: support for the country, lowered by support for others."),
            C("tier", "VARCHAR", "strong, medium, weak or none (rule in docs/attribution.md)."),
            C("runner_up", "VARCHAR", "Second most supported country, if any."),
            C("runner_up_score", "DOUBLE", "Its support."),
            C("kinds", "VARCHAR[]", "Signal kinds behind the chosen country."),
            C("propagated", "BOOLEAN", "Whether signals from near-duplicate copies were needed for this answer."),
            C("direct_country", "VARCHAR", "The answer from this image's own signals only (before propagation)."),
            C("direct_score", "DOUBLE", "Its score."),
            C("direct_tier", "VARCHAR", "Its tier."),
            C("explanation", "VARCHAR", "The rule applied, in words, with the contributions per country."),
        ),
        ("sha256",),
    ),
    Table(
        "meta",
        "Key/value facts about the store itself (schema version).",
        (
            C("key", "VARCHAR", "Name of the fact.", False),
            C("value", "VARCHAR", "Its value."),
        ),
        ("key",),
    ),
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
# The tables every store has had since the first version of provaudit: a store opened read-only without them is
# damaged or not a store. Tables added later (host_policies, the derived ones) may be missing from an older store.
CORE_TABLES = frozenset({"crawls", "pages", "fetches", "images", "sightings", "ground_truth", "meta"})


@dataclass(frozen=True, slots=True)
class View:
    name: str
    doc: str
    sql: str

    def ddl(self) -> str:
        return f"CREATE OR REPLACE VIEW {self.name} AS {self.sql}"


VIEWS: tuple[View, ...] = (
    View(
        "signal_countries",
        "`signals` with one row per (signal, country): a multi-country signal appears once per candidate. Query "
        "this to ask \"which signals point to FR?\".",
        "SELECT signal_id, sha256, sighting_id, kind, c.country, strength, weight, evidence, detail, via_sha256, "
        "candidates IS NOT NULL AS ambiguous FROM signals, "
        "unnest(CASE WHEN candidates IS NULL THEN [country] ELSE candidates END) AS c(country)",
    ),
)

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "UBIGINT": pa.uint64(),
    "DOUBLE": pa.float64(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR[]": pa.list_(pa.string()),
    "BOOLEAN": pa.bool_(),
}


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema used to bulk-insert rows into ``table``."""
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.type]) for c in table.columns])


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A timezone-aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def arrow_table(table: Table, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """``rows`` (mappings of column name to value) as an Arrow table with ``table``'s columns."""
    columns = {name: [row.get(name) for row in rows] for name in table.column_names}
    return pa.Table.from_pydict(columns, schema=arrow_schema(table))


# -- who holds the file ----------------------------------------------------------------------------------------------

# DuckDB 1.x/2.x: 'IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /usr/bin/python3.11
# (PID 28060). However, you would be able to open this database in read-only mode, ...' (the last sentence only when
# the holder reads the file).
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?)\s*\(PID (?P<pid>\d+)\)")


def _lock_conflict(exc: BaseException) -> tuple[int | None, str | None, bool] | None:
    """``(pid, program, holder_reads)`` when ``exc`` says that another process holds the file's lock, else None."""
    text = str(exc)
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return None
    m = _LOCK_HOLDER.search(text)
    pid = int(m.group("pid")) if m else None
    program = (m.group("program").strip() or None) if m else None
    return pid, program, "open this database in read-only mode" in text


def _busy(path: Path, waited: float, pid: int | None, program: str | None, reading: bool) -> StoreBusy:
    holder = StoreBusy("", path=path, pid=pid, program=program, reading=reading).holder
    if reading:
        what = f"the store {path} is open for reading in {holder}; close it there (e.g. a notebook's store.close())"
    else:
        what = f"the store {path} is being written by {holder}"
    return StoreBusy(f"{what}; try again (waited {waited:g} s)", path=path, pid=pid, program=program,
                     reading=reading)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _connect(path: Path, read_only: bool, wait: float, options: Mapping[str, Any] | None) -> duckdb.DuckDBPyConnection:
    """A sealed DuckDB connection (:func:`audit.store.sealed.connect`: no file but the store's own can be read); while
    another process holds the file, try again every few tens of milliseconds for up to ``wait`` seconds (a crawl
    holds its store only while it writes a batch), then raise :class:`StoreBusy`."""
    deadline = time.monotonic() + max(0.0, wait)
    delay = 0.02
    while True:
        try:
            return sealed.connect(path, read_only=read_only, options=options)
        except duckdb.IOException as exc:
            conflict = _lock_conflict(exc)
            if conflict is None:
                raise StoreError(f"cannot open store {path}: {_first_line(exc)}") from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _busy(path, max(0.0, wait), *conflict) from exc
            time.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 0.2)
        except duckdb.ConnectionException as exc:
            raise StoreError(f"cannot open store {path}: {_first_line(exc)} (it is already open in this process "
                             "with other settings)") from exc
        except duckdb.Error as exc:
            raise StoreError(f"{path} is not a usable DuckDB store: {_first_line(exc)}") from exc


class Store:
    """A DuckDB provenance store opened for reading or writing.

    Use :meth:`open`; one process may write a store at a time (DuckDB's rule), any number may read a store that no
    process is writing. A crawl holds its store only while it writes a batch (:class:`StoreWriter`), so opening a
    store that a crawl is writing waits for the gap between two batches.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None, read_only: bool,
                 layout: Layout | None = None) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self._layout = layout

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False, wait: float = DEFAULT_LOCK_WAIT,
             schema: bool = True, options: Mapping[str, Any] | None = None) -> Store:
        """Open the store at ``path`` (created if missing, unless ``read_only``).

        The connection can read no file but the store's own (:mod:`audit.store.sealed`: no external access, no extension
        loading, configuration locked), and the store is checked before anything reads it (:mod:`audit.store.check`):
        a file that is not a DuckDB database raises :class:`NotAStore`; views, macros, types or computed columns
        where provaudit keeps plain tables raise :class:`UnsafeStore`; a read-only store without provaudit's
        first tables raises :class:`NotAStore` or :class:`StoreIncomplete`. ``options`` are DuckDB settings for this
        connection (e.g. ``{"preserve_insertion_order": False}`` for a bulk rebuild), fixed while it is open.

        While another process holds the file, try again for up to ``wait`` seconds (by default the default of
        ``AUDIT_STORE_LOCK_WAIT``; a crawl passes its own setting), then raise :class:`StoreBusy` naming that
        process. Opened for writing, the schema is brought up to date and rows left in the store's spool by a writer
        that could not get the file
        (:class:`Spool`) are added first. ``schema=False`` skips the check and the schema update: only for a caller
        that opened this store with them a moment ago (:class:`StoreWriter`, between two batches)."""
        p = Path(path)
        if read_only and not os.path.lexists(p):
            raise StoreError(f"no store at {p}")
        if not read_only:
            p.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(p, read_only, float(wait), options)
        try:
            # schema=False: the caller (a crawl's writer, between two batches) opened, checked and brought this
            # store up to date itself a moment ago
            layout = check_catalog(con, p, TABLES, VIEWS, read_only=read_only, core=CORE_TABLES) if schema else None
            store = cls(con, p, read_only, layout)
            if read_only:
                waiting = store.spool.files()
                if waiting:
                    logger.warning("%d spool file(s) in %s hold rows not yet in the store (it was busy when they were "
                                   "written); the next process that opens it for writing adds them",
                                   len(waiting), store.spool.dir)
            else:
                if schema:
                    store.create_schema()
                store.spool.drain(store)
        except BaseException:
            con.close()
            raise
        return store

    @property
    def columns(self) -> dict[str, frozenset[str]]:
        """The columns of each provaudit table the store has (a store written by an older version, opened read-only,
        may lack newer tables and columns)."""
        if self._layout is None or not self.read_only:
            # a writable store's schema may have changed since it was opened (create_schema, an audit's rebuild)
            self._layout = check_catalog(self.con, self.path, TABLES, VIEWS, read_only=self.read_only,
                                         core=frozenset())
        return self._layout.columns

    @property
    def spool(self) -> Spool:
        if self.path is None:
            raise StoreError("an in-memory store has no spool")
        return Spool(self.path)

    def create_schema(self) -> None:
        """Create missing tables, and add columns that a store written by an older version lacks."""
        for table in TABLES:
            self.con.execute(table.ddl())
            have = {r[0] for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table.name]).fetchall()}
            for col in table.columns:
                if col.name not in have:
                    self.con.execute(f"ALTER TABLE {table.name} ADD COLUMN {col.name} {col.type}")
        for view in VIEWS:
            self.con.execute(view.ddl())
        self.con.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )

    @contextmanager
    def transaction(self, wait: float = 0.0) -> Iterator[Store]:
        """One transaction on this store: committed if the block ends normally, rolled back otherwise. (``wait`` is
        for :meth:`StoreWriter.transaction`'s signature: an open store is already held.)"""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Bulk-insert ``rows`` (mappings of column name to value) into ``table``; rows whose primary key is
        already present are skipped (``crawls`` rows are merged instead, see :meth:`insert_arrow`). Returns the
        number of rows offered."""
        if not rows:
            return 0
        return self.insert_arrow(table, arrow_table(TABLES_BY_NAME[table], rows))

    def insert_arrow(self, table: str, data: pa.Table) -> int:
        """Bulk-insert an Arrow table holding some or all of ``table``'s columns (by name); rows whose primary key is
        already present are skipped. ``crawls`` rows are merged with the row of the same crawl: the first values of
        what a run starts with (source, kind, start, settings, WARC) are kept, the last ``finished_at`` and
        ``stats`` win, so a crawl's start and end can be written in any order."""
        if data.num_rows == 0:
            return 0
        t = TABLES_BY_NAME[table]
        present = set(data.column_names)
        names = [n for n in t.column_names if n in present]
        cols = ", ".join(names)
        if t.name == "crawls":
            self._upsert_crawls(names, data)
            return data.num_rows
        verb = "INSERT OR IGNORE" if t.indexed else "INSERT"
        self.con.register("_batch", data)
        try:
            self.con.execute(f"{verb} INTO {t.name} ({cols}) SELECT {cols} FROM _batch")
        finally:
            self.con.unregister("_batch")
        return data.num_rows

    _CRAWL_END_COLUMNS = frozenset({"finished_at", "stats"})

    def _upsert_crawls(self, names: list[str], data: pa.Table) -> None:
        updates = [f"{c} = coalesce(excluded.{c}, crawls.{c})" if c in self._CRAWL_END_COLUMNS
                   else f"{c} = coalesce(crawls.{c}, excluded.{c})" for c in names if c != "crawl_id"]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        sql = (f"INSERT INTO crawls ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
               f"ON CONFLICT (crawl_id) {action}")
        # one row per statement: DuckDB refuses to update one row twice in one statement (a run's start and end)
        for row in data.select(names).to_pylist():
            self.con.execute(sql, [row[n] for n in names])

    def link_sightings(self, crawl_id: str) -> None:
        """Give the sightings of ``crawl_id`` still without their image the ``sha256`` its ``fetches`` recorded."""
        self.con.execute(
            "UPDATE sightings SET sha256 = f.sha256 FROM fetches f "
            "WHERE sightings.sha256 IS NULL AND sightings.crawl_id = ? "
            "AND f.crawl_id = sightings.crawl_id AND f.url = sightings.image_url "
            "AND f.sha256 IS NOT NULL",
            [crawl_id],
        )

    def count(self, table: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {TABLES_BY_NAME[table].name}").fetchall()[0]
        return int(row[0]) if row else 0

    def query(self, sql: str, params: Iterable[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params) if params is not None else None).fetchall()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StoreWriter:
    """The store of a long-running writer (a crawl) that holds the DuckDB file only while it writes a batch, so that
    other processes — a notebook, ``provaudit report`` — can open the store between two batches.

    :meth:`transaction` opens the store, yields it inside one transaction, commits and closes; it raises
    :class:`StoreBusy` when another process holds the file, and the caller keeps its rows (in memory, then in the
    :attr:`spool`) for a later try. Nothing is held between transactions."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.spool = Spool(self.path)
        self._schema_done = False

    @contextmanager
    def transaction(self, wait: float = 0.0) -> Iterator[Store]:
        store = Store.open(self.path, wait=wait, schema=not self._schema_done)
        self._schema_done = True
        try:
            with store.transaction():
                yield store
        finally:
            store.close()

    def close(self) -> None:
        """Nothing to release: the file is held only inside :meth:`transaction`."""


_SPOOL_SEQUENCE = itertools.count()


class Spool:
    """Rows a writer could not put into its store because another process held the file: Arrow IPC files in a folder
    beside the store (``provenance.duckdb.spool/``), one per table and spill, named in the order they were written.

    A file appears complete or not at all (written under a temporary name, synced, renamed). The next process that
    opens the store for writing adds every file in one transaction (``INSERT OR IGNORE``: adding a file twice changes
    nothing), links the sightings of the crawls concerned to their images, and deletes the files. Readers cannot
    write, so they only warn that rows are waiting."""

    SUFFIX = ".arrow"

    def __init__(self, store_path: Path) -> None:
        self.dir = store_path.with_name(store_path.name + ".spool")

    def files(self) -> list[Path]:
        try:
            names = os.listdir(self.dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(self.dir / n for n in names if n.endswith(self.SUFFIX) and not n.startswith("."))

    @staticmethod
    def _table_of(path: Path) -> str:
        return path.name[: -len(Spool.SUFFIX)].rsplit("-", 1)[-1]

    @staticmethod
    def _read(path: Path) -> pa.Table:
        with pa.OSFile(str(path), "rb") as source:
            return pa.ipc.open_file(source).read_all()

    def rows(self) -> int:
        """Rows waiting in the spool."""
        total = 0
        for path in self.files():
            try:
                total += self._read(path).num_rows
            except (OSError, pa.ArrowException):
                continue
        return total

    def write(self, table: str, rows: Sequence[Mapping[str, Any]]) -> Path:
        """Write ``rows`` of ``table`` as one new spool file; returns its path."""
        data = arrow_table(TABLES_BY_NAME[table], rows)
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_SPOOL_SEQUENCE):06d}-{table}{self.SUFFIX}"
        tmp = self.dir / f".{name}.tmp"
        try:
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, data.schema) as writer:
                writer.write_table(data)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.dir / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.dir / name

    def drain(self, store: Store) -> int:
        """Add every spooled row to ``store`` (opened for writing) in one transaction, then delete the files.
        Returns the number of rows added. A file that cannot be read is renamed ``*.unreadable`` and reported."""
        files = self.files()
        if not files:
            return 0
        started = time.monotonic()
        rows = 0
        done: list[Path] = []
        crawl_ids: set[str] = set()
        with store.transaction():
            for path in files:
                table = self._table_of(path)
                if table not in TABLES_BY_NAME:
                    logger.error("spool file %s is for an unknown table %r: left where it is", path, table)
                    continue
                try:
                    data = self._read(path)
                except (OSError, pa.ArrowException) as exc:
                    bad = path.with_name(path.name + ".unreadable")
                    os.replace(path, bad)
                    logger.error("spool file %s cannot be read (%s): renamed %s, its rows are not in the store",
                                 path, exc, bad.name)
                    continue
                store.insert_arrow(table, data)
                if "crawl_id" in data.column_names:
                    crawl_ids.update(str(c) for c in data.column("crawl_id").unique().to_pylist() if c is not None)
                rows += data.num_rows
                done.append(path)
            for crawl_id in sorted(crawl_ids):
                store.link_sightings(crawl_id)
        for path in done:
            path.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass  # not empty (a writer spilled meanwhile, or unreadable files) or already gone
        logger.info("added %d rows from %d spool file(s) in %s to the store (%.2f s)", rows, len(done), self.dir,
                    time.monotonic() - started)
        return rows
