"""Write every response of a crawl to a WARC file, as evidence others can replay and check.

A response whose payload is identical to one the file already holds (the same image under two URLs) is written, by
default (``AUDIT_WARC_DEDUP``), as a ``revisit`` record of profile ``identical-payload-digest`` that refers to the
first record, as Heritrix and ``wget --warc-dedup`` do; ``audit.ingest.revisits`` resolves it back.

:class:`WarcFile` is a plain writer; :class:`WarcMiddleware` is the Scrapy downloader middleware that feeds it with
each request and the raw response (before decompression, redirects or retries), so redirects, errors and robots.txt
are kept too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import logging
import os
import threading
import zlib
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any

from scrapy import Request, signals
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from audit import settings as audit_settings
from audit.checkpoints import checkpoint
from audit.crawl.context import CrawlContext, crawl_context
from audit.crawl.context import default_warc_path as default_warc_path
from audit.crawl.render import RENDER_META
from audit.records import ArchivedAt

logger = logging.getLogger(__name__)

SOFTWARE = "provenance-audit"
DEFAULT_LEVEL = int(audit_settings.DEFAULTS["AUDIT_WARC_GZIP_LEVEL"])  # gzip level of a record
IDENTICAL_PAYLOAD = "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"
MAX_DIGESTS = 1_000_000  # payload digests a file remembers for deduplication (~150 bytes each); past them, none


def payload_digest(body: bytes) -> str:
    """A payload's ``WARC-Payload-Digest``, as warcio and Heritrix write it: ``sha1:`` and the base-32 SHA-1."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")  # noqa: S324 - WARC's digest


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# Payloads that are already compressed (JPEG, PNG, GIF, WebP, AVIF/HEIF, gzip, zip): deflating them again costs
# ~20 MB/s of CPU for a ~3% saving, so their records are written as gzip members of stored (level 0) blocks.
_COMPRESSED_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"\x1f\x8b", b"PK\x03\x04")


def already_compressed(body: bytes) -> bool:
    """Whether ``body`` starts like a format that is already compressed, by its magic bytes (not the declared
    content type, which a server may get wrong)."""
    if body.startswith(_COMPRESSED_MAGIC):
        return True
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return True
    return body[4:8] == b"ftyp" and body[8:12] in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1")


class _GzipMember:
    """One gzip member per WARC record (what every WARC reader expects), at a chosen compression level."""

    def __init__(self, out: IO[bytes], level: int) -> None:
        self.out = out
        self.compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)

    def write(self, buff: bytes) -> None:
        self.out.write(self.compressor.compress(buff))

    def flush(self) -> None:
        self.out.write(self.compressor.flush())
        self.out.flush()  # whole records reach the file: a crawl killed mid-way leaves a readable WARC


class _LevelWARCWriter(WARCWriter):
    """warcio's writer with the gzip level chosen per record (warcio itself always compresses at level 9)."""

    def __init__(self, out: IO[bytes]) -> None:
        super().__init__(out, gzip=False)

    def write_record_at(self, record: Any, level: int) -> None:
        self._write_warc_record(_GzipMember(self.out, level), record)


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, values in headers.items():
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        for v in values:
            pairs.append((key, v.decode("latin-1") if isinstance(v, bytes) else str(v)))
    return pairs


@dataclass(frozen=True, slots=True)
class WarcScan:
    """What :func:`scan_warc` found in a WARC file written one record per gzip member."""

    path: Path
    size: int  # bytes in the file when scanned
    end: int  # offset just past the last complete record
    records: int  # complete records
    response_uris: frozenset[str] | None = None  # WARC-Target-URI of every complete response or revisit record

    @property
    def dropped(self) -> int:
        """Bytes after the last complete record: the start of a record whose writer was killed."""
        return self.size - self.end


_SCAN_CHUNK = 64 * 1024  # compressed bytes fed to zlib at a time (bounds what one call can inflate to)
_SCAN_HEAD = 16 * 1024  # decompressed bytes kept per record to read its WARC headers


