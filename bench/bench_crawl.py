"""Our crawl (bytes kept as served, WARC, fingerprints and metadata, DuckDB) against Scrapy's ImagesPipeline and
against the bare-crawl floor (the same parser and requests, images to a no-op callback, no pipeline) on the same test
web, same concurrency, one after the other, each in its own process; prints images/s, the ratios, peak memory (with
worker processes) and the share of time the reactor was blocked.

    python bench/bench_crawl.py --photos 2000            # ~5,000 sightings
    python bench/bench_crawl.py --photos 38000 --dir /var/tmp/web38k   # ~100,000 sightings (the issue's size)
    python bench/bench_crawl.py --against 90407fc --repeat 3   # this tree's crawl against an earlier revision's

``--against REV`` also crawls the same test web with the project as it was at git revision REV (extracted with
``git archive`` into a temporary folder, run with this environment's packages), alternating which goes first, and
prints the ratio of this tree's images/s to REV's for each run and their median.

The test web has ~2.64 sightings per photo; 38,000 photos give ~100,000 sightings, ~60,000 image URLs and ~5.4 GB of
images (built in ~15 minutes on two cores; ``--dir`` keeps it for the next run). Peak RSS is sampled every 0.2 s
from the crawl process (psutil, with its children) and also read from ``getrusage``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.testbed.testweb import TestWebServer, build_web  # noqa: E402

# Both crawls: the project's settings (spiders/settings.py, CONCURRENT_ITEMS = 16 included) with these on top.
CONCURRENCY = {"CONCURRENT_REQUESTS": "32", "CONCURRENT_REQUESTS_PER_DOMAIN": "16", "AUTOTHROTTLE_ENABLED": "False",
               "DOWNLOAD_DELAY": "0", "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": "False",
               "CONCURRENT_ITEMS": "16"}
SAMPLE_S = 0.2

RUN = """
import json, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from scrapy.crawler import CrawlerProcess
from audit.crawl.run import project_settings
settings = project_settings({settings!r})
settings.set("EXTENSIONS", {{"crawl_baseline.ReactorLag": 500}}, priority="cmdline")
{setup}
process = CrawlerProcess(settings)
crawler = process.create_crawler(SPIDER)
t0 = time.perf_counter()
process.crawl(crawler, start_urls={start!r}, allowed_domains={allowed!r})
process.start()
stats = crawler.stats.get_stats()
import resource
own = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": time.perf_counter() - t0,
                  "crawl_process_cpu_s": own.ru_utime + own.ru_stime,
                  "responses": stats.get("downloader/response_count", 0),
                  "files_stored": stats.get("file_count", 0),
                  "items_scraped": stats.get("item_scraped_count", 0),
                  "blocked_s": stats.get("bench/reactor_blocked_s"),
                  "blocked_fraction": stats.get("bench/reactor_blocked_fraction")}}))
