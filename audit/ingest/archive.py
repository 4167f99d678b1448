"""Records of a WARC or ARC file, read in bounded memory, each handed on only once its frame is checked.

Why our own framing and not warcio's ``ArchiveIterator``: its buffered reader reads a header line of any length
into memory (a 1 GiB line in one gzip member took 3.3 GB), its header parsers read any number of lines, and a record
is handed out before anyone knows whether its Content-Length is true -- a length of 10^12 swallowed every record
after it into one "page" whose bytes then gave sightings that exist nowhere, with no error. Those are properties of
its iterator and reader, below anything a subclass can bound cleanly. So the iteration, the buffering and the
decompression are ours (:mod:`audit.ingest.bytestream`), while the parsing of WARC, ARC and HTTP headers is still
warcio's (``ArcWarcRecordLoader``), fed through :class:`_HeaderLines`, and records are still warcio ``ArcWarcRecord``
objects (``rec_type``, ``rec_headers``, ``http_headers``, ``raw_stream``, ``content_stream()``).

What :func:`read_archive` guarantees, for any bytes:

* memory: a header line is at most ``max_line`` bytes and a record's header block (WARC and HTTP headers together,
  counted separately) at most ``max_header`` bytes -- past either the record is an error, read no further; blank
  lines between records, and the search for the next record after a break, go in bounded pieces; a reader of a
  record's body sees at most ``max_body`` bytes of it; gzip data is inflated 64 KiB at a time.
* framing: a record is handed on only when its declared length ends inside the file (inside the readable gzip data)
  and what follows it is blank lines and then another record or the end of the file. A record whose length runs
  past the end of the file, or over the start of a record that follows it, is not read: the error names its offset,
  and reading resumes at the first record start found after the broken record's own start (so the records it
  swallowed are read in their own right) and reports the bytes skipped. A record whose length merely stops short
  of its end (garbage, then the next record) is read, with an error. So no record is ever built from another
  record's bytes, and no sighting spans two records.
* gzip: records are read across gzip members, whatever their layout (one record per member, a whole file in one
  member, a record split over several members), each layout other than one-per-member noted once; corrupt gzip
  data ends the record it is in, and reading resumes at the next gzip member that starts with a record.
* every problem is reported as ``(offset, message)``: the file offset of the record (gzip: of its member, plus
  ``(+n decompressed)`` for a record that starts inside a member).

Known limit: a Content-Length that is too long by exactly the size of the records it swallows, so that it ends
where a record ends, cannot be told from a record that holds an archive file (a real WARC inside a WARC). For
uncompressed files this is not detected; in gzip files a record whose span covers the start of another gzip member
holding a record start is caught (such a record is split over members, which is already a deviation).
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser, StatusAndHeadersParserException

from audit.errors import HeaderTooLarge
from audit.ingest.bytestream import ByteStream, GzipStream, PlainStream
from audit.inputs import open_regular
from audit.settings import DEFAULTS

logger = logging.getLogger(__name__)

DEFAULT_MAX_LINE = int(DEFAULTS["AUDIT_ARCHIVE_MAX_HEADER_LINE"])
DEFAULT_MAX_HEADER = int(DEFAULTS["AUDIT_ARCHIVE_MAX_HEADER_BYTES"])

_WARC_LINE = rb"WARC/[0-9]\.[0-9]{1,3}\r?\n"
_ARC_LINE = rb"(?:https?|dns|ftp|filedesc):[^\s]{0,4000} [0-9]{1,3}(?:\.[0-9]{1,3}){3} [0-9]{12,18} [^\s]+ [0-9]+\r?\n"
_RECORD_LINE = re.compile(rb"(?:" + _WARC_LINE + rb"|" + _ARC_LINE + rb")")
_NEXT_RECORD = re.compile(rb"\n(?:" + _WARC_LINE + rb"|" + _ARC_LINE + rb")")
_SCAN = 256 * 1024  # bytes searched per step for the next record start (within the stream's window)
_OVERLAP = 8 * 1024  # longer than any record start line the search matches
_RECORD_STARTS = (b"WARC/", b"http:", b"https:", b"dns:", b"ftp:", b"filedesc:")

Report = Callable[[str, str], None]
SHARED_MEMBER_NOTE = "a gzip member holds several records (not one record per member): read as one compressed stream"


@dataclass
class Stops:
    """Where a reading of part of a gzip file ends: before the first record that starts at the very start of one of
    the gzip members at ``offsets`` (file offsets). ``reached`` is then that member's offset; it stays None when
    the reading ran to the end of the file without meeting one."""

    offsets: frozenset[int]
    reached: int | None = None


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what one record may make the reader hold."""

    max_line: int = DEFAULT_MAX_LINE  # bytes of one header line (WARC, ARC or HTTP)
    max_header: int = DEFAULT_MAX_HEADER  # bytes of one header block (the WARC one; the HTTP one)
    max_body: int | None = None  # bytes of a record's block its reader may read (None: all of it)


