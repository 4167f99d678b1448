"""Hostile pages through the page parser (audit.decode.htmltree.read_html, audit.decode.html.parse_page,
audit.decode.pagefacts.page_facts): time, references found and nodes read for the red team's pages of issue 12 (n
images and n captions in one <figure>; thousands of nested <div>s before the images), and the peak memory of this
process.

    .venv/bin/python bench/bench_page_parsing.py [--sizes 2000 8000 32000] [--depths 5000 50000]

The parser before issue 12 took 6-11 s for n = 2,000 and 130 s for n = 8,000 (its work grew with images x captions),
and found 0 images after 5,000 nested <div>s, with no error.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.decode.html import parse_page  # noqa: E402
from audit.decode.htmltree import read_html  # noqa: E402
from audit.decode.pagefacts import page_facts  # noqa: E402

URL = "http://site.test/page.html"


def one_figure(n: int) -> str:
    pairs = "".join(f'<img src="/img/{i}.jpg" alt="photo {i}"><figcaption>caption <b>{i}</b></figcaption>'
                    for i in range(n))
    return f"<html><head><title>t</title></head><body><figure>{pairs}</figure></body></html>"


def deep(depth: int, images: int = 3) -> str:
    imgs = "".join(f'<img src="/img/after-{i}.jpg" alt="after {i}">' for i in range(images))
    return f"<html><body>{'<div>' * depth}deep{'</div>' * depth}{imgs}</body></html>"


def run(name: str, html: str) -> None:
    started = time.perf_counter()
    tree = read_html(html)
    parsed = parse_page(tree, URL)
    page_facts(tree, URL)
    seconds = time.perf_counter() - started
    error = (parsed.error or "")[:70]
    print(f"{name:<28} {len(html) / 1024:>9,.0f} KiB {seconds:>8.2f} s {len(parsed.image_refs):>7,} refs "
          f"{parsed.nodes:>9,} nodes  {error}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    ap.add_argument("--depths", type=int, nargs="+", default=[5000, 50000])
    args = ap.parse_args()
    print(f"{'page':<28} {'size':>13} {'time':>10} {'found':>12} {'work':>15}  error")
    for n in args.sizes:
        run(f"{n:,} images in one figure", one_figure(n))
    for depth in args.depths:
        run(f"{depth:,} nested divs, 3 images", deep(depth))
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
