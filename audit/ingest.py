"""Ingest what others crawled: WARC/ARC archives (Common Crawl, Archive-It, our own crawls) and folders of image
files (a vendor's data export), through the same items and :class:`~audit.recorder.Recorder` as a live crawl."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import logging
import mmap
import os
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator

from .crawlid import ingest_crawl_id
from .html import looks_like_image_url, parse_page
from .htmltree import read_html
from .httputil import is_html, is_image_type
from .pagefacts import page_facts
from .recorder import Recorder
from .records import POLICY_PATHS, ImageFetch, ImageRecord, ImageRef, PageItem, PolicyFile
from .sandbox import DEFAULT_MAX_MEMORY, DEFAULT_TIMEOUT, AnalysisPool, Bounds
from .store import Store

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
IMAGE_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF
    b"MM\x00*",
    b"BM",
)

Progress = Callable[[str, int], None]
Item = PageItem | ImageRef | ImageFetch | PolicyFile
MAX_POLICY_BYTES = 512 * 1024
MAX_ERRORS_PER_ARCHIVE = 100  # errors recorded per archive file; the rest are counted


class IngestError(Exception):
    """An input path cannot be ingested at all (does not exist, cannot be read)."""


@dataclass
class IngestResult:
    crawl_id: str
    pages: int = 0
    images: int = 0
    sightings: int = 0
    records: int = 0
    errors: list[str] = field(default_factory=list)
    analysis: dict[str, int] = field(default_factory=dict)  # AnalysisPool.stats: analysed, timed_out, crashed


def is_archive(path: Path) -> bool:
    """A WARC or ARC file, by its name or, failing that, by its first bytes (also inside gzip)."""
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return True
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head.startswith(b"\x1f\x8b"):
                fh.seek(0)
                with gzip.GzipFile(fileobj=fh) as gz:
                    head = gz.read(64)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    return head.startswith((b"WARC/", b"filedesc://"))


def sniff_image(data: bytes) -> bool:
    if data.startswith(IMAGE_MAGIC):
        return True
    return (data[:4] == b"RIFF" and data[8:12] == b"WEBP") or data[4:12] in (b"ftypheic", b"ftypmif1", b"ftypavif")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _header_dict(http_headers: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if http_headers is None:
        return out
    for name, value in http_headers.headers[:100]:
        out.setdefault(name.lower()[:200], []).append(value[:2000])
    return out


def _parse_warc_date(value: str | None) -> dt.datetime:
    if value:
        for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%d%H%M%S"):
            try:
                return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
            except ValueError:
                continue
    return dt.datetime.now(dt.UTC)


class _Records(ArchiveIterator):
    """warcio's iterator, noting (instead of printing) records whose Content-Length does not fit: ``(offset of the
    line found where a blank line was expected, that line)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.misfits: list[tuple[int, bytes]] = []

    def _consume_blanklines(self) -> tuple[bytes | None, int]:  # warcio's, without the write to sys.stderr
        empty_size = 0
        first_line = True
        while True:
            line = self.reader.readline()
            if len(line) == 0:
                return None, empty_size
            stripped = line.rstrip()
            if len(stripped) == 0 or first_line:
                empty_size += len(line)
                if len(stripped) != 0:
                    self.misfits.append((self.fh.tell() - self.reader.rem_length() - empty_size, line[:40]))
                    self.err_count += 1
                first_line = False
                continue
            return line, empty_size


_ARC_HEADER = re.compile(  # URL IP-address archive-date content-type length
    rb"\n(?:https?|dns|ftp|filedesc):[^\s]{0,4000} [0-9]{1,3}(?:\.[0-9]{1,3}){3} [0-9]{12,18} [^\s]+ [0-9]+\r?\n")
_WARC_HEADER = re.compile(rb"\nWARC/[0-9]\.[0-9]{1,3}\r?\n")
_RECORD_STARTS = (b"WARC/", b"http:", b"https:", b"dns:", b"ftp:", b"filedesc:")


def _is_gzip_record(view: mmap.mmap, at: int) -> bool:
    """Whether a gzip member starting at ``at`` decompresses to the start of a WARC or ARC record."""
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(view[at : at + 4096], 256)
    except zlib.error:
        return False
    return head.lstrip(b"\r\n").startswith(_RECORD_STARTS)