@dataclass
class ArchiveRecord:
    """One record whose frame was checked: where it starts, and warcio's record (its ``raw_stream`` limited to the
    record's block, at most ``max_body`` bytes of it)."""

    offset: int  # file offset of the record (gzip: of the member it starts in)
    where: str  # the same for messages: "1234", or for a record inside a gzip member "1234 (+56 decompressed)"
    record: Any  # warcio.recordloader.ArcWarcRecord
    # bytes of the file the record spans from ``offset`` (gzip: its whole members), so that they alone are the record;
    # None when it shares a gzip member with another record, or its frame was not clean
    length: int | None = None
    arc: bool = False  # an ARC record (warcio gives it WARC headers, and a WARC-Record-ID of its own making)


def _decode_header(line: Any) -> str:
    """A header line as warcio's ``StatusAndHeadersParser.decode_header`` gives it: UTF-8, else ISO-8859-1."""
    if isinstance(line, str):
        return line
    try:
        return str(line.decode("utf-8"))
    except UnicodeDecodeError:
        return str(line.decode("iso-8859-1"))


class _HeaderParser(StatusAndHeadersParser):
    """warcio's ``StatusAndHeadersParser`` with the same results (headers, status line, protocol, length read, the
    same exceptions) in half its time: its per-line helpers inlined (a WARC of 19,000 records has 345,000 header
    lines)."""

    def parse(self, stream: Any, full_statusline: Any = None) -> StatusAndHeaders:
        readline = stream.readline
        if full_statusline is None:
            full_statusline = readline()
        full_statusline = _decode_header(full_statusline)
        total_read = len(full_statusline)
        statusline = full_statusline.rstrip()
        headers: list[tuple[str, str]] = []
        if total_read == 0:
            raise EOFError()
        if not statusline:
            return StatusAndHeaders(statusline=statusline, headers=headers, protocol="", total_len=total_read)
        if self.verify:
            protocol_status = self.split_prefix(statusline, self.statuslist)
            if not protocol_status:
                msg = f"Expected Status Line starting with {self.statuslist} - Found: {statusline}"
                raise StatusAndHeadersParserException(msg, full_statusline)
        else:
            protocol_status = statusline.split(" ", 1)
        raw = _decode_header(readline())
        total_read += len(raw)
        line = raw.rstrip()
        while line:
            name, colon, value = line.partition(":")
            found: str | None = None
            if colon:
                name, found = name.rstrip(" \t"), value.lstrip()
            raw = _decode_header(readline())
            total_read += len(raw)
            next_line = raw.rstrip()
            while next_line and next_line[0] in " \t":  # continuation lines
                if found is not None:
                    found += next_line
                raw = _decode_header(readline())
                total_read += len(raw)
                next_line = raw.rstrip()
            if found is not None:
                headers.append((name, found))
            line = next_line
        statusline = protocol_status[1].strip() if len(protocol_status) > 1 else ""
        return StatusAndHeaders(statusline=statusline, headers=headers, protocol=protocol_status[0],
                                total_len=total_read)


def _record_loader() -> ArcWarcRecordLoader:
    """warcio's record loader (HTTP headers not verified, ARC headers as WARC ones) with :class:`_HeaderParser`."""
    loader = ArcWarcRecordLoader(verify_http=False, arc2warc=True)
    loader.warc_parser = _HeaderParser(loader.WARC_TYPES)
    loader.http_parser = _HeaderParser(loader.HTTP_TYPES, False)
    loader.http_req_parser = _HeaderParser(loader.HTTP_VERBS, False)
    return loader


