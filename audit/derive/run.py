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

This module runs the steps in order; the distinct inputs and their extractors are :mod:`audit.derive.units`, the SQL
is :mod:`audit.derive.sql`, the clustering :mod:`audit.derive.clusters`, and the tables (derived and temporary) are
declared in :mod:`audit.schema`.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from audit.checkpoints import checkpoint
from audit.derive.attribution import NONE, Answers, Attribution, Evidence, answer_evidence, attribute
from audit.derive.clusters import cluster_images
from audit.derive.neardup import DEFAULT_DHASH_THRESHOLD, DEFAULT_PHASH_THRESHOLD
from audit.derive.sql import (
    ATTRIBUTIONS_SQL,
    CLUSTERS_SQL,
    DIRECT_SIGNALS_SQL,
    DISTINCT_SETS_SQL,
    EVIDENCE_SETS_SQL,
    EVIDENCE_VALUES_SQL,
    OPT_OUTS_SQL,
    PROPAGATE_SQL,
    SETS_SQL,
)
from audit.derive.units import UNITS, UnitFiles, extract
from audit.errors import StoreError
from audit.schema import DERIVED, EVIDENCE, EVIDENCE_SETS, SET_ATTRIBUTIONS, TABLES_BY_NAME, TEMP_TABLES
from audit.signals.kinds import Answer
from audit.store.db import Store

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

PARALLEL_FROM = 50_000  # sightings from which the extractors run in worker processes by default


@dataclass
class AuditResult:
    """What a run did: rows written, clusters found, attribution tiers, seconds and distinct inputs per step."""

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


def _evidence_of(entry: dict[str, Any]) -> list[Evidence]:
    return [Evidence(kind=entry["kind"], country=c, strength=entry["strength"], weight=float(entry["weight"]),
                     border_km=entry["border_km"], propagated=bool(entry["propagated"]))
            for c in (entry["countries"] or []) if c]


_NO_ANSWERS = Answers(combined=NONE, capture=NONE, residence=NONE)


class _SetAnswers:
    """The three answers of evidence sets (lists of evidence keys), each answer's rule run once per distinct part of
    a set: many sets share their capture evidence (none, or one GPS position) or their residence evidence (one site).
    The evidence each answer reads is :func:`~audit.derive.attribution.answer_evidence`'s, as in
    :func:`~audit.derive.attribution.attribute_answers`, which this gives the same answers as."""

    def __init__(self, evidence: dict[int, list[Evidence]]) -> None:
        self.evidence = evidence
        self.parts = {answer: {k: answer_evidence(evs, answer) for k, evs in evidence.items()}
                      for answer in (Answer.CAPTURE, Answer.RESIDENCE)}
        self.cache: dict[tuple[Answer, tuple[int, ...]], Attribution] = {}

    def _one(self, answer: Answer, keys: list[int]) -> Attribution:
        part = self.parts[answer]
        sub = tuple(k for k in keys if part[k])
        found = self.cache.get((answer, sub))
        if found is None:
            found = self.cache[(answer, sub)] = attribute([e for k in sub for e in part[k]]) if sub else NONE
        return found

    def __call__(self, keys: list[int]) -> Answers:
        if not keys:
            return _NO_ANSWERS
        return Answers(combined=attribute([e for k in keys for e in self.evidence[k]]),
                       capture=self._one(Answer.CAPTURE, keys), residence=self._one(Answer.RESIDENCE, keys))


