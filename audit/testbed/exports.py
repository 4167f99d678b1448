"""The built test web written out as the datasets others made from the real web, so that the same photos can be
audited through every input and the results compared.

A LAION-style table is made the way LAION made its own from Common Crawl: every ``<img>`` of every page with a
non-empty ``alt`` text becomes a row (URL, the alt text as ``TEXT``, the image's size), nothing else of the page is
kept. The ground truth is written beside it, unchanged (it is keyed by image URL).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from audit.testbed.testweb.build import TestWeb

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("laion",)
#: the ``ref_kind`` of the references a LAION-style table keeps: images of the page's markup with an alt text
ALT_KINDS = frozenset({"img", "srcset", "picture", "lazy"})


@dataclass(frozen=True, slots=True)
class AltRow:
    """One image of one page with its alt text: a row of a LAION-style table."""

    url: str
    text: str
    page_url: str
    width: int | None
    height: int | None
    sha256: str | None


def page_file(web: TestWeb, url: str) -> Path | None:
    """The file of the built web that serves ``url`` (as the test web's server maps it), or None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    root = (web.www / host).resolve()
    rel = unquote(parts.path).lstrip("/")
    target = (root / rel).resolve() if rel else root
    if target != root and root not in target.parents:
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def alt_rows(web: TestWeb) -> Iterator[AltRow]:
    """Every (image, page) pair of the ground truth whose page shows the image with a non-empty ``alt``, in the
    ground truth's order; an image on several pages gives a row per page (as in LAION, where a URL recurs)."""
    from audit.decode.html import parse_page

    truth = web.ground_truth()
    parsed: dict[str, dict[str, str]] = {}
    for entry in truth:
        url = str(entry["image_url"])
        for page_url in entry.get("page_urls") or []:  # type: ignore[attr-defined]
            alts = parsed.get(page_url)
            if alts is None:
                path = page_file(web, page_url)
                alts = {}
                if path is not None:
                    page = parse_page(path.read_text(encoding="utf-8", errors="replace"), page_url)
                    for ref in page.image_refs:
                        if ref.ref_kind in ALT_KINDS and ref.alt_text and ref.image_url not in alts:
                            alts[ref.image_url] = ref.alt_text
                parsed[page_url] = alts
            text = alts.get(url)
            if text:
                yield AltRow(url=url, text=text, page_url=page_url, width=_int(entry.get("width")),
                             height=_int(entry.get("height")), sha256=str(entry["sha256"]) if entry.get("sha256")
                             else None)


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def export_laion(web: TestWeb, out: Path, *, shard_rows: int = 100_000, hashes: bool = False) -> dict[str, int]:
    """Write the test web as a LAION-style dataset in ``out``: Parquet shards ``part-00000.parquet``, ... of at most
    ``shard_rows`` rows with columns ``URL``, ``TEXT``, ``WIDTH``, ``HEIGHT`` (and ``sha256`` of the served bytes with
    ``hashes``, as DataComp publishes it), and ``ground_truth.jsonl``. Returns counts (rows, shards, images)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    columns: dict[str, list[object]] = {"URL": [], "TEXT": [], "WIDTH": [], "HEIGHT": []}
    if hashes:
        columns["sha256"] = []
    shards = rows = 0
    urls: set[str] = set()

    def flush() -> None:
        nonlocal shards
        if not columns["URL"]:
            return
        pq.write_table(pa.table(columns), out / f"part-{shards:05d}.parquet")
        shards += 1
        for values in columns.values():
            values.clear()

    for row in alt_rows(web):
        columns["URL"].append(row.url)
        columns["TEXT"].append(row.text)
        columns["WIDTH"].append(row.width)
        columns["HEIGHT"].append(row.height)
        if hashes:
            columns["sha256"].append(row.sha256)
        rows += 1
        urls.add(row.url)
        if len(columns["URL"]) >= shard_rows:
            flush()
    flush()
    shutil.copyfile(web.ground_truth_path, out / "ground_truth.jsonl")
    counts = {"rows": rows, "shards": shards, "images": len(urls)}
    (out / "_export.json").write_text(json.dumps({"format": "laion", "source": "provaudit test web",
                                                  "photos": web.photos, "seed": web.seed, **counts}, indent=1),
                                      encoding="utf-8")
    return counts
