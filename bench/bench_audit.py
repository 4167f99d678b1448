"""Time and peak memory of ``provaudit audit`` and ``provaudit report`` on stores of 10k, 100k and 1M sightings.

The stores are grown from the demo's crawled store by bench/make_store.py (a million sightings are not crawled here;
see that file for what is copied and what varies). Each command runs in a fresh process, as a user runs it; its
peak resident memory (with its worker processes) is sampled every 50 ms. On the sizes up to ``--reference-max`` the
plain row-by-row audit (audit.derive.reference) runs too, side by side, for the speed-up; on the smallest size its
tables are compared with the fast audit's (they must be equal).

    python bench/bench_audit.py --sizes 10000 100000 1000000 --json bench-audit.json
    python bench/bench_audit.py --sizes 1000000 --against 83de8f8 --repeat 3   # side by side with an earlier tree

``--against REV`` also audits each store with the project as it was at git revision REV (extracted with
``git archive``, run from this interpreter with that tree first on the path), alternating with this tree's audit
``--repeat`` times on fresh copies of the same store, and prints the median ratio of the times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_crawl import checkout  # noqa: E402
from make_store import grow  # noqa: E402

REFERENCE = """
import sys, time
from audit.store.db import Store
from audit.derive.reference import reference_audit
with Store.open(sys.argv[1], read_only=True) as store:
    reference_audit(store)
"""

EQUAL = """
import json, sys
from audit.store.db import Store
from audit.derive.reference import reference_audit
from audit.schema import DERIVED

def sig(r):
    d = r["detail"]
    d = json.loads(d) if isinstance(d, str) else d
    return (r["sha256"], r["sighting_id"], r["kind"], r["country"], tuple(r["candidates"] or ()), r["strength"],
            round(float(r["weight"]), 9), r["evidence"], json.dumps(d, sort_keys=True) if d else None,
            r["via_sha256"])

KEYS = {"opt_outs": ("sighting_id", "sha256", "kind", "value", "applies_to", "origin", "evidence"),
        "clusters": ("sha256", "cluster_id", "size"),
        "attributions": ("sha256", "country", "score", "tier", "runner_up", "runner_up_score", "kinds",
                         "propagated", "direct_country", "direct_score", "direct_tier", "explanation")}

def norm(table, r):
    if table == "signals":
        return sig(r)
    return tuple(tuple(r[k]) if isinstance(r[k], list) else r[k] for k in KEYS[table])

with Store.open(sys.argv[1], read_only=True) as store:
    _, ref = reference_audit(store)
    out = {}
    for table in DERIVED:
        cur = store.con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        fast = sorted((norm(table, dict(zip(names, row))) for row in cur.fetchall()), key=repr)
        plain = sorted({norm(table, r) for r in ref[table]}, key=repr)
        out[table] = {"rows": len(fast), "equal": fast == plain}