def _attribute_sets(store: Store, result: AuditResult) -> None:
    """Run the attribution rule once per distinct evidence set and keep the answers in
    :data:`~audit.schema.SET_ATTRIBUTIONS`."""
    con = store.con
    for name in (EVIDENCE, EVIDENCE_SETS, SET_ATTRIBUTIONS):
        con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")
    evidence: dict[int, list[Evidence]] = {}
    for entry in con.sql(EVIDENCE_VALUES_SQL).to_arrow_table().to_pylist():
        if entry["ev"] in evidence:
            raise RuntimeError("two pieces of evidence share a 64-bit key; the attribution cannot tell them apart")
        evidence[entry["ev"]] = _evidence_of(entry)
    con.execute(EVIDENCE_SETS_SQL)
    con.execute(DISTINCT_SETS_SQL)
    cols: dict[str, list[Any]] = defaultdict(list)
    set_answers = _SetAnswers(evidence)
    n = 0
    for row in con.sql(SETS_SQL).to_arrow_table().to_pylist():
        n += 1
        keys = row["evidence_set"] or []
        answers = set_answers(keys)
        a = answers.combined
        cols["set_id"].append(row["set_id"])
        cols["country"].append(a.country)
        cols["score"].append(float(a.score))
        cols["tier"].append(a.tier)
        cols["runner_up"].append(a.runner_up)
        cols["runner_up_score"].append(a.runner_up_score)
        cols["kinds"].append(list(a.kinds))
        cols["explanation"].append(a.explanation)
        for name, one in (("capture", answers.capture), ("residence", answers.residence)):
            cols[f"{name}_country"].append(one.country)
            cols[f"{name}_score"].append(float(one.score))
            cols[f"{name}_tier"].append(one.tier)
            cols[f"{name}_explanation"].append(one.explanation)
    answer_fields = [(f"{name}_{col}", typ) for name in ("capture", "residence")
                     for col, typ in (("country", pa.string()), ("score", pa.float64()), ("tier", pa.string()),
                                      ("explanation", pa.string()))]
    schema = pa.schema([("set_id", pa.int32()), ("country", pa.string()), ("score", pa.float64()),
                        ("tier", pa.string()), ("runner_up", pa.string()), ("runner_up_score", pa.float64()),
                        ("kinds", pa.list_(pa.string())), ("explanation", pa.string()), *answer_fields])
    table = pa.Table.from_pydict({f.name: cols.get(f.name, []) for f in schema}, schema=schema)
    con.register("_attr_batch", table)
    try:
        con.execute(f"CREATE TEMP TABLE {SET_ATTRIBUTIONS} AS SELECT * FROM _attr_batch")
    finally:
        con.unregister("_attr_batch")
    result.units["evidence"] = len(evidence)
    result.units["evidence_sets"] = n


def default_workers(sightings: int) -> int:
    """Worker processes for a store of ``sightings``: none below ``PARALLEL_FROM`` (starting them costs more than
    they save), else one per core."""
    return 1 if sightings < PARALLEL_FROM else max(1, os.cpu_count() or 1)


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """The processes an audit runs its extractors in (``None`` for one worker: this process). They are forked from a
    forkserver that has imported the extractors and built their reference data once (:mod:`audit.derive.preload`),
    so that they share it. A forkserver this starts is stopped on leaving, so that the reference data it holds does
    not outlive the extraction; one another pool started is left running (it then serves this pool too, with its
    own preload, and the workers build their own copies)."""
    if workers <= 1:
        yield None
        return
    server = multiprocessing.forkserver._forkserver  # the process's forkserver
    ours = getattr(server, "_forkserver_pid", 0) is None  # none running yet: the one started below is ours
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["audit.derive.preload"])
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)
        if ours and hasattr(server, "_stop"):  # a private method (CPython's tests use it); without it, left running
            server._stop()


# An audit's DuckDB memory starts at this plus half the store file's size (audit_memory).
AUDIT_MEMORY_BASE = 384 * 1024**2


