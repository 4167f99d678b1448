"""``provaudit package``: the captures behind a report as a WACZ file (Web Archive Collection Zipped, version 1.1.1,
https://specs.webrecorder.net/wacz/1.1.1/), so that ReplayWeb.page or pywb replays the exact pages and images a
finding rests on.

The package holds ``archive/data.warc.gz`` (the response, resource or revisit record of every capture chosen, and the
original of every revisit among them, copied byte for byte from the WARC the store names at the offset and length it
recorded, after checking that the bytes there are that record: one gzip member or more that inflate to a WARC record
with the recorded ``WARC-Record-ID``), ``indexes/index.cdxj`` (written by Webrecorder's ``cdxj-indexer``),
``pages/pages.jsonl`` (the pages captured), the reports given (under ``reports/``), ``datapackage.json`` (every file
with its SHA-256 and size) and ``datapackage-digest.json`` (the SHA-256 of ``datapackage.json``). WARC data is stored
in the zip uncompressed (it is gzip already, and replay tools read its records by offset), the rest deflated.

:func:`check_package` verifies a package: every resource's digest and size, and the datapackage's digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from audit.errors import PackageError, Refused
from audit.inputs import open_regular
from audit.settings import DEFAULTS
from audit.store.db import Store
from audit.store.paths import locate

logger = logging.getLogger(__name__)

WACZ_VERSION = "1.1.1"
SOFTWARE = "provenance-audit (provaudit package)"
WARC_NAME = "data.warc.gz"
MAX_RECORD_BYTES = int(DEFAULTS["AUDIT_MAX_FILE_BYTES"])  # one record copied (read 1 MiB at a time): past it, refused
MAX_PACKAGE_BYTES = 64 * 1024 * 1024 * 1024  # WARC bytes in one package by default
MAX_REPORT_BYTES = 512 * 1024 * 1024  # one report file added
MAX_JSON_BYTES = 64 * 1024 * 1024  # datapackage.json read back by check_package
_HEAD = 64 * 1024  # decompressed bytes of a record read to check its WARC headers
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Capture:
    """One record to copy: where the store says it is."""

    archive: str
    offset: int
    length: int
    record_id: str | None
    kind: str
    url: str
    fetched_at: dt.datetime | None


@dataclass(slots=True)
class PackageResult:
    path: Path
    records: int = 0  # records copied into the package's WARC
    pages: int = 0  # lines of pages.jsonl
    images: int = 0  # image captures packaged
    originals: int = 0  # originals of revisit records added
    warc_bytes: int = 0
    reports: list[str] = field(default_factory=list)
    missing_originals: list[str] = field(default_factory=list)  # revisits whose original the store does not locate
    unlocated: int = 0  # captures chosen that name no record (failures, rows written before locations existed)
    not_warc: int = 0  # captures read from ARC files: not WARC records, not packaged


# --- choosing the captures -----------------------------------------------------------------------------------------

_LOCATED = "c.archive IS NOT NULL AND c.archive_offset IS NOT NULL AND c.record_length IS NOT NULL"


def _chosen(store: Store, country: str | None) -> tuple[list[Capture], int]:
    """The captures to package (pages and images: all, or those of the sightings of ``country``'s attributed
    images), and how many of them name no record."""
    cols = store.columns.get("captures", frozenset())
    if "record_length" not in cols:
        raise PackageError("the store records no capture locations (written before `provaudit package` existed): "
                           "crawl or ingest again")
    params: list[Any] = []
    if country is None:
        where = "c.kind IN ('page', 'image')"
    else:
        if "attributions" not in store.columns:
            raise PackageError("the store is not audited: run `provaudit audit` first (--country needs attributions)")
        where = """(c.kind = 'image' AND (c.crawl_id, c.url) IN (SELECT crawl_id, image_url FROM _sightings))
                OR (c.kind = 'page' AND (c.crawl_id, c.url) IN (SELECT crawl_id, page_url FROM _sightings))"""
        params = [country.upper()]
    sightings = ("WITH _sightings AS (SELECT s.crawl_id, s.image_url, s.page_url FROM sightings s "
                 "JOIN attributions a USING (sha256) WHERE a.country = ?) ") if country is not None else ""
    rows = store.query(f"""{sightings}
        SELECT c.archive, c.archive_offset, c.record_length, c.record_id, c.kind, c.url, c.fetched_at,
               {_LOCATED} AS located
        FROM captures c WHERE {where} ORDER BY c.archive, c.archive_offset""", params)
    captures = [Capture(str(r[0]), int(r[1]), int(r[2]), r[3], str(r[4]), str(r[5]), r[6]) for r in rows if r[7]]
    return captures, sum(1 for r in rows if not r[7])


def _by_record_id(store: Store, record_id: str) -> Capture | None:
    rows = store.query(f"""SELECT c.archive, c.archive_offset, c.record_length, c.record_id, c.kind, c.url,
                                  c.fetched_at FROM captures c WHERE c.record_id = ? AND {_LOCATED} LIMIT 1""",
                       [record_id])
    if not rows:
        return None
    r = rows[0]
    return Capture(str(r[0]), int(r[1]), int(r[2]), r[3], str(r[4]), str(r[5]), r[6])


# --- reading one record ----------------------------------------------------------------------------------------------


def resolve_archive(archive: str, store_path: Path | None) -> Path:
    """The file a store names as an archive or crawl WARC: as written (absolute, or relative to the working
    directory), else relative to the store's folder, else by its name beside the store
    (:func:`audit.store.paths.locate`). Raises :class:`PackageError` naming it when none exists."""
    found = locate(archive, store_path)
    if found is not None:
        return found
    raise PackageError(f"the WARC {archive} that the store names is not found (looked for it as written and beside "
                       "the store): run `provaudit package` where the crawl or ingest ran, or put the file back")


@dataclass(frozen=True, slots=True)
class RecordHead:
    rec_type: str
    record_id: str | None
    refers_to: str | None
    url: str | None


def _warc_fields(head: bytes) -> dict[str, str]:
    block = head.split(b"\r\n\r\n", 1)[0]
    fields: dict[str, str] = {}
    for line in block.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields.setdefault(name.strip().lower().decode("latin-1"), value.strip().decode("utf-8", "replace"))
    return fields


def copy_record(fh: BinaryIO, capture: Capture, name: str, dst: BinaryIO) -> tuple[int, RecordHead]:
    """Copy ``capture``'s record (``length`` bytes at ``offset`` of ``fh``) to ``dst``, 1 MiB at a time, checking that
    the bytes are that record: gzip members that inflate whole (CRC checked) to one WARC record with the recorded
    ``WARC-Record-ID``. A gzip record is copied byte for byte; an uncompressed one (a plain ``.warc``) is written as
    one gzip member. Returns the bytes written and the record's WARC headers. Raises :class:`PackageError` naming the
    file and offset when the bytes are not that record (``dst`` then holds part of it: the caller drops it)."""
    where = f"{name}: offset {capture.offset}"
    if not 0 < capture.length <= MAX_RECORD_BYTES:
        raise PackageError(f"{where}: a record of {capture.length:,} bytes is out of bounds (1 to "
                           f"{MAX_RECORD_BYTES:,})")
    fh.seek(capture.offset)
    first = fh.read(min(_CHUNK, capture.length))
    gzipped = first[:2] == b"\x1f\x8b"
    head = bytearray()
    member: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    recompress: Any = None if gzipped else zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    left = capture.length
    written = 0
    chunk = first
    while True:
        if len(chunk) == 0 and left:
            raise PackageError(f"{where}: the file ends before the record's {capture.length:,} bytes")
        left -= len(chunk)
        if gzipped:
            buf = chunk
            while buf:  # every member must end inside the bytes, and the bytes must be nothing but members
                if member is None:
                    if buf[:2] != b"\x1f\x8b"[: len(buf[:2])]:
                        raise PackageError(f"{where}: bytes that are not gzip data follow the record")
                    member = zlib.decompressobj(16 + zlib.MAX_WBITS)
                try:
                    out = member.decompress(buf, _CHUNK)
                    while member.unconsumed_tail and not member.eof:
                        if len(head) < _HEAD:
                            head += out[: _HEAD - len(head)]
                        out = member.decompress(member.unconsumed_tail, _CHUNK)
                except zlib.error as exc:
                    raise PackageError(f"{where}: corrupt gzip data ({exc}): not the record the store "
                                       "recorded") from exc
                if len(head) < _HEAD:
                    head += out[: _HEAD - len(head)]
                if member.eof:
                    buf, member = member.unused_data, None
                else:
                    buf = b""
            dst.write(chunk)
            written += len(chunk)
        else:
            if len(head) < _HEAD:
                head += chunk[: _HEAD - len(head)]
            data = recompress.compress(chunk)
            dst.write(data)
            written += len(data)
        if len(head) >= 5 and not bytes(head).startswith(b"WARC/"):
            raise PackageError(f"{where}: the bytes there are not a WARC record (the file changed since it was "
                               "recorded?)")
        if not left:
            break
        chunk = fh.read(min(_CHUNK, left))
    if gzipped and member is not None:
        raise PackageError(f"{where}: the record's gzip data is cut short")
    if not gzipped:
        data = recompress.flush()
        dst.write(data)
        written += len(data)
    fields = _warc_fields(bytes(head))
    record_id = fields.get("warc-record-id")
    if not bytes(head).startswith(b"WARC/") or (capture.record_id is not None and record_id != capture.record_id):
        raise PackageError(f"{where}: the record there is {record_id}, not {capture.record_id} as the store "
                           "recorded (the file changed since?)")
    return written, RecordHead(fields.get("warc-type", ""), record_id, fields.get("warc-refers-to"),
                               fields.get("warc-target-uri"))


# --- writing the package ---------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
            size += len(block)
    return "sha256:" + digest.hexdigest(), size


def _warcinfo(created: str) -> bytes:
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    writer.write_record(writer.create_warcinfo_record(WARC_NAME, {"software": SOFTWARE, "format": "WARC File Format "
                                                                  "1.1", "created": created}))
    return buf.getvalue()


def _timestamp(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_package(store: Store, out: str | os.PathLike[str], *, country: str | None = None,
                  reports: Sequence[str | os.PathLike[str]] = (), max_bytes: int = MAX_PACKAGE_BYTES,
                  title: str | None = None, progress: Callable[[str, int], None] | None = None) -> PackageResult:
    """Write the WACZ ``out`` from ``store``: the captures of pages and images (all, or with ``country`` those of
    the sightings of the images attributed to it), the originals of revisits among them, and the ``reports`` files.
    Raises :class:`PackageError` (naming the file) for a WARC that is missing or no longer holds the recorded record,
    a report that cannot be read, or more than ``max_bytes`` of WARC data; nothing is left at ``out`` then.
    ``progress`` is called with ``("records", 1)`` and ``("bytes", n)`` as records are copied."""
    from cdxj_indexer.main import CDXJIndexer

    out_path = Path(out)
    captures, unlocated = _chosen(store, country)
    result = PackageResult(path=out_path, unlocated=unlocated)
    created = _timestamp(dt.datetime.now(dt.UTC)) or ""
    report_files: list[Path] = []
    for report in reports:
        path = Path(report)
        try:
            with open_regular(path, MAX_REPORT_BYTES):
                pass
        except Refused as exc:
            raise PackageError(f"report {path}: {exc}") from exc
        report_files.append(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wacz-", dir=out_path.parent) as tmp:
        work = Path(tmp)
        warc = work / WARC_NAME
        pages: list[dict[str, Any]] = []
        seen_pages: set[str] = set()
        with open(warc, "wb") as dst:
            dst.write(_warcinfo(created))
            copied: set[tuple[str, int]] = set()
            queue = deque(captures)
            files: dict[str, tuple[Path, BinaryIO]] = {}
            try:
                while queue:
                    capture = queue.popleft()
                    key = (capture.archive, capture.offset)
                    if key in copied:
                        continue
                    copied.add(key)
                    if capture.record_id is None:  # an ARC record: no WARC record to copy
                        result.not_warc += 1
                        continue
                    if capture.archive not in files:
                        path = resolve_archive(capture.archive, store.path)
                        try:
                            files[capture.archive] = (path, open_regular(path, None))
                        except Refused as exc:
                            raise PackageError(f"the WARC {capture.archive}: {exc}") from exc
                    path, fh = files[capture.archive]
                    if result.warc_bytes + capture.length > max_bytes:
                        raise PackageError(f"the package would hold more than {max_bytes:,} bytes of WARC data: "
                                           "choose a country (--country) or raise --max-bytes")
                    size, head = copy_record(fh, capture, capture.archive, dst)
                    result.warc_bytes += size
                    result.records += 1
                    if progress is not None:
                        progress("records", 1)
                        progress("bytes", size)
                    if capture.kind == "page" and capture.url not in seen_pages:
                        seen_pages.add(capture.url)
                        pages.append({"id": hashlib.sha256(capture.url.encode()).hexdigest()[:24],
                                      "url": head.url or capture.url, "ts": _timestamp(capture.fetched_at)})
                    elif capture.kind == "image":
                        result.images += 1
                    elif capture.kind == "original":
                        result.originals += 1
                    if head.rec_type == "revisit" and head.refers_to:
                        original = _by_record_id(store, head.refers_to)
                        if original is None:
                            result.missing_originals.append(f"{capture.archive}: offset {capture.offset}")
                            logger.warning("%s: offset %d: a revisit of %s whose original the store does not "
                                           "locate: it will not replay", capture.archive, capture.offset,
                                           head.refers_to)
                        else:
                            queue.append(Capture(original.archive, original.offset, original.length,
                                                 original.record_id, "original", original.url, original.fetched_at))
            finally:
                for _path, fh in files.values():
                    fh.close()
        index = work / "index.cdxj"
        CDXJIndexer(output=str(index), inputs=[str(warc)], sort=True).process_all()
        pages_file = work / "pages.jsonl"
        with open(pages_file, "w", encoding="utf-8") as fh_pages:
            fh_pages.write(json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}) + "\n")
            for page in pages:
                fh_pages.write(json.dumps({k: v for k, v in page.items() if v is not None}) + "\n")
        result.pages = len(pages)
        members: list[tuple[str, Path]] = [(f"archive/{WARC_NAME}", warc), ("indexes/index.cdxj", index),
                                           ("pages/pages.jsonl", pages_file)]
        names = {m[0] for m in members}
        for path in report_files:
            name = f"reports/{path.name}"
            n = 1
            while name in names:
                n += 1
                name = f"reports/{path.stem}-{n}{path.suffix}"
            names.add(name)
            members.append((name, path))
            result.reports.append(name)
        resources = []
        for name, path in members:
            digest, size = _sha256_file(path)
            resources.append({"name": Path(name).name, "path": name, "hash": digest, "bytes": size})
        datapackage: dict[str, Any] = {
            "profile": "data-package",
            "wacz_version": WACZ_VERSION,
            "title": title or (f"provaudit: captures behind the {country.upper()} report" if country
                               else "provaudit: captures of the store"),
            "created": created,
            "software": SOFTWARE,
            "resources": resources,
        }
        if pages:
            datapackage["mainPageUrl"] = pages[0]["url"]
            if pages[0]["ts"]:
                datapackage["mainPageDate"] = pages[0]["ts"]
        dp_bytes = json.dumps(datapackage, indent=2).encode("utf-8")
        dp_digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(dp_bytes).hexdigest()}
        partial = work / "package.wacz"
        with zipfile.ZipFile(partial, "w", allowZip64=True) as zf:
            for name, path in members:
                kind = zipfile.ZIP_STORED if name.endswith(".warc.gz") else zipfile.ZIP_DEFLATED
                zf.write(path, name, compress_type=kind)
            zf.writestr("datapackage.json", dp_bytes, compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr("datapackage-digest.json", json.dumps(dp_digest, indent=2),
                        compress_type=zipfile.ZIP_DEFLATED)
        os.replace(partial, out_path)
    logger.info("packaged %d records (%d pages, %d images, %d originals of revisits) into %s", result.records,
                result.pages, result.images, result.originals, out_path)
    return result


# --- checking a package ----------------------------------------------------------------------------------------------


def _member_digest(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with zf.open(name) as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
            size += len(block)
    return "sha256:" + digest.hexdigest(), size


def _bounded_json(zf: zipfile.ZipFile, name: str) -> Any:
    with zf.open(name) as fh:
        raw = fh.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ValueError(f"{name} is larger than {MAX_JSON_BYTES:,} bytes")
    return json.loads(raw)


def check_package(path: str | os.PathLike[str]) -> list[str]:
    """The problems of the WACZ ``path`` (empty: it checks): ``datapackage-digest.json`` must hold the SHA-256 of
    ``datapackage.json``, and every resource the datapackage lists must be in the zip with its SHA-256 and size."""
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path}: not a readable zip file ({exc})"]
    with zf:
        names = set(zf.namelist())
        for required in ("datapackage.json", "datapackage-digest.json"):
            if required not in names:
                problems.append(f"{required} is missing")
        if problems:
            return problems
        try:
            dp_hash, _ = _member_digest(zf, "datapackage.json")
            digest = _bounded_json(zf, "datapackage-digest.json")
            datapackage = _bounded_json(zf, "datapackage.json")
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            return [f"the package's metadata cannot be read ({exc})"]
        if not isinstance(digest, dict) or digest.get("hash") != dp_hash:
            problems.append("datapackage.json does not match the digest in datapackage-digest.json")
        resources = datapackage.get("resources") if isinstance(datapackage, dict) else None
        if not isinstance(resources, list) or not resources:
            return [*problems, "datapackage.json lists no resources"]
        for resource in resources:
            name = resource.get("path") if isinstance(resource, dict) else None
            if not isinstance(name, str) or name not in names:
                problems.append(f"resource {name!r} is not in the package")
                continue
            try:
                got, size = _member_digest(zf, name)
            except (zipfile.BadZipFile, OSError, zlib.error) as exc:
                problems.append(f"{name}: cannot be read ({exc})")
                continue
            if got != resource.get("hash"):
                problems.append(f"{name}: its SHA-256 is {got}, the datapackage says {resource.get('hash')}")
            if size != resource.get("bytes"):
                problems.append(f"{name}: {size:,} bytes, the datapackage says {resource.get('bytes')}")
    return problems

