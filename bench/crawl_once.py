"""One crawl of a test web, ours or the bare-crawl floor, exactly as ``bench/bench_crawl.py`` runs it (same settings,
concurrency and spider), for profiling and for trying a change: prints the crawl's figures (wall time, the crawl
process's CPU, responses, items) and the test web server's CPU.

    python bench/crawl_once.py --dir /var/tmp/web4k --photos 4000
    python bench/crawl_once.py --dir /var/tmp/web4k --photos 4000 --kind floor
    python bench/crawl_once.py --dir /var/tmp/web4k --photos 4000 --set AUDIT_WARC=False
    python bench/crawl_once.py --dir /var/tmp/web4k --photos 4000 --root /tmp/scratch-copy   # a changed copy
    python bench/crawl_once.py --dir /var/tmp/web4k --photos 4000 \\
        --wrap 'py-spy record -r 100 -t --gil -f raw -o gil.txt --'       # only the crawl process is sampled

``--wrap`` puts a command in front of the crawl process's own command line (``python -c CODE``), so that a profiler
samples that process and not the server or this script. py-spy is not a project dependency.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_crawl  # noqa: E402

from audit.testbed.testweb import TestWebServer, build_web  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--dir", type=Path, help="where to build/cache the test web (default: a temp dir)")
    ap.add_argument("--kind", choices=("ours", "floor"), default="ours")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a setting on top (repeatable)")
    ap.add_argument("--root", type=Path, default=ROOT, help="the project copy whose crawl runs (default: this one)")
    ap.add_argument("--wrap", default="", help="a command put in front of the crawl process's command line")
    args = ap.parse_args()
    extra = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            ap.error(f"--set takes NAME=VALUE, not {item!r}")
        extra[name] = value
    work = Path(tempfile.mkdtemp(prefix="crawl-once-"))
    try:
        web = build_web(args.dir or work / "web", photos=args.photos, seed=args.seed)
        with TestWebServer(web) as server:
            settings = dict(bench_crawl.CONCURRENCY, AUDIT_PROXY=server.proxy_url, **extra)
            if args.kind == "ours":
                settings.setdefault("AUDIT_DB", str(work / "bench.duckdb"))
            setup = bench_crawl.OURS if args.kind == "ours" else bench_crawl.FLOOR
            code = bench_crawl.crawl_code(args.kind, setup, settings, web, args.root.resolve())
            before = bench_crawl._server_cpu(server)
            done = subprocess.run([*shlex.split(args.wrap), sys.executable, "-c", code], cwd=args.root,
                                  capture_output=True, text=True)
            server_cpu = bench_crawl._server_cpu(server) - before
        if done.returncode != 0:
            raise SystemExit(f"the crawl failed:\n{done.stderr[-3000:]}")
        # the last line of JSON (a profiler in --wrap may write its own lines after it)
        result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
        result["server_cpu_s"] = round(server_cpu, 2)
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
