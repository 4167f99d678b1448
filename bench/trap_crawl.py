"""A crawl of the crawler-trap web (audit/testbed/trapweb.py) with the default bounds: its peak memory, its time,
and what its bounds cut. The done-when of issue 12: it stops by itself and stays under 1 GiB.

    .venv/bin/python bench/trap_crawl.py [--out bench/results-trap-crawl.json] [-s NAME=VALUE ...]

The crawl runs as `provaudit crawl` in a subprocess (the way a user runs it), killed if it is still running after
--limit seconds; its peak resident memory (with its children) is sampled every 0.1 s with psutil.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.store.db import Store  # noqa: E402
from audit.testbed.trapweb import TrapWeb  # noqa: E402


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    parser.add_argument("--limit", type=float, default=1800.0, help="seconds before the crawl is killed")
    parser.add_argument("-s", "--set", dest="settings", action="append", default=[], help="NAME=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, TrapWeb() as web:
        db = Path(tmp) / "trap.duckdb"
        cmd = [sys.executable, "-m", "audit.cli", "crawl", *web.start_urls, "--db", str(db), "--no-throttle",
               "--no-warc"]
        for s in args.settings:
            cmd += ["-s", s]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ps = psutil.Process(proc.pid)
        peak = 0
        stopped_by_itself = True
        while proc.poll() is None:
            peak = max(peak, _tree_rss(ps))
            if time.perf_counter() - started > args.limit:
                proc.kill()
                stopped_by_itself = False
                break
            time.sleep(0.1)
        out, err = proc.communicate()
        elapsed = time.perf_counter() - started
        served = web.pages_served
        with Store.open(db, read_only=True) as store:
            pages = store.query("SELECT count(*) FROM pages")[0][0]
            stats = json.loads(store.query("SELECT stats FROM crawls")[0][0] or "{}")
    figures = {
        "stopped_by_itself": stopped_by_itself and proc.returncode == 0,
        "exit_status": proc.returncode,
        "seconds": round(elapsed, 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "pages_recorded": pages,
        "pages_served": served,
        "finish_reason": stats.get("finish_reason"),
        "cut": {k.removeprefix("provaudit/cut/"): v for k, v in stats.items() if k.startswith("provaudit/cut/")},
        "settings": args.settings,
    }
    print(json.dumps(figures, indent=2))
    if proc.returncode != 0:
        print(err[-3000:], file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
