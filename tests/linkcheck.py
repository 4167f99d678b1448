"""Link recall and precision of the production ingest against the independent reference parser (``refparser.py``).

A link is a (page URL, image URL) pair. The reference reads an archive on its own, with warcio: every HTML response
(of any status, as the ingest does), revisit records resolved to an original held in the same set of files (by
record id, by target URI and date, or by payload digest), and the URLs the archive holds an image for (an
``<a href>`` counts only for those). The production side is what ``audit.ingest.run.ingest`` puts in the
``sightings`` table of a temporary store.

recall = pairs both found / pairs of the reference; precision = pairs both found / pairs of the production parser,
leaving out the production kinds the reference does not model (``referer``, ``file``, images of linked stylesheets),
which are counted apart. Per kind: the recall of a reference kind is over the pairs the reference found by that kind
(the production parser may have recorded the pair under another kind: one sighting per pair), the precision of a
production kind over the sightings of that kind. Both sides are compared on the pages both read: the pages only one
side read (a record the reference cannot read, say) are counted apart, never silently.

Used by ``bench/link_accuracy.py`` (the tables of ``docs/accuracy.md``) and ``tests/store/test_link_accuracy.py``.
"""

from __future__ import annotations

import gzip
import io
import re
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from refparser import image_refs
from warcio.archiveiterator import ArchiveIterator

# production ref kinds the reference does not model: compared apart
UNMODELLED = {"referer", "file"}
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00",
               b"RIFF")
Pair = tuple[str, str]


def unmodelled(kind: str) -> bool:
    """A production kind left out of precision: referer, file, and any kind of images of linked stylesheets."""
    return kind in UNMODELLED or "stylesheet" in kind