def _response_uri(head: bytes) -> str | None:
    """The WARC-Target-URI of a record whose decompressed start is ``head``, if it is a response record, or a revisit
    record (:class:`WarcFile` writes one only after the response whose payload it refers to)."""
    block = head.split(b"\r\n\r\n", 1)[0]
    rec_type: bytes | None = None
    uri: str | None = None
    for line in block.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"warc-type":
            rec_type = value.strip()
        elif name == b"warc-target-uri":
            uri = value.strip().strip(b"<>").decode("utf-8", "replace")
    return uri if rec_type in (b"response", b"revisit") else None


def scan_warc(path: str | Path, *, response_uris: bool = False) -> WarcScan:
    """Walk the gzip members of a WARC file written by :class:`WarcFile` (one record per member) and find where the
    last complete record ends. A member counts when it decompresses to its end (gzip trailer and CRC checked) and
    starts with a ``WARC/`` version line; the scan stops at the first member that does not (a record cut short by a
    killed writer, or garbage), so everything before ``end`` reads cleanly."""
    p = Path(path)
    size = p.stat().st_size if p.exists() else 0
    uris: set[str] | None = set() if response_uris else None
    end = records = 0
    if size:
        with open(p, "rb") as fh:
            pending = b""
            pos = 0  # file offset of pending[0]
            member: Any = None
            head = bytearray()
            while True:
                if not pending:
                    pending = fh.read(_SCAN_CHUNK)
                    if not pending:
                        break
                if member is None:
                    member = zlib.decompressobj(zlib.MAX_WBITS + 16)
                    head = bytearray()
                try:
                    out = member.decompress(pending)
                except zlib.error:
                    break
                if len(head) < _SCAN_HEAD:
                    head += out[: _SCAN_HEAD - len(head)]
                if not member.eof:
                    pos += len(pending)
                    pending = b""
                    continue
                rest = member.unused_data
                pos += len(pending) - len(rest)
                pending = rest
                member = None
                if not head.startswith(b"WARC/"):
                    break
                records += 1
                end = pos
                if uris is not None:
                    uri = _response_uri(bytes(head))
                    if uri:
                        uris.add(uri)
    return WarcScan(path=p, size=size, end=end, records=records,
                    response_uris=frozenset(uris) if uris is not None else None)


def repair_warc(path: str | Path, *, response_uris: bool = False) -> WarcScan:
    """Make an existing WARC file safe to append to: cut off the incomplete record a killed writer left at its end
    (appending after it would leave a gzip member that no reader can get past). Returns the scan; its ``dropped``
    says how many bytes were cut. A missing or empty file is left alone."""
    scan = scan_warc(path, response_uris=response_uris)
    if scan.dropped:
        os.truncate(scan.path, scan.end)
        logger.warning("%s ended in %d bytes of an incomplete record (its writer was killed): cut them off, "
                       "%d complete records kept", scan.path, scan.dropped, scan.records)
    return scan


def repair_warc_once(context: CrawlContext, *, response_uris: bool = False) -> WarcScan:
    """:func:`repair_warc` on a crawl's WARC file, once per crawl (kept in its
    :class:`~audit.crawl.context.CrawlContext`: the resume logic and :class:`WarcMiddleware` both ask, before anything
    is written to it). The crawl must write a WARC (``context.warc_path`` set)."""
    if context.warc_path is None:
        raise ValueError(f"crawl {context.crawl_id} writes no WARC (AUDIT_WARC is off)")
    cached = context.warc_scan
    if cached is not None and (cached.response_uris is not None or not response_uris):
        return cached
    scan = repair_warc(context.warc_path, response_uris=response_uris)
    context.warc_scan = scan
    return scan