class _HeaderLines:
    """What warcio's header parsers read through: lines of at most ``max_line`` bytes, ``budget`` bytes in all."""

    def __init__(self, stream: ByteStream, max_line: int, budget: int) -> None:
        self.stream, self.max_line, self.left = stream, max_line, budget
        self.budget = budget

    def readline(self, size: int | None = None) -> bytes:
        bounded = size is not None and 0 <= size <= self.max_line
        line = self.stream.readline(size if bounded and size is not None else self.max_line + 1)
        if len(line) > self.max_line:
            raise HeaderTooLarge(f"a header line longer than {self.max_line:,} bytes")
        self.left -= len(line)
        if self.left < 0:
            raise HeaderTooLarge(f"a header block over {self.budget:,} bytes")
        return line

    def read(self, size: int | None = None) -> bytes:  # not used by the header parsers; bounded all the same
        return self.stream.read(self.max_line if size is None or size < 0 else min(size, self.max_line))

    def tell(self) -> int:
        return self.stream.tell()

    def close(self) -> None:
        pass


def short_reason(exc: BaseException) -> str:
    """An exception as one short printable line: its type and message."""
    text = " ".join(str(exc).split())
    text = "".join(ch if ch.isprintable() and ord(ch) < 0x7F else "?" for ch in text)
    text = text if len(text) <= 120 else text[:119] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _log_report(where: str, what: str) -> None:
    logger.warning("offset %s: %s", where, what)


def read_archive(path: str | Path, *, limits: ArchiveLimits | None = None, report: Report | None = None,
                 max_file_bytes: int | None = None, start: int = 0,
                 stops: Stops | None = None) -> Iterator[ArchiveRecord]:
    """Every well-framed record of the WARC/ARC file ``path`` (plain or gzip), in order; each problem passed to
    ``report(offset, message)`` (default: logged). See the module doc for what is guaranteed.

    ``start`` is a file offset to begin at instead of the file's start: an :attr:`ArchiveRecord.offset` met
    before (for a gzip file, the start of a gzip member), to read a record again under the same bounds.

    ``path`` must be a regular file of at most ``max_file_bytes`` bytes (:func:`audit.inputs.open_regular`
    raises :class:`audit.inputs.Refused` otherwise, before anything is read). Read a record's body before asking
    for the next record: the record's stream is only valid until then."""
    limits = limits or ArchiveLimits()
    report = report or _log_report
    with open_regular(path, max_file_bytes) as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
        at: int | None = start
        while at is not None:
            stream: ByteStream = GzipStream(fh, at) if compressed else PlainStream(fh, at)
            framer = _Framer(stream, limits, report, stops if compressed else None,
                             file_size=os.fstat(fh.fileno()).st_size)
            yield from framer.records(0 if compressed else at)
            if not isinstance(stream, GzipStream) or stream.error is None or framer.stopped:
                return
            error = stream.error
            failed_at, failed_where = framer.failure or (error.member_offset, str(error.member_offset))
            at = next_gzip_record(fh, error.member_offset + 1)
            rest = ("no record after it" if at is None else
                    f"resumed at the next record, offset {at} ({at - failed_at:,} bytes skipped)")
            report(failed_where, f"record unreadable ({error.message}); {rest}")
            if stops is not None and at in stops.offsets:
                stops.reached = at
                return


_WARC_RECORD = re.compile(_WARC_LINE)


def next_gzip_record(fh: BinaryIO, after: int, *, warc_line: bool = False) -> int | None:
    """File offset of the first gzip member at or after ``after`` that decompresses to the start of a WARC or ARC
    record; read in 1 MiB pieces. ``warc_line``: only a member whose data begins with a WARC version line itself
    (no blank lines before it, no ARC record), as every record of a WAT file begins its own member."""
    pos = after
    while True:
        fh.seek(pos)
        block = fh.read(_SCAN + 2)
        if len(block) < 3:
            return None
        at = block.find(b"\x1f\x8b\x08")
        while 0 <= at < _SCAN:
            fh.seek(pos + at)
            try:
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(fh.read(4096), 256)
            except zlib.error:
                head = b""
            if _WARC_RECORD.match(head) if warc_line else head.lstrip(b"\r\n").startswith(_RECORD_STARTS):
                return pos + at
            at = block.find(b"\x1f\x8b\x08", at + 1)
        pos += _SCAN


