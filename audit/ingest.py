"""Ingest what others crawled: WARC/ARC archives (Common Crawl, Archive-It, our own crawls) and folders of image
files (a vendor's data export), through the same items and :class:`~audit.recorder.Recorder` as a live crawl."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from parsel import Selector
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from .crawlid import ingest_crawl_id
from .html import looks_like_image_url, parse_page
from .httputil import is_html, is_image_type
from .image import analyse_image
from .pagefacts import page_facts
from .recorder import Recorder
from .records import POLICY_PATHS, ImageFetch, ImageRecord, ImageRef, PageItem, PolicyFile
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
MAX_POLICY_BYTES = 512 * 1024


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


def iter_archive(
    path: Path, *, max_image_bytes: int, max_page_bytes: int, max_pixels: int
) -> Iterator[PageItem | ImageRef | ImageFetch | PolicyFile]:
    """Items from one WARC/ARC file: pages with their image references, and images with their records.

    Raises :class:`ArchiveLoadFailed` (with the offset reached) for an archive that breaks partway; the items before
    the break have been yielded."""
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh, arc2warc=True)
        for record in it:
            if record.rec_type not in ("response", "resource"):
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            if not url:
                continue
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
                    continue
                text = body.decode(_charset(ctype) or "utf-8", errors="replace")
                sel = Selector(text=text or "<html></html>")
                parsed = parse_page(sel, url, fetched_at=when)
                yield PageItem(url=url, status=status or 0, fetched_at=when, server_ip=ip, lang=parsed.lang,
                               content_type=ctype, headers=headers, facts=page_facts(sel, url))
                yield from parsed.image_refs
                continue
            policy = POLICY_PATHS.get(urlsplit(url).path)
            if policy is not None:
                text = stream.read(MAX_POLICY_BYTES).decode("utf-8", errors="replace")
                yield PolicyFile(kind=policy, url=url, status=status or 0, body=text, fetched_at=when)
                continue
            if status is not None and not 200 <= status < 300:
                continue  # redirects and errors of non-page resources: nothing to record as content
            head = stream.read(16)
            if not (is_image_type(ctype) or looks_like_image_url(url) or sniff_image(head)):
                continue
            body = head + stream.read(max_image_bytes + 1 - len(head))
            if len(body) > max_image_bytes:
                yield ImageFetch(url=url, final_url=url, fetched_at=when, status=status, content_type=ctype,
                                 server_ip=ip, headers=headers, error=f"image larger than {max_image_bytes} bytes")
                continue
            yield ImageFetch(url=url, final_url=url, fetched_at=when, status=status, content_type=ctype,
                             server_ip=ip, headers=headers, record=analyse_image(body, max_pixels=max_pixels))


def _charset(ctype: str | None) -> str | None:
    if not ctype or "charset=" not in ctype.lower():
        return None
    value = ctype.lower().split("charset=", 1)[1].split(";")[0].strip().strip("\"'")
    try:
        "".encode(value)
    except LookupError:
        return None
    return value


def iter_files(root: Path, *, max_image_bytes: int, max_pixels: int) -> Iterator[ImageRef | ImageFetch]:
    """Items from a folder of image files (or one file): every regular file is recorded, readable or not."""
    paths: Sequence[Path]
    if root.is_dir():
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            found.extend(Path(dirpath) / f for f in sorted(filenames))
        paths = found
    else:
        paths = [root]
    for path in paths:
        if path.is_symlink() or not path.is_file():
            continue
        url = path.resolve().as_uri()
        when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        size = path.stat().st_size
        if size > max_image_bytes:
            record = ImageRecord(sha256=file_sha256(path), size=size,
                                 error=f"file larger than {max_image_bytes} bytes, not decoded")
        else:
            record = analyse_image(path.read_bytes(), max_pixels=max_pixels)
        yield ImageRef(page_url=None, image_url=url, ref_kind="file", fetched_at=when)
        yield ImageFetch(url=url, final_url=url, fetched_at=when, record=record)


def ingest(
    store: Store,
    paths: Sequence[str | Path],
    *,
    crawl_id: str | None = None,
    batch_size: int = 500,
    max_image_bytes: int = 32 * 1024 * 1024,
    max_page_bytes: int = 8 * 1024 * 1024,
    max_pixels: int = 64_000_000,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest archives, folders and image files into ``store`` as one crawl.

    The crawl id is derived from the inputs (an archive or file by its content digest, a folder by its absolute
    path) unless given, so ingesting the same inputs again adds no rows. A broken archive is recorded as an error
    naming the file and the offset; what was read before the break is kept."""
    resolved = [Path(p) for p in paths]
    for p in resolved:
        if not p.exists():
            raise IngestError(f"no such file or folder: {p}")
    keys = sorted(f"dir:{p.resolve()}" if p.is_dir() else f"file:{file_sha256(p)}" for p in resolved)
    crawl_id = crawl_id or ingest_crawl_id("ingest", "\n".join(keys))
    kind = "warc" if all(is_archive(p) for p in resolved) else "files"
    recorder = Recorder(store, crawl_id, batch_size=batch_size)
    recorder.begin(source=" ".join(str(p) for p in resolved), kind=kind,
                   settings={"max_image_bytes": max_image_bytes, "max_page_bytes": max_page_bytes,
                             "max_pixels": max_pixels}, warc_path=None)
    result = IngestResult(crawl_id=crawl_id)
    for path in resolved:
        items: Iterator[PageItem | ImageRef | ImageFetch | PolicyFile]
        if is_archive(path):
            items = iter_archive(path, max_image_bytes=max_image_bytes, max_page_bytes=max_page_bytes,
                                 max_pixels=max_pixels)
        else:
            items = iter_files(path, max_image_bytes=max_image_bytes, max_pixels=max_pixels)
        try:
            for item in items:
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
        except (ArchiveLoadFailed, OSError, EOFError, ValueError) as exc:
            message = f"{path}: archive broken after {result.records} records: {exc}"
            logger.warning("%s", message)
            result.errors.append(message)
    stats: dict[str, Any] = {"errors": result.errors} if result.errors else {}
    recorder.finish(stats)
    return result
