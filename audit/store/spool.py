"""The spool: rows a writer could not put into its store because another process held the file, kept beside the
store until the next process that opens it for writing adds them."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from audit.schema import TABLES_BY_NAME
from audit.store.arrow import arrow_table
from audit.testweb_marker import mark_run

if TYPE_CHECKING:
    from audit.store.db import Store

logger = logging.getLogger(__name__)

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
                # a run whose end was spooled (the store was busy when it finished) is judged now, as its writer
                # would have: whether it recorded the built-in test web (audit.testweb_marker)
                if store.query("SELECT count(*) FROM crawls WHERE crawl_id = ? AND finished_at IS NOT NULL",
                               [crawl_id])[0][0]:
                    mark_run(store, crawl_id)
        for path in done:
            path.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass  # not empty (a writer spilled meanwhile, or unreadable files) or already gone
        logger.info("added %d rows from %d spool file(s) in %s to the store (%.2f s)", rows, len(done), self.dir,
                    time.monotonic() - started)
        return rows