class WarcFile:
    """An append-only gzipped WARC file, one gzip member per record. Appending to an existing file (a resumed crawl)
    adds new gzip members, which every WARC reader accepts; an incomplete record at its end (a writer killed mid
    record) is cut off first (``repair``, see :func:`repair_warc`), so the file stays readable end to end.

    Records are compressed at ``level``, except responses whose body is already compressed (JPEG, PNG, WebP, ...),
    which are stored in gzip members at level 0: still valid gzip, read by any WARC reader, at a fraction of the CPU.
    """

    RECENT_RESPONSES = 4096  # response records remembered for the conversion records that refer to them

    def __init__(
        self, path: str | Path, *, info: dict[str, str] | None = None, level: int = DEFAULT_LEVEL, repair: bool = True,
        dedup: bool = False,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.level = max(0, min(9, int(level)))
        if repair:
            repair_warc(self.path)
        self._fh: IO[bytes] = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._writer = _LevelWARCWriter(self._fh)
        self._lock = threading.Lock()
        self.records = 0
        self.revisits = 0  # responses written as revisit records
        # payload digest -> (record id, target URI, WARC-Date) of the first response written with it, when deduplicating
        self._originals: dict[str, tuple[str, str, str]] | None = {} if dedup else None
        # URL -> (WARC-Record-ID, WARC-Date) of its latest response records, for the conversion records of a
        # rendered crawl that refer to them; bounded (a page is rendered soon after its response is written)
        self._recent: OrderedDict[str, tuple[str, str]] = OrderedDict()
        if self._fh.tell() == 0:
            self._write(self._writer.create_warcinfo_record(self.path.name, info or {"software": SOFTWARE}))

    def _write(self, record: Any, level: int | None = None) -> tuple[int, int]:
        """Append ``record`` as one gzip member; its file offset and length in bytes."""
        with self._lock:
            start = self._fh.tell()
            self._writer.write_record_at(record, self.level if level is None else level)
            self.records += 1
            return start, self._fh.tell() - start

    def write_exchange(
        self,
        *,
        url: str,
        method: str,
        request_headers: list[tuple[str, str]],
        request_body: bytes,
        status: int,
        response_headers: list[tuple[str, str]],
        body: bytes,
        ip_address: str | None = None,
        date: dt.datetime | None = None,
        truncated: str | None = None,
    ) -> ArchivedAt:
        """Write one response record and the request record that produced it; ``truncated`` is the record's
        ``WARC-Truncated`` reason (``length``: the download was stopped at a size bound), if any. When the file
        deduplicates and an earlier response of this writer had the same whole 2xx payload, the response is a revisit
        record (its HTTP headers, no body) referring to that earlier record. Returns where the response (or revisit)
        record is: this file, its offset, length and ``WARC-Record-ID``."""
        date = date or dt.datetime.now(dt.UTC)
        warc_date = date.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # The body is stored as received but already de-chunked: drop Transfer-Encoding and state the real length.
        resp_headers = [
            (k, v) for k, v in response_headers if k.lower() not in ("transfer-encoding", "content-length")
        ]
        resp_headers.append(("Content-Length", str(len(body))))
        http_headers = StatusAndHeaders(f"{status} {_reason(status)}", resp_headers, protocol="HTTP/1.1")
        extra = {"WARC-Date": warc_date}
        if ip_address:
            extra["WARC-IP-Address"] = ip_address
        if truncated:
            extra["WARC-Truncated"] = truncated
        original = None
        whole = self._originals is not None and bool(body) and 200 <= status < 300 and not truncated
        digest = payload_digest(body) if whole else None
        if digest is not None:
            assert self._originals is not None
            original = self._originals.get(digest)
        if original is not None:
            refers_to, refers_uri, refers_date = original
            response = self._writer.create_revisit_record(url, digest, refers_uri, refers_date,
                                                          http_headers=http_headers, warc_headers_dict=extra)
            response.rec_headers.replace_header("WARC-Profile", IDENTICAL_PAYLOAD)
            response.rec_headers.add_header("WARC-Refers-To", refers_to)
        else:
            response = self._writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http_headers,
                warc_headers_dict=extra,
            )
            if digest is not None and self._originals is not None and len(self._originals) < MAX_DIGESTS:
                self._originals[digest] = (str(response.rec_headers.get_header("WARC-Record-ID")), url, warc_date)
        path = url.split("://", 1)[-1].split("/", 1)
        target = "/" + (path[1] if len(path) > 1 else "")
        req_headers = StatusAndHeaders(f"{method} {target} HTTP/1.1", request_headers, is_http_request=True)
        request = self._writer.create_warc_record(
            url, "request", payload=io.BytesIO(request_body), length=len(request_body), http_headers=req_headers,
            warc_headers_dict={"WARC-Date": warc_date},
        )
        record_id = response.rec_headers.get_header("WARC-Record-ID")
        request.rec_headers.add_header("WARC-Concurrent-To", record_id)
        offset, length = self._write(response, 0 if original is not None or already_compressed(body) else self.level)
        self._write(request)
        if original is not None:
            self.revisits += 1
        self._recent[url] = (record_id, warc_date)
        self._recent.move_to_end(url)
        if len(self._recent) > self.RECENT_RESPONSES:
            self._recent.popitem(last=False)
        return ArchivedAt(str(self.path), offset, record_id=str(record_id), length=length)

    def write_conversion(self, *, url: str, body: bytes, content_type: str = "text/html; charset=utf-8",
                         date: dt.datetime | None = None, max_bytes: int | None = None) -> None:
        """Write a ``conversion`` record: ``body`` is what ``url``'s response became (the DOM a browser rendered
        from it). It names the response by ``WARC-Refers-To-Target-URI`` always, and by ``WARC-Refers-To`` and
        ``WARC-Refers-To-Date`` when this writer wrote that response recently. A body longer than ``max_bytes`` is
        cut there and the record says so (``WARC-Truncated: length``). Readers that look for ``response`` records
        (ingest) pass it by."""
        date = date or dt.datetime.now(dt.UTC)
        extra = {"WARC-Date": date.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "WARC-Refers-To-Target-URI": url}
        if max_bytes is not None and len(body) > max_bytes:
            body = body[:max_bytes]
            extra["WARC-Truncated"] = "length"
        recent = self._recent.get(url)
        if recent is not None:
            extra["WARC-Refers-To"], extra["WARC-Refers-To-Date"] = recent
        record = self._writer.create_warc_record(
            url, "conversion", payload=io.BytesIO(body), length=len(body), warc_content_type=content_type,
            warc_headers_dict=extra,
        )
        self._write(record)

    def flush(self) -> None:
        with self._lock:
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


