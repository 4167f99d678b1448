"""Ingest Common Crawl WAT files (:mod:`audit.ingest.wat`) into the store as one crawl of kind ``wat``: a page row
and a capture per HTML response, a reference-only sighting per image link, written in bulk (Arrow), one batch of
pages per transaction."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from audit.errors import IngestError, Refused
from audit.ids import ingest_crawl_id
from audit.ingest.archive import ArchiveLimits
from audit.ingest.wat import MAX_RECORD_BYTES, WatStats, file_key, iter_wat
from audit.ingest.watpool import (
    PARALLEL_FROM_BYTES,
    PART_BYTES,
    PartMerger,
    PartPool,
    PartResult,
    default_workers,
    part_starts,
)
from audit.ingest.watrows import WatRows
from audit.inputs import DEFAULT_MAX_FILE_BYTES, check_regular
from audit.store.db import Store
from audit.store.recorder import Recorder

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]
BATCH_PAGES = 4000  # pages (with their sightings) written per transaction: a commit costs tens of ms


@dataclass
class WatResult:
    crawl_id: str
    files: int = 0
    records: int = 0  # metadata records read
    pages: int = 0
    sightings: int = 0  # in the store for this crawl after the ingest
    image_links: int = 0  # image links read (one per page and image URL)
    refs_cut: int = 0  # image links past the per-page bound
    bad_records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    workers: int = 1  # processes that read the files (the most used for one file; 1: read in this process)


class _Batch:
    """One transaction's rows: built here (:class:`WatRows`) or by a worker (:class:`PartResult`)."""

    def __init__(self, rows: WatRows | PartResult) -> None:
        self.rows = rows
        self.size = rows.size if isinstance(rows, WatRows) else rows.pages

    def tables(self) -> list[tuple[str, pa.Table]]:
        return self.rows.tables() if isinstance(self.rows, WatRows) else self.rows.decoded()

    def write(self, store: Store) -> None:
        tables = self.tables()
        with store.transaction(wait=30.0):
            for name, table in tables:
                store.insert_arrow(name, table)


class _Writer:
    """Writes batches in a thread of its own, so that DuckDB's work (which releases the GIL) overlaps the reading of
    the next batch; at most two batches wait. An error in the writer is raised in the reader at its next batch."""

    def __init__(self, store: Store, progress: Progress | None) -> None:
        self.store, self.progress = store, progress
        self.queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="wat-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the reader raises it
            try:
                batch.write(self.store)
                if self.progress is not None:
                    self.progress("pages", batch.size)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader thread
                self.error = exc

    def put(self, batch: _Batch) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _read_here(path: Path, crawl_id: str, stats: WatStats, result: WatResult, writer: _Writer, *,
               max_record_bytes: int, max_file_bytes: int | None, limits: ArchiveLimits | None) -> None:
    """Read one file in this process, its rows handed to the writer BATCH_PAGES pages at a time."""
    archive = str(path)
    rows = WatRows()
    try:
        for page in iter_wat(path, stats, max_record_bytes=max_record_bytes, max_file_bytes=max_file_bytes,
                             limits=limits):
            rows.add(crawl_id, archive, page)
            result.image_links += len(page.refs)
            result.refs_cut += page.refs_cut
            if rows.size >= BATCH_PAGES:
                writer.put(_Batch(rows))
                rows = WatRows()
    except Refused as exc:  # checked above; the file changed since
        stats.error(path, "0", f"not read: {exc}")
    if rows.size:
        writer.put(_Batch(rows))


def _read_parts(pool: PartPool, path: Path, starts: list[int], crawl_id: str, stats: WatStats, result: WatResult,
                writer: _Writer, *, max_record_bytes: int, max_file_bytes: int | None,
                limits: ArchiveLimits | None) -> None:
    """Read one file part by part in the pool's workers, each part's rows handed to the writer in file order."""
    merger = PartMerger(path, stats)
    for part in pool.read(path, starts, archive=str(path), crawl_id=crawl_id, max_record_bytes=max_record_bytes,
                          max_file_bytes=max_file_bytes, limits=limits):
        merger.add(part)
        result.image_links += part.image_links
        result.refs_cut += part.refs_cut
        if part.pages:
            writer.put(_Batch(part))


