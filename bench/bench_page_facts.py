"""Time of ``audit.decode.pagefacts.page_facts`` per page, each page's tree read once beforehand, on the pages of a
test web (and any HTML responses of the WARC files given), side by side with the module as it was at a git revision:
both versions alternate on the same trees, the best of ``--repeat`` rounds is kept, and the facts must be equal.

    python bench/bench_page_facts.py --dir /var/tmp/web4k --against HEAD~1
    python bench/bench_page_facts.py --dir /var/tmp/web4k --against HEAD~1 \
        --warc ../shared/corpora/warc/pywb/iana.warc.gz
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.decode.htmltree import HtmlTree, read_html  # noqa: E402
from audit.decode.pagefacts import page_facts  # noqa: E402


def module_at(rev: str, into: Path) -> Callable[..., dict[str, Any]]:
    """``page_facts`` of ``audit/decode/pagefacts.py`` as it was at git revision ``rev``."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:audit/decode/pagefacts.py"], check=True,
                            capture_output=True, text=True).stdout
    path = into / "pagefacts_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("pagefacts_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.page_facts  # type: ignore[no-any-return]


def warc_pages(path: Path) -> list[tuple[str, str]]:
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, arc2warc=True):
            headers = record.http_headers
            if record.rec_type == "response" and headers and "html" in (headers.get_header("Content-Type") or ""):
                pages.append((record.rec_headers.get_header("WARC-Target-URI") or "",
                              record.content_stream().read().decode("utf-8", "replace")))
    return pages


def timed(fn: Callable[..., dict[str, Any]], trees: list[tuple[str, HtmlTree]]) -> float:
    t0 = time.perf_counter()
    for url, tree in trees:
        fn(tree, url)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, required=True, help="a built test web (bench_crawl.py --dir)")
    ap.add_argument("--pages", type=int, default=2000, help="test-web pages sampled (seeded)")
    ap.add_argument("--warc", type=Path, action="append", default=[], help="also the HTML responses of this WARC")
    ap.add_argument("--against", required=True, metavar="REV")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    files = sorted((args.dir / "www").rglob("*.html"))
    random.Random(2022).shuffle(files)
    pages = [(f"http://{f.relative_to(args.dir / 'www')}", f.read_text("utf-8", "replace"))
             for f in files[: args.pages]]
    for warc in args.warc:
        pages += warc_pages(warc)
    trees = [(url, read_html(text)) for url, text in pages]
    with tempfile.TemporaryDirectory() as tmp:
        before = module_at(args.against, Path(tmp))
        unequal = sum(page_facts(tree, url) != before(tree, url) for url, tree in trees)
        best = {"this tree": float("inf"), args.against: float("inf")}
        for _ in range(args.repeat):
            best["this tree"] = min(best["this tree"], timed(page_facts, trees))
            best[args.against] = min(best[args.against], timed(before, trees))
    for name, seconds in best.items():
        print(f"{name:10s} {seconds / len(trees) * 1e6:7.1f} µs per page (best of {args.repeat}, {len(trees)} pages)")
    print(f"ratio this tree / {args.against} (time): {best['this tree'] / best[args.against]:.3f}; "
          f"pages whose facts differ: {unequal}")
    if unequal:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
