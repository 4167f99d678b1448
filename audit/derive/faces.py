"""``provaudit audit --faces``: add the faces of images a store recorded without them (an older store, or a crawl or
ingest run with ``--no-faces``).

The store keeps no image bytes, so each image's bytes are read back from where the store says they came from, and
checked against its sha256 before use: the file of a folder ingest (its ``file://`` URL in ``fetches``), the archive
record of an archive ingest (``captures.archive`` at ``archive_offset``), the tar member or image file of an
img2dataset ingest (``captures.archive``; not the ``parquet`` layout), or a response in a live crawl's WARC
(``crawls.warc_path``). Detection runs in a bounded worker pool (:mod:`audit.decode.facejob`, the same bounds as the
analysis). Only images with ``face_count`` NULL that the analysis could read are looked at, so running it again
changes nothing once every image has its faces; an image whose bytes are found nowhere keeps ``face_count`` NULL and
``face_error`` says so (a later run tries it again).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from audit.decode.facejob import FaceOutcome, detection_pool
from audit.decode.workers import Bounds
from audit.settings import DEFAULTS
from audit.store.db import Store
from audit.store.paths import locate
from audit.store.recorder import faces_rows

log = logging.getLogger(__name__)

NOT_FOUND = ("face detection did not run: the image's bytes were not found (no file, archive record or crawl WARC "
             "the store names holds them now)")
BATCH = 500  # results written per transaction


@dataclass(slots=True)
class FacesResult:
    """What one run did: images looked at, given their faces (``detected``; ``with_faces`` of them show one), whose
    detection failed, and whose bytes were not found."""

    wanted: int = 0
    detected: int = 0
    with_faces: int = 0
    failed: int = 0
    not_found: int = 0
    sources: dict[str, int] = field(default_factory=dict)  # images read back per kind of source


def add_faces(store: Store, *, bounds: Bounds | None = None, workers: int = 1,
              max_image_bytes: int = int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
              progress: Callable[[str], None] | None = None) -> FacesResult:
    """Detect the faces of every readable image of ``store`` whose ``face_count`` is NULL, and write them: the rows
    of ``faces`` and ``images.face_count`` (or ``images.face_error`` naming why there is none). Guarantees: no other
    column or row is changed; an image whose bytes cannot be read back (or no longer match its sha256) is named in
    ``face_error`` and keeps ``face_count`` NULL; running it again on the same store changes nothing."""
    result = FacesResult()
    heights = dict(store.query("""
        SELECT sha256, height FROM images
        WHERE face_count IS NULL AND error IS NULL AND width IS NOT NULL AND height IS NOT NULL"""))
    result.wanted = len(heights)
    if not heights:
        return result
    if progress is not None:
        progress(f"faces: {len(heights):,} images without them")
    found: set[str] = set()
    pending: list[tuple[str, FaceOutcome]] = []
    with detection_pool(workers, bounds=bounds or Bounds()) as pool:
        for sha, outcome in pool.map(_bytes_back(store, set(heights), found, result.sources, max_image_bytes)):
            pending.append((sha, outcome))
            if len(pending) >= BATCH:
                _write(store, pending, heights, result)
                pending = []
    _write(store, pending, heights, result)
    missing = [(sha, FaceOutcome(None, NOT_FOUND)) for sha in heights if sha not in found]
    result.not_found = len(missing)
    for start in range(0, len(missing), BATCH):
        _write(store, missing[start:start + BATCH], heights, FacesResult())
    if missing:
        log.warning("faces: the bytes of %d image(s) were not found; their face_count stays NULL", len(missing))
    return result


def _write(store: Store, results: list[tuple[str, FaceOutcome]], heights: dict[str, int],
           result: FacesResult) -> None:
    if not results:
        return
    rows: list[dict[str, Any]] = []
    for sha, outcome in results:
        if outcome.faces is None:
            result.failed += 1
        else:
            result.detected += 1
            result.with_faces += bool(outcome.faces)
            rows += faces_rows(sha, heights.get(sha), outcome.faces)
    update = pa.table({
        "sha256": pa.array([sha for sha, _ in results], pa.string()),
        "face_count": pa.array([None if o.faces is None else len(o.faces) for _, o in results], pa.int32()),
        "face_error": pa.array([o.error if o.faces is None else None for _, o in results], pa.string()),
    })
    with store.transaction():
        store.insert("faces", rows)
        store.con.register("_face_counts", update)
        try:
            store.con.execute("""
                UPDATE images SET face_count = u.face_count, face_error = u.face_error FROM _face_counts u
                WHERE images.sha256 = u.sha256 AND images.face_count IS NULL""")
        finally:
            store.con.unregister("_face_counts")


def _bytes_back(store: Store, wanted: set[str], found: set[str], sources: dict[str, int],
                max_image_bytes: int) -> Iterator[tuple[str, bytes]]:
    """``(sha256, bytes)`` of each wanted image whose bytes can be read back and match its sha256, once each; the
    sha256s yielded are added to ``found``."""

    def take(sha: str, data: bytes, source: str) -> bool:
        if sha in found or hashlib.sha256(data).hexdigest() != sha:
            return False
        found.add(sha)
        sources[source] = sources.get(source, 0) + 1
        return True

    for sha, url in store.query("""
            SELECT DISTINCT sha256, url FROM fetches
            WHERE sha256 IS NOT NULL AND url LIKE 'file://%' ORDER BY sha256, url"""):
        if sha in wanted and sha not in found:
            data = _read_file(url, max_image_bytes)
            if data is not None and take(sha, data, "files"):
                yield sha, data
    for sha, archive, offset in store.query("""
            SELECT DISTINCT sha256, archive, archive_offset FROM captures
            WHERE kind = 'image' AND sha256 IS NOT NULL AND archive IS NOT NULL AND archive_offset IS NOT NULL
            ORDER BY sha256, archive, archive_offset"""):
        if sha in wanted and sha not in found:
            dataset = _is_dataset_file(archive)
            data = (_read_dataset_file(archive, int(offset), max_image_bytes) if dataset
                    else _read_record(archive, int(offset), max_image_bytes))
            if data is not None and take(sha, data, "img2dataset outputs" if dataset else "archives"):
                yield sha, data
    if wanted <= found:
        return
    for (named,) in store.query("SELECT DISTINCT warc_path FROM crawls WHERE warc_path IS NOT NULL ORDER BY 1"):
        warc = locate(str(named), store.path)
        if warc is None:
            log.warning("faces: the WARC %s that the store names is not found (as recorded, nor beside the store)",
                           named)
            continue
        for sha, data in _scan_warc(str(warc), wanted - found, max_image_bytes):
            if take(sha, data, "crawl WARCs"):
                yield sha, data
        if wanted <= found:
            return


def _read_file(url: str, max_bytes: int) -> bytes | None:
    from audit.errors import Refused
    from audit.inputs import read_regular

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        return None
    try:
        return read_regular(Path(unquote(parts.path)), max_bytes)
    except (Refused, OSError) as exc:
        log.debug("faces: %s not read: %s", url, exc)
        return None


def _payload(record: Any, max_bytes: int) -> bytes | None:
    from audit.errors import AuditError
    from audit.ingest.warcpayload import RecordPayload

    try:
        return RecordPayload(record).read(max_bytes)
    except (AuditError, OSError, ValueError) as exc:
        log.debug("faces: record not read: %s", exc)
        return None


def _limits(max_bytes: int) -> Any:
    from audit.ingest.archive import ArchiveLimits

    return ArchiveLimits(max_body=max_bytes + 1024 * 1024)  # the image, with room for HTTP framing and encodings


def _quiet(_offset: int | str, _what: str) -> None:
    """Problems of an archive read back are not logged one by one: it was read (and its problems recorded) before."""


def _is_dataset_file(archive: str) -> bool:
    """Whether a capture's ``archive`` is where an img2dataset ingest read the bytes: a webdataset shard (``.tar``,
    at the member's header offset) or a sample's image file (:mod:`audit.ingest.img2dataset`)."""
    from audit.ingest.img2dataset import IMAGE_EXTENSIONS

    return archive.lower().endswith((".tar", *(f".{e}" for e in IMAGE_EXTENSIONS)))


def _read_dataset_file(archive: str, offset: int, max_bytes: int) -> bytes | None:
    """The bytes of the tar member whose header is at ``offset`` of ``archive``, or of the image file ``archive``
    (offset 0); None when they cannot be read (or are over ``max_bytes``)."""
    from audit.errors import Refused, TarTruncated
    from audit.ingest.tarmembers import iter_tar, read_member
    from audit.inputs import open_regular, read_regular

    try:
        if not archive.lower().endswith(".tar"):
            return read_regular(Path(archive), max_bytes) if offset == 0 else None
        with open_regular(archive, None) as fh:
            for member in iter_tar(fh, _quiet, start=offset):
                return read_member(fh, member) if member.size <= max_bytes and member.offset == offset else None
    except (Refused, TarTruncated, OSError) as exc:
        log.debug("faces: %s at %d not read: %s", archive, offset, exc)
    return None


def _read_record(archive: str, offset: int, max_bytes: int) -> bytes | None:
    """The payload of the record at ``offset`` of ``archive`` (the first record read from there), or None."""
    from audit.ingest.archive import read_archive

    try:
        for framed in read_archive(archive, limits=_limits(max_bytes), report=_quiet, max_file_bytes=None,
                                   start=offset):
            return _payload(framed.record, max_bytes) if framed.record.rec_type in ("response", "resource") else None
    except Exception as exc:  # noqa: BLE001 - a file changed since the ingest: the image's bytes are not there
        log.debug("faces: %s at %d not read: %s", archive, offset, exc)
    return None


def _scan_warc(path: str, wanted: set[str], max_bytes: int) -> Iterator[tuple[str, bytes]]:
    """``(sha256, payload)`` of the response records of the WARC ``path`` whose payload is a wanted image."""
    from audit.ingest.archive import read_archive

    try:
        for framed in read_archive(path, limits=_limits(max_bytes), report=_quiet, max_file_bytes=None):
            if framed.record.rec_type != "response":
                continue
            data = _payload(framed.record, max_bytes)
            if data is not None and (sha := hashlib.sha256(data).hexdigest()) in wanted:
                wanted.discard(sha)
                yield sha, data
                if not wanted:
                    return
    except Exception as exc:  # noqa: BLE001 - a record's parsers may raise anything: the rest of the file is left
        log.warning("faces: WARC %s unreadable from some point (%s)", path, type(exc).__name__)
