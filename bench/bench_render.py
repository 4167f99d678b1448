"""The rendered crawl (``provaudit crawl --render``) over a loopback site of N small pages: pages/s, and the memory of
the crawler plus the browser (Playwright's driver and every Chromium process) every 100 pages, to show that it stays
flat once the first browser contexts have been recycled.

    python bench/bench_render.py --pages 1000            # the issue's size
    python bench/bench_render.py --pages 300 --scrolls 1 # a quick look

The site (one host, served through the test web's proxy like every test-web host) is a binary tree of pages: page n
links to pages 2n and 2n+1, shows two images in its raw HTML and two more that an inline script inserts, so every
page costs the browser a render and gives it something to find. The crawl runs in this process (``run_crawl``); a
thread samples the RSS of this process and all its children (psutil) every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # Scrapy loads RenderProgress as bench_render.RenderProgress

from audit.crawl.render import RENDER_META  # noqa: E402
from audit.testbed.testweb import TestWeb, TestWebServer  # noqa: E402
from audit.testbed.testweb.scripted import tiny_png  # noqa: E402

HOST = "www.feuilleton-infini.fr"
IMAGE_HOST = "img.feuilleton-infini.fr"
POOL = 64  # distinct images: pages share them, so the crawl fetches each once and renders every page
SAMPLE_S = 0.5


class RenderProgress:
    """Scrapy extension: the time at which every 100th rendered page arrived (class-level, read by :func:`main`)."""

    marks: list[tuple[int, float]] = []
    rendered = 0

    @classmethod
    def from_crawler(cls, crawler: object) -> RenderProgress:
        from scrapy import signals

        ext = cls()
        crawler.signals.connect(ext.response_received, signal=signals.response_received)  # type: ignore[attr-defined]
        return ext

    def response_received(self, response: object, request: object, **_: object) -> None:
        if RENDER_META in getattr(request, "meta", {}):
            RenderProgress.rendered += 1
            if RenderProgress.rendered % 100 == 0:
                RenderProgress.marks.append((RenderProgress.rendered, time.perf_counter()))

_SCRIPT = """<script>
(function () {{
  var main = document.querySelector('main');
  [{urls}].forEach(function (u) {{
    var img = document.createElement('img'); img.src = u; img.alt = 'inserted'; main.appendChild(img);
  }});
}})();
</script>"""


def build_site(out: Path, pages: int) -> TestWeb:
    """Write the site, its manifest and an empty ground truth under ``out``."""
    www = out / "www"
    (www / IMAGE_HOST / "i").mkdir(parents=True, exist_ok=True)
    for host in (HOST, IMAGE_HOST):
        (www / host).mkdir(parents=True, exist_ok=True)
        (www / host / "robots.txt").write_text("User-agent: *\nDisallow:\n", encoding="utf-8")
    for i in range(POOL):
        (www / IMAGE_HOST / "i" / f"{i}.png").write_bytes(tiny_png(i + 1000, 32, 24))
    for n in range(1, pages + 1):
        raw = [f"http://{IMAGE_HOST}/i/{(n * 2 + k) % POOL}.png" for k in range(2)]
        scripted = [f"http://{IMAGE_HOST}/i/{(n * 3 + 7 + k) % POOL}.png" for k in range(2)]
        links = "".join(f'<a href="/p/{m}/">page {m}</a> ' for m in (2 * n, 2 * n + 1) if m <= pages)
        body = "".join(f'<img src="{u}" alt="raw" width="32" height="24">' for u in raw)
        html = (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Page {n}</title></head>'
                f"<body><main><h1>Page {n}</h1>{body}</main><nav>{links}</nav>"
                + _SCRIPT.format(urls=", ".join(f"'{u}'" for u in scripted)) + "</body></html>\n")
        target = www / HOST / ("index.html" if n == 1 else f"p/{n}/index.html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    (out / "ground_truth.jsonl").write_text("", encoding="utf-8")
    hosts = {h: {"country": "FR", "kind": "bench", "lang": "fr", "x_robots_tag": None} for h in (HOST, IMAGE_HOST)}
    manifest = {"generator_version": "render-bench-1", "photos": 0, "seed": 0, "start_urls": [f"http://{HOST}/"],
                "allowed_domains": [HOST, IMAGE_HOST], "ground_truth": "ground_truth.jsonl", "sightings": 0,
                "image_urls": POOL, "pages": pages, "hosts": hosts}
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return TestWeb.load(out)


def tree_memory() -> tuple[int, int]:
    """Bytes of RSS and of PSS (shared pages divided among the processes sharing them: Chromium's processes share
    much) of this process and all its descendants (Playwright's driver, Chromium's processes)."""
    rss = pss = 0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss, pss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--scrolls", type=int, default=None, help="AUDIT_RENDER_SCROLLS (default: the setting's)")
    ap.add_argument("--pages-per-context", type=int, default=None, help="AUDIT_RENDER_PAGES_PER_CONTEXT")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    from audit.crawl.run import run_crawl

    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-render-"))
    web = build_site(work / "web", args.pages)
    samples: list[tuple[float, int, int]] = []  # (time, RSS, PSS)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), *tree_memory()))
            stop.wait(SAMPLE_S)

    settings: dict[str, object] = {"AUDIT_RENDER": True, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING",
                                   "EXTENSIONS": {"bench_render.RenderProgress": 500}}
    if args.scrolls is not None:
        settings["AUDIT_RENDER_SCROLLS"] = args.scrolls
    if args.pages_per_context is not None:
        settings["AUDIT_RENDER_PAGES_PER_CONTEXT"] = args.pages_per_context
    with TestWebServer(web) as server:
        settings["AUDIT_PROXY"] = server.proxy_url
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        result = run_crawl(web.start_urls, work / "render.duckdb", allowed_domains=web.allowed_domains,
                           settings=settings)
        elapsed = time.perf_counter() - t0
        stop.set()
        sampler.join()
    import bench_render

    marks = bench_render.RenderProgress.marks
    stats = result.stats
    rendered = int(stats.get("provaudit/render/pages", 0))
    print(f"{rendered} pages rendered in {elapsed:.1f} s: {rendered / elapsed:.2f} pages/s; "
          f"contexts opened {stats.get('playwright/context_count')}, closed "
          f"{stats.get('provaudit/render/contexts_closed', 0)}; script-only references "
          f"{stats.get('provaudit/render/refs_only_rendered', 0)}")
    print("crawler + browser processes, MB: PSS and RSS sums, the last sample and the peak of the last 100 pages")
    print("pages   seconds   PSS now   PSS peak   RSS now   RSS peak")
    last = t0
    for count, at in marks:
        window = [s for s in samples if last <= s[0] <= at] or [(at, 0, 0)]
        last = at
        print(f"{count:5d}   {at - t0:7.1f}   {window[-1][2] / 2**20:7.0f}   {max(s[2] for s in window) / 2**20:8.0f}"
              f"   {window[-1][1] / 2**20:7.0f}   {max(s[1] for s in window) / 2**20:8.0f}")
    print(f"peak over the run: PSS {max(s[2] for s in samples) / 2**20:.0f} MB, "
          f"RSS {max(s[1] for s in samples) / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
