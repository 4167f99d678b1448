"""The HTTP payload of a WARC/ARC record as the server meant it: de-chunked, its content encoding undone, bounded.

warcio's ``content_stream()`` de-chunks and decodes in one step, with decoders of its own that fail on the brotli
module installed here (every ``Content-Encoding: br`` record would be lost) and that have no bound on what they
inflate to. :class:`RecordPayload` takes the still-encoded payload (``raw_stream``), lets warcio undo only the
``Transfer-Encoding: chunked`` framing (its ``ChunkedDataReader`` without a decompressor, which also reads a
payload wrongly labelled chunked as it is), and undoes ``Content-Encoding`` with :mod:`audit.decode.contentcoding` under
the caller's size limit. A record without content encoding is read as before: only as far as asked.
"""

from __future__ import annotations

from typing import Any

from warcio.bufferedreaders import ChunkedDataReader

from audit.decode.contentcoding import decode, decode_prefix, parse
from audit.errors import BodyTooLarge, ContentEncodingError

__all__ = ["BodyTooLarge", "ContentEncodingError", "RecordPayload"]


class RecordPayload:
    """The payload of one warcio record. Use :meth:`head` (optional, first) then :meth:`read`, once each."""

    def __init__(self, record: Any) -> None:
        http = getattr(record, "http_headers", None)
        self.encodings: list[str] = parse(http.get_header("Content-Encoding")) if http is not None else []
        chunked = http is not None and (http.get_header("Transfer-Encoding") or "").strip().lower() == "chunked"
        self._stream = ChunkedDataReader(record.raw_stream) if chunked else record.raw_stream
        self._buffer = b""  # bytes already read from the stream: decoded ones, or every encoded one

    def _raw(self, limit: int) -> bytes:
        """Every encoded byte, at most ``limit`` + 1 of them (one more than allowed says "too large")."""
        if len(self._buffer) <= limit:
            self._buffer += self._stream.read(limit + 1 - len(self._buffer))
        return self._buffer

    def head(self, size: int, *, limit: int) -> bytes:
        """The first ``size`` decoded bytes, to sniff what the payload is; never raises for bad data. An encoded
        payload is read whole for it (at most ``limit`` + 1 bytes); a plain one only ``size`` bytes."""
        if not self.encodings:
            if len(self._buffer) < size:
                self._buffer += self._stream.read(size - len(self._buffer))
            return self._buffer[:size]
        return decode_prefix(self._raw(limit)[:limit], self.encodings, size)

    def read(self, limit: int) -> bytes:
        """The decoded payload, at most ``limit`` bytes. Raises :class:`BodyTooLarge` when it (encoded, or once
        decoded) is larger, :class:`ContentEncodingError` when its content encoding is unknown or broken; the
        message names the encoding when there is one."""
        raw = self._raw(limit)
        if len(raw) > limit:
            if self.encodings:
                raise BodyTooLarge(f"content encoding {', '.join(self.encodings)}: encoded body larger than {limit} "
                                   "bytes")
            raise BodyTooLarge(f"larger than {limit} bytes")
        return decode(raw, self.encodings, limit=limit) if self.encodings else raw
