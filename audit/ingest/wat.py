"""Read Common Crawl WAT files: WARC files of ``metadata`` records whose JSON ``Envelope`` describes one captured
record (ia-web-commons' format). Each HTML response becomes a page row (its status, server address, headers, title
and the facts :func:`audit.decode.pagefacts.page_facts` would keep, read from the ``<head>`` the WAT lists) and
every image link on it a *reference-only* sighting (:mod:`audit.ingest.tables`: the key ``ref:`` + SHA-256 of the
URL, an ``images`` row with ``reference_only`` true), so page, host and alt-text signals apply without fetching.

Pure reading: :func:`iter_wat` yields :class:`WatPage` items; :mod:`audit.ingest.watrows` makes their rows and
:mod:`audit.ingest.watrun` writes them (a large file is read part by part in worker processes:
:mod:`audit.ingest.watpool`).

Records are framed by :func:`audit.ingest.archive.read_archive` (bounded header lines, a record read only when its
Content-Length fits, reading resumed after a broken record). A record's JSON is read only up to
``max_record_bytes``; one over it, one that is not JSON, or one whose envelope is not an object is named as
``"<file>: offset <n>: <what>"`` and skipped, and reading goes on.

What a WAT holds of a page (ia-web-commons ``ExtractingParseObserver``): ``HTML-Metadata.Head`` with ``Title``,
``Base``, ``Metas`` (``name``/``property``/``http-equiv``/``content``; ``<html lang>`` as a meta named
``HTML@/lang``), ``Link`` (``<link>`` with ``rel``, ``type``, ``url``, and ``hreflang`` where given), and ``Links``,
each ``{"path": "TAG@/attribute", "url": ...}`` with the element's ``alt``/``title`` for ``IMG@/src``. Image
references read, and their ``ref_kind``: ``IMG@/src`` (img), ``IMG@/srcset`` and ``SOURCE@/srcset`` (srcset),
lazy-loading attributes such as ``IMG@/data-src`` (lazy), ``INPUT@/src`` (input), ``VIDEO@/poster`` (poster),
``<TAG>@/background`` (background), ``MENUITEM@/icon`` and ``<link rel=icon>`` (icon), ``<link rel=image_src>``
(link-image), ``STYLE/#text`` ``url()`` entries that name an image file (css), and the ``og:image`` /
``twitter:image`` metas (og:image). Not in a WAT, so not read: the page's body text (phone numbers), JSON-LD and
microdata (schema.org addresses, JSON-LD images), ``srcset`` (ia-web-commons keeps only ``src``), ``<figcaption>``
and headings.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from audit.decode.html import LAZY_ATTRIBUTES, LAZY_SRCSET_ATTRIBUTES, absolute_url, looks_like_image_url, srcset_urls
from audit.decode.pagefacts import (
    MAX_LIST,
    MAX_ROBOTS_META,
    MAX_URL,
    MAX_VALUE,
    ROBOTS_META_NAMES,
    assemble_facts,
)
from audit.errors import Refused
from audit.ingest.archive import ArchiveLimits, Stops, read_archive, short_reason
from audit.ingest.problems import FileProblems
from audit.inputs import open_regular, sha256_regular

logger = logging.getLogger(__name__)

# JSON of one metadata record read: Common Crawl cuts captures at 1 MiB, so its WAT records are a few KB to a few MB;
# the bound also bounds what json.loads builds (a record of empty lists costs ~30 bytes of Python per byte)
MAX_RECORD_BYTES = 8 * 1024 * 1024
MAX_LINKS = 20_000  # entries of one page's Links (and of Head.Link, Head.Metas) examined
MAX_IMAGE_REFS = 2_000  # image references kept per page
MAX_TEXT = 2000  # alt text / title kept, characters
MAX_TITLE = 300
MAX_HEADERS = 100
MAX_ATTRIBUTES = 12  # keys of a link kept in sightings.attributes
MAX_ATTRIBUTE_VALUE = 500
SNIFF_RECORDS = 5  # records looked at to tell a WAT
SNIFF_BYTES = 64 * 1024  # of a record's block looked at to tell a WAT

_BOT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,38}bot$")  # as audit.decode.pagefacts reads crawler meta names
_IMAGE_META = frozenset({"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"})
_ICON_RELS = frozenset({"icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"})
_BACKGROUND_TAGS = frozenset({"BODY", "TABLE", "THEAD", "TBODY", "TFOOT", "TR", "TD", "TH"})


@dataclass(slots=True)
class WatRef:
    """One image link of a page."""

    url: str  # absolute http(s) URL
    ref_kind: str
    alt_text: str | None
    caption: str | None  # the element's title
    attributes: dict[str, str]


@dataclass(slots=True)
class WatPage:
    """One HTML response described by a WAT record: its ``pages`` row fields and its image links."""

    url: str
    offset: int  # file offset of the metadata record (gzip: of its member)
    status: int | None
    fetched_at: dt.datetime | None  # the capture's WARC-Date
    server_ip: str | None
    lang: str | None
    title: str | None
    content_type: str | None
    headers: dict[str, list[str]]
    facts: dict[str, Any]
    refs: list[WatRef] = field(default_factory=list)
    refs_cut: int = 0  # image links past MAX_IMAGE_REFS
    links: int = 0  # entries of the page's Links


@dataclass
class WatStats:
    records: int = 0  # metadata records read
    pages: int = 0  # HTML responses
    skipped: dict[str, int] = field(default_factory=dict)  # other records, by what they describe
    bad_records: int = 0
    links: int = 0  # entries of Links examined
    image_refs: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._problems = FileProblems(self.errors)

    def error(self, path: Path, where: str, what: str) -> None:
        self._problems.add(path, f"offset {where}", what)

    def more_errors(self, path: Path, n: int) -> None:
        """Count ``n`` problems of ``path`` met and not kept (see :mod:`audit.ingest.watpool`)."""
        self._problems.add_unlisted(path, n)

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1


_WARC_TYPES = frozenset({"warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion",
                         "continuation"})


def _warc_type(value: Any) -> str:
    """A WARC-Type as a counter's name: one of the standard types, or ``other`` (names read from the file are
    hostile: a file could name a new one in every record)."""
    return value if isinstance(value, str) and value in _WARC_TYPES else "other"


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())  # runs of whitespace as one space, none at the ends (as re's \s+ and strip())
    return text[:limit] if text else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value[:MAX_LINKS] if isinstance(value, list) else []


def parse_warc_date(value: Any) -> dt.datetime | None:
    """A WARC-Date (``2024-05-18T01:58:10Z``, with fractions, or the 14-digit form) as UTC, or None."""
    if not isinstance(value, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%d%H%M%S"):
        try:
            return dt.datetime.strptime(value.strip(), fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


def _status(value: Any) -> int | None:
    try:
        status = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return status if 0 <= status <= 999 else None


def _headers(value: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i, (name, raw) in enumerate(_obj(value).items()):
        if i >= MAX_HEADERS:
            break
        values = raw if isinstance(raw, list) else [raw]
        for v in values[:20]:
            if isinstance(v, str | int | float):
                out.setdefault(str(name).lower()[:200], []).append(str(v)[:2000])
    return out


def _add(items: list[Any], value: Any, limit: int) -> None:
    if value is not None and value not in items and len(items) < limit:
        items.append(value)


def _url_or_raw(base: str, href: Any) -> str | None:
    """As page_facts keeps a canonical or hreflang URL: resolved, else as written."""
    if not isinstance(href, str) or not href.strip():
        return None
    return _text(absolute_url(base, href) or href, MAX_URL)


def _attributes(link: Mapping[str, Any], url: str) -> dict[str, str]:
    """The link's JSON keys for ``sightings.attributes``, but ``alt`` and ``title`` (the sighting's alt text and
    caption) and ``url`` when it is the image URL as resolved (it is kept when written relative)."""
    out: dict[str, str] = {}
    for key, value in link.items():
        if len(out) >= MAX_ATTRIBUTES:
            break
        if isinstance(value, str) and key not in ("alt", "title") and not (key == "url" and value == url):
            out[str(key)[:100]] = value[:MAX_ATTRIBUTE_VALUE]
    return out


def page_of(envelope: Mapping[str, Any], path: Path, offset: int, record_uri: str | None,
            record_date: str | None) -> WatPage | None:
    """The page an ``Envelope`` describes, or None when it describes no HTML response (a request, a WARC metadata
    record, an image or another non-HTML response)."""
    warc = _obj(envelope.get("WARC-Header-Metadata"))
    payload = _obj(envelope.get("Payload-Metadata"))
    response = payload.get("HTTP-Response-Metadata")
    if not isinstance(response, dict):
        return None
    html = response.get("HTML-Metadata")
    headers = _headers(response.get("Headers"))
    content_type: str | None = (headers.get("content-type") or [""])[0] or None
    if not isinstance(html, dict) and not (content_type and "html" in content_type.lower()):
        return None
    html = _obj(html)
    raw_url = warc.get("WARC-Target-URI") if isinstance(warc.get("WARC-Target-URI"), str) else record_uri
    url = _text(raw_url, MAX_URL) if raw_url else None
    if not url or absolute_url(url, url) is None:
        return None
    head = _obj(html.get("Head"))
    base = url
    if isinstance(head.get("Base"), str):
        base = absolute_url(url, head["Base"]) or url
    metas = [m for m in _list(head.get("Metas")) if isinstance(m, dict)]
    facts, lang, meta_refs = _facts(url, base, metas, [m for m in _list(head.get("Link")) if isinstance(m, dict)])
    page = WatPage(
        url=url, offset=offset, status=_status(_obj(response.get("Response-Message")).get("Status")),
        fetched_at=parse_warc_date(warc.get("WARC-Date")) or parse_warc_date(record_date),
        server_ip=_text(warc.get("WARC-IP-Address"), 100), lang=lang, title=_text(head.get("Title"), MAX_TITLE),
        content_type=_text(content_type, 500), headers=headers, facts=facts)
    seen: set[str] = set()
    links = _list(html.get("Links"))
    page.links = len(links)
    origin = _origin(base)
    for link in meta_refs:
        _image_refs(page, base, origin, link, _path_kind(link["path"]), seen)
    for link in links:  # most are A@/href: one cached look-up each
        if link.__class__ is dict:
            link_path = link.get("path")
            if link_path.__class__ is str:
                kind = _path_kind(link_path)
                if kind is not None:
                    _image_refs(page, base, origin, link, kind, seen)
    return page


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL (what a root-relative reference resolves against)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].split('#', 1)[0]}"


def _attr(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value.strip() if isinstance(value, str) else ""


def _facts(url: str, base: str, metas: Sequence[Mapping[str, Any]],
           links: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], str | None, list[dict[str, Any]]]:
    """The page facts (same keys and bounds as :func:`audit.decode.pagefacts.page_facts`), the ``<html lang>``, and
    the image references of the head (``og:image`` metas, icon and ``image_src`` links) as link entries."""
    facts: dict[str, Any] = {"url": url}
    single: dict[str, str] = {}
    og_alternate: list[str] = []
    robots_meta: list[list[str]] = []
    head_refs: list[dict[str, Any]] = []
    lang: str | None = None
    for meta in metas:
        name = _attr(meta, "name")
        if name in ("HTML@/lang", "HTML@/xml:lang"):  # ia-web-commons writes <html lang> as a meta
            if lang is None or name == "HTML@/lang":
                lang = _text(meta.get("content"), 100) or lang
            continue
        content = _text(meta.get("content"), MAX_VALUE)
        if content is None:
            continue
        prop = _attr(meta, "property").lower()
        name = name.lower()
        equiv = _attr(meta, "http-equiv").lower()
        if prop in _IMAGE_META or name in _IMAGE_META:
            head_refs.append({"path": f"META@/{prop if prop in _IMAGE_META else name}", "url": meta.get("content")})
        elif prop == "og:locale" or name == "og:locale":
            single.setdefault("og_locale", content[:100])
        elif prop == "og:locale:alternate" or name == "og:locale:alternate":
            _add(og_alternate, content[:100], MAX_LIST)
        elif equiv == "content-language":
            single.setdefault("meta_language", content)
        elif name in ("geo.region", "geo.placename", "geo.position", "icbm", "tdm-reservation", "tdm-policy"):
            single.setdefault(name.replace("geo.", "geo_").replace("-", "_"), content)
        elif name in ROBOTS_META_NAMES or _BOT_NAME.match(name):
            _add(robots_meta, [name[:100], content], MAX_ROBOTS_META)
    canonical: str | None = None
    hreflang: list[list[str]] = []
    for link in links:
        rels = {r.lower() for r in link.get("rel", "").split()} if isinstance(link.get("rel"), str) else set()
        if "canonical" in rels and canonical is None:
            canonical = _url_or_raw(base, link.get("url"))
        tag = _text(link.get("hreflang"), 100)
        if tag is not None and len(hreflang) < MAX_LIST:
            _add(hreflang, [tag, _url_or_raw(base, link.get("url")) or ""], MAX_LIST)
        if rels & _ICON_RELS:
            head_refs.append({**link, "path": "LINK@/href#icon"})
        elif "image_src" in rels:
            head_refs.append({**link, "path": "LINK@/href#image_src"})
    assemble_facts(facts, canonical=canonical, html_lang=lang, single=single, og_alternate=og_alternate,
                   hreflang=hreflang, robots_meta=robots_meta)
    return facts, lang, head_refs


def _path_kinds() -> dict[str, str]:
    """Every link path that names an image, as ia-web-commons writes it (upper-case tag, lower-case attribute), with
    its ref_kind; ``*srcset`` kinds hold a srcset list."""
    kinds = {"IMG@/src": "img", "INPUT@/src": "input", "VIDEO@/poster": "poster", "MENUITEM@/icon": "icon",
             "IMG@/srcset": "srcset", "SOURCE@/srcset": "srcset", "STYLE/#text": "css",
             "LINK@/href#icon": "icon", "LINK@/href#image_src": "link-image"}
    kinds.update({f"IMG@/{attr}": "lazy" for attr in LAZY_ATTRIBUTES})
    kinds.update({f"{tag}@/{attr}": "lazy srcset" for tag in ("IMG", "SOURCE") for attr in LAZY_SRCSET_ATTRIBUTES})
    kinds.update({f"{tag}@/background": "background" for tag in _BACKGROUND_TAGS})
    kinds.update({f"META@/{name}": "og:image" for name in _IMAGE_META})
    return kinds


_PATH_KINDS = _path_kinds()


@lru_cache(maxsize=4096)
def _path_kind(path: str) -> str | None:
    kind = _PATH_KINDS.get(path)
    if kind is None:
        tag, sep, attr = path.partition("@/")
        kind = _PATH_KINDS.get(f"{tag.upper()}{sep}{attr.lower()}") if sep else None
    return kind


def ref_kind(path: str, url: str) -> str | None:
    """The ``ref_kind`` of a WAT link's ``path`` (``IMG@/src``...), or None when it names no image (an ``url()``
    in a ``<style>`` block only when its file name is an image's)."""
    kind = _path_kind(path)
    if kind == "css" and not looks_like_image_url(url):
        return None
    return kind.split()[0] if kind else None


