"""Write WAT records the way Common Crawl's ia-web-commons does, for tests and benchmarks: the ``Envelope`` of an HTML
response (its WARC and HTTP headers, and what ``ExtractingParseObserver`` extracts from the HTML: title, base,
metas, ``<html lang>`` as the meta ``HTML@/lang``, ``<link>`` entries, and links such as ``A@/href``, ``IMG@/src``
with ``alt`` and ``title``, ``INPUT@/src``, ``VIDEO@/poster``, ``<TAG>@/background``), and WARC ``metadata`` records
holding such JSON, one gzip member each.

The HTML is read with the standard library's :class:`html.parser.HTMLParser`, apart from the ingest's own HTML
reading (lxml), so a test comparing a WAT made here with the WARC it came from compares two independent readings.
Nothing here is used by the ingest.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

_LINK_ATTRS = {  # tag -> attributes ia-web-commons lists in Links (besides the global "background")
    "a": ("href",), "area": ("href",), "img": ("src",), "input": ("src",), "video": ("src", "poster"),
    "iframe": ("src",), "frame": ("src",), "embed": ("src",), "source": ("src",), "audio": ("src",),
}


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.head: dict[str, Any] = {}
        self.metas: list[dict[str, str]] = []
        self.link: list[dict[str, str]] = []
        self.links: list[dict[str, str]] = []
        self._in_title = False
        self._title: list[str] = []
        self._anchors: list[tuple[dict[str, str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v for k, v in attrs if v is not None}
        upper = tag.upper()
        if "background" in a:
            self.links.append({"path": f"{upper}@/background", "url": a["background"]})
        if tag == "html":
            for name in ("lang", "xml:lang"):
                if name in a:
                    self.metas.append({"name": f"HTML@/{name}", "content": a[name]})
        elif tag == "title":
            self._in_title = True
        elif tag == "base" and "href" in a:
            self.head.setdefault("Base", a["href"])
        elif tag == "meta":
            entry: dict[str, str] = {k: a[k] for k in ("name", "rel", "content", "http-equiv", "property") if k in a}
            if entry:
                self.metas.append(entry)
        elif tag == "link" and "href" in a:
            entry = {"path": "LINK@/href", "url": a["href"]}
            entry.update({k: a[k] for k in ("rel", "type", "hreflang") if k in a})
            self.link.append(entry)
        elif tag == "a" and "href" in a:
            entry = {"path": "A@/href", "url": a["href"]}
            entry.update({k: a[k] for k in ("target", "alt", "title", "rel", "hreflang", "type") if k in a})
            self._anchors.append((entry, []))
        elif tag in _LINK_ATTRS:
            for attr in _LINK_ATTRS[tag]:
                if attr in a:
                    entry = {"path": f"{upper}@/{attr}", "url": a[attr]}
                    if tag == "img":
                        entry.update({k: a[k] for k in ("alt", "title") if k in a})
                    self.links.append(entry)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.head.setdefault("Title", " ".join("".join(self._title).split())[:100])
        elif tag == "a" and self._anchors:
            entry, text = self._anchors.pop()
            words = " ".join("".join(text).split())[:128]
            if words:
                entry["text"] = words
            self.links.append(entry)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        for _, text in self._anchors:
            text.append(data)


def response_envelope(url: str, warc_date: str, ip: str | None, status: int, reason: str,
                      headers: Sequence[tuple[str, str]], html: str) -> dict[str, Any]:
    """The WAT JSON (``Container`` and ``Envelope``) of one HTML response."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    head = dict(parser.head)
    if parser.metas:
        head["Metas"] = parser.metas
    if parser.link:
        head["Link"] = parser.link
    html_meta: dict[str, Any] = {"Head": head}
    if parser.links:
        html_meta["Links"] = parser.links
    warc_headers: dict[str, str] = {"WARC-Type": "response", "WARC-Date": warc_date, "WARC-Target-URI": url,
                                    "Content-Type": "application/http; msgtype=response"}
    if ip:
        warc_headers["WARC-IP-Address"] = ip
    merged: dict[str, str] = {}
    for name, value in headers:
        merged[name] = value  # as ia-web-commons writes a JSON object: the last of repeated headers
    return {
        "Container": {"Compressed": True},
        "Envelope": {
            "Format": "WARC",
            "WARC-Header-Metadata": warc_headers,
            "Payload-Metadata": {
                "Actual-Content-Type": "application/http; msgtype=response",
                "HTTP-Response-Metadata": {
                    "Response-Message": {"Version": "HTTP/1.1", "Status": str(status), "Reason": reason},
                    "Headers": merged,
                    "HTML-Metadata": html_meta,
                },
            },
        },
    }


def metadata_record(doc: Any, target_uri: str, warc_date: str, *, body: bytes | None = None) -> bytes:
    """One WARC ``metadata`` record of ``application/json`` holding ``doc`` (or the raw ``body``), as one gzip
    member."""
    payload = body if body is not None else json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    head = (f"WARC/1.0\r\nWARC-Type: metadata\r\nWARC-Target-URI: {target_uri}\r\nWARC-Date: {warc_date}\r\n"
            f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, target_uri + warc_date)}>\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    return gzip.compress(head + payload + b"\r\n\r\n", compresslevel=6, mtime=0)


def responses(warc: Path) -> Iterator[dict[str, Any]]:
    """The envelope of every HTML response of a WARC file (read with warcio's own iterator)."""
    from warcio.archiveiterator import ArchiveIterator

    with open(warc, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type != "response" or rec.http_headers is None:
                continue
            ctype = rec.http_headers.get_header("Content-Type") or ""
            if "html" not in ctype.lower():
                continue
            body = rec.content_stream().read()
            charset = "utf-8"
            if "charset=" in ctype.lower():
                charset = ctype.lower().split("charset=", 1)[1].split(";")[0].strip() or "utf-8"
            status_line = rec.http_headers.get_statuscode() or "0"
            yield response_envelope(
                rec.rec_headers.get_header("WARC-Target-URI"), rec.rec_headers.get_header("WARC-Date"),
                rec.rec_headers.get_header("WARC-IP-Address"), int(status_line),
                rec.http_headers.protocol and rec.http_headers.statusline.partition(" ")[2] or "",
                rec.http_headers.headers, body.decode(charset, errors="replace"))
