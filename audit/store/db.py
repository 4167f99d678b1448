"""The DuckDB provenance store: opening a store (sealed connection, checked catalogue, schema brought up to date),
waiting for and naming the process that holds its file, and bulk, idempotent writes.

The tables are declared in :mod:`audit.schema`; rows are written in bulk through Arrow tables
(:mod:`audit.store.arrow`) with ``INSERT OR IGNORE``, so replaying the same input never creates duplicate rows.
Rows a crawl could not write while another process held the file wait in its :class:`~audit.store.spool.Spool`.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
from audit.schema import CORE_TABLES, SCHEMA_VERSION, TABLES, TABLES_BY_NAME, VIEWS
from audit.settings import DEFAULTS
from audit.store import sealed
from audit.store.arrow import arrow_table
from audit.store.check import Layout, check_catalog
from audit.store.spool import Spool

logger = logging.getLogger(__name__)

#: seconds :meth:`Store.open` waits for another process to let go of the file, unless told (AUDIT_STORE_LOCK_WAIT)
DEFAULT_LOCK_WAIT = float(DEFAULTS["AUDIT_STORE_LOCK_WAIT"])

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
             schema: bool = True, options: Mapping[str, Any] | None = None, memory: int | None = None) -> Store:
        """Open the store at ``path`` (created if missing, unless ``read_only``).

        The connection can read no file but the store's own (:mod:`audit.store.sealed`: no external access, no extension
        loading, configuration locked), and the store is checked before anything reads it (:mod:`audit.store.check`):
        a file that is not a DuckDB database raises :class:`NotAStore`; views, macros, types or computed columns
        where provaudit keeps plain tables raise :class:`UnsafeStore`; a read-only store without provaudit's
        first tables raises :class:`NotAStore` or :class:`StoreIncomplete`. ``options`` are DuckDB settings for this
        connection (e.g. ``{"preserve_insertion_order": False}`` for a bulk rebuild), fixed while it is open.
        ``memory``: bytes DuckDB may use for this connection's queries (``AUDIT_DB_MEMORY``; past it, joins,
        aggregates and temporary tables spill to ``STORE.tmp`` beside the store); None or 0: DuckDB's default.

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
        if memory:
            options = {**(options or {}), "memory_limit": f"{int(memory)}B"}
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
