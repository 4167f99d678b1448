"""Time ``provaudit ingest`` of a WARC (the demo's) against the tool as it was and against the floor.

Three commands, each a fresh process, run in turn ``--repeat`` times (alternating, so a machine shared with other
work slows each alike), on the same archive, each into a fresh store:

* ``before``: ``provaudit ingest WARC --db fresh.duckdb`` of the project at git revision ``--against`` (default
  f91b6df, the tool before issue 20; extracted with ``git archive``, run with this interpreter, that tree first on
  the path);
* ``ours``: the same command from this tree;
* ``floor``: bench/ingest_floor.py -- iterate the records with warcio, sha256 every payload, fingerprint every
  distinct image with audit.decode.fingerprint in 2 forked processes; nothing parsed, nothing stored.

For each it prints the median wall time, MB/s of the archive file, and the CPU seconds of the process and every
process it started (sampled every 50 ms with psutil: the last value seen of each process), with the ratios
``before / ours`` (the speed-up) and ``ours / floor``. The stores of the last ``before`` and ``ours`` runs are then
compared table by table (row counts and an order-independent digest of every row, the columns that say when or
by which run something was recorded left out); ``--audit`` also runs ``provaudit audit`` on both and compares the
signals.

    python bench/bench_ingest.py --warc demo-out/provenance-*.warc.gz --repeat 5 --json bench/results-ingest.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_crawl import checkout  # noqa: E402

# columns that differ between two ingests of the same archive by the same tree (when, which run)
VARYING = {"crawls": {"started_at", "finished_at", "settings"}, "runs": None, "meta": None}


def measure(cmd: list[str], tree: Path) -> dict[str, Any]:
    """Run ``cmd`` with ``tree`` first on the path: wall seconds, CPU seconds of it and all its descendants, peak of
    their summed RSS."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tree, env=env)
    cpu: dict[int, float] = {}
    peak = 0
    while proc.poll() is None:
        rss = 0
        try:
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            procs = [proc]
        for p in procs:
            try:
                with p.oneshot():
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
                    rss += p.memory_info().rss
            except psutil.Error:
                pass
        peak = max(peak, rss)
        time.sleep(0.05)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')[-3000:]}")
    return {"seconds": round(seconds, 3), "cpu_s": round(sum(cpu.values()), 2), "processes": len(cpu),
            "main_cpu_s": round(cpu.get(proc.pid, 0.0), 2),
            "peak_rss_mb": round(peak / 2**20, 1), "stdout": out.decode(errors="replace")[-3000:]}


def store_digest(db: Path, python: str, tree: Path) -> dict[str, Any]:
    """Per table: rows, and a digest of its rows (sorted, as text) without the columns in VARYING."""
    script = f"""
import hashlib, json, sys, duckdb
VARYING = {VARYING!r}
con = duckdb.connect(sys.argv[1], read_only=True)
out = {{}}
for (table,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema='main' "
                            "ORDER BY 1").fetchall():
    cols = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name=? "
                                      "ORDER BY ordinal_position", [table]).fetchall()]
    skip = VARYING.get(table, set())
    n = con.execute(f'SELECT count(*) FROM "{{table}}"').fetchone()[0]
    if skip is None:
        out[table] = {{"rows": n}}
        continue
    keep = [c for c in cols if c not in skip]
    rows = sorted(repr(r) for r in con.execute(
        "SELECT " + ", ".join(f'CAST("{{c}}" AS VARCHAR)' for c in keep) + f' FROM "{{table}}"').fetchall())
    out[table] = {{"rows": n, "digest": hashlib.sha256("\\n".join(rows).encode()).hexdigest()[:16]}}
print(json.dumps(out))
"""
    res = subprocess.run([python, "-c", script, str(db)], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(tree)})
    return json.loads(res.stdout.strip().splitlines()[-1])