def ingest_wat(store: Store, paths: Sequence[str | Path], *, crawl_id: str | None = None,
               max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES, max_record_bytes: int = MAX_RECORD_BYTES,
               limits: ArchiveLimits | None = None, progress: Progress | None = None,
               workers: int | None = None, parallel_from_bytes: int = PARALLEL_FROM_BYTES,
               part_bytes: int = PART_BYTES) -> WatResult:
    """Ingest Common Crawl WAT files into ``store`` as one crawl of kind ``wat`` (see :mod:`audit.ingest.wat`).

    The crawl id is derived from the files' contents unless given, and every row has a stable key, so ingesting the
    same files again adds nothing. A file that is missing, not a regular file or over ``max_file_bytes`` is refused
    with :class:`IngestError` before anything is recorded. Records are streamed; a broken or too-large record is
    named (``"<file>: offset <n>: <what>"``) in ``errors`` and skipped, and the records after it are read.

    A gzip file of at least ``parallel_from_bytes`` is read in ``workers`` processes (default: one per idle core,
    :func:`audit.ingest.watpool.default_workers`), in parts of about ``part_bytes`` (:mod:`audit.ingest.watpool`),
    into the same rows; with one worker, or for a smaller file, it is read here."""
    resolved = [Path(p) for p in paths]
    keys = []
    sizes = []
    for p in resolved:
        if not p.exists():
            raise IngestError(f"no such file: {p}")
        try:
            st = p.stat()
            check_regular(st, max_file_bytes)
            keys.append(file_key(p, max_file_bytes))
            sizes.append(st.st_size)
        except Refused as exc:
            raise IngestError(f"cannot ingest {p}: {exc}") from exc
        except OSError as exc:
            raise IngestError(f"cannot read {p}: {exc.strerror or exc}") from exc
    crawl_id = crawl_id or ingest_crawl_id("wat", "\n".join(sorted(keys)))
    recorder = Recorder(store, crawl_id)
    recorder.begin(source=" ".join(str(p) for p in resolved), kind="wat",
                   settings={"max_file_bytes": max_file_bytes, "max_record_bytes": max_record_bytes},
                   warc_path=None)
    result = WatResult(crawl_id=crawl_id)
    stats = WatStats()
    pool: PartPool | None = None
    writer = _Writer(store, progress)
    try:
        for path, size in zip(resolved, sizes, strict=True):
            result.files += 1
            starts = [0]
            if workers is None and size >= parallel_from_bytes:
                workers = default_workers()  # looked at once, for the first large file
            parts = workers if workers is not None and size >= parallel_from_bytes else 1
            if parts > 1:
                try:
                    starts = part_starts(path, part_bytes, max_file_bytes)
                except (Refused, OSError):  # changed since it was checked: read below, which reports it
                    starts = [0]
            if len(starts) > 1:
                pool = pool or PartPool(parts)
                result.workers = pool.workers
                _read_parts(pool, path, starts, crawl_id, stats, result, writer, max_record_bytes=max_record_bytes,
                            max_file_bytes=max_file_bytes, limits=limits)
            else:
                _read_here(path, crawl_id, stats, result, writer, max_record_bytes=max_record_bytes,
                           max_file_bytes=max_file_bytes, limits=limits)
    finally:
        writer.close()
        if pool is not None:
            pool.close()
    result.records, result.pages, result.bad_records = stats.records, stats.pages, stats.bad_records
    result.skipped, result.errors = dict(stats.skipped), stats.errors
    rows = store.query("SELECT count(*) FROM sightings WHERE crawl_id = ?", [crawl_id])
    result.sightings = int(rows[0][0]) if rows else 0
    summary: dict[str, Any] = {"files": result.files, "metadata_records": result.records, "pages": result.pages,
                               "image_links": result.image_links, "sightings": result.sightings,
                               "bad_records": result.bad_records, "records_not_pages": result.skipped}
    if result.refs_cut:
        summary["image_links_cut"] = result.refs_cut
    if result.errors:
        summary["errors"] = result.errors
    recorder.finish(summary)
    return result
