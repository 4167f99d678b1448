"""Hostile WARC/ARC archives, built in memory for tests and ``bench/hostile_archives.py``.

A record is a list of pieces: ``bytes``, or :class:`Run` -- bytes repeated many times, which is never built in
memory: :func:`gzip_member` compresses one copy and repeats the compressed block (each copy ends with a zlib full
flush, so it stands alone), so a gzip member holding a 1 GiB header line costs about 1 MB and a second to make.

    member = gzip_member(warc_record("resource", "http://x/", [b"WARC-Foo: ", Run(b"a", 1 << 30)], ...))
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class Run:
    """``data`` repeated ``times`` times."""

    data: bytes
    times: int

    def __len__(self) -> int:
        return len(self.data) * self.times


Piece = bytes | Run
_RUN_BLOCK = 1 << 20  # bytes of a Run compressed at once


def size_of(pieces: Iterable[Piece]) -> int:
    return sum(len(p) for p in pieces)


def flat(pieces: Iterable[Piece]) -> bytes:
    """The pieces as bytes (for small ones only: a Run is built in full)."""
    return b"".join(p.data * p.times if isinstance(p, Run) else p for p in pieces)


def gzip_member(pieces: Iterable[Piece]) -> bytes:
    """One gzip member holding the concatenated pieces."""
    comp = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"]
    crc = 0
    size = 0
    for piece in pieces:
        if isinstance(piece, bytes):
            out.append(comp.compress(piece))
            crc = zlib.crc32(piece, crc)
            size += len(piece)
            continue
        per = max(1, _RUN_BLOCK // max(1, len(piece.data)))
        block = piece.data * min(per, piece.times)
        whole, rest = divmod(piece.times, per) if piece.times > per else (1, 0)
        out.append(comp.compress(b""))
        out.append(comp.flush(zlib.Z_FULL_FLUSH))
        compressed = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
        out.append(compressed * whole)
        for _ in range(whole):
            crc = zlib.crc32(block, crc)
        size += len(block) * whole
        if rest:
            tail = piece.data * rest
            out.append(comp.compress(tail))
            crc = zlib.crc32(tail, crc)
            size += len(tail)
    out.append(comp.flush(zlib.Z_FINISH))
    out.append(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return b"".join(out)


def warc_record(rec_type: str, uri: str, block: Sequence[Piece], *, content_length: int | str | None = None,
                headers: Sequence[Piece] = (), content_type: str = "application/http; msgtype=response") -> list[Piece]:
    """A WARC/1.0 record: its header (``Content-Length`` the block's size unless given; ``headers`` are extra raw
    header pieces, each ending with CRLF), the block, and the two CRLFs that end a record."""
    length = size_of(block) if content_length is None else content_length
    head = (f"WARC/1.0\r\nWARC-Type: {rec_type}\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{abs(hash((rec_type, uri))) % 10**12:012d}>\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n").encode()
    return [head, *headers, b"\r\n", *block, b"\r\n\r\n"]


def http_response(body: Sequence[Piece], content_type: str, *, status: str = "200 OK",
                  headers: Sequence[Piece] = ()) -> list[Piece]:
    """An HTTP/1.1 response: status line, Content-Type and Content-Length, extra raw header pieces, body."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {size_of(body)}\r\n".encode()
    return [head, *headers, b"\r\n", *body]


def page(url: str, images: Sequence[str]) -> list[Piece]:
    """A response record of an HTML page showing ``images``."""
    html = "<html><body>" + "".join(f'<img src="{src}" alt="x">' for src in images) + "</body></html>"
    return warc_record("response", url, http_response([html.encode()], "text/html; charset=utf-8"))


def png_bytes(seed: int = 0) -> bytes:
    """A small valid PNG, different for each seed."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), ((seed * 37) % 256, (seed * 91) % 256, 40)).save(buf, format="PNG")
    return buf.getvalue()


def image(url: str, seed: int = 0) -> list[Piece]:
    """A response record of a PNG image."""
    return warc_record("response", url, http_response([png_bytes(seed)], "image/png"))


def arc_record(url: str, block: Sequence[Piece], *, length: int | None = None, date: str = "20240101000000") -> \
        list[Piece]:
    """An ARC (v1) record: its header line, the block, the newline that ends it."""
    size = size_of(block) if length is None else length
    return [f"{url} 127.0.0.1 {date} text/html {size}\n".encode(), *block, b"\n"]


_ARC_LINES = b"1 0 Hostile\nURL IP-address Archive-date Content-type Archive-length\n"
ARC_FILEDESC = b"filedesc://hostile.arc 127.0.0.1 20240101000000 text/plain %d\n%s\n" % (len(_ARC_LINES), _ARC_LINES)
