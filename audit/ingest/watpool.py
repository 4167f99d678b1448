"""One large gzip WAT file read in worker processes, part by part, the parts' rows written in file order by the one
process that holds the store.

Common Crawl writes each WARC record as a gzip member of its own, so a file can be cut at member starts: a *part*
runs from a member that starts with a WARC record line to the next part's start, and a worker reads it with the
same bounded framing as a reading of the whole file (:func:`audit.ingest.archive.read_archive` with ``start`` and
``stops``), parses its JSON, reads its pages (:func:`audit.ingest.wat.iter_wat`) and builds their rows
(:class:`audit.ingest.watrows.WatRows`), handed back as Arrow IPC bytes with the part's counts and problems.

The parts, taken in order, read what one reading of the file reads: the framer of a reading of the whole file
reaches each part's start as a record start (a broken record resumes at the first record start after it, and a
member beginning with a record is one). Should a part's reading run past the next part's start without meeting it
(bytes that only looked like a member start), it reads on to the next part start it does meet, and the parts it ran
over are dropped. What may differ: a file whose gzip members hold several records gets the note saying so once,
where a reading of the whole file notes it again after each stretch of corrupt gzip data.

Memory: at most ``2 × workers`` parts are in flight (read, or read and waiting to be written)."""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from audit.errors import Refused
from audit.ingest.archive import SHARED_MEMBER_NOTE, ArchiveLimits, Stops, next_gzip_record
from audit.ingest.problems import MAX_ERRORS_PER_FILE
from audit.ingest.wat import WatStats, iter_wat
from audit.ingest.watrows import WatRows
from audit.inputs import open_regular

logger = logging.getLogger(__name__)

PART_BYTES = 16 * 1024 * 1024  # compressed bytes of a part (~2,000 pages of Common Crawl's WAT)
PARALLEL_FROM_BYTES = 48 * 1024 * 1024  # smaller files are read in the writing process (no worker start-up)



def default_workers(sample: float = 0.2) -> int:
    """Worker processes for a large file: one per idle core, and 1 (read in the writing process) when fewer than two
    are idle. Two workers on a busy machine share the one core they get between them, and pay for it (their start,
    handing rows over, each other's caches: ~30% more CPU time than one reading, measured beside another job on this
    project's 2-core machine). Idle: the cores less those busy over ``sample`` seconds (Linux ``/proc/stat``; the
    load average elsewhere)."""
    cores = os.cpu_count() or 1
    if cores < 2:
        return 1
    busy = _busy_cores(cores, sample)
    idle = min(cores, int(cores - busy + 0.5))
    return idle if idle >= 2 else 1


def _busy_cores(cores: int, sample: float) -> float:
    def ticks() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        return sum(values), values[3] + values[4]

    try:
        total0, idle0 = ticks()
        time.sleep(sample)
        total1, idle1 = ticks()
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0
    total = total1 - total0
    return cores * (1 - (idle1 - idle0) / total) if total > 0 else 0.0


def part_starts(path: Path, part_bytes: int = PART_BYTES, max_file_bytes: int | None = None) -> list[int]:
    """Where the parts of a gzip file start: 0, then the first member beginning with a WARC record line at or after
    each ``part_bytes`` step. ``[0]`` for a file that is not gzip (read whole)."""
    with open_regular(path, max_file_bytes) as fh:
        if fh.read(2) != b"\x1f\x8b":
            return [0]
        size = os.fstat(fh.fileno()).st_size
        starts = [0]
        while starts[-1] + part_bytes < size:
            at = next_gzip_record(fh, starts[-1] + part_bytes, warc_line=True)
            if at is None:
                break
            starts.append(at)
        return starts


@dataclass(frozen=True)
class PartTask:
    """What a worker needs to read one part."""

    path: str
    archive: str  # the file as named in captures.archive
    crawl_id: str
    starts: tuple[int, ...]  # every part start of the file
    index: int  # of this part
    max_record_bytes: int
    max_file_bytes: int | None
    limits: ArchiveLimits | None


class _PartStats(WatStats):
    """WatStats that keeps the first problems as (where, what), unlogged: the writing process names them."""

    def __post_init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.problem_count = 0

    def error(self, path: Path, where: str, what: str) -> None:
        self.problem_count += 1
        if len(self.problems) <= MAX_ERRORS_PER_FILE:
            self.problems.append((where, what))