class _Framer:
    """Frames the records of one stream (one stretch of a gzip file between breaks in its data)."""

    def __init__(self, stream: ByteStream, limits: ArchiveLimits, report: Report, stops: Stops | None = None,
                 file_size: int | None = None) -> None:
        self.s = stream
        self.file_size = file_size
        self.clean = False  # the last record framed ended where its Content-Length said, then the next record
        self.stops = stops
        self.stopped = False
        self.limits = limits
        self.report = report
        self.loader = _record_loader()
        self.arc: bool | None = None  # the stream holds ARC records (their start lines are checked less strictly)
        self.failure: tuple[int, str] | None = None  # (offset, where) of a record cut by corrupt gzip data
        self.noted_shared_member = False
        self.gzip = isinstance(stream, GzipStream)

    def records(self, first: int = 0) -> Iterator[ArchiveRecord]:
        """The records from stream position ``first`` on."""
        pos: int | None = first
        previous_member: int | None = None
        while pos is not None:
            self.s.seek(pos)
            if not self.s.skip_space():
                return  # the end (corrupt gzip data, if that is what ended it, is the caller's to report)
            start = self.s.tell()
            self.s.forget_before(start)
            self.s.checkpoint()
            where = self.s.where(start)
            if self.stops is not None and self.s.file_offset(start) in self.stops.offsets \
                    and where == str(self.s.file_offset(start)):
                self.stops.reached = self.s.file_offset(start)
                self.stopped = True
                return
            if self.gzip:
                member = self.s.member_index(start)
                if member == previous_member and not self.noted_shared_member:
                    self.noted_shared_member = True
                    self.report(str(self.s.file_offset(start)), SHARED_MEMBER_NOTE)
                previous_member = member
            self.clean = False
            record, pos = self._frame(start, where)
            if self.failure is not None:
                return
            if record is not None:
                yield ArchiveRecord(self.s.file_offset(start), where, record,
                                    self._length(start, pos) if self.clean else None, bool(self.arc))

    def _length(self, start: int, after: int | None) -> int | None:
        """Bytes of the file from the record at ``start`` to the next record (``after``; None: the end of the file),
        when the record starts and ends on gzip member boundaries (or the file is plain); else None."""
        s = self.s
        offset = s.file_offset(start)
        if self.gzip and s.where(start) != str(offset):
            return None  # it starts inside a member
        if after is None:
            if self.file_size is None or s.size() is None:
                return None
            return self.file_size - offset
        if self.gzip and s.where(after) != str(s.file_offset(after)):
            return None  # the next record starts inside the member this one ends in
        return s.file_offset(after) - offset

    # --- corrupt gzip data ---

    def _corrupt_from(self) -> int | None:
        """Stream position where corrupt gzip data begins (the start of its member), once it has been met."""
        error = getattr(self.s, "error", None)
        return None if error is None else int(error.member_start)

    def _cut(self, start: int, reached: int) -> bool:
        """Whether the record at ``start``, read up to ``reached``, ran into corrupt gzip data (then it is the
        caller's failure to report, with where reading resumes)."""
        corrupt = self._corrupt_from()
        if corrupt is not None and corrupt <= reached:
            self.failure = (self.s.file_offset(start), self.s.where(start))
            return True
        return False

    # --- one record ---

    def _frame(self, start: int, where: str) -> tuple[Any | None, int | None]:
        """The record at ``start`` (None when it is not read: reported) and where the next record starts."""
        s = self.s
        if self.arc is None:
            self.arc = not s.peek(5).startswith(b"WARC/")
        try:
            record = self.loader.parse_record_stream(_HeaderLines(s, self.limits.max_line, self.limits.max_header),
                                                     no_record_parse=True)
        except Exception as exc:  # warcio raises many kinds for bytes that are not a record
            if self._cut(start, s.tell()):
                return None, None
            return None, self._broken(start, where, f"record unreadable ({short_reason(exc)})")
        if self._cut(start, s.tell()):
            return None, None
        length = record.length
        if length is None:
            return None, self._broken(start, where, "record has no Content-Length: not read")
        declared = record.rec_headers.get_header("Content-Length")
        if declared is not None and not declared.strip().isdigit():
            self.report(where, f"record declares Content-Length {declared[:40]!r}: read as empty")
        block = s.tell()
        end = block + length
        size = s.size()
        if size is None or end <= size:
            s.seek(end)
            if s.tell() < end and self._cut(start, s.tell()):
                return None, None
        if s.tell() < end or (size is not None and end > size):
            stream_end = size if size is not None else s.tell()
            what = (f"record declares Content-Length {length:,}, past the end of the file (only "
                    f"{max(stream_end - block, 0):,} bytes follow its header)")
            found = self._find_start(start)
            if found is not None:  # it swallowed the records after it
                return None, self._broken(start, where, f"{what}: not read", found)
            self.report(where, f"{what}: read as cut short")  # only its own bytes: the archive ends inside it
            return self._with_http(record, block, stream_end, where), None
        after, misfit = self._trailer(end)
        if self._cut(start, end - 1):
            return None, None
        spans = self.gzip and s.member_index(end - 1) != s.member_index(start)
        if misfit is not None or spans:
            found = self._find_start(start)
            if found is not None and found < end:
                return None, self._broken(start, where, f"record runs over the record at offset {s.where(found)} "
                                                        f"(its Content-Length {length:,} reaches {end - found:,} "
                                                        "bytes into it): not read", found)
            if misfit is not None:
                gap = "no record after it" if found is None else (
                    f"resumed at the next record, offset {s.where(found)} ({self._skipped(found - end)})")
                self.report(where, f"record length does not match its Content-Length (found {misfit!r} at offset "
                                   f"{s.where(after if after is not None else end)} where the record should have "
                                   f"ended); {gap}")
                after = found
            if spans:
                self.report(where, f"record continues over {s.member_index(end - 1) - s.member_index(start)} more "
                                   "gzip member(s) (one record per member expected): read whole")
        self.clean = misfit is None
        return self._with_http(record, block, end, where), after

    def _broken(self, start: int, where: str, what: str, found: int | None = -1) -> int | None:
        """Report the record at ``start`` as not read; the first record start after it (None: none), searched for
        unless given."""
        if found == -1:
            found = self._find_start(start)
        if found is not None:
            rest = f"resumed at the next record, offset {self.s.where(found)} ({self._skipped(found - start)})"
        elif self._corrupt_from() is not None:
            rest = "no record after it before corrupt gzip data"
        else:
            rest = "no record after it"
        self.report(where, f"{what}; {rest}")
        return found

    def _skipped(self, n: int) -> str:
        return f"{n:,} decompressed bytes skipped" if self.gzip else f"{n:,} bytes skipped"

    def _trailer(self, end: int) -> tuple[int | None, bytes | None]:
        """After a record's block: where the next record starts (None: the end of the stream) and, if what follows
        is not blank lines and then a record start, its first bytes."""
        s = self.s
        s.seek(end)
        if not s.skip_space():
            return None, None
        after = s.tell()
        line = s.readline(_OVERLAP)
        s.seek(after)
        if self._is_record_line(line):
            return after, None
        first = line.split(b"\n", 1)[0][:40]
        return after, first + b"\n" if len(first) < 40 and b"\n" in line else first

    def _is_record_line(self, line: bytes) -> bool:
        if _RECORD_LINE.match(line):
            return True
        if self.arc:  # warcio reads any line of five space-separated fields as an ARC header
            first, newline, _ = line.partition(b"\n")
            return bool(newline) and len(first.rstrip().rsplit(b" ", 4)) == 5
        return False

    def _find_start(self, start: int) -> int | None:
        """Position of the first record start line that begins after ``start``, searched in bounded pieces."""
        s = self.s
        s.seek(start)
        base, data = start, b""
        while True:
            chunk = s.read(_SCAN)
            if not chunk:
                return None
            keep = data[-_OVERLAP:]
            base += len(data) - len(keep)
            data = keep + chunk
            found = _NEXT_RECORD.search(data)
            hit = None if found is None else base + found.start() + 1
            for member in s.member_starts(max(base, start + 1), base + len(data)):
                if hit is not None and member >= hit:
                    break
                if _RECORD_LINE.match(data, member - base):  # a gzip member that begins with a record
                    hit = member
                    break
            if hit is not None:
                return hit

    def _with_http(self, record: Any, block: int, end: int, where: str) -> Any:
        """``record`` with its HTTP headers parsed (bounded) and its stream limited to the rest of its block; None
        (reported) when its HTTP headers cannot be read."""
        s = self.s
        s.seek(block)
        length = end - block
        lines = LimitReader(_HeaderLines(s, self.limits.max_line, self.limits.max_header), length)
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        try:
            http = self.loader.load_http_headers(record.rec_type, uri, lines, length)
        except Exception as exc:  # bytes that are not HTTP headers, or over the bounds
            self.report(where, f"record unreadable (HTTP headers: {short_reason(exc)}); the next record is read")
            return None
        record.http_headers = http
        if length and http:
            record.payload_length = length - lines.tell()
        visible = end - s.tell()
        if self.limits.max_body is not None:
            visible = min(visible, self.limits.max_body)
        record.raw_stream = LimitReader(s, visible)
        return record
