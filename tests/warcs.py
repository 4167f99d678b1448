"""Small WARC files written in tests with warcio: tiny real PNGs, responses (with their request, when it carries a
``Referer``) and revisits."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def png(color: tuple[int, int, int]) -> bytes:
    """An 8x8 PNG of one colour (distinct colours give distinct images)."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "PNG")
    return out.getvalue()


def write_response(writer: WARCWriter, url: str, ctype: str, body: bytes, *, date: str | None = None,
                   referer: str | None = None) -> Any:
    """A ``response`` record of ``body`` (HTTP 200, ``ctype``), preceded by its ``request`` record when ``referer``
    is given; returns the response record (its headers hold the payload digest)."""
    warc_headers = {"WARC-Date": date} if date else None
    if referer is not None:
        request = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org"), ("Referer", referer)],
                                   is_http_request=True)
        writer.write_record(writer.create_warc_record(url, "request", http_headers=request,
                                                      warc_headers_dict=warc_headers))
    http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                       warc_headers_dict=warc_headers)
    writer.write_record(record)
    return record


def write_revisit(writer: WARCWriter, url: str, date: str, digest: str, refers_uri: str, refers_date: str) -> None:
    """An identical-payload-digest ``revisit`` record of ``refers_uri`` captured at ``refers_date``."""
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_revisit_record(url, digest, refers_uri, refers_date, http_headers=http,
                                                     warc_headers_dict={"WARC-Date": date}))


def read_located(path: str | Path, offset: int, length: int) -> tuple[Any, bytes]:
    """The one WARC record that the ``length`` bytes at ``offset`` of ``path`` hold (a store's captures row says where)
    and its payload (de-chunked, content encoding undone); fails when those bytes hold anything else."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    assert len(data) == length
    records = []
    for record in ArchiveIterator(io.BytesIO(data)):
        records.append((record, record.content_stream().read()))
    assert len(records) == 1, f"{path} at {offset}: {len(records)} records in {length} bytes"
    return records[0]
