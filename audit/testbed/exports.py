"""The built test web written out as the datasets others made from the real web, so that the same photos can be
audited through every input and the results compared.

- ``laion``: a LAION-style table, made the way LAION made its own from Common Crawl: every ``<img>`` of every page
  with a non-empty ``alt`` text becomes a row (URL, the alt text as ``TEXT``, the image's size), nothing else of the
  page is kept.
- ``img2dataset``: what img2dataset makes of a list of every image URL of the web, captioned with its alt text
  where a page gives one: each image downloaded (read from the built web), resized to 256 px and re-encoded without
  its metadata, its EXIF kept in the sample's ``.json`` (:mod:`audit.testbed.export_img2dataset`).
- ``wat``: a Common Crawl WAT file of every page (:mod:`audit.testbed.watgen`): the page's head and its links, with
  the image links' alt texts; no bytes.

The ground truth is written beside each, unchanged (it is keyed by image URL).
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from audit.testbed.testweb.build import TestWeb
from audit.testweb_marker import COLUMN, HEADER, META_NAME, VALUE

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("laion", "img2dataset", "wat")
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
    # every row says it is synthetic (audit.testweb_marker): a store that ingests the table is marked test web
    columns: dict[str, list[object]] = {"URL": [], "TEXT": [], "WIDTH": [], "HEIGHT": [], COLUMN: []}
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
        columns[COLUMN].append(VALUE)
        if hashes:
            columns["sha256"].append(row.sha256)
        rows += 1
        urls.add(row.url)
        if len(columns["URL"]) >= shard_rows:
            flush()
    flush()
    counts = {"rows": rows, "shards": shards, "images": len(urls)}
    _write_meta(out, web, "laion", counts)
    return counts


def _write_meta(out: Path, web: TestWeb, fmt: str, counts: dict[str, int]) -> None:
    shutil.copyfile(web.ground_truth_path, out / "ground_truth.jsonl")
    (out / "_export.json").write_text(json.dumps({"format": fmt, "source": "provaudit test web", COLUMN: VALUE,
                                                  "photos": web.photos, "seed": web.seed, **counts}, indent=1),
                                      encoding="utf-8")


def export_img2dataset(web: TestWeb, out: Path, *, layout: str = "webdataset",
                       shard_size: int = 10_000) -> dict[str, int]:
    """Write what img2dataset (default options: 256 px, border resize, JPEG) makes of a list of every image URL of
    the test web (its caption the first alt text a page gives it, else none), in ``layout`` (``files``,
    ``webdataset`` or ``parquet``), into ``out/images``, with the ground truth in ``out``. Returns counts (samples,
    shards, failed)."""
    from audit.testbed.export_img2dataset import Img2DatasetRow, write_img2dataset

    captions: dict[str, str] = {}
    for row in alt_rows(web):
        captions.setdefault(row.url, row.text)
    rows: list[Img2DatasetRow] = []
    marker = {COLUMN: VALUE}  # every sample says it is synthetic (audit.testweb_marker), kept as an input column
    for entry in web.ground_truth():
        url = str(entry["image_url"])
        path = page_file(web, url)
        if path is None:
            rows.append(Img2DatasetRow(url=url, caption=captions.get(url), error_message="HTTP Error 404: Not Found",
                                       extra=marker))
        else:
            rows.append(Img2DatasetRow(url=url, caption=captions.get(url), image=path.read_bytes(), extra=marker))
    out.mkdir(parents=True, exist_ok=True)
    written = write_img2dataset(rows, out / "images", output_format=layout, shard_size=shard_size, start_time=0.0)
    counts = {"samples": len(rows), "shards": len(written.shards),
              "failed": sum(1 for s in written.statuses if s != "success")}
    _write_meta(out, web, "img2dataset", counts)
    return counts


def _page_url(web: TestWeb, path: Path) -> str:
    rel = path.relative_to(web.www)
    host, rest = rel.parts[0], "/".join(rel.parts[1:])
    if rest == "index.html":
        rest = ""
    elif rest.endswith("/index.html"):
        rest = rest[: -len("index.html")]
    return f"http://{host}/{rest}"


def export_wat(web: TestWeb, out: Path, *, date: str = "2024-05-18T01:58:10Z") -> dict[str, int]:
    """Write a Common Crawl WAT file of every HTML page of the test web (``out/testweb.warc.wat.gz``: a ``warcinfo``
    record, then one ``metadata`` record per page as ia-web-commons writes it for a 200 response), with the ground
    truth in ``out``. Returns counts (pages)."""
    from audit.testbed.watgen import metadata_record, response_envelope

    out.mkdir(parents=True, exist_ok=True)
    pages = 0
    fields = b"software: provaudit testweb export\r\n" + f"{META_NAME}: {VALUE}\r\n".encode()
    info = (b"WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Date: " + date.encode() +
            b"\r\nContent-Type: application/warc-fields\r\nContent-Length: " + str(len(fields)).encode() +
            b"\r\n\r\n" + fields + b"\r\n\r\n")
    with open(out / "testweb.warc.wat.gz", "wb") as fh:
        fh.write(gzip.compress(info, mtime=0))
        for path in sorted(web.www.rglob("*.html")):
            if path.is_symlink():
                continue
            url = _page_url(web, path)
            html = path.read_text(encoding="utf-8", errors="replace")
            doc = response_envelope(url, date, None, 200, "OK", [("Content-Type", "text/html; charset=utf-8"),
                                                                 (HEADER, VALUE)], html)
            fh.write(metadata_record(doc, url, date))
            pages += 1
    counts = {"pages": pages}
    _write_meta(out, web, "wat", counts)
    return counts