"""

OURS = "from spiders.provenance import ProvenanceSpider as SPIDER"
BASELINE = ("from crawl_baseline import BaselineSpider as SPIDER\n"
            "settings.set('ITEM_PIPELINES', {'scrapy.pipelines.images.ImagesPipeline': 1}, priority='cmdline')\n"
            "settings.set('DOWNLOADER_MIDDLEWARES', {'audit.crawl.proxy.ProxyMiddleware': 740}, priority='cmdline')")
FLOOR = ("from crawl_baseline import FloorSpider as SPIDER\n"
         "settings.set('ITEM_PIPELINES', {}, priority='cmdline')\n"
         "settings.set('DOWNLOADER_MIDDLEWARES', {'audit.crawl.proxy.ProxyMiddleware': 740}, priority='cmdline')")


def crawl_code(kind: str, setup: str, settings: dict[str, str], web, root: Path = ROOT) -> str:
    """The crawl process's program (``python -c``): ``RUN`` with ``setup`` for ``kind`` (our spider takes lists of
    start URLs and domains; the baseline's and the floor's take them space-separated)."""
    code = RUN.format(root=str(root), bench=str(ROOT / "bench"), settings=settings, setup=setup,
                      start=" ".join(web.start_urls), allowed=" ".join(web.allowed_domains))
    if kind not in ("baseline", "floor"):
        code = code.replace("start_urls=" + repr(" ".join(web.start_urls)), "start_urls=" + repr(web.start_urls))
        code = code.replace("allowed_domains=" + repr(" ".join(web.allowed_domains)),
                            "allowed_domains=" + repr(web.allowed_domains))
    return code


def run(kind: str, setup: str, settings: dict[str, str], web, server, root: Path = ROOT) -> dict:
    code = crawl_code(kind, setup, settings, web, root)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        server_cpu = _server_cpu(server)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err, text=True, cwd=root)
        sampled, maxrss_kb, descendants_cpu = wait_sampling_rss(proc)
        server_cpu = _server_cpu(server) - server_cpu
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{kind} crawl failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_sampled_mb"] = sampled / 2**20
    result["peak_rss_mb"] = maxrss_kb / 1024
    result["workers_cpu_s"] = descendants_cpu
    result["cpu_s"] = result["crawl_process_cpu_s"] + descendants_cpu
    result["server_cpu_s"] = server_cpu
    return result


def _server_cpu(server) -> float:
    """CPU seconds the test web's server process (a child of this one) has spent so far."""
    if server.pid is None:
        raise RuntimeError("the test web's server is not running")
    times = psutil.Process(server.pid).cpu_times()
    return times.user + times.system


def wait_sampling_rss(proc: subprocess.Popen) -> tuple[int, int, float]:
    """Wait for ``proc``, sampling the resident memory of it and its children every ``SAMPLE_S``; return the sampled
    peak in bytes, the kernel's high-water mark (``ru_maxrss`` of that process, KiB) and the CPU seconds its
    descendants (the analysis workers, children of a forkserver that the crawl never waits for, so neither its
    ``getrusage`` nor ``wait4`` counts them) had spent at their last sample."""
    peak = 0
    descendants: dict[int, float] = {}
    pause = threading.Event()
    ps = psutil.Process(proc.pid)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return peak, usage.ru_maxrss, sum(descendants.values())
        try:
            children = ps.children(recursive=True)
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in children)
            for child in children:
                times = child.cpu_times()
                descendants[child.pid] = times.user + times.system
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        pause.wait(SAMPLE_S)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--dir", type=Path, help="where to build/cache the test web (default: a temp dir)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--repeat", type=int, default=1, help="run the pair of crawls this many times")
    ap.add_argument("--against", metavar="REV", help="also crawl with the project at this git revision")
    ap.add_argument("--no-scrapy", action="store_true", help="skip the ImagesPipeline baseline")
    ap.add_argument("--no-floor", action="store_true", help="skip the bare-crawl floor")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    before = checkout(args.against, work / "before") if args.against else None
    t0 = time.perf_counter()
    web = build_web(args.dir or work / "web", photos=args.photos, seed=args.seed)
    print(f"test web: {args.photos} photos, {web.image_urls:,} image URLs, {web.sightings:,} sightings "
          f"(built in {time.perf_counter() - t0:.0f} s)")
    runs: list[dict[str, dict]] = []
    try:
        with TestWebServer(web) as server:
            common = dict(CONCURRENCY, AUDIT_PROXY=server.proxy_url)
            for i in range(args.repeat):
                out = work / f"run{i}"
                results: dict[str, dict] = {}
                if not args.no_scrapy:
                    results["baseline"] = run("baseline", BASELINE, dict(common, IMAGES_STORE=str(out / "images")),
                                              web, server)
                    shutil.rmtree(out, ignore_errors=True)
                if not args.no_floor:
                    results["floor"] = run("floor", FLOOR, dict(common), web, server)
                order = ["ours", "before"] if i % 2 == 0 else ["before", "ours"]
                for name in order:
                    if name == "before" and before is None:
                        continue
                    results[name] = run(name, OURS, dict(common, AUDIT_DB=str(out / "bench.duckdb")), web, server,
                                        root=before if name == "before" else ROOT)
                    shutil.rmtree(out, ignore_errors=True)
                report(results, web.image_urls)
                runs.append(results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if before is not None:
        ratios = sorted(r["ratio"]["ours_vs_before"] for r in runs)
        per_response = sorted(r["ratio"]["responses_ours_vs_before"] for r in runs)
        print(f"median ratio this tree / {args.against} over {len(ratios)} runs: {ratios[len(ratios) // 2]:.3f}x "
              f"(image URLs/s), {per_response[len(per_response) // 2]:.3f}x (responses/s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"photos": args.photos, "sightings": web.sightings, "against": args.against,
                                         "image_urls": web.image_urls, "runs": runs}, indent=2))