def signals_digest(db: Path, python: str, tree: Path) -> dict[str, Any]:
    subprocess.run([python, "-m", "audit.cli", "audit", "--db", str(db)], capture_output=True, check=True,
                   cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
    return {t: v for t, v in store_digest(db, python, tree).items()
            if t in ("signals", "signal_countries", "attributions", "clusters", "opt_outs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warc", type=Path, required=True)
    parser.add_argument("--against", default="f91b6df", help="git revision of the tool before (default f91b6df)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=["before", "ours", "floor"], help="which of the three to run")
    parser.add_argument("--audit", action="store_true", help="also audit both stores and compare the signals")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    python = sys.executable
    warc = args.warc.resolve()
    mb = warc.stat().st_size / 1e6
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        trees = {"ours": ROOT, "floor": ROOT}
        if "before" in args.only:
            trees["before"] = checkout(args.against, work / "before")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.only}
        for i in range(args.repeat):
            for name in args.only:
                db = work / f"{name}.duckdb"
                db.unlink(missing_ok=True)
                if name == "floor":
                    cmd = [python, str(ROOT / "bench" / "ingest_floor.py"), str(warc)]
                else:
                    cmd = [python, "-m", "audit.cli", "ingest", str(warc), "--db", str(db)]
                r = measure(cmd, trees[name])
                runs[name].append(r)
                print(f"run {i + 1} {name:6s} {r['seconds']:7.2f} s  {mb / r['seconds']:6.1f} MB/s  "
                      f"CPU {r['cpu_s']:6.2f} s in {r['processes']} processes (main {r['main_cpu_s']:5.2f} s)  "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB",
                      flush=True)
        summary: dict[str, Any] = {"warc": str(warc), "warc_mb": round(mb, 1), "against": args.against,
                                   "repeat": args.repeat, "load_average_at_end": os.getloadavg()}
        for name, rs in runs.items():
            s = statistics.median(r["seconds"] for r in rs)
            summary[name] = {"seconds": [r["seconds"] for r in rs], "median_s": s, "mb_per_s": round(mb / s, 1),
                             "cpu_s": [r["cpu_s"] for r in rs],
                             "median_cpu_s": statistics.median(r["cpu_s"] for r in rs),
                             "main_cpu_s": [r["main_cpu_s"] for r in rs],
                             "median_main_cpu_s": statistics.median(r["main_cpu_s"] for r in rs),
                             "peak_rss_mb": max(r["peak_rss_mb"] for r in rs)}
            print(f"{name:6s} median {s:7.2f} s  {mb / s:6.1f} MB/s  CPU median {summary[name]['median_cpu_s']:.2f} s "
                  f"(main process {summary[name]['median_main_cpu_s']:.2f} s)")
        ratios: dict[str, float] = {}
        if "before" in runs and "ours" in runs:
            ratios["speedup_wall"] = round(summary["before"]["median_s"] / summary["ours"]["median_s"], 2)
            ratios["speedup_cpu"] = round(summary["before"]["median_cpu_s"] / summary["ours"]["median_cpu_s"], 2)
        if "floor" in runs:
            for name in ("before", "ours"):
                if name in runs:
                    ratios[f"{name}_over_floor_wall"] = round(summary[name]["median_s"]
                                                              / summary["floor"]["median_s"], 2)
                    ratios[f"{name}_over_floor_cpu"] = round(summary[name]["median_cpu_s"]
                                                             / summary["floor"]["median_cpu_s"], 2)
        summary["ratios"] = ratios
        print("ratios:", json.dumps(ratios))
        if "before" in runs and "ours" in runs:
            digests = {name: store_digest(work / f"{name}.duckdb", python, ROOT) for name in ("before", "ours")}
            differ = sorted(t for t in digests["ours"] if digests["ours"][t] != digests["before"].get(t))
            summary["stores_equal"] = not differ and digests["ours"].keys() == digests["before"].keys()
            summary["tables"] = {t: v["rows"] for t, v in digests["ours"].items()}
            print("stores equal:", summary["stores_equal"], "differ:", differ,
                  "rows:", json.dumps(summary["tables"]), flush=True)
            if args.json:
                args.json.write_text(json.dumps(summary, indent=1) + "\n")
            if args.audit:
                sig = {name: signals_digest(work / f"{name}.duckdb", python, trees[name])
                       for name in ("before", "ours")}
                summary["signals_equal"] = sig["ours"] == sig["before"]
                summary["signals"] = sig["ours"]
                print("signals equal after audit:", summary["signals_equal"], json.dumps(sig["ours"]))
        if args.json:
            args.json.write_text(json.dumps(summary, indent=1) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
