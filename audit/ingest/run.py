"""Ingest what others crawled: WARC/ARC archives (Common Crawl, Archive-It, our own crawls) and folders of image
files (a vendor's data export), through the same items and :class:`~audit.store.recorder.Recorder` as a live crawl."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import hashlib
import itertools
import logging
import os
import re
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from audit.decode.facejob import FaceOutcome, detection_pool, with_faces
from audit.decode.formats import HEAD_BYTES, sniff_image
from audit.decode.html import looks_like_image_url, parse_page
from audit.decode.htmltree import read_html
from audit.decode.pagefacts import page_facts
from audit.decode.stylesheets import is_css, read_stylesheet
from audit.decode.workers import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_PIXELS,
    DEFAULT_TIMEOUT,
    AnalysisPool,
    Bounds,
    WorkerPool,
)
from audit.errors import BodyTooLarge, ContentEncodingError, IngestError, Refused
from audit.httputil import is_html, is_image_type
from audit.ids import ingest_crawl_id
from audit.ingest.archive import ArchiveLimits, ArchiveRecord, read_archive, short_reason
from audit.ingest.imagelinks import ImageLinks
from audit.ingest.referers import RefererLinks
from audit.ingest.revisits import Location, Revisit, RevisitIndex, read_original, revisit_of
from audit.ingest.stylesheets import StylesheetLinks
from audit.ingest.warcpayload import RecordPayload
from audit.inputs import (
    DEFAULT_MAX_FILE_BYTES,
    check_regular,
    open_regular,
    sha256_open,
    sha256_regular,
    walk_entries,
)
from audit.records import (
    POLICY_PATHS,
    ArchivedAt,
    ImageFetch,
    ImageRecord,
    ImageRef,
    PageItem,
    PolicyFile,
    StylesheetFetch,
)
from audit.settings import DEFAULTS
from audit.store.db import Store
from audit.store.recorder import Recorder

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
Progress = Callable[[str, int], None]
Item = PageItem | ImageRef | ImageFetch | PolicyFile | StylesheetFetch
MAX_POLICY_BYTES = 512 * 1024
MAX_ERRORS_PER_ARCHIVE = 100  # errors recorded per archive file; the rest are counted
MAX_STYLESHEET_BYTES = int(DEFAULTS["AUDIT_MAX_STYLESHEET_BYTES"])  # of one archived stylesheet read
# An ingest holds its store for its whole run (a crawl lets go of it between batches): it buffers ten times the rows
# of a crawl's batch before each insert (32 inserts per table of 500 rows cost 0.6 s of CPU more than 4 of 5000 on
# the demo's WARC)
INGEST_BATCH_FACTOR = 10


@dataclass
class IngestResult:
    crawl_id: str
    pages: int = 0
    images: int = 0
    sightings: int = 0
    records: int = 0
    errors: list[str] = field(default_factory=list)
    analysis: dict[str, int] = field(default_factory=dict)  # AnalysisPool.stats: analysed, timed_out, crashed
    faces: dict[str, int] = field(default_factory=dict)  # the face detection pool's stats (empty without faces)
    skipped: list[str] = field(default_factory=list)  # paths in folders not read ("<path>: <why>"), also in errors
    revisits_resolved: int = 0  # WARC revisit records recorded as captures of their original's content
    revisits_unresolved: int = 0  # WARC revisit records whose original is not in the ingest (named in errors)
    referer_links: int = 0  # images linked to the archived page their request record's Referer names
    links_not_images: int = 0  # <a href> links to image-looking URLs the archives hold no image for: not recorded
    stylesheet_links: int = 0  # images linked to an archived page by a stylesheet it links (an archived text/css)
    stylesheets: int = 0  # archived stylesheets read (text/css responses, revisits included)


def is_archive(path: Path) -> bool:
    """A WARC or ARC file, by its name or, failing that, by its first bytes (also inside gzip). Only a regular file
    is opened (without blocking): anything else is not an archive by content."""
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return True
    try:
        with open_regular(path, None) as fh:
            return _is_archive_file(path, fh)
    except (Refused, OSError):
        return False


def _is_archive_file(path: Path, fh: BinaryIO) -> bool:
    """:func:`is_archive` of an open regular file (read from its start; its position is left anywhere)."""
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return True
    try:
        fh.seek(0)
        head = fh.read(64)
        if head.startswith(b"\x1f\x8b"):
            fh.seek(0)
            with gzip.GzipFile(fileobj=fh) as gz:
                head = gz.read(64)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error):
        return False
    return head.startswith((b"WARC/", b"filedesc://"))


def file_sha256(path: Path, max_bytes: int | None = None) -> str:
    """SHA-256 of a regular file of at most ``max_bytes`` bytes; :class:`audit.inputs.Refused` for anything else
    (a FIFO, a device, a file over the limit), before a byte is read."""
    return sha256_regular(path, max_bytes)


def _header_dict(http_headers: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if http_headers is None:
        return out
    for name, value in http_headers.headers[:100]:
        out.setdefault(name.lower()[:200], []).append(value[:2000])
    return out


_WARC_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?Z")


def _parse_warc_date(value: str | None) -> dt.datetime:
    if value:
        plain = _WARC_DATE.fullmatch(value)  # the usual forms, without strptime's cost (~20 us a record)
        if plain is not None:
            year, month, day, hour, minute, second = map(int, plain.groups()[:6])
            fraction = plain.group(7)  # as %f reads it: "5" is 500000 microseconds
            micro = int(fraction.ljust(6, "0")) if fraction else 0
            with contextlib.suppress(ValueError):  # not a date (month 13): as strptime would, below
                return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=dt.UTC)
        for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%d%H%M%S"):
            try:
                return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
            except ValueError:
                continue
    return dt.datetime.now(dt.UTC)


class _ArchiveErrors:
    """The errors of one archive, each naming the file and the offset; at most ``MAX_ERRORS_PER_ARCHIVE`` kept."""

    def __init__(self, path: Path, sink: list[str] | None) -> None:
        self.path = path
        self.sink = sink if sink is not None else []
        self.count = 0

    def add(self, offset: int | str, what: str) -> None:
        self.count += 1
        message = f"{self.path}: offset {offset}: {what}"
        if self.count <= MAX_ERRORS_PER_ARCHIVE:
            logger.warning("%s", message)
            self.sink.append(message)
        elif self.count == MAX_ERRORS_PER_ARCHIVE + 1:
            self.sink.append(f"{self.path}: more errors, not listed")


def iter_archive(
    path: Path, *, max_image_bytes: int, max_page_bytes: int, errors: list[str] | None = None,
    limits: ArchiveLimits | None = None, max_file_bytes: int | None = None, revisits: RevisitIndex | None = None,
    referers: RefererLinks | None = None, stylesheets: StylesheetLinks | None = None,
) -> Iterator[Item]:
    """Items from one WARC/ARC file: pages with their image references, and images with their bytes (``body``;
    the caller analyses them).

    Never raises for a broken archive: each break is appended to ``errors`` as ``"<file>: offset <n>: <what>"``.
    Records are framed by :func:`audit.ingest.archive.read_archive` (bounded header lines and blocks; a record is read
    only when its Content-Length fits; reading resumes at the next record start after a broken one, so the good
    records before and after it are kept and no item is made of another record's bytes). A record whose content
    cannot be read is an error of its own; the next record is read normally. A file that is not a regular file,
    or is larger than ``max_file_bytes``, is one error.

    A revisit record yields the items of its original (:mod:`audit.ingest.revisits`) at its own URI and date: at
    once when the original was read before (in this file, or in an earlier file sharing ``revisits``), else it waits
    in ``revisits.pending`` for :func:`resolve_pending`. Without ``revisits`` the file has an index of its own and
    its pending revisits are resolved (or reported as having no original) at its end.

    The ``Referer`` of each request record, and the pages and images read, go to ``referers``
    (:mod:`audit.ingest.referers`), which links images to the archived pages that requested them; without
    ``referers`` the file has its own and its links come at its end.

    The stylesheets pages link and the ``text/css`` responses read go to ``stylesheets``
    (:mod:`audit.ingest.stylesheets`), which links pages to the images their stylesheets name; without
    ``stylesheets`` the file has its own and its links come at its end (after the ``Referer`` links: a page and
    image pair linked by ``Referer`` is not linked again)."""
    log = _ArchiveErrors(path, errors)
    own_index = revisits is None
    index = revisits if revisits is not None else RevisitIndex()
    own_links = referers is None
    links = referers if referers is not None else RefererLinks()
    own_sheets = stylesheets is None
    sheets = stylesheets if stylesheets is not None else StylesheetLinks()
    limits = _archive_limits(limits, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes)
    try:
        for framed in read_archive(path, limits=limits, report=log.add, max_file_bytes=max_file_bytes):
            record = framed.record
            if record.rec_type == "revisit":
                revisit = revisit_of(record, path, framed.where, framed.offset, framed.length)
                if revisit is None:
                    log.add(framed.where, "revisit record without WARC-Target-URI: not read")
                elif index.find(revisit) is None:
                    index.pending.append(revisit)
                else:
                    revisited = list(_revisit_items(revisit, index, errors=errors, limits=limits,
                                                    max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                                    max_file_bytes=max_file_bytes))
                    links.saw(revisited)
                    sheets.saw(revisited)
                    yield from revisited
                continue
            if record.rec_type == "request":
                links.request(record)
                continue
            try:
                items = list(_record_items(record, max_image_bytes=max_image_bytes,
                                           max_page_bytes=max_page_bytes,
                                           archived_at=_archived_at(path, framed)))
            except Exception as exc:  # content that breaks its decoders (encodings, HTML): this record only
                log.add(framed.where, f"record unreadable ({short_reason(exc)}); the next record is read")
                continue
            if record.rec_type in ("response", "resource"):
                index.add_original(record, Location(path, framed.offset, framed.where))
            links.saw(items)
            sheets.saw(items)
            yield from items
    except Refused as exc:
        log.add(0, f"archive not read: {exc}")
    if own_index:
        pending = list(resolve_pending(index, errors=errors, limits=limits, max_image_bytes=max_image_bytes,
                                       max_page_bytes=max_page_bytes, max_file_bytes=max_file_bytes))
        links.saw(pending)
        sheets.saw(pending)
        yield from pending
    if own_links:
        by_referer = list(links.links())
        sheets.saw(by_referer)
        yield from by_referer
    if own_sheets:
        yield from sheets.links()


def _archived_at(path: Path, framed: ArchiveRecord) -> ArchivedAt:
    """Where ``framed`` is: the archive as named, its offset, ``WARC-Record-ID`` (None in an ARC file) and length."""
    record_id = None if framed.arc else framed.record.rec_headers.get_header("WARC-Record-ID")
    return ArchivedAt(str(path), framed.offset, record_id=record_id, length=framed.length)


def _last_items(pending: Iterator[Item], referers: RefererLinks, stylesheets: StylesheetLinks) -> Iterator[Item]:
    """The items of an ingest's last step: its pending revisits, then the images linked to pages by ``Referer``, then
    those linked by the stylesheets the pages link (where no ``Referer`` did: the archive's own record of which page
    asked for an image comes first)."""
    resolved = list(pending)
    referers.saw(resolved)
    stylesheets.saw(resolved)
    yield from resolved
    for ref in referers.links():
        stylesheets.saw((ref,))
        yield ref
    yield from stylesheets.links()


def _archive_limits(limits: ArchiveLimits | None, *, max_image_bytes: int, max_page_bytes: int) -> ArchiveLimits:
    """``limits`` with ``max_body`` set, when unset, to what :func:`_record_items` may read of a block (with room
    for HTTP framing and encodings)."""
    limits = limits or ArchiveLimits()
    if limits.max_body is None:
        limits = dataclasses.replace(limits, max_body=max(max_image_bytes, max_page_bytes, MAX_POLICY_BYTES)
                                     + 1024 * 1024)
    return limits


def _revisit_items(revisit: Revisit, index: RevisitIndex, *, errors: list[str] | None, limits: ArchiveLimits,
                   max_image_bytes: int, max_page_bytes: int, max_file_bytes: int | None) -> Iterator[Item]:
    """The items of ``revisit``'s original (found in ``index``), read again from its offset, as captured at the
    revisit's URI, date and address; counted in ``index.resolved``. An original that cannot be read again is an
    error of the revisit."""
    location = index.find(revisit)
    assert location is not None
    log = _ArchiveErrors(revisit.path, errors)
    problems: list[str] = []
    try:
        items: list[Item] = []
        for original in read_original(location, limits=limits, report=lambda _w, what: problems.append(what),
                                      max_file_bytes=max_file_bytes, index=index):
            at = ArchivedAt(str(revisit.path), revisit.offset,
                            revisit_of=f"{location.path}: offset {location.where}", record_id=revisit.record_id,
                            length=revisit.length)
            items = list(_record_items(original, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                       as_url=revisit.url, as_date=revisit.date, as_ip=revisit.server_ip,
                                       archived_at=at))
            break
        else:
            raise ValueError(problems[0] if problems else f"no record at offset {location.where}")
    except Exception as exc:  # the original changed or broke since it was read: this revisit only
        log.add(revisit.where, f"revisit of {revisit.url}: its original ({location.path}: offset "
                               f"{location.where}) could not be read again ({short_reason(exc)})")
        index.unresolved += 1
        return
    index.resolved += 1
    yield from items


def resolve_pending(index: RevisitIndex, *, errors: list[str] | None, limits: ArchiveLimits | None = None,
                    max_image_bytes: int, max_page_bytes: int, max_file_bytes: int | None) -> Iterator[Item]:
    """The items of the revisits in ``index.pending`` whose original was read after them; the others are counted
    in ``index.unresolved`` and each named in ``errors`` (``"<file>: offset <n>: revisit of <url> ..."``).
    ``index.pending`` is empty afterwards."""
    limits = _archive_limits(limits, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes)
    pending, index.pending = index.pending, []
    missing: list[Revisit] = []
    for revisit in pending:
        if index.find(revisit) is None:
            missing.append(revisit)
            continue
        yield from _revisit_items(revisit, index, errors=errors, limits=limits, max_image_bytes=max_image_bytes,
                                  max_page_bytes=max_page_bytes, max_file_bytes=max_file_bytes)
    index.unresolved += len(missing)
    logs: dict[Path, _ArchiveErrors] = {}
    for revisit in missing:  # each named as an error of its own archive (at most MAX_ERRORS_PER_ARCHIVE listed)
        log = logs.setdefault(revisit.path, _ArchiveErrors(revisit.path, errors))
        log.add(revisit.where, f"revisit of {revisit.url} at {revisit.date}: no original in this ingest, "
                               "capture not recorded")


def _record_items(record: Any, *, max_image_bytes: int, max_page_bytes: int, as_url: str | None = None,
                  as_date: str | None = None, as_ip: str | None = None,
                  archived_at: ArchivedAt | None = None) -> Iterator[Item]:
    """The items of one archive record (none for requests, metadata, revisits, non-image resources). ``as_url``,
    ``as_date`` (a WARC-Date) and ``as_ip`` give the capture another URI, date and address than the record's own
    (a revisit's, whose content this record holds); ``archived_at`` says where the capture is (the revisit's record
    for a revisit), and goes on its page and image fetch."""
    if record.rec_type not in ("response", "resource"):
        return
    url = as_url or record.rec_headers.get_header("WARC-Target-URI")
    if not url:
        return
    url = url.strip("<>")
    when = _parse_warc_date(as_date or record.rec_headers.get_header("WARC-Date"))
    http = record.http_headers if record.rec_type == "response" else None
    status = int(http.get_statuscode() or 0) if http is not None and http.get_statuscode() else None
    ctype = (http.get_header("Content-Type") if http is not None else None) or record.rec_headers.get_header(
        "Content-Type"
    )
    ip = as_ip or record.rec_headers.get_header("WARC-IP-Address")
    headers = _header_dict(http)
    payload = RecordPayload(record)  # de-chunked, content encoding undone (audit.decode.contentcoding), bounded
    if is_html(ctype):
        try:
            body = payload.read(max_page_bytes)
        except ContentEncodingError as exc:  # too large, or an unknown or broken content encoding
            why = str(exc) if payload.encodings else f"page larger than {max_page_bytes} bytes"
            yield PageItem(url=url, status=status or 0, fetched_at=when, server_ip=ip, content_type=ctype,
                           headers=headers, error=f"{why}, not parsed", archived_at=archived_at)
            return
        text = body.decode(_charset(ctype) or "utf-8", errors="replace")
        tree = read_html(text)
        parsed = parse_page(tree, url, fetched_at=when)
        yield PageItem(url=url, status=status or 0, fetched_at=when, server_ip=ip, lang=parsed.lang,
                       title=parsed.title, content_type=ctype, headers=headers, facts=page_facts(tree, url),
                       error=parsed.error, archived_at=archived_at, stylesheets=tuple(parsed.stylesheets))
        yield from parsed.image_refs
        return
    if is_css(ctype) and (status is None or 200 <= status < 300):
        truncated = bool(record.rec_headers.get_header("WARC-Truncated"))  # the crawl that archived it cut it
        yield _stylesheet_item(payload, url, when=when, status=status, ctype=ctype, truncated=truncated)
        return
    policy = POLICY_PATHS.get(urlsplit(url).path)
    if policy is not None:
        error = None
        try:
            raw = payload.read(MAX_POLICY_BYTES)
        except BodyTooLarge:  # the start of an over-long file is read, as before
            raw = payload.head(MAX_POLICY_BYTES, limit=MAX_POLICY_BYTES)
        except ContentEncodingError as exc:
            raw, error = b"", str(exc)
        yield PolicyFile(kind=policy, url=url, status=status or 0, body=raw.decode("utf-8", errors="replace"),
                         fetched_at=when, error=error)
        return
    if status is not None and not 200 <= status < 300:
        return  # redirects and errors of non-page resources: nothing to record as content
    head = payload.head(HEAD_BYTES, limit=max_image_bytes)
    if not (is_image_type(ctype) or looks_like_image_url(url) or sniff_image(head)):
        return
    try:
        body = payload.read(max_image_bytes)
    except ContentEncodingError as exc:  # too large, or an unknown or broken content encoding
        why = str(exc) if payload.encodings else f"image larger than {max_image_bytes} bytes"
        yield ImageFetch(url=url, final_url=url, fetched_at=when, status=status, content_type=ctype,
                         server_ip=ip, headers=headers, error=why, archived_at=archived_at)
        return
    yield ImageFetch(url=url, final_url=url, fetched_at=when, status=status, content_type=ctype,
                     server_ip=ip, headers=headers, body=body, archived_at=archived_at)


def _stylesheet_item(payload: RecordPayload, url: str, *, when: dt.datetime, status: int | None,
                     ctype: str | None, truncated: bool = False) -> StylesheetFetch:
    """An archived stylesheet, read to at most :data:`MAX_STYLESHEET_BYTES` decoded bytes (a longer one is cut there,
    and says so, as does one whose record is ``WARC-Truncated``), with what it names; one whose content encoding is
    broken is recorded with that error."""
    cut = truncated
    try:
        body = payload.read(MAX_STYLESHEET_BYTES)
    except BodyTooLarge:
        body, cut = payload.head(MAX_STYLESHEET_BYTES, limit=MAX_STYLESHEET_BYTES), True
    except ContentEncodingError as exc:
        return StylesheetFetch(url=url, final_url=url, fetched_at=when, status=status, content_type=ctype,
                               error=str(exc))
    refs = read_stylesheet(body, url, content_type=ctype, max_bytes=MAX_STYLESHEET_BYTES, cut=cut)
    return StylesheetFetch(url=url, final_url=url, fetched_at=when, status=status, content_type=ctype,
                           bytes=len(body), image_urls=refs.image_urls, imports=refs.imports, skipped=refs.skipped,
                           error=refs.error)


def _charset(ctype: str | None) -> str | None:
    if not ctype or "charset=" not in ctype.lower():
        return None
    value = ctype.lower().split("charset=", 1)[1].split(";")[0].strip().strip("\"'")
    try:
        "".encode(value)
    except LookupError:
        return None
    return value


def _file_url(path: Path) -> str:
    """The ``file://`` URL of a path found or named: its folder resolved, its own name kept (a symlink is named
    as itself, not as its target)."""
    return (path.parent.resolve() / path.name).as_uri()


def _refused(path: Path, why: str, errors: list[str] | None, skipped: list[str] | None) -> Iterator[Item]:
    """The rows of a path that is not read: a sighting of its URL and a failed fetch saying why."""
    message = f"{path}: {why}"
    logger.warning("%s", message)
    for sink in (errors, skipped):
        if sink is not None:
            sink.append(message)
    url = _file_url(path)
    when = dt.datetime.now(dt.UTC)
    yield ImageRef(page_url=None, image_url=url, ref_kind="file", fetched_at=when)
    yield ImageFetch(url=url, final_url=url, fetched_at=when, error=why)


def iter_files(root: Path, *, max_image_bytes: int, max_page_bytes: int = int(DEFAULTS["AUDIT_MAX_PAGE_BYTES"]),
               errors: list[str] | None = None, max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
               limits: ArchiveLimits | None = None, skipped: list[str] | None = None,
               revisits: RevisitIndex | None = None, referers: RefererLinks | None = None,
               stylesheets: StylesheetLinks | None = None) -> Iterator[Item]:
    """Items from a folder of files (or one file): every entry is recorded by its URL (``file://``), a regular file
    with its bytes (``body``; the caller analyses them), readable or not.

    Only regular files are read, and only when at most ``max_file_bytes`` bytes (checked before reading; one over
    ``max_image_bytes`` is hashed, not decoded). A symlink is followed only to a regular file inside ``root``. Any
    other entry -- a FIFO, socket or device, a symlink leading outside ``root``, to a folder, to something that is
    not a regular file or nowhere, a file over the size limit, a file that cannot be opened -- is recorded as a
    failed fetch saying why, appended to ``errors`` and ``skipped``; nothing is opened that could block. WARC/ARC
    files found in a folder are read as archives (their errors go to ``errors``; their revisits resolved through
    ``revisits``, see :func:`iter_archive`)."""
    entries = walk_entries(root) if root.is_dir() else iter([(root, root, None)])
    for path, target, refusal in entries:
        if target is None:
            yield from _refused(path, refusal or "not read", errors, skipped)
            continue
        try:
            with open_regular(target, max_file_bytes) as fh:
                st = os.fstat(fh.fileno())
                when = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
                if root.is_dir() and _is_archive_file(path, fh):
                    archive = True
                elif st.st_size > max_image_bytes:
                    archive = False
                    record = ImageRecord(sha256=sha256_open(fh, max_file_bytes), size=st.st_size,
                                         error=f"file larger than {max_image_bytes} bytes, not decoded")
                    fetch = ImageFetch(url=_file_url(path), final_url=_file_url(path), fetched_at=when,
                                       record=record)
                else:
                    archive = False
                    fh.seek(0)
                    body = fh.read(max_image_bytes + 1)
                    if len(body) > max_image_bytes:
                        raise Refused(f"file grew past {max_image_bytes} bytes while it was read: not read")
                    fetch = ImageFetch(url=_file_url(path), final_url=_file_url(path), fetched_at=when, body=body)
        except Refused as exc:
            yield from _refused(path, str(exc), errors, skipped)
            continue
        except OSError as exc:
            yield from _refused(path, f"cannot read file: {exc.strerror or exc}", errors, skipped)
            continue
        if archive:
            yield from iter_archive(target, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                    errors=errors, limits=limits, max_file_bytes=max_file_bytes, revisits=revisits,
                                    referers=referers, stylesheets=stylesheets)
            continue
        url = _file_url(path)
        yield ImageRef(page_url=None, image_url=url, ref_kind="file", fetched_at=when)
        yield fetch


SAME_BYTES_REMEMBERED = 4096  # recent contents whose analysis `analysed` reuses for the same bytes met again


def analysed(items: Iterator[Item], pool: AnalysisPool, window: int | None = None,
             remember: int = SAME_BYTES_REMEMBERED, faces: WorkerPool[FaceOutcome] | None = None) -> Iterator[Item]:
    """``items`` in order, each :class:`ImageFetch` carrying a ``body`` given its record (analysed in ``pool``,
    bounded in time and memory) in place of the body; up to ``window`` analyses in flight. The same bytes met again
    within the last ``remember`` distinct contents (a WARC revisit, one image at several URLs) are not analysed
    again: they get the record of their first analysis (counted in ``pool.stats["reused"]``). With ``faces`` (a
    :func:`audit.decode.facejob.detection_pool`), the faces of each distinct content are detected there, alongside
    its analysis and under the pool's own bounds, and the record carries them (:func:`~audit.decode.facejob.
    with_faces`): a detection that fails leaves the analysis whole."""
    window = window or 2 * pool.size
    pending: deque[tuple[Item, _Analysis | None]] = deque()
    in_flight = 0
    recent: OrderedDict[bytes, _Analysis] = OrderedDict()
    pool.stats.setdefault("reused", 0)

    def pop() -> Item:
        nonlocal in_flight
        item, analysis_of = pending.popleft()
        if analysis_of is None:
            return item
        in_flight -= 1
        assert isinstance(item, ImageFetch)
        record = pool.result(analysis_of.record)
        if faces is not None and analysis_of.faces is not None:
            record = with_faces(record, faces.result(analysis_of.faces))
        return dataclasses.replace(item, record=record, body=None)

    def analysis(body: bytes) -> _Analysis:
        key = hashlib.sha256(body).digest()
        known = recent.get(key)
        if known is not None:
            recent.move_to_end(key)
            pool.stats["reused"] += 1
            return known
        known = recent[key] = _Analysis(pool.submit(body), faces.submit(body) if faces is not None else None)
        if len(recent) > remember:
            recent.popitem(last=False)
        return known

    try:
        for item in items:
            if isinstance(item, ImageFetch) and item.body is not None and item.record is None:
                pending.append((item, analysis(item.body)))
                in_flight += 1
            else:
                pending.append((item, None))
            while pending and (in_flight >= window or pending[0][1] is None or pending[0][1].record.done()):
                yield pop()
    except Exception:
        while pending:  # the items broke off: what was read before is kept
            yield pop()
        raise
    while pending:
        yield pop()


@dataclass(frozen=True, slots=True)
class _Analysis:
    """The analysis of one distinct content in flight, and its face detection when faces are detected."""

    record: Future[ImageRecord]
    faces: Future[FaceOutcome] | None


def ingest(
    store: Store,
    paths: Sequence[str | Path],
    *,
    crawl_id: str | None = None,
    batch_size: int = INGEST_BATCH_FACTOR * int(DEFAULTS["AUDIT_BATCH_SIZE"]),
    max_image_bytes: int = int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
    max_page_bytes: int = int(DEFAULTS["AUDIT_MAX_PAGE_BYTES"]),
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float = DEFAULT_TIMEOUT,
    max_memory: int = DEFAULT_MAX_MEMORY,
    workers: int = int(DEFAULTS["AUDIT_ANALYSIS_PROCESSES"]),
    progress: Progress | None = None,
    max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
    archive_limits: ArchiveLimits | None = None,
    faces: bool = bool(DEFAULTS["AUDIT_FACES"]),
) -> IngestResult:
    """Ingest archives, folders and image files into ``store`` as one crawl.

    The crawl id is derived from the inputs (an archive or file by its content digest, a folder by its absolute
    path) unless given, so ingesting the same inputs again adds no rows. Images are analysed in ``workers`` worker
    processes, each file bounded by ``timeout`` seconds, ``max_memory`` bytes of address space and ``max_pixels``
    decoded pixels (see :mod:`audit.decode.workers`); a file over a bound is still recorded, with its error. A broken
    archive is recorded as errors naming the file and the offset; the records before and after each break are
    kept; archive records are read within ``archive_limits`` (header lines and blocks).

    Every path named must be a folder or a regular file of at most ``max_file_bytes`` bytes (a symlink to one
    counts), else :class:`IngestError` names it and why, before anything is read or recorded: nothing hangs on a
    FIFO or reads ``/dev/zero``. Inside folders, paths that are not read are recorded as failed fetches (see
    :func:`iter_files`) and listed in ``skipped``.

    WARC revisit records are recorded as captures (a page, its sightings, an image fetch) at their own URI and date,
    with the content of their original, found by ``WARC-Refers-To``, target URI and date, or payload digest in any
    archive of the ingest (before or after the revisit); ``revisits_resolved`` counts them, ``revisits_unresolved``
    those whose original is not in the ingest (named in ``errors``).

    An ``<a href>`` to an image-looking URL (``ref_kind`` ``link``) is recorded as a sighting only when an archive of
    the ingest holds an image response at that URL (:mod:`audit.ingest.imagelinks`): a link to a MediaWiki
    ``File:…jpg`` page is no image; ``links_not_images`` counts the links left out.

    With ``faces``, the faces of each distinct readable image are detected in as many worker processes of their own,
    under the same bounds (``faces`` and ``images.face_count``); a detection that fails is named in
    ``images.face_error`` and the image keeps its other rows. Without, ``face_count`` stays NULL."""
    bounds = Bounds(timeout=timeout, max_memory=max_memory, max_pixels=max_pixels)
    resolved = [Path(p) for p in paths]
    for p in resolved:
        if not p.exists():
            raise IngestError(f"no such file or folder: {p}")
        if p.is_dir():
            continue
        try:
            check_regular(p.stat(), max_file_bytes)
        except Refused as exc:
            raise IngestError(f"cannot ingest {p}: {exc}") from exc
        except OSError as exc:
            raise IngestError(f"cannot read {p}: {exc.strerror or exc}") from exc
    try:
        keys = sorted(f"dir:{p.resolve()}" if p.is_dir() else f"file:{file_sha256(p, max_file_bytes)}"
                      for p in resolved)
    except Refused as exc:  # a path changed since it was checked
        raise IngestError(f"cannot ingest: {exc}") from exc
    except OSError as exc:
        raise IngestError(f"cannot read {exc.filename}: {exc.strerror or exc}") from exc
    crawl_id = crawl_id or ingest_crawl_id("ingest", "\n".join(keys))
    kind = "warc" if all(is_archive(p) for p in resolved) else "files"
    recorder = Recorder(store, crawl_id, batch_size=batch_size)
    recorder.begin(source=" ".join(str(p) for p in resolved), kind=kind,
                   settings={"max_image_bytes": max_image_bytes, "max_page_bytes": max_page_bytes,
                             "max_pixels": max_pixels, "timeout": timeout, "max_memory": max_memory,
                             "max_file_bytes": max_file_bytes, "faces": faces},
                   warc_path=None)
    result = IngestResult(crawl_id=crawl_id)
    revisits = RevisitIndex()  # originals of every archive of this ingest, for the revisits of any of them
    referers = RefererLinks()  # what the request records of every archive say about which page asked for an image
    image_links = ImageLinks()  # <a href> links to image-looking URLs, kept where the archives hold an image
    stylesheets = StylesheetLinks()  # the stylesheets archived pages link, and what archived stylesheets name
    with AnalysisPool(workers, bounds=bounds) as pool, \
            (detection_pool(workers, bounds=bounds) if faces else contextlib.nullcontext()) as detector:
        for path in [*resolved, None]:
            items: Iterator[Item]
            if path is None:  # revisits whose original came in a later record or file, then Referer links
                last = _last_items(resolve_pending(revisits, errors=result.errors, limits=archive_limits,
                                                   max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                                   max_file_bytes=max_file_bytes), referers, stylesheets)
                items = itertools.chain(image_links.hold(last), image_links.release())
            elif is_archive(path):
                items = iter_archive(path, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                     errors=result.errors, limits=archive_limits, max_file_bytes=max_file_bytes,
                                     revisits=revisits, referers=referers, stylesheets=stylesheets)
            else:
                items = iter_files(path, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                   errors=result.errors, max_file_bytes=max_file_bytes, limits=archive_limits,
                                   skipped=result.skipped, revisits=revisits, referers=referers,
                                   stylesheets=stylesheets)
            if path is not None:
                items = image_links.hold(items)
            try:
                for item in analysed(items, pool, faces=detector):
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
                message = f"{path or 'revisits'}: reading stopped after {result.records} records: {exc}"
                logger.warning("%s", message)
                result.errors.append(message)
        result.analysis = dict(pool.stats)
        if detector is not None:
            result.faces = dict(detector.stats)
    result.revisits_resolved, result.revisits_unresolved = revisits.resolved, revisits.unresolved
    stats: dict[str, Any] = {"errors": result.errors} if result.errors else {}
    if revisits.resolved or revisits.unresolved:
        stats["revisits"] = {"resolved": revisits.resolved, "unresolved": revisits.unresolved}
    result.referer_links = referers.linked
    result.links_not_images = image_links.not_images
    if image_links.not_images or image_links.unchecked:
        stats["image_links"] = {"kept": image_links.kept, "not_images": image_links.not_images,
                                "unchecked": image_links.unchecked}
    if referers.linked or referers.dropped:
        stats["referers"] = {"linked": referers.linked, "not_remembered": referers.dropped}
    result.stylesheet_links, result.stylesheets = stylesheets.linked, stylesheets.read
    if stylesheets.read or stylesheets.linked or stylesheets.dropped:
        stats["stylesheets"] = {"read": stylesheets.read, "linked": stylesheets.linked,
                                "not_remembered": stylesheets.dropped}
    if result.faces.get("timed_out") or result.faces.get("crashed"):
        stats["faces"] = result.faces
    if result.analysis.get("timed_out") or result.analysis.get("crashed"):
        stats["analysis"] = result.analysis
    recorder.finish(stats)
    return result