def checkout(rev: str, into: Path) -> Path:
    """The project's files at git revision ``rev``, extracted into ``into`` (``git archive``: no worktree left)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def report(results: dict[str, dict], image_urls: int) -> None:
    for name, r in results.items():
        r["images_per_s"] = image_urls / r["seconds"]
        print(f"{name:9s} {r['seconds']:7.1f} s  {r['images_per_s']:7.1f} images/s  peak RSS {r['peak_rss_mb']:6.0f} MB"
              f" (sampled {r['peak_rss_sampled_mb']:.0f} MB)  reactor blocked {r['blocked_fraction']:.1%}"
              f"  ({r['responses']:,} responses)  CPU {r['cpu_s']:.1f} s: crawl process "
              f"{r['crawl_process_cpu_s']:.1f} s, its workers {r['workers_cpu_s']:.1f} s (sampled) "
              f"(+ server {r['server_cpu_s']:.1f} s)",
              flush=True)
    results["ratio"] = {}
    if "baseline" in results:
        ratio = results["ours"]["images_per_s"] / results["baseline"]["images_per_s"]
        results["ratio"]["images_per_s"] = ratio
        print(f"ratio ours/baseline (images/s): {ratio:.2f}x", flush=True)
    if "floor" in results:
        share = results["floor"]["seconds"] / results["ours"]["seconds"]
        results["ratio"]["share_of_floor"] = share
        print(f"ours reaches {share:.0%} of the bare-crawl floor's speed (floor {results['floor']['seconds']:.1f} s, "
              f"{results['floor']['responses']:,} responses)", flush=True)
        # The crawl and the test web's server share this machine's cores: a crawl cannot take less wall time than
        # the CPU it and the server spend, spread over every core. What that allows against the floor:
        cores = os.cpu_count() or 1
        ours = results["ours"]
        least = (ours["cpu_s"] + ours["server_cpu_s"]) / cores
        results["ratio"]["least_seconds_on_these_cores"] = least
        results["ratio"]["best_share_of_floor_on_these_cores"] = results["floor"]["seconds"] / least
        print(f"ours spends {ours['cpu_s']:.1f} s of CPU (crawl and analysis workers) and the server "
              f"{ours['server_cpu_s']:.1f} s: on {cores} cores it cannot take less than {least:.1f} s, "
              f"{results['floor']['seconds'] / least:.0%} of the floor's speed at best "
              f"(the floor spends {results['floor']['cpu_s']:.1f} s + {results['floor']['server_cpu_s']:.1f} s)",
              flush=True)
    if "before" in results:
        ratio = results["ours"]["images_per_s"] / results["before"]["images_per_s"]
        results["ratio"]["ours_vs_before"] = ratio
        # the two trees may not do the same work on one web (an older parser finds fewer images to fetch): the
        # rate of responses compares the work each did, the rate of the web's image URLs the time each took
        per_response = ((results["ours"]["responses"] / results["ours"]["seconds"])
                        / (results["before"]["responses"] / results["before"]["seconds"]))
        results["ratio"]["responses_ours_vs_before"] = per_response
        print(f"ratio ours/before: {ratio:.3f}x the web's image URLs per second, {per_response:.3f}x responses per "
              f"second ({results['ours']['responses']:,} vs {results['before']['responses']:,} responses)", flush=True)

if __name__ == "__main__":
    main()