def warcinfo_fields(settings: Any, crawl_id: str) -> dict[str, str]:
    """The fields of a crawl's ``warcinfo`` record (WARC 1.1, section 6.1): software and version (and the source
    revision from a checkout), the operator (``AUDIT_OPERATOR``), the robots.txt policy, the user agent, and every
    setting the crawl records (as one line of JSON)."""
    from audit.crawl.pipeline import recorded_settings
    from audit.provenance import redact, tool

    t = tool()
    obey = bool(settings.getbool("ROBOTSTXT_OBEY")) if hasattr(settings, "getbool") else bool(
        settings.get("ROBOTSTXT_OBEY"))
    info = {"software": f"{SOFTWARE}/{t['version']}", "format": "WARC File Format 1.1", "crawl-id": crawl_id,
            "operator": str(audit_settings.get(settings, "AUDIT_OPERATOR") or "not given (AUDIT_OPERATOR)"),
            "robots": "obey robots.txt (RFC 9309)" if obey else "robots.txt ignored",
            "http-header-user-agent": str(settings.get("USER_AGENT") or ""),
            "settings": redact(json.dumps(recorded_settings(settings), sort_keys=True, ensure_ascii=True))}
    if t.get("revision"):
        info["software-revision"] = str(t["revision"])
    # a warcinfo field is one line: no raw line break may reach the record
    return {k: " ".join(v.split()) if k != "settings" else v for k, v in info.items()}


