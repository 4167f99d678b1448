"""Where an audit's time goes, phase by phase, side by side with an earlier tree.

Each run audits a fresh copy of one store in a process of its own with ``run_audit`` (the store opened with
``AUDIT_OPTIONS`` and the first of ``audit_memory``'s bounds, as ``provaudit audit`` does, where the tree has them)
and reads its phase timer (``AuditResult.seconds``: each extraction unit, clustering, fanning signals out to the
sightings, propagation through clusters, attribution). With
``--against REV`` the project as it was at git revision REV (extracted with ``git archive``) audits the same store,
alternating with this tree, and the median total of each is compared:

    python bench/bench_audit.py --sizes 1000000 --reference-max 0     # grows the 1M-sighting store first
    python bench/audit_phases.py --against 83de8f8 --repeat 3

Leaving out process start-up and the CLI's printing, this measures the audit itself; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_crawl import checkout  # noqa: E402

DEFAULT_STORE = Path(tempfile.gettempdir()) / "provaudit-bench-audit" / "store-1000000.duckdb"

RUN = """
import json, os, shutil, sys, time
from audit.derive.run import AUDIT_OPTIONS, run_audit
from audit.store.db import Store

def main():
    shutil.copyfile(sys.argv[1], sys.argv[2])
    try:  # DuckDB's first bound in provaudit audit, in a tree that has one (older trees ran with DuckDB's default)
        from audit.derive.run import audit_memory
        from audit.settings import DEFAULTS
        bound = {"memory": audit_memory(os.path.getsize(sys.argv[2]), int(DEFAULTS["AUDIT_DB_MEMORY"]))[0]}
    except ImportError:
        bound = {}
    t = time.perf_counter()
    with Store.open(sys.argv[2], options=AUDIT_OPTIONS, **bound) as store:
        result = run_audit(store)
    seconds = dict(result.seconds, wall=time.perf_counter() - t)
    print(json.dumps({"seconds": seconds, "signals": result.signals}))

if __name__ == "__main__":  # the audit's worker processes import this module again
    main()
"""


def audit_once(tree: Path, store: Path, work: Path) -> dict[str, Any]:
    """One audit of a copy of ``store`` with the project in ``tree``; its phase times and signal count."""
    script = work / "run_audit_phases.py"
    script.write_text(RUN)
    copy = work / "audit-copy.duckdb"
    proc = subprocess.run([sys.executable, str(script), str(store), str(copy)], cwd=tree, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(tree)), check=False)
    for leftover in (copy, copy.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"the audit with {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=DEFAULT_STORE, help="the store to audit (copied for each run)")
    ap.add_argument("--against", metavar="REV", help="also audit with the project at this git revision")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tree (alternating with --against)")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "provaudit-audit-phases")
    args = ap.parse_args()
    if not args.store.exists():
        raise SystemExit(f"no store at {args.store}: grow one with bench/bench_audit.py first")
    args.dir.mkdir(parents=True, exist_ok=True)
    trees = {"this tree": ROOT}
    if args.against:
        before = args.dir / f"tree-{args.against}"
        if not before.exists():
            checkout(args.against, before)
        trees = {args.against: before, "this tree": ROOT}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for i in range(args.repeat):
        for name, tree in trees.items():
            run = audit_once(tree, args.store, args.dir)
            runs[name].append(run)
            print(f"run {i + 1}, {name}: {run['seconds']['total']:.1f} s, {run['signals']:,} signals", flush=True)
    phases = list(dict.fromkeys(p for rs in runs.values() for r in rs for p in r["seconds"]))
    print(f"\nmedian seconds per phase ({args.repeat} runs each)")
    print(f"{'phase':<22}" + "".join(f"{name:>14}" for name in trees))
    for phase in phases:
        cells = []
        for name in trees:
            values = [r["seconds"][phase] for r in runs[name] if phase in r["seconds"]]
            cells.append(f"{statistics.median(values):>14.1f}" if values else f"{'-':>14}")
        print(f"{phase:<22}" + "".join(cells))
    if args.against:
        ours = [r["seconds"]["total"] for r in runs["this tree"]]
        theirs = [r["seconds"]["total"] for r in runs[args.against]]
        pairs = [round(a / b, 3) for a, b in zip(ours, theirs, strict=True)]
        print(f"\nthis tree / {args.against}: median {statistics.median(ours) / statistics.median(theirs):.3f}x "
              f"(pairwise {pairs})")


if __name__ == "__main__":
    main()