@dataclass
class PartResult:
    """One part read: its rows as Arrow IPC streams (by table, in writing order), its counts and problems, and the
    part start its reading ended at (None: the end of the file)."""

    index: int
    reached: int | None
    pages: int = 0  # captures in the rows
    tables: list[tuple[str, bytes]] = field(default_factory=list)
    records: int = 0
    page_count: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    bad_records: int = 0
    links: int = 0
    image_refs: int = 0
    image_links: int = 0
    refs_cut: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # the first (where, what), unlogged
    problem_count: int = 0

    def decoded(self) -> list[tuple[str, pa.Table]]:
        return [(name, pa.ipc.open_stream(data).read_all()) for name, data in self.tables]


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as out:
        out.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_part(task: PartTask) -> PartResult:
    """Read one part of a WAT file into rows (runs in a worker process)."""
    path = Path(task.path)
    stats = _PartStats()
    stops = Stops(frozenset(task.starts[task.index + 1:]))
    rows = WatRows()
    image_links = refs_cut = 0
    try:
        for page in iter_wat(path, stats, max_record_bytes=task.max_record_bytes,
                             max_file_bytes=task.max_file_bytes, limits=task.limits,
                             start=task.starts[task.index], stops=stops):
            rows.add(task.crawl_id, task.archive, page)
            image_links += len(page.refs)
            refs_cut += page.refs_cut
    except Refused as exc:  # checked by the writing process; the file changed since
        stats.error(path, "0", f"not read: {exc}")
    return PartResult(
        index=task.index, reached=stops.reached, pages=rows.size,
        tables=[(name, _ipc(table)) for name, table in rows.tables()], records=stats.records,
        page_count=stats.pages, skipped=stats.skipped, bad_records=stats.bad_records, links=stats.links,
        image_refs=stats.image_refs, image_links=image_links, refs_cut=refs_cut, problems=stats.problems,
        problem_count=stats.problem_count)


class PartMerger:
    """Adds the counts and problems of a file's parts, in order, to the file's WatStats as one reading would."""

    def __init__(self, path: Path, stats: WatStats) -> None:
        self.path, self.stats = path, stats
        self.noted_shared_member = False

    def add(self, part: PartResult) -> None:
        s = self.stats
        s.records += part.records
        s.pages += part.page_count
        s.bad_records += part.bad_records
        s.links += part.links
        s.image_refs += part.image_refs
        for what, n in part.skipped.items():
            s.skipped[what] = s.skipped.get(what, 0) + n
        for where, what in part.problems:
            if what == SHARED_MEMBER_NOTE:
                if self.noted_shared_member:
                    s.bad_records -= 1
                    continue
                self.noted_shared_member = True
            s.error(self.path, where, what)
        s.more_errors(self.path, part.problem_count - len(part.problems))


class PartPool:
    """Worker processes (spawned: the writing process holds DuckDB's threads) reading parts."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def read(self, path: Path, starts: list[int], *, archive: str, crawl_id: str, max_record_bytes: int,
             max_file_bytes: int | None, limits: ArchiveLimits | None) -> Iterator[PartResult]:
        """The parts of ``path`` whose reading is used, in file order: a part run over by the one before it is
        dropped. At most ``2 × workers`` parts are submitted and not yet taken."""
        starts_t = tuple(starts)
        index = {start: i for i, start in enumerate(starts_t)}
        pending: collections.deque[concurrent.futures.Future[PartResult]] = collections.deque()
        submitted = 0
        wanted = 0  # the next part whose reading is used
        while wanted < len(starts_t):
            while submitted < len(starts_t) and len(pending) < 2 * self.workers:
                pending.append(self.executor.submit(read_part, PartTask(
                    str(path), archive, crawl_id, starts_t, submitted, max_record_bytes, max_file_bytes, limits)))
                submitted += 1
            part = pending.popleft().result()
            if part.index < wanted:
                continue
            if part.reached is None:
                wanted = len(starts_t)
            else:
                wanted = index[part.reached]
                if wanted != part.index + 1:
                    logger.info("%s: part %d read on to part %d (parts between dropped)", path, part.index, wanted)
            yield part

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