def next_record_start(path: Path, after: int) -> int | None:
    """Offset of the first plausible WARC/ARC record start after byte ``after`` of ``path``: the next gzip member
    that decompresses to a record header (compressed archives), else the next line starting ``WARC/1.`` or
    looking like an ARC header line. None when there is none."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size <= after + 1:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            if view[:2] == b"\x1f\x8b":
                at = view.find(b"\x1f\x8b\x08", after + 1)
                while at >= 0:
                    if _is_gzip_record(view, at):
                        return at
                    at = view.find(b"\x1f\x8b\x08", at + 1)
                return None
            found = [m.start() + 1 for m in (_WARC_HEADER.search(view, after), _ARC_HEADER.search(view, after))
                     if m is not None]
            return min(found) if found else None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = "".join(ch if ch.isprintable() and ord(ch) < 0x7F else "?" for ch in text)
    text = text if len(text) <= 120 else text[:119] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _ArchiveErrors:
    """The errors of one archive, each naming the file and the offset; at most ``MAX_ERRORS_PER_ARCHIVE`` kept."""

    def __init__(self, path: Path, sink: list[str] | None) -> None:
        self.path = path
        self.sink = sink if sink is not None else []
        self.count = 0

    def add(self, offset: int, what: str) -> None:
        self.count += 1
        message = f"{self.path}: offset {offset}: {what}"
        if self.count <= MAX_ERRORS_PER_ARCHIVE:
            logger.warning("%s", message)
            self.sink.append(message)
        elif self.count == MAX_ERRORS_PER_ARCHIVE + 1:
            self.sink.append(f"{self.path}: more errors, not listed")


def iter_archive(
    path: Path, *, max_image_bytes: int, max_page_bytes: int, errors: list[str] | None = None
) -> Iterator[Item]:
    """Items from one WARC/ARC file: pages with their image references, and images with their bytes (``body``;
    the caller analyses them).

    Never raises for a broken archive: each break is appended to ``errors`` as ``"<file>: offset <n>: <what>"``,
    and reading resumes at the next record start found after it (the next gzip member holding a record header, or
    the next ``WARC/1.`` / ARC header line), so the good records before and after a bad one are all kept. A gzip
    member holding several records (a whole file compressed as one stream) is read through the decompressed
    stream. An uncompressed record whose Content-Length runs past its end is reported, and records it swallowed
    are read again."""
    log = _ArchiveErrors(path, errors)
    start = 0
    seen_starts: set[int] = set()
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
        while start is not None and start not in seen_starts:
            seen_starts.add(start)
            fh.seek(start)
            it = _Records(fh, arc2warc=True)
            offset = start
            done = 0  # records of this pass fully handed on
            misfits = 0
            resume: int | None = None
            try:
                for record in it:
                    previous, offset = offset, it.offset
                    if len(it.misfits) > misfits:  # the record before this one was longer or shorter than declared
                        misfits = len(it.misfits)
                        at, line = it.misfits[-1]
                        log.add(previous, f"record length does not match its Content-Length (found {line!r} "
                                          f"at offset {at} where the record should have ended)")
                        if not compressed:
                            swallowed = _swallowed_start(path, previous, offset)
                            if swallowed is not None:
                                resume = swallowed
                                break
                    declared = record.rec_headers.get_header("Content-Length")
                    if declared is not None and not declared.strip().isdigit():
                        log.add(offset, f"record declares Content-Length {declared[:40]!r}: read as empty")
                    yield from _record_items(record, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes)
                    done += 1
                if len(it.misfits) > misfits:
                    at, line = it.misfits[-1]
                    log.add(offset, f"record length does not match its Content-Length (found {line!r} at offset "
                                    f"{at} where the record should have ended)")
            except Exception as exc:  # a broken archive raises anything from its parsers (warcio, zlib, gzip, http)
                if compressed and "non-chunked gzip" in str(exc):
                    log.add(start, "a gzip member holds several records (not one record per member): read as one "
                                   "compressed stream")
                    yield from _iter_stream(path, start, done, log, max_image_bytes, max_page_bytes)
                    return
                offset = max(offset, it.offset)  # the record being read when it broke (negative in gzip streams)
                resume = next_record_start(path, offset)
                if resume is None:
                    log.add(offset, f"record unreadable ({_reason(exc)}); no record after it")
                else:
                    log.add(offset, f"record unreadable ({_reason(exc)}); resumed at the next record, offset "
                                    f"{resume} ({resume - offset} bytes skipped)")
            finally:
                it.close()
            start = resume  # type: ignore[assignment]


def _swallowed_start(path: Path, record_start: int, record_end: int) -> int | None:
    """A ``WARC/1.`` line inside an uncompressed record that ran past its end: the record it swallowed."""
    with open(path, "rb") as fh:
        fh.seek(record_start + 1)
        span = fh.read(max(0, record_end - record_start - 1))
    found = _WARC_HEADER.search(span)
    return None if found is None else record_start + 1 + found.start() + 1


def _iter_stream(path: Path, start: int, skip: int, log: _ArchiveErrors, max_image_bytes: int,
                 max_page_bytes: int) -> Iterator[Item]:
    """Records of a gzip stream holding several records per member, from compressed offset ``start``, after the
    first ``skip`` records (already read). Offsets in errors are then offsets in the decompressed stream."""
    with open(path, "rb") as raw:
        raw.seek(start)
        with gzip.GzipFile(fileobj=raw) as stream:
            it = _Records(stream, arc2warc=True)
            offset = 0
            try:
                for index, record in enumerate(it):
                    offset = it.offset
                    if index >= skip:
                        yield from _record_items(record, max_image_bytes=max_image_bytes,
                                                 max_page_bytes=max_page_bytes)
            except Exception as exc:  # as in iter_archive
                log.add(start, f"record at offset {offset} of the decompressed stream unreadable ({_reason(exc)}); "
                               "the rest of the stream is not read")
            finally:
                it.close()


def _record_items(record: Any, *, max_image_bytes: int, max_page_bytes: int) -> Iterator[Item]:
    """The items of one archive record (none for requests, metadata, revisits, non-image resources)."""
    if record.rec_type not in ("response", "resource"):
        return
    url = record.rec_headers.get_header("WARC-Target-URI")
    if not url:
        return
    url = url.strip("<>")
    when = _parse_warc_date(record.rec_headers.get_header("WARC-Date"))
    http = record.http_headers if record.rec_type == "response" else None
    status = int(http.get_statuscode() or 0) if http is not None and http.get_statuscode() else None
    ctype = (http.get_header("Content-Type") if http is not None else None) or record.rec_headers.get_header(
        "Content-Type"
    )
    ip = record.rec_headers.get_header("WARC-IP-Address")
    headers = _header_dict(http)
    stream = record.content_stream()
    if is_html(ctype):
        body = stream.read(max_page_bytes + 1)
        if len(body) > max_page_bytes:
            yield PageItem(url=url, status=status or 0, fetched_at=when, server_ip=ip, content_type=ctype,
                           headers=headers, error=f"page larger than {max_page_bytes} bytes, not parsed")
            return
        text = body.decode(_charset(ctype) or "utf-8", errors="replace")
        tree = read_html(text)
        parsed = parse_page(tree, url, fetched_at=when)
        yield PageItem(url=url, status=status or 0, fetched_at=when, server_ip=ip, lang=parsed.lang,
                       content_type=ctype, headers=headers, facts=page_facts(tree, url), error=parsed.error)
        yield from parsed.image_refs
        return
    policy = POLICY_PATHS.get(urlsplit(url).path)
    if policy is not None:
        text = stream.read(MAX_POLICY_BYTES).decode("utf-8", errors="replace")
        yield PolicyFile(kind=policy, url=url, status=status or 0, body=text, fetched_at=when)
        return
    if status is not None and not 200 <= status < 300:
        return  # redirects and errors of non-page resources: nothing to record as content
    head = stream.read(16)
    if not (is_image_type(ctype) or looks_like_image_url(url) or sniff_image(head)):
        return
    body = head + stream.read(max_image_bytes + 1 - len(head))
    if len(body) > max_image_bytes:
        yield ImageFetch(url=url, final_url=url, fetched_at=when, status=status, content_type=ctype,
                         server_ip=ip, headers=headers, error=f"image larger than {max_image_bytes} bytes")
        return
    yield ImageFetch(url=url, final_url=url, fetched_at=when, status=status, content_type=ctype,
                     server_ip=ip, headers=headers, body=body)


def _charset(ctype: str | None) -> str | None:
    if not ctype or "charset=" not in ctype.lower():
        return None
    value = ctype.lower().split("charset=", 1)[1].split(";")[0].strip().strip("\"'")
    try:
        "".encode(value)
    except LookupError:
        return None
    return value


def _walk(root: Path) -> list[Path]:
    if not root.is_dir():
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found.extend(Path(dirpath) / f for f in sorted(filenames))
    return found


def iter_files(root: Path, *, max_image_bytes: int, max_page_bytes: int = 8 * 1024 * 1024,
               errors: list[str] | None = None) -> Iterator[Item]:
    """Items from a folder of files (or one file): every regular file is recorded, readable or not, by its URL
    (``file://``) and its bytes (``body``; the caller analyses them); a file that cannot be read at all is recorded
    as a failed fetch. WARC/ARC files found in a folder are read as archives (their errors go to ``errors``)."""
    for path in _walk(root):
        if path.is_symlink() or not path.is_file():
            continue
        if root.is_dir() and is_archive(path):
            yield from iter_archive(path, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                    errors=errors)
            continue
        url = path.resolve().as_uri()
        try:
            stat = path.stat()
            when = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
            if stat.st_size > max_image_bytes:
                record = ImageRecord(sha256=file_sha256(path), size=stat.st_size,
                                     error=f"file larger than {max_image_bytes} bytes, not decoded")
                fetch = ImageFetch(url=url, final_url=url, fetched_at=when, record=record)
            else:
                fetch = ImageFetch(url=url, final_url=url, fetched_at=when, body=path.read_bytes())
        except OSError as exc:
            when = dt.datetime.now(dt.UTC)
            fetch = ImageFetch(url=url, final_url=url, fetched_at=when,
                               error=f"cannot read file: {exc.strerror or exc}")
        yield ImageRef(page_url=None, image_url=url, ref_kind="file", fetched_at=when)
        yield fetch


def analysed(items: Iterator[Item], pool: AnalysisPool, window: int | None = None) -> Iterator[Item]:
    """``items`` in order, each :class:`ImageFetch` carrying a ``body`` given its record (analysed in ``pool``,
    bounded in time and memory) in place of the body; up to ``window`` analyses in flight."""
    window = window or 2 * pool.size
    pending: deque[tuple[Item, Future[ImageRecord] | None]] = deque()
    in_flight = 0

    def pop() -> Item:
        nonlocal in_flight
        item, future = pending.popleft()
        if future is None:
            return item
        in_flight -= 1
        assert isinstance(item, ImageFetch)
        return dataclasses.replace(item, record=pool.result(future), body=None)

    try:
        for item in items:
            if isinstance(item, ImageFetch) and item.body is not None and item.record is None:
                pending.append((item, pool.submit(item.body)))
                in_flight += 1
            else:
                pending.append((item, None))
            while pending and (in_flight >= window or pending[0][1] is None or pending[0][1].done()):
                yield pop()
    except Exception:
        while pending:  # the items broke off: what was read before is kept
            yield pop()
        raise
    while pending:
        yield pop()


def ingest(
    store: Store,
    paths: Sequence[str | Path],
    *,
    crawl_id: str | None = None,
    batch_size: int = 500,
    max_image_bytes: int = 32 * 1024 * 1024,
    max_page_bytes: int = 8 * 1024 * 1024,
    max_pixels: int = 64_000_000,
    timeout: float = DEFAULT_TIMEOUT,
    max_memory: int = DEFAULT_MAX_MEMORY,
    workers: int = 2,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest archives, folders and image files into ``store`` as one crawl.

    The crawl id is derived from the inputs (an archive or file by its content digest, a folder by its absolute
    path) unless given, so ingesting the same inputs again adds no rows. Images are analysed in ``workers`` worker
    processes, each file bounded by ``timeout`` seconds, ``max_memory`` bytes of address space and ``max_pixels``
    decoded pixels (see :mod:`audit.sandbox`); a file over a bound is still recorded, with its error. A broken
    archive is recorded as errors naming the file and the offset; the records before and after each break are
    kept."""
    bounds = Bounds(timeout=timeout, max_memory=max_memory, max_pixels=max_pixels)
    resolved = [Path(p) for p in paths]
    for p in resolved:
        if not p.exists():
            raise IngestError(f"no such file or folder: {p}")
    try:
        keys = sorted(f"dir:{p.resolve()}" if p.is_dir() else f"file:{file_sha256(p)}" for p in resolved)
    except OSError as exc:
        raise IngestError(f"cannot read {exc.filename}: {exc.strerror or exc}") from exc
    crawl_id = crawl_id or ingest_crawl_id("ingest", "\n".join(keys))
    kind = "warc" if all(is_archive(p) for p in resolved) else "files"
    recorder = Recorder(store, crawl_id, batch_size=batch_size)
    recorder.begin(source=" ".join(str(p) for p in resolved), kind=kind,
                   settings={"max_image_bytes": max_image_bytes, "max_page_bytes": max_page_bytes,
                             "max_pixels": max_pixels, "timeout": timeout, "max_memory": max_memory},
                   warc_path=None)
    result = IngestResult(crawl_id=crawl_id)
    with AnalysisPool(workers, bounds=bounds) as pool:
        for path in resolved:
            items: Iterator[Item]
            if is_archive(path):
                items = iter_archive(path, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                     errors=result.errors)
            else:
                items = iter_files(path, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                   errors=result.errors)
            try:
                for item in analysed(items, pool):
                    recorder.add(item)
                    result.records += 1
                    if isinstance(item, PageItem):
                        result.pages += 1
                    elif isinstance(item, ImageRef):
                        result.sightings += 1
                    elif isinstance(item, ImageFetch) and item.record is not None:
                        result.images += 1
                    if progress is not None:
                        progress(type(item).__name__, 1)
            except (OSError, EOFError, ValueError) as exc:  # e.g. a file removed while being read
                message = f"{path}: reading stopped after {result.records} records: {exc}"
                logger.warning("%s", message)
                result.errors.append(message)
        result.analysis = dict(pool.stats)
    stats: dict[str, Any] = {"errors": result.errors} if result.errors else {}
    if result.analysis.get("timed_out") or result.analysis.get("crashed"):
        stats["analysis"] = result.analysis
    recorder.finish(stats)
    return result