def audit_memory(store_bytes: int, ceiling: int) -> list[int]:
    """The DuckDB memory bounds to audit a store file of ``store_bytes`` with, in order, under ``ceiling`` (the
    bound the command may use, ``AUDIT_DB_MEMORY``): first :data:`AUDIT_MEMORY_BASE` plus half the file's size,
    then ``ceiling`` if a query ran out of the first. DuckDB keeps cached blocks up to whatever bound it has, so the
    bound, not the store, decides its peak; a bound in proportion to the store keeps a small store's audit small,
    at the same speed (``docs/benchmarks.md``, "Audit at 1M and 10M sightings"). A ceiling of 0 (DuckDB's own
    default) is used as it is."""
    if ceiling <= 0:
        return [ceiling]
    start = min(ceiling, AUDIT_MEMORY_BASE + max(0, store_bytes) // 2)
    return [start] if start >= ceiling else [start, ceiling]


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

    spill = _unit_files_dir(store)
    try:
        files = UnitFiles(spill.name)
        with worker_pool(workers) as started:
            pool: Executor | None = started
            for units in UNITS:
                say(f"reading {units.name.replace('_', ' ')}")
                checkpoint(f"audit-reading-{units.name}")
                t = time.perf_counter()
                try:
                    result.units[units.name] = extract(store, units, pool, files)
                except BrokenProcessPool as exc:  # e.g. a __main__ the workers cannot import: carry on in-process
                    logger.warning("audit worker processes failed (%s); continuing in this process", exc)
                    pool.shutdown(cancel_futures=True)  # type: ignore[union-attr]
                    pool = None
                    result.units[units.name] = extract(store, units, pool, files)
                result.seconds[units.name] = time.perf_counter() - t
        say("clustering near-duplicates")
        t = time.perf_counter()
        result.clusters, result.clustered_images = cluster_images(store, phash_threshold, dhash_threshold)
        result.seconds["clusters"] = time.perf_counter() - t

        say("writing signals, opt-outs and clusters")
        t = time.perf_counter()
        files.load(store)
        result.seconds["loading"] = time.perf_counter() - t
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
            for sql in OPT_OUTS_SQL:
                con.execute(sql)
            con.execute(CLUSTERS_SQL)
            result.signals = _count(store, "SELECT count(*) FROM signals")
            result.seconds["fan_out"] = time.perf_counter() - t
            t = time.perf_counter()
            say("propagating through clusters")
            for sql in PROPAGATE_SQL:
                con.execute(sql)
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
        spill.cleanup()
        for name in (t.name for t in TEMP_TABLES):  # qualified: never a store's table that happens to have that name
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


def _unit_files_dir(store: Store) -> tempfile.TemporaryDirectory[str]:
    """A new private directory for the extraction's files (:class:`~audit.derive.units.UnitFiles`): beside the store
    file, as DuckDB puts its own temporary files (``STORE.tmp``), so that they go to the disk the store is on and not,
    say, to a ``/tmp`` held in memory; in the system's temporary directory for an in-memory store."""
    path = store.path
    on_disk = path is not None and path.name != ":memory:"
    parent = path.parent if path is not None and on_disk else None
    prefix = f"{path.name}.audit-" if path is not None and on_disk else "provaudit-audit-"
    if parent is not None and not store.read_only:
        _remove_stale_unit_files(parent, prefix)
    try:
        return tempfile.TemporaryDirectory(prefix=prefix, dir=parent)
    except OSError as exc:
        raise StoreError(f"cannot make the audit's temporary directory in {parent or tempfile.gettempdir()}: "
                         f"{exc}") from exc


def _remove_stale_unit_files(parent: Path, prefix: str) -> None:
    """Remove what an audit of this store that was killed left of its extraction files. Only one process can write a
    store, and this one holds it, so no other audit is using them. Only a directory named as :func:`_unit_files_dir`
    names them, holding nothing but such files, is removed."""
    stale = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}")
    for entry in parent.iterdir():
        if not stale.fullmatch(entry.name) or not entry.is_dir() or entry.is_symlink():
            continue
        inside = list(entry.iterdir())
        if any(not f.name.endswith(".arrow") or not f.is_file() or f.is_symlink() for f in inside):
            logger.warning("left %s as it is: it holds more than an audit's extraction files", entry)
            continue
        logger.info("removing %s, what a killed audit of this store left (%d files)", entry, len(inside))
        for f in inside:
            f.unlink()
        entry.rmdir()


def _count(store: Store, sql: str) -> int:
    rows = store.query(sql)
    return int(rows[0][0]) if rows else 0