class WarcMiddleware:
    """Downloader middleware (order 950, next to the downloader) that writes each exchange to the crawl's WARC.

    Records are built, digested, compressed and written by one writer thread, in the order responses arrive, so the
    reactor only copies references; at most ``MAX_PENDING`` exchanges wait for it (then the reactor waits)."""

    MAX_PENDING = 256

    def __init__(self, crawler: Any, context: CrawlContext | None = None, *, level: int = DEFAULT_LEVEL,
                 dedup: bool = False) -> None:
        self.crawler = crawler
        self.context = context if context is not None else crawl_context(crawler)
        self.level = level
        self.dedup = dedup
        self.warc: WarcFile | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._pending: deque[Future[ArchivedAt | None]] = deque()
        self._errors = 0
        self.info: dict[str, str] | None = None  # the warcinfo record's fields (from_crawler: warcinfo_fields)

    @classmethod
    def from_crawler(cls, crawler: Any) -> WarcMiddleware:
        context = crawl_context(crawler)
        if context.warc_path is None:  # AUDIT_WARC is off
            raise NotConfigured
        mw = cls(crawler, context, level=int(audit_settings.get(crawler.settings, "AUDIT_WARC_GZIP_LEVEL")),
                 dedup=crawler.settings.getbool("AUDIT_WARC_DEDUP", audit_settings.DEFAULTS["AUDIT_WARC_DEDUP"]))
        mw.info = warcinfo_fields(crawler.settings, context.crawl_id)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def path(self) -> Path:
        assert self.context.warc_path is not None
        return self.context.warc_path

    def spider_opened(self, spider: Any = None) -> None:
        if self.warc is None:
            scan = repair_warc_once(self.context)  # a resumed crawl appends: after its last complete record
            if scan.dropped and self.crawler.stats is not None:
                self.crawler.stats.set_value("provaudit/warc_bytes_dropped", scan.dropped)
            info = self.info or {"software": SOFTWARE, "crawl-id": self.context.crawl_id}
            self.warc = WarcFile(self.path(), info=info, level=self.level, repair=False, dedup=self.dedup)
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="provaudit-warc")
            logger.info("writing WARC to %s", self.warc.path)

    def spider_closed(self, spider: Any = None) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self._drain(0)
        if self._errors and self.crawler.stats is not None:
            self.crawler.stats.inc_value("provaudit/warc_errors", self._errors)
            self._errors = 0
        if self.warc is not None and self.warc.revisits and self.crawler.stats is not None:
            self.crawler.stats.set_value("provaudit/warc_revisits", self.warc.revisits)
        if self.warc is not None:
            self.warc.close()

    def _drain(self, keep: int) -> None:
        """Collect finished writes (and wait for the oldest while more than ``keep`` are pending)."""
        pending = self._pending
        while pending and (len(pending) > keep or pending[0].done()):
            pending.popleft().result()

    def _write(self, warc: WarcFile, url: str, **exchange: Any) -> ArchivedAt | None:
        """In the writer thread. Where the response record went (None for a conversion record, or a failed write)."""
        try:
            if exchange.pop("conversion", False):
                warc.write_conversion(url=url, body=exchange["body"], date=exchange["date"],
                                      max_bytes=exchange.get("max_bytes"))
            else:
                return warc.write_exchange(url=url, **exchange)
        except OSError:
            logger.exception("could not write %s to the WARC file", url)
            self._errors += 1  # only this thread writes it until spider_closed
        return None

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        if self.warc is None:
            self.spider_opened()
        assert self.warc is not None and self._writer is not None
        if RENDER_META in request.meta:  # a rendered DOM (audit.crawl.render): next to the page's response record
            self._pending.append(self._writer.submit(
                self._write, self.warc, url=request.url, body=response.body, date=dt.datetime.now(dt.UTC),
                conversion=True, max_bytes=request.meta.get("download_maxsize"),
            ))
            self._drain(self.MAX_PENDING)
            return response
        written = self._writer.submit(
            self._write,
            self.warc,
            url=response.url,
            method=request.method,
            request_headers=_header_pairs(request.headers),
            request_body=request.body or b"",
            status=response.status,
            response_headers=_header_pairs(response.headers),
            body=response.body,
            ip_address=str(response.ip_address) if response.ip_address else None,
            date=dt.datetime.now(dt.UTC),
            # a download stopped at its size bound (a stylesheet: audit.crawl.spider.bytes_received) keeps what arrived
            truncated="length" if "download_stopped" in response.flags else None,
        )
        # the pipeline asks where the record went when it writes the row of this response (audit.crawl.pipeline)
        self.context.warc_records.put(response.url, written)
        self._pending.append(written)
        self._drain(self.MAX_PENDING)
        checkpoint("crawl-response")
        return response
