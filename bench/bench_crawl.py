"""Our crawl (bytes kept as served, WARC, fingerprints and metadata, DuckDB) against Scrapy's ImagesPipeline on the
same test web, same concurrency, one after the other, each in its own process; prints images/s, the ratio, peak
memory and the share of time the reactor was blocked.

    python bench/bench_crawl.py --photos 2000            # ~5,000 sightings
    python bench/bench_crawl.py --photos 40000           # ~100,000 sightings (the issue's size; long)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.testweb import TestWebServer, build_web  # noqa: E402

CONCURRENCY = {"CONCURRENT_REQUESTS": "32", "CONCURRENT_REQUESTS_PER_DOMAIN": "16", "AUTOTHROTTLE_ENABLED": "False",
               "DOWNLOAD_DELAY": "0", "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": "False"}

RUN = """
import json, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from scrapy.crawler import CrawlerProcess
from audit.crawl import project_settings
settings = project_settings({settings!r})
settings.set("EXTENSIONS", {{"crawl_baseline.ReactorLag": 500}}, priority="cmdline")
{setup}
process = CrawlerProcess(settings)
crawler = process.create_crawler(SPIDER)
t0 = time.perf_counter()
process.crawl(crawler, start_urls={start!r}, allowed_domains={allowed!r})
process.start()
stats = crawler.stats.get_stats()
print(json.dumps({{"seconds": time.perf_counter() - t0,
                  "responses": stats.get("downloader/response_count", 0),
                  "images": stats.get("file_count", 0) or stats.get("item_scraped_count", 0),
                  "blocked_s": stats.get("bench/reactor_blocked_s"),
                  "blocked_fraction": stats.get("bench/reactor_blocked_fraction")}}))
"""

OURS = "from spiders.provenance import ProvenanceSpider as SPIDER"
BASELINE = ("from crawl_baseline import BaselineSpider as SPIDER\n"
            "settings.set('ITEM_PIPELINES', {'scrapy.pipelines.images.ImagesPipeline': 1}, priority='cmdline')\n"
            "settings.set('DOWNLOADER_MIDDLEWARES', {'audit.proxy.ProxyMiddleware': 740}, priority='cmdline')")


def run(kind: str, setup: str, settings: dict[str, str], web, server) -> dict:
    code = RUN.format(root=str(ROOT), bench=str(ROOT / "bench"), settings=settings, setup=setup,
                      start=" ".join(web.start_urls), allowed=" ".join(web.allowed_domains))
    if kind == "ours":
        code = code.replace("start_urls=" + repr(" ".join(web.start_urls)), "start_urls=" + repr(web.start_urls))
        code = code.replace("allowed_domains=" + repr(" ".join(web.allowed_domains)),
                            "allowed_domains=" + repr(web.allowed_domains))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} crawl failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--dir", type=Path, help="where to build/cache the test web (default: a temp dir)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    t0 = time.perf_counter()
    web = build_web(args.dir or work / "web", photos=args.photos, seed=args.seed)
    print(f"test web: {args.photos} photos, {web.image_urls:,} image URLs, {web.sightings:,} sightings "
          f"(built in {time.perf_counter() - t0:.0f} s)")
    results = {}
    try:
        with TestWebServer(web) as server:
            common = dict(CONCURRENCY, AUDIT_PROXY=server.proxy_url)
            results["baseline"] = run("baseline", BASELINE, dict(common, IMAGES_STORE=str(work / "images")),
                                      web, server)
            results["ours"] = run("ours", OURS, dict(common, AUDIT_DB=str(work / "bench.duckdb")), web, server)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, r in results.items():
        r["images_per_s"] = web.image_urls / r["seconds"]
        print(f"{name:9s} {r['seconds']:7.1f} s  {r['images_per_s']:7.1f} images/s  peak RSS {r['peak_rss_mb']:6.0f} MB"
              f"  reactor blocked {r['blocked_fraction']:.1%}  ({r['responses']:,} responses)")
    ratio = results["ours"]["images_per_s"] / results["baseline"]["images_per_s"]
    print(f"ratio ours/baseline (images/s): {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"photos": args.photos, "sightings": web.sightings,
                                         "image_urls": web.image_urls, "results": results, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
