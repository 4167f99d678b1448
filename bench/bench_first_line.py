"""Time to the first line a long command prints, as whole processes with their output on a pipe (as in a CI log):
crawl, ingest, audit, test web build, package, report and verify. The targets: the first progress line within 2 s
(issue 19), then within 1 s (issue 20).

    python bench/bench_first_line.py [--runs 3] [--work /tmp/first-line]

Each command is started as `python -m audit.cli ...`; the time is from the start of the process to the first line on
stdout or stderr, and to its end. Medians of --runs runs."""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"


def timed(args: list[str], cwd: Path) -> tuple[float, float, str]:
    env = {**os.environ, "AUDIT_PROGRESS_SECONDS": "10"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    assert proc.stdout and proc.stderr
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    first: float | None = None
    line = ""
    open_streams = 2
    while open_streams:
        for key, _ in sel.select():
            data = key.fileobj.readline()  # type: ignore[union-attr]
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            if first is None and data.strip():
                first = time.perf_counter() - start
                line = data.decode("utf-8", "replace").strip()
    proc.wait()
    end = time.perf_counter() - start
    if proc.returncode not in (0, 3, 4):
        raise SystemExit(f"{' '.join(args)} failed with {proc.returncode}")
    return (first if first is not None else end), end, line


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/first-line"))
    a = ap.parse_args()
    work = a.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    web = work / "web"
    subprocess.run([sys.executable, "-m", "audit.cli", "testweb", "build", "--dir", str(web), "--photos", "300"],
                   cwd=ROOT, check=True, capture_output=True)
    commands: dict[str, list[list[str]]] = {"testweb build (300 photos, not cached)": [], "crawl --testweb": [],
                                            "ingest (real photos)": [], "audit": [], "package": [], "report": [],
                                            "verify": []}
    rows: dict[str, list[tuple[float, float, str]]] = {k: [] for k in commands}
    for run in range(a.runs):
        d = work / f"run{run}"
        d.mkdir()
        db = d / "s.duckdb"
        steps = [
            ("testweb build (300 photos, not cached)", ["testweb", "build", "--dir", str(d / "web"), "--photos",
                                                         "300"]),
            ("crawl --testweb", ["crawl", "--testweb", str(web), "--db", str(db)]),
            ("ingest (real photos)", ["ingest", str(CORPORA / "photos"), "--db", str(d / "p.duckdb"), "--no-faces"]),
            ("audit", ["audit", "--db", str(db)]),
            ("package", ["package", "--db", str(db), "--out", str(d / "c.wacz")]),
            ("report", ["report", "--db", str(db), "--country", "FR", "--out", str(d / "r.html")]),
            ("verify", ["verify", "--before", str(db), "--after", str(db), "--country", "FR", "--out",
                        str(d / "v.html")]),
        ]
        for name, args in steps:
            rows[name].append(timed(args, ROOT))
    print(f"| command | first line (s, median of {a.runs}) | whole command (s) | first line printed |")
    print("|---|---|---|---|")
    for name, got in rows.items():
        first = statistics.median(g[0] for g in got)
        whole = statistics.median(g[1] for g in got)
        print(f"| `{name}` | {first:.2f} | {whole:.1f} | `{got[0][2][:70]}` |")


if __name__ == "__main__":
    main()