@lru_cache(maxsize=65_536)
def _absolute(base: str, href: str) -> str | None:
    """:func:`audit.decode.html.absolute_url`, cached: called only with a base that the result depends on alone
    (``scheme://x/`` for an absolute or scheme-relative href, the origin for a root-relative one), so image CDNs and
    site logos repeated across pages are resolved once."""
    return absolute_url(base, href)


def _resolve(base: str, origin: str, href: str) -> str | None:
    if len(href) > MAX_URL * 2:
        return None
    head = href[:8].lstrip()
    if head.startswith("//") or head[:8].lower().startswith(("http://", "https://")):
        url = _absolute("https://x/" if base.startswith("https:") else "http://x/", href)
    elif head.startswith("/") and "\\" not in href:
        url = _absolute(origin + "/", href)
    else:
        url = absolute_url(base, href)
    return url if url is not None and len(url) <= MAX_URL else None


def _image_refs(page: WatPage, base: str, origin: str, link: Mapping[str, Any], kind: str | None,
                seen: set[str]) -> None:
    if kind is None:
        return
    raw = link.get("url")
    if not isinstance(raw, str):
        raw = link.get("href")  # STYLE/#text entries name it so
        if not isinstance(raw, str):
            return
    if kind.endswith("srcset"):
        kind = kind.split()[0]
        candidates = srcset_urls(raw[:MAX_URL * 8])[:50]
    elif kind == "css" and not looks_like_image_url(raw):
        return
    else:
        candidates = [raw]
    for href in candidates:
        url = _resolve(base, origin, href)
        if url is None or url in seen:
            continue
        if len(page.refs) >= MAX_IMAGE_REFS:
            page.refs_cut += 1
            continue
        seen.add(url)
        page.refs.append(WatRef(url=url, ref_kind=kind, alt_text=_text(link.get("alt"), MAX_TEXT),
                                caption=_text(link.get("title"), MAX_TEXT), attributes=_attributes(link, url)))


