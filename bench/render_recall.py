"""Rendered vs plain crawl recall on the test web's scripted hosts (images shown only through script).

    python bench/render_recall.py [--images-per-host 9]

Builds the scripted hosts (:func:`audit.testbed.testweb.scripted.build_scripted_web`), serves them through the
test web's proxy, crawls them twice with ``provaudit crawl`` (plain, then ``--render``) and prints, per host and
pattern, the page->image links of the ground truth each crawl recorded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.stats import wilson  # noqa: E402
from audit.store.db import Store  # noqa: E402
from audit.testbed.testweb import TestWeb, TestWebServer  # noqa: E402
from audit.testbed.testweb.scripted import SCRIPTED_HOSTS, build_scripted_web  # noqa: E402


def crawl(web: TestWeb, proxy: str, db: Path, *extra: str) -> float:
    args = [sys.executable, "-m", "audit.cli", "crawl", *web.start_urls, "--db", str(db), "--proxy", proxy,
            "--no-throttle", *extra]
    for domain in web.allowed_domains:
        args += ["--allowed-domain", domain]
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT, timeout=900)
    return time.perf_counter() - t0


def found(db: Path) -> set[tuple[str, str]]:
    with Store.open(db, read_only=True) as store:
        return {(str(i), str(p)) for i, p in store.query("SELECT image_url, page_url FROM sightings "
                                                          "WHERE page_url IS NOT NULL")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images-per-host", type=int, default=9)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="render-recall-"))
    web = TestWeb.load(build_scripted_web(work / "web", images_per_host=args.images_per_host))
    truth = {(str(r["image_url"]), str(p)) for r in web.ground_truth() for p in r["page_urls"]}  # type: ignore[attr-defined]
    with TestWebServer(web) as server:
        t_plain = crawl(web, server.proxy_url, work / "plain.duckdb")
        t_render = crawl(web, server.proxy_url, work / "rendered.duckdb", "--render")
    plain, rendered = found(work / "plain.duckdb"), found(work / "rendered.duckdb")
    print("| host | pattern | links (truth) | plain crawl | rendered crawl |")
    print("|---|---|---|---|---|")
    rows = [(s.host, s.pattern) for s in SCRIPTED_HOSTS] + [("all", "")]
    for host, pattern in rows:
        mine = {t for t in truth if host == "all" or t[1].split("/")[2] == host}
        cells = []
        for got in (plain, rendered):
            k = len(mine & got)
            lo, hi = wilson(k, len(mine))
            cells.append(f"{k}/{len(mine)} = {k / len(mine):.3f} [{lo:.3f}, {hi:.3f}]")
        print(f"| {host} | {pattern} | {len(mine)} | {cells[0]} | {cells[1]} |")
    extra = (rendered - truth)
    print(f"\nlinks recorded outside the ground truth: plain {len(plain - truth)}, rendered {len(extra)}")
    print(f"wall time: plain {t_plain:.1f} s, rendered {t_render:.1f} s (each includes the CLI's start-up)")


if __name__ == "__main__":
    main()
