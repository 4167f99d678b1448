"""HTTP content encodings (``Content-Encoding``) undone in one place, with a bound on what they decode to.

The crawl (:mod:`audit.crawl.httpcompression`), archive ingest and report thumbnails all read bodies a server encoded:
``gzip`` (and ``x-gzip``), ``deflate`` (zlib-wrapped, as RFC 9110 says, or raw deflate, as some servers send), ``br``
(brotli), ``zstd`` (when a zstd module is installed: Python's own ``compression.zstd`` or ``backports.zstd``) and
``identity``. A header may list several, in the order they were applied (``Content-Encoding: gzip, br``): they are
undone last first.

:func:`decode` never returns more than ``limit`` bytes and never holds more than about twice ``limit`` in memory
(the encoded body and what it decoded to): every decoder is asked for a megabyte at a time and never for more than
is left under the limit, so a compression bomb (a few kilobytes inflating to gigabytes) stops at the limit with a
:class:`BodyTooLarge` error instead of filling memory. Every failure is a
:class:`ContentEncodingError` whose message is one line naming the encoding: an unknown encoding, broken or
truncated data, a body over the limit, too many encodings.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from audit.errors import BodyTooLarge, ContentEncodingError

log = logging.getLogger(__name__)

MAX_ENCODINGS = 4  # encodings applied one over another that we undo; real servers apply one
_STEP = 1 << 20  # bytes a decoder is asked for at a time: what the output may overshoot by, at most
_ALIASES = {"x-gzip": "gzip"}


def _zstd_module() -> Any:
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return __import__(name, fromlist=["ZstdDecompressor"])
        except ImportError:
            continue
    return None


def _brotli_module() -> Any:
    try:
        import brotli
    except ImportError:  # pragma: no cover - brotli is a dependency
        return None
    return brotli


_ZSTD = _zstd_module()
_BROTLI = _brotli_module()

SUPPORTED: tuple[str, ...] = ("gzip", "deflate") + (("br",) if _BROTLI else ()) + (("zstd",) if _ZSTD else ())
ACCEPT_ENCODING = ", ".join(SUPPORTED)  # what a crawler may ask for: every encoding it can undo


def parse(values: str | bytes | Iterable[str | bytes] | None) -> list[str]:
    """The encodings of ``Content-Encoding`` header value(s), in the order they were applied: lower case,
    ``x-gzip`` as ``gzip``, ``identity`` and empty items dropped."""
    if values is None:
        return []
    if isinstance(values, str | bytes):
        values = [values]
    out: list[str] = []
    for value in values:
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for item in text.split(","):
            name = item.strip().lower()
            if name and name != "identity":
                out.append(_ALIASES.get(name, name))
    return out


def _printable(name: str) -> str:
    name = "".join(ch if ch.isprintable() and ord(ch) < 0x7F else "?" for ch in name)
    return name if len(name) <= 40 else name[:39] + "…"


def _names(encodings: str | bytes | Iterable[str | bytes] | None) -> list[str]:
    names = parse(encodings)
    if len(names) > MAX_ENCODINGS:
        raise ContentEncodingError(f"{len(names)} content encodings ({', '.join(map(_printable, names[:8]))}): "
                                   f"more than {MAX_ENCODINGS}")
    for name in names:
        if name not in SUPPORTED:
            raise ContentEncodingError(f"unknown content encoding {_printable(name)!r}")
    return names


def decode(body: bytes, encodings: str | bytes | Iterable[str | bytes] | None, *, limit: int) -> bytes:
    """``body`` with its content encodings undone (the last applied first). Raises :class:`ContentEncodingError`
    for an unknown encoding, more than :data:`MAX_ENCODINGS`, broken or truncated data, or a result (or an
    intermediate result) over ``limit`` bytes."""
    for name in reversed(_names(encodings)):
        if not body:
            break  # an empty body (HEAD, 204, 304) is empty in every encoding
        body = _DECODERS[name](body, limit, False)
    return body


def decode_prefix(body: bytes, encodings: str | bytes | Iterable[str | bytes] | None, size: int) -> bytes:
    """At most the first ``size`` bytes of the decoded ``body`` (to sniff what it is): what decodes before the data
    breaks or ends; never raises for bad data (an unknown encoding gives no bytes)."""
    try:
        names = _names(encodings)
    except ContentEncodingError:
        return b""
    for index, name in enumerate(reversed(names)):
        if not body:
            break
        last = index == len(names) - 1
        body = _DECODERS[name](body, size if last else max(size, _PREFIX_INTERMEDIATE), True)
    return body[:size]


_PREFIX_INTERMEDIATE = 64 * 1024  # encoded bytes an inner layer decodes for decode_prefix


def _too_large(name: str, limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"content encoding {name}: decoded body larger than {limit} bytes")


def _broken(name: str, exc: BaseException | str) -> ContentEncodingError:
    text = " ".join(str(exc).split())[:120] or type(exc).__name__
    return ContentEncodingError(f"content encoding {name}: broken data ({text})")


def _truncated(name: str) -> ContentEncodingError:
    return ContentEncodingError(f"content encoding {name}: data ends before the end of its stream")


def _inflate(body: bytes, limit: int, partial: bool, wbits: int, name: str, *, members: bool) -> bytes:
    """zlib inflate (gzip members one after another when ``members``), the output bounded by ``limit``;
    ``partial``: what decoded so far instead of an error."""
    out = bytearray()
    data = body
    while True:
        d = zlib.decompressobj(wbits)
        pending = data
        try:
            while True:
                want = min(_STEP, limit + 1 - len(out))  # >= 1 (0 would mean no bound)
                piece = d.decompress(pending, want)
                out += piece
                pending = d.unconsumed_tail
                if len(out) > limit or d.eof or (not pending and len(piece) < want):
                    break  # over the limit, at the end, or out of input with no output waiting
        except zlib.error as exc:
            if partial:
                return bytes(out[:limit])
            raise _broken(name, exc) from None
        if len(out) > limit:
            if partial:
                return bytes(out[:limit])
            raise _too_large(name, limit)
        if not d.eof:
            if partial:
                return bytes(out)
            raise _truncated(name)
        data = d.unused_data
        # gzip allows several members one after another; anything else after the end is ignored, as browsers do
        if not (members and data[:2] == b"\x1f\x8b"):
            return bytes(out)


def _gzip(body: bytes, limit: int, partial: bool) -> bytes:
    return _inflate(body, limit, partial, 16 + zlib.MAX_WBITS, "gzip", members=True)


def _deflate(body: bytes, limit: int, partial: bool) -> bytes:
    # RFC 9110: a zlib stream; some servers send raw deflate. A zlib header is two bytes whose value is a multiple
    # of 31 with method 8: tried when the bytes say so; raw deflate otherwise, or when that fails as broken data.
    if len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0:
        try:
            return _inflate(body, limit, False, zlib.MAX_WBITS, "deflate", members=False)
        except ContentEncodingError as exc:
            if "broken data" not in str(exc):
                if partial:
                    return _inflate(body, limit, True, zlib.MAX_WBITS, "deflate", members=False)
                raise
    return _inflate(body, limit, partial, -zlib.MAX_WBITS, "deflate", members=False)


def _br(body: bytes, limit: int, partial: bool) -> bytes:
    d = _BROTLI.Decompressor()
    out = bytearray()
    data = body
    stalled = False
    try:
        while True:
            # brotli's output buffer may grow past the limit asked by up to half of it: ask a step at a time
            piece = d.process(data, output_buffer_limit=min(_STEP, limit + 1 - len(out)))
            out += piece
            data = b""
            if len(out) > limit:
                if partial:
                    return bytes(out[:limit])
                raise _too_large("br", limit)
            if d.is_finished():
                return bytes(out)
            if not piece and (d.can_accept_more_data() or stalled):  # all the input used, nothing more to come
                if partial:
                    return bytes(out)
                raise _truncated("br")
            stalled = not piece
    except _BROTLI.error as exc:
        if partial:
            return bytes(out[:limit])
        raise _broken("br", exc) from None


def _zstd(body: bytes, limit: int, partial: bool) -> bytes:
    out = bytearray()
    data = body
    while True:  # zstd allows several frames one after another
        d = _ZSTD.ZstdDecompressor()
        pending = data
        try:
            while not d.eof and len(out) <= limit:
                out += d.decompress(pending, max_length=min(_STEP, limit + 1 - len(out)))
                pending = b""
                if d.needs_input and not d.eof:
                    break  # out of input before the end of the frame
        except _ZSTD.ZstdError as exc:
            if partial:
                return bytes(out[:limit])
            raise _broken("zstd", exc) from None
        if len(out) > limit:
            if partial:
                return bytes(out[:limit])
            raise _too_large("zstd", limit)
        if not d.eof:
            if partial:
                return bytes(out)
            raise _truncated("zstd")
        data = d.unused_data
        if not data:
            return bytes(out)


_DECODERS: dict[str, Callable[[bytes, int, bool], bytes]] = {"gzip": _gzip, "deflate": _deflate, "br": _br,
                                                             "zstd": _zstd}