def norm(url: str) -> str:
    """The form both sides' URLs are compared in: no fragment, scheme and host lower-case, no default port."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    netloc = parts.netloc.lower()
    if (parts.scheme.lower(), netloc.rsplit(":", 1)[-1]) in (("http", "80"), ("https", "443")):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _ctype(record) -> str:
    http = record.http_headers if record.rec_type == "response" else None
    value = (http.get_header("Content-Type") if http is not None else None) or \
        record.rec_headers.get_header("Content-Type") or ""
    return value.split(";")[0].strip().lower()


def _charset(record) -> str:
    http = record.http_headers if record.rec_type == "response" else None
    value = (http.get_header("Content-Type") if http is not None else None) or ""
    m = re.search(r"charset=([\w.:-]+)", value, re.I)
    return m.group(1) if m else "utf-8"


def _status(record) -> int | None:
    http = record.http_headers if record.rec_type == "response" else None
    try:
        return int(http.get_statuscode()) if http is not None and http.get_statuscode() else None
    except ValueError:
        return None


@dataclass
class _Original:
    url: str
    ctype: str
    status: int | None
    body: bytes
    charset: str


@dataclass
class ReferenceRead:
    """What the reference read of a set of archives: pages (URL -> HTML), image URLs, revisits, what it could not
    read."""

    pages: dict[str, list[str]] = field(default_factory=dict)  # URL -> the HTML of each capture
    images: set[str] = field(default_factory=set)
    revisits: int = 0
    revisits_in_reach: int = 0
    unreadable: list[str] = field(default_factory=list)
    pairs: dict[Pair, set[str]] = field(default_factory=dict)


def _read_file(path: Path, *, whole_gzip: bool = False) -> tuple[list[tuple[str, Any, _Original | None]], str | None]:
    """The revisit, response and resource records of one file (type, WARC headers, content), and why reading
    stopped early (None when it did not). A record whose content cannot be read is left out and named."""
    records: list[tuple[str, Any, _Original | None]] = []
    problems: list[str] = []
    try:
        with path.open("rb") as fh:
            stream: Any = io.BytesIO(gzip.decompress(fh.read())) if whole_gzip else fh
            for record in ArchiveIterator(stream, arc2warc=True):
                h = record.rec_headers
                url = (h.get_header("WARC-Target-URI") or "").strip().strip("<>")
                if record.rec_type == "revisit":
                    records.append(("revisit", h, None))
                elif record.rec_type in ("response", "resource") and url:
                    try:
                        body = record.content_stream().read()
                    except Exception as exc:  # a broken chunking or encoding: this record only
                        problems.append(f"{url}: {type(exc).__name__}")
                        continue
                    records.append((record.rec_type, h,
                                    _Original(url, _ctype(record), _status(record), body, _charset(record))))
    except Exception as exc:  # the file breaks: what was read before stays
        first = (str(exc).strip().splitlines() or [""])[0]
        problems.append(f"reading stopped ({type(exc).__name__}: {first[:80]})")
    return records, "; ".join(problems) or None


def read_reference(paths: Sequence[Path]) -> ReferenceRead:
    """Read ``paths`` as one ingest: HTML pages and image URLs, revisits resolved within the set, then every page
    parsed by the reference parser. A file warcio cannot read to its end is kept up to the break and named in
    ``unreadable``."""
    out = ReferenceRead()
    by_id: dict[str, _Original] = {}
    by_digest: dict[str, _Original] = {}
    by_capture: dict[tuple[str, str], _Original] = {}
    revisits: list[tuple[str, str | None, str | None, str | None, str | None]] = []
    captures: list[tuple[str, _Original]] = []
    for path in paths:
        records, problem = _read_file(path)
        if problem is not None and path.read_bytes()[:2] == b"\x1f\x8b":
            # gzip not one record per member (a whole file as one stream, a record over several members): warcio
            # refuses it; the reference then reads the file decompressed as one stream
            try:
                again, problem_again = _read_file(path, whole_gzip=True)
            except (OSError, EOFError, zlib.error) as exc:
                again, problem_again = [], f"{type(exc).__name__}"
            if len(again) >= len(records):
                records, problem = again, problem_again and f"decompressed whole, then {problem_again}"
        if problem is not None:
            out.unreadable.append(f"{path.name}: {problem}")
        for rec_type, h, original in records:
            url = (h.get_header("WARC-Target-URI") or "").strip().strip("<>")
            if rec_type == "revisit":
                revisits.append((url, h.get_header("WARC-Refers-To"), h.get_header("WARC-Refers-To-Target-URI"),
                                 h.get_header("WARC-Refers-To-Date"), h.get_header("WARC-Payload-Digest")))
                continue
            if original is None:
                continue
            for key, index in ((h.get_header("WARC-Record-ID"), by_id),
                               (h.get_header("WARC-Payload-Digest"), by_digest)):
                if key:
                    index.setdefault(key.strip(), original)
            if h.get_header("WARC-Date"):
                by_capture.setdefault((url, h.get_header("WARC-Date").strip()), original)
            captures.append((url, original))
    for url, refers_id, refers_uri, refers_date, digest in revisits:
        out.revisits += 1
        found = (by_id.get((refers_id or "").strip())
                 or by_capture.get(((refers_uri or "").strip().strip("<>"), (refers_date or "").strip()))
                 or by_digest.get((digest or "").strip()))
        if found is not None and url:
            out.revisits_in_reach += 1
            captures.append((url, found))
    for url, original in captures:
        is_page = original.ctype in ("text/html", "application/xhtml+xml")
        if is_page:
            out.pages.setdefault(url, []).append(original.body.decode(_codec(original.charset), errors="replace"))
        elif (original.status is None or 200 <= original.status < 300) and (
                original.ctype.startswith("image/") or original.body.startswith(IMAGE_MAGIC)):
            out.images.add(norm(url))
    for page_url, captures_of_page in out.pages.items():
        for html in dict.fromkeys(captures_of_page):  # each distinct capture of the page once
            for image_url, kind in image_refs(html, page_url, is_image=lambda u: norm(u) in out.images):
                out.pairs.setdefault((norm(page_url), norm(image_url)), set()).add(kind)
    return out


def _codec(name: str) -> str:
    import codecs
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


@dataclass
class ProductionRead:
    """What ``ingest`` recorded: sightings by pair with their kind, pages, revisit counts, errors."""

    pairs: dict[Pair, str] = field(default_factory=dict)
    pages: set[str] = field(default_factory=set)
    revisits_resolved: int = 0
    revisits_unresolved: int = 0
    errors: list[str] = field(default_factory=list)


def read_production(paths: Sequence[Path], workdir: Path | None = None) -> ProductionRead:
    """Ingest ``paths`` (one ingest, one worker process) into a temporary store and read its sightings back."""
    from audit.ingest.run import ingest
    from audit.store.db import Store

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        with Store.open(Path(tmp) / "links.duckdb") as store:
            result = ingest(store, list(paths), workers=1)
            rows = store.query("SELECT page_url, image_url, ref_kind FROM sightings WHERE page_url IS NOT NULL")
            pages = store.query("SELECT url FROM pages")
    out = ProductionRead(revisits_resolved=result.revisits_resolved, revisits_unresolved=result.revisits_unresolved,
                         errors=list(result.errors))
    for page_url, image_url, kind in rows:
        out.pairs[(norm(page_url), norm(image_url))] = kind or "img"
    out.pages = {norm(url) for (url,) in pages}
    return out


@dataclass
class KindRow:
    kind: str
    reference: int = 0  # pairs of the reference found by this kind
    recalled: int = 0  # of those, pairs the production parser found
    production: int = 0  # production sightings of this kind
    confirmed: int = 0  # of those, pairs the reference found


@dataclass
class Comparison:
    """Recall and precision of one set of archives."""

    name: str
    reference_pairs: int = 0
    production_pairs: int = 0
    both: int = 0
    unmodelled: Counter[str] = field(default_factory=Counter)  # production pairs of kinds the reference lacks
    kinds: dict[str, KindRow] = field(default_factory=dict)
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # (page, image, reference kinds)
    extra: list[tuple[str, str, str]] = field(default_factory=list)  # (page, image, production kind)
    pages_reference_only: list[str] = field(default_factory=list)
    pages_production_only: list[str] = field(default_factory=list)
    pages_both: int = 0
    revisits: int = 0
    revisits_in_reach: int = 0
    revisits_resolved: int = 0
    reference_unreadable: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.both / self.reference_pairs if self.reference_pairs else 1.0

    @property
    def precision(self) -> float:
        return self.both / self.production_pairs if self.production_pairs else 1.0


def compare(name: str, ref: ReferenceRead, prod: ProductionRead) -> Comparison:
    """The comparison of what both sides found on the pages both read."""
    ref_pages = {norm(u) for u in ref.pages}
    common = ref_pages & prod.pages
    out = Comparison(name=name, pages_both=len(common),
                     pages_reference_only=sorted(ref_pages - prod.pages),
                     pages_production_only=sorted(prod.pages - ref_pages),
                     revisits=ref.revisits, revisits_in_reach=ref.revisits_in_reach,
                     revisits_resolved=prod.revisits_resolved, reference_unreadable=list(ref.unreadable))
    kinds: dict[str, KindRow] = defaultdict(lambda: KindRow(""))
    ref_pairs = {p: k for p, k in ref.pairs.items() if p[0] in common}
    prod_pairs: dict[Pair, str] = {}
    for pair, kind in prod.pairs.items():
        if pair[0] not in common:
            continue
        if unmodelled(kind):
            out.unmodelled[kind] += 1
        else:
            prod_pairs[pair] = kind
    out.reference_pairs, out.production_pairs = len(ref_pairs), len(prod_pairs)
    out.both = len(ref_pairs.keys() & prod_pairs.keys())
    for pair, ref_kinds in sorted(ref_pairs.items()):
        for kind in ref_kinds:
            row = kinds[kind]
            row.reference += 1
            row.recalled += pair in prod_pairs
        if pair not in prod_pairs:
            out.missed.append((*pair, ",".join(sorted(ref_kinds))))
    for pair, kind in sorted(prod_pairs.items()):
        row = kinds[kind]
        row.production += 1
        row.confirmed += pair in ref_pairs
        if pair not in ref_pairs:
            out.extra.append((*pair, kind))
    for kind, row in kinds.items():
        row.kind = kind
    out.kinds = dict(sorted(kinds.items()))
    return out


def check(name: str, paths: Sequence[Path], workdir: Path | None = None) -> Comparison:
    """Both parsers over ``paths`` (one ingest), compared."""
    return compare(name, read_reference(paths), read_production(paths, workdir))


def pct(hits: int, n: int) -> str:
    return "—" if not n else f"{100 * hits / n:.1f}% ({hits}/{n})"


def totals(comparisons: Iterable[Comparison]) -> dict[str, KindRow]:
    """Per-kind rows summed over ``comparisons``."""
    rows: dict[str, KindRow] = {}
    for c in comparisons:
        for kind, row in c.kinds.items():
            total = rows.setdefault(kind, KindRow(kind))
            total.reference += row.reference
            total.recalled += row.recalled
            total.production += row.production
            total.confirmed += row.confirmed
    return dict(sorted(rows.items()))


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ico", ".avif", ".svg")


def _testweb_page_url(www: Path, path: Path) -> str:
    host, *rest = path.relative_to(www).parts
    rel = "/".join(rest)
    if rel == "index.html" or rel.endswith("/index.html"):
        rel = rel[: -len("index.html")]
    return f"http://{host}/{rel}"


def check_testweb(www: Path, ground_truth: Sequence[dict[str, object]] = ()) -> tuple[Comparison, dict[str, int]]:
    """Both parsers over the HTML files of a built test web (``TestWeb.www``: one folder per host), each page at the
    URL the test web serves it at; an ``<a href>`` is an image link for both when the web serves an image file
    there (as the crawl keeps a link sighting only for an image response). Also returns, per parser, how many of
    the ground truth's (page, image) embeds it finds (``truth``, ``reference``, ``production``)."""
    files = {_testweb_page_url(www, p): p for p in sorted(www.rglob("*.html"))}
    images = {norm(f"http://{p.relative_to(www).as_posix()}") for p in www.rglob("*")
              if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}
    pages = {url: path.read_text(encoding="utf-8", errors="replace") for url, path in files.items()}
    c, ref, prod = check_pages("test web", pages, images)
    truth = {(norm(page), norm(str(row["image_url"]))) for row in ground_truth
             for page in row.get("page_urls") or []}  # type: ignore[union-attr]
    found = {"truth": len(truth), "reference": len(truth & ref.pairs.keys()),
             "production": len(truth & prod.pairs.keys())}
    return c, found


def check_pages(name: str, pages: dict[str, str], images: set[str]) -> tuple[Comparison, ReferenceRead,
                                                                                ProductionRead]:
    """Both parsers over ``pages`` (URL -> HTML) directly (the page parser as the crawl and the ingest call it); an
    ``<a href>`` is an image link for both when its URL is in ``images`` (normalised by :func:`norm`)."""
    from audit.decode.html import parse_page
    from audit.decode.htmltree import read_html

    ref, prod = ReferenceRead(), ProductionRead()
    for url, html in pages.items():
        ref.pages[url] = [html]
        prod.pages.add(norm(url))
        for image_url, kind in image_refs(html, url, is_image=lambda u: norm(u) in images):
            ref.pairs.setdefault((norm(url), norm(image_url)), set()).add(kind)
        for item in parse_page(read_html(html), url).image_refs:
            if item.ref_kind != "link" or norm(item.image_url) in images:
                prod.pairs.setdefault((norm(url), norm(item.image_url)), item.ref_kind)
    return compare(name, ref, prod), ref, prod