def iter_wat(path: Path, stats: WatStats, *, max_record_bytes: int = MAX_RECORD_BYTES,
             max_file_bytes: int | None = None, limits: ArchiveLimits | None = None, start: int = 0,
             stops: Stops | None = None) -> Iterator[WatPage]:
    """The pages of one WAT file, streamed. Never raises for a broken file: each problem is named in ``stats`` as
    ``"<file>: offset <n>: <what>"`` and reading goes on (``audit.inputs.Refused`` is raised, before anything is
    read, for a file that is not a regular file or is over ``max_file_bytes``). ``start`` and ``stops`` read a part
    of a gzip file (:func:`audit.ingest.archive.read_archive`)."""
    base = limits or ArchiveLimits()
    bounded = ArchiveLimits(max_line=base.max_line, max_header=base.max_header, max_body=max_record_bytes + 1)

    def report(where: str, what: str) -> None:
        stats.bad_records += 1
        stats.error(path, where, what)

    for item in read_archive(path, limits=bounded, report=report, max_file_bytes=max_file_bytes, start=start,
                             stops=stops):
        rec = item.record
        if rec is None:
            continue
        if rec.rec_type != "metadata":
            stats.skip(_warc_type(rec.rec_type))
            continue
        headers = rec.rec_headers
        if "json" not in (headers.get_header("Content-Type") or "").lower():
            stats.skip("metadata (not JSON)")
            continue
        stats.records += 1
        try:
            data = rec.raw_stream.read(max_record_bytes + 1)
        except Exception as exc:  # a decompression or framing failure inside the record's block  # noqa: BLE001
            report(item.where, f"metadata record unreadable ({short_reason(exc)}): skipped")
            continue
        if len(data) > max_record_bytes:
            report(item.where, f"metadata record over {max_record_bytes:,} bytes of JSON: skipped")
            continue
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            report(item.where, f"metadata record is not JSON ({short_reason(exc)}): skipped")
            continue
        envelope = doc.get("Envelope") if isinstance(doc, dict) else None
        if not isinstance(envelope, dict):
            report(item.where, "metadata record has no Envelope object: skipped")
            continue
        page = page_of(envelope, path, item.offset, headers.get_header("WARC-Target-URI"),
                       headers.get_header("WARC-Date"))
        if page is None:
            described = _warc_type(_obj(envelope.get("WARC-Header-Metadata")).get("WARC-Type"))
            stats.skip(f"{described} (no HTML response)")
            continue
        stats.pages += 1
        stats.links += page.links
        stats.image_refs += len(page.refs)
        yield page


