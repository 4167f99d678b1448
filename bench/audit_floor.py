"""The floor under an audit's writing, beside the audit itself: how long DuckDB takes just to store the rows an audit
produces, with nothing left to compute, and how busy the two cores are in each phase.

    python bench/bench_audit.py --sizes 1000000 --reference-max 0     # grows the 1M-sighting store first
    python bench/audit_floor.py [--store STORE] [--repeat 2]

On a fresh copy of the store, opened as ``provaudit audit`` opens it (``AUDIT_OPTIONS``, the first of
``audit_memory``'s bounds), ``run_audit`` runs with the CPU time of this process and of its workers sampled every
0.25 s (``psutil``: user plus system time; a worker's last quarter second may be missed), so each phase prints its
wall time, its CPU time and how many cores that kept busy. Then each derived table (signals, opt-outs, clusters,
attributions) is copied into a temporary table and, ``--repeat`` times, put back: the persistent table emptied
and the same rows inserted again in one transaction, timed. That insert is the floor of the audit's writing: the
same rows, compressed and stored by DuckDB under the same settings and bound, with no join, id or string to
compute. What an audit spends beyond it is its extraction, clustering and computing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.derive.run import AUDIT_OPTIONS, audit_memory, run_audit  # noqa: E402
from audit.settings import DEFAULTS  # noqa: E402
from audit.store.db import Store  # noqa: E402

DEFAULT_STORE = Path("/tmp/provaudit-bench-audit/store-1000000.duckdb")
DERIVED = ("signals", "opt_outs", "clusters", "attributions")


class CpuSampler:
    """The summed CPU seconds of this process and of every child it has had, sampled in a thread."""

    def __init__(self, every: float = 0.25) -> None:
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._children: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            own = sum(me.cpu_times()[:2])
            for child in me.children(recursive=True):
                try:
                    self._children[child.pid] = sum(child.cpu_times()[:2])
                except psutil.Error:
                    pass
            self.samples.append((time.perf_counter(), own + sum(self._children.values())))
            self._stop.wait(self.every)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, when: float) -> float:
        """The CPU seconds of the last sample at or before ``when``."""
        seen = self.samples[0][1]
        for t, cpu in self.samples:
            if t > when:
                break
            seen = cpu
        return seen


def audit_with_cpu(copy: Path) -> tuple[list[tuple[str, float, float]], float, float]:
    """Audit ``copy``; each phase's (progress message, wall, CPU seconds), then the total wall and CPU."""
    marks: list[tuple[float, str]] = []
    bound = audit_memory(os.path.getsize(copy), int(DEFAULTS["AUDIT_DB_MEMORY"]))[0]
    with Store.open(copy, options=AUDIT_OPTIONS, memory=bound) as store, CpuSampler() as cpu:
        start = time.perf_counter()
        run_audit(store, progress=lambda msg: marks.append((time.perf_counter(), msg)))
        end = time.perf_counter()
    marks.append((end, "end"))
    phases = [(msg, b - a, cpu.at(b) - cpu.at(a)) for (a, msg), (b, _) in itertools.pairwise(marks)]
    return phases, end - start, cpu.at(end) - cpu.at(start)


def write_floor(copy: Path, repeat: int) -> dict[str, tuple[int, list[float]]]:
    """Each derived table's rows and the seconds of each re-insert of them (see the module's text)."""
    bound = audit_memory(os.path.getsize(copy), int(DEFAULTS["AUDIT_DB_MEMORY"]))[0]
    out: dict[str, tuple[int, list[float]]] = {}
    with Store.open(copy, options=AUDIT_OPTIONS, memory=bound) as store:
        con = store.con
        for table in DERIVED:
            con.execute(f"CREATE TEMP TABLE _floor_{table} AS SELECT * FROM {table}")
            rows = con.execute(f"SELECT count(*) FROM _floor_{table}").fetchone()[0]
            out[table] = (rows, [])
        for _ in range(repeat):
            for table in DERIVED:
                con.execute("BEGIN")
                con.execute(f"DELETE FROM {table}")
                t = time.perf_counter()
                con.execute(f"INSERT INTO {table} SELECT * FROM _floor_{table}")
                con.execute("COMMIT")
                out[table][1].append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=DEFAULT_STORE, help="the store to audit (copied first)")
    ap.add_argument("--repeat", type=int, default=2, help="re-inserts of each table")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "provaudit-audit-floor")
    args = ap.parse_args()
    if not args.store.exists():
        raise SystemExit(f"no store at {args.store}: grow it with bench/bench_audit.py first")
    args.dir.mkdir(parents=True, exist_ok=True)
    copy = args.dir / "audited.duckdb"
    shutil.copyfile(args.store, copy)
    try:
        phases, wall, cpu = audit_with_cpu(copy)
        print(f"{'audit phase':46s} {'wall':>7s} {'CPU':>7s} {'cores':>6s}")
        for msg, w, c in phases:
            print(f"{msg[:46]:46s} {w:6.1f}s {c:6.1f}s {c / w if w else 0:6.2f}")
        print(f"{'whole audit':46s} {wall:6.1f}s {cpu:6.1f}s {cpu / wall:6.2f}")
        floor = write_floor(copy, args.repeat)
        print(f"\n{'writing floor: the same rows inserted again':46s} {'rows':>11s} {'median':>8s}  runs")
        total = 0.0
        for table, (rows, seconds) in floor.items():
            med = statistics.median(seconds)
            total += med
            print(f"{table:46s} {rows:>11,} {med:7.2f}s  {', '.join(f'{s:.2f}' for s in seconds)}")
        print(f"{'all four':46s} {'':>11s} {total:7.2f}s")
        print(f"\nthe audit beyond the floor: {wall - total:.1f} s of {wall:.1f} s "
              f"({total / wall:.0%} of the audit is the floor)")
    finally:
        for path in (copy, copy.with_name(copy.name + ".wal")):
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