print(json.dumps(out))
"""


def measure(cmd: list[str], tree: Path = ROOT) -> dict[str, Any]:
    """Run ``cmd`` in ``tree`` (with that tree's ``audit`` package first on the path); wall seconds and the peaks of
    the summed RSS and of the summed PSS of the process and its children. RSS counts a page shared by several of
    them (the interpreter's libraries, memory-mapped data, pages a forked worker has not written) once per process;
    PSS divides it among them, so the summed PSS is what they take from the machine together."""
    t = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tree, env=env)
    peak = peak_pss = 0
    while proc.poll() is None:
        try:
            procs = [p for p in (proc, *proc.children(recursive=True)) if p.is_running()]
            infos = [p.memory_full_info() for p in procs]
            peak = max(peak, sum(i.rss for i in infos))
            peak_pss = max(peak_pss, sum(i.pss for i in infos))
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak / 2**20, 1),
            "peak_pss_mb": round(peak_pss / 2**20, 1), "stdout": out.decode()[-2000:]}


def side_by_side(python: str, grown: Path, copy: Path, before: Path, repeat: int) -> dict[str, Any]:
    """This tree's audit and ``before``'s, alternating on fresh copies of ``grown``; medians and their ratio."""
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "before": []}
    for _ in range(repeat):
        for name, tree in (("ours", ROOT), ("before", before)):
            shutil.copyfile(grown, copy)
            runs[name].append(measure([python, "-m", "audit.cli", "audit", "--db", str(copy)], tree))
            copy.unlink()
    ours = statistics.median(r["seconds"] for r in runs["ours"])
    old = statistics.median(r["seconds"] for r in runs["before"])
    return {"ours_s": [r["seconds"] for r in runs["ours"]], "before_s": [r["seconds"] for r in runs["before"]],
            "ours_median_s": ours, "before_median_s": old, "ratio": round(ours / old, 3),
            "ours_peak_mb": max(r["peak_rss_mb"] for r in runs["ours"]),
            "before_peak_mb": max(r["peak_rss_mb"] for r in runs["before"]),
            "ours_peak_pss_mb": max(r["peak_pss_mb"] for r in runs["ours"]),
            "before_peak_pss_mb": max(r["peak_pss_mb"] for r in runs["before"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=Path, default=ROOT / "demo-out" / "provenance.duckdb")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/provaudit-bench-audit"),
                    help="grown stores are kept here and reused")
    ap.add_argument("--reference-max", type=int, default=100_000,
                    help="largest size also audited by the plain row-by-row reference")
    ap.add_argument("--country", default="FR")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--against", metavar="REV", help="also audit with the project at this git revision")
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs per tree with --against")
    args = ap.parse_args()
    if not args.seed.exists():
        raise SystemExit(f"no seed store at {args.seed}: run `make demo` first")
    args.dir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    provaudit = str(Path(python).with_name("provaudit"))
    results: list[dict[str, Any]] = []
    before: Path | None = None
    if args.against:
        before = args.dir / f"tree-{args.against}"
        if not before.exists():
            checkout(args.against, before)
    for size in args.sizes:
        grown = args.dir / f"store-{size}.duckdb"
        if not grown.exists():
            counts = grow(args.seed, grown, size)
            print(f"grew {grown}: {counts}", flush=True)
        run = args.dir / f"run-{size}.duckdb"
        shutil.copyfile(grown, run)
        row: dict[str, Any] = {"size": size}
        from audit.store.db import Store

        with Store.open(run, read_only=True) as store:
            for table in ("images", "sightings", "pages"):
                row[table] = store.count(table)
        row["audit"] = measure([provaudit, "audit", "--db", str(run)])
        print(f"{size:>9,} sightings: audit {row['audit']['seconds']:7.1f} s, "
              f"{row['audit']['peak_rss_mb']:7.0f} MiB RSS, {row['audit']['peak_pss_mb']:7.0f} MiB PSS", flush=True)
        if before is not None:
            row["against"] = side_by_side(python, grown, args.dir / f"side-{size}.duckdb", before, args.repeat)
            a = row["against"]
            print(f"{size:>9,} sightings: this tree {a['ours_median_s']} s, {args.against} {a['before_median_s']} s "
                  f"(medians of {args.repeat}): ratio {a['ratio']}x; peak RSS {a['ours_peak_mb']:.0f} MiB vs "
                  f"{a['before_peak_mb']:.0f} MiB, PSS {a['ours_peak_pss_mb']:.0f} MiB vs "
                  f"{a['before_peak_pss_mb']:.0f} MiB (all runs: {a['ours_s']} vs {a['before_s']} s)", flush=True)
        report_dir = args.dir / f"report-{size}"
        row["report"] = measure([provaudit, "report", "--db", str(run), "--country", args.country,
                                 "--out", str(report_dir / "report.html")])
        print(f"{size:>9,} sightings: report {row['report']['seconds']:6.1f} s, "
              f"{row['report']['peak_rss_mb']:7.0f} MiB", flush=True)
        if size <= args.reference_max:
            row["reference"] = measure([python, "-c", REFERENCE, str(run)])
            row["speedup"] = round(row["reference"]["seconds"] / row["audit"]["seconds"], 2)
            print(f"{size:>9,} sightings: plain reference {row['reference']['seconds']:7.1f} s, "
                  f"{row['reference']['peak_rss_mb']:7.0f} MiB -> audit is {row['speedup']}x faster", flush=True)
        if size == min(args.sizes) and size <= args.reference_max:  # the row-by-row check is slow at 1M
            check = measure([python, "-c", EQUAL, str(run)])
            row["equal_to_reference"] = json.loads(check["stdout"].strip().splitlines()[-1])
            print(f"{size:>9,} sightings: tables equal to the reference: {row['equal_to_reference']}", flush=True)
        for key in ("audit", "report", "reference"):
            if key in row:
                row[key].pop("stdout", None)
        results.append(row)
        run.unlink(missing_ok=True)
    print("\n| sightings | images | pages | audit s | audit peak MiB | report s | report peak MiB | plain audit s "
          "| speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ref = r.get("reference")
        print(f"| {r['size']:,} | {r['images']:,} | {r['pages']:,} | {r['audit']['seconds']} | "
              f"{r['audit']['peak_rss_mb']:.0f} | {r['report']['seconds']} | {r['report']['peak_rss_mb']:.0f} | "
              f"{ref['seconds'] if ref else '-'} | {str(r['speedup']) + 'x' if ref else '-'} |")
    if args.json:
        args.json.write_text(json.dumps({"cpus": psutil.cpu_count(), "results": results}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