def is_wat(path: Path, *, max_file_bytes: int | None = None) -> bool:
    """Whether ``path`` is a WAT: a WARC whose first records after ``warcinfo`` are ``metadata`` records of
    ``application/json`` holding an ``Envelope`` (looked at: the first few records, 64 KiB of each)."""
    def quiet(where: str, what: str) -> None:
        pass

    try:
        with open_regular(path, max_file_bytes) as fh:  # only a regular file that starts as a WARC is framed further
            head = fh.read(64)
            if head.startswith(b"\x1f\x8b"):
                fh.seek(0)
                with gzip.GzipFile(fileobj=fh) as gz:
                    head = gz.read(64)
        if not head.startswith(b"WARC/"):
            return False
        looked = 0
        for item in read_archive(path, limits=ArchiveLimits(max_body=SNIFF_BYTES), report=quiet,
                                 max_file_bytes=max_file_bytes):
            rec = item.record
            if rec is None:
                return False
            if rec.rec_type == "warcinfo":
                looked += 1
                if looked > SNIFF_RECORDS:
                    return False
                continue
            if rec.rec_type != "metadata" or "json" not in (rec.rec_headers.get_header("Content-Type") or ""):
                return False
            head = rec.raw_stream.read(SNIFF_BYTES)
            return head.lstrip().startswith(b"{") and b'"Envelope"' in head
    except (Refused, OSError, EOFError, zlib.error, gzip.BadGzipFile):
        return False
    except Exception:  # noqa: BLE001 - anything unreadable is not a WAT (it is reported when read as what it is)
        return False
    return False


def file_key(path: Path, max_file_bytes: int | None = None) -> str:
    """``wat:`` and the SHA-256 of the file's bytes: what the crawl id is derived from."""
    return "wat:" + sha256_regular(path, max_file_bytes)

