"""Ingest Common Crawl WAT files (:mod:`audit.ingest.wat`) into the store as one crawl of kind ``wat``: a page row
and a capture per HTML response, a reference-only sighting per image link, written in bulk (Arrow), one batch of
pages per transaction."""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from audit.errors import IngestError, Refused
from audit.ids import ingest_crawl_id
from audit.ingest.archive import ArchiveLimits
from audit.ingest.tables import reference_key
from audit.ingest.wat import MAX_RECORD_BYTES, WatPage, WatStats, file_key, iter_wat
from audit.inputs import DEFAULT_MAX_FILE_BYTES, check_regular
from audit.records import ArchivedAt
from audit.schema import TABLES_BY_NAME
from audit.store.arrow import arrow_schema, arrow_table, utc
from audit.store.db import Store
from audit.store.recorder import Recorder, capture_id, host_of

_host = lru_cache(maxsize=65_536)(host_of)  # image hosts repeat across pages


_quote = json.encoder.encode_basestring  # a JSON string, as json.dumps(ensure_ascii=False) writes it


def _attributes_json(attributes: dict[str, str]) -> str | None:
    """``json.dumps(attributes, ensure_ascii=False)`` of a flat dict of strings, without the encoder's set-up (it is
    called for every sighting)."""
    if not attributes:
        return None
    return "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in attributes.items()) + "}"


def _sighting_id(crawl_id: str, image_url: str, page_url: str) -> str:
    """:func:`audit.store.recorder.sighting_id` (the same digest: the parts and a NUL after each), in one update."""
    data = f"{crawl_id}\0{image_url}\0{page_url}\0".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]
BATCH_PAGES = 4000  # pages (with their sightings) written per transaction: a commit costs tens of ms


@dataclass
class WatResult:
    crawl_id: str
    files: int = 0
    records: int = 0  # metadata records read
    pages: int = 0
    sightings: int = 0  # in the store for this crawl after the ingest
    image_links: int = 0  # image links read (one per page and image URL)
    refs_cut: int = 0  # image links past the per-page bound
    bad_records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


_SIGHTING_COLUMNS = ("sighting_id", "crawl_id", "sha256", "image_url", "page_url", "image_host", "page_host",
                     "alt_text", "caption", "ref_kind", "attributes", "fetched_at", "rendered")


class _Batch:
    """The rows of up to BATCH_PAGES pages; sightings kept as columns (the bulk of the rows)."""

    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []
        self.captures: list[dict[str, Any]] = []
        self.sightings: dict[str, list[Any]] = {c: [] for c in _SIGHTING_COLUMNS}
        self.images: set[str] = set()
        self.page_keys: set[str] = set()
        self.sighting_ids: set[str] = set()

    def add(self, crawl_id: str, archive: str, page: WatPage) -> None:
        fetched = utc(page.fetched_at)
        self.captures.append({
            "capture_id": capture_id(crawl_id, "page", page.url, page.fetched_at, ArchivedAt(archive, page.offset)),
            "crawl_id": crawl_id, "kind": "page", "url": page.url, "fetched_at": fetched, "status": page.status,
            "server_ip": page.server_ip, "archive": archive, "archive_offset": page.offset,
        })
        if page.url not in self.page_keys:  # pages keep the first capture of a URL (INSERT OR IGNORE across batches)
            self.page_keys.add(page.url)
            self.pages.append({
                "crawl_id": crawl_id, "url": page.url, "host": host_of(page.url), "status": page.status,
                "fetched_at": fetched, "server_ip": page.server_ip, "lang": page.lang, "title": page.title,
                "content_type": page.content_type,
                "headers": json.dumps(page.headers, ensure_ascii=False) if page.headers else None,
                "facts": json.dumps(page.facts, ensure_ascii=False) if page.facts else None,
                "error": f"{page.refs_cut} image links past the first {len(page.refs)} not read"
                if page.refs_cut else None,
            })
        page_host = host_of(page.url)
        c = self.sightings
        sids, crawls, shas, urls, pages, image_hosts, page_hosts = (
            c["sighting_id"], c["crawl_id"], c["sha256"], c["image_url"], c["page_url"], c["image_host"],
            c["page_host"])
        alts, captions, kinds, attrs, dates, rendered = (c["alt_text"], c["caption"], c["ref_kind"], c["attributes"],
                                                         c["fetched_at"], c["rendered"])
        for ref in page.refs:
            sid = _sighting_id(crawl_id, ref.url, page.url)
            if sid in self.sighting_ids:
                continue
            self.sighting_ids.add(sid)
            key = reference_key(ref.url)
            self.images.add(key)
            sids.append(sid)
            crawls.append(crawl_id)
            shas.append(key)
            urls.append(ref.url)
            pages.append(page.url)
            image_hosts.append(_host(ref.url))
            page_hosts.append(page_host)
            alts.append(ref.alt_text)
            captions.append(ref.caption)
            kinds.append(ref.ref_kind)
            attrs.append(_attributes_json(ref.attributes))
            dates.append(fetched)
            rendered.append(False)

    @property
    def size(self) -> int:
        return len(self.captures)

    def write(self, store: Store) -> None:
        t = TABLES_BY_NAME
        schema = arrow_schema(t["sightings"])
        sightings = pa.Table.from_pydict(self.sightings, schema=pa.schema([schema.field(n) for n in
                                                                            _SIGHTING_COLUMNS]))
        images = pa.table({"sha256": pa.array(sorted(self.images), pa.string()),
                           "reference_only": pa.array([True] * len(self.images), pa.bool_())})
        with store.transaction(wait=30.0):
            if images.num_rows:
                store.insert_arrow("images", images)
            if self.pages:
                store.insert_arrow("pages", arrow_table(t["pages"], self.pages))
            if self.captures:
                store.insert_arrow("captures", arrow_table(t["captures"], self.captures))
            if sightings.num_rows:
                store.insert_arrow("sightings", sightings)


class _Writer:
    """Writes batches in a thread of its own, so that DuckDB's work (which releases the GIL) overlaps the reading of
    the next batch; at most two batches wait. An error in the writer is raised in the reader at its next batch."""

    def __init__(self, store: Store, progress: Progress | None) -> None:
        self.store, self.progress = store, progress
        self.queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="wat-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the reader raises it
            try:
                batch.write(self.store)
                if self.progress is not None:
                    self.progress("pages", batch.size)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader thread
                self.error = exc

    def put(self, batch: _Batch) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def ingest_wat(store: Store, paths: Sequence[str | Path], *, crawl_id: str | None = None,
               max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES, max_record_bytes: int = MAX_RECORD_BYTES,
               limits: ArchiveLimits | None = None, progress: Progress | None = None) -> WatResult:
    """Ingest Common Crawl WAT files into ``store`` as one crawl of kind ``wat`` (see :mod:`audit.ingest.wat`).

    The crawl id is derived from the files' contents unless given, and every row has a stable key, so ingesting the
    same files again adds nothing. A file that is missing, not a regular file or over ``max_file_bytes`` is refused
    with :class:`IngestError` before anything is recorded. Records are streamed; a broken or too-large record is
    named (``"<file>: offset <n>: <what>"``) in ``errors`` and skipped, and the records after it are read."""
    resolved = [Path(p) for p in paths]
    keys = []
    for p in resolved:
        if not p.exists():
            raise IngestError(f"no such file: {p}")
        try:
            check_regular(p.stat(), max_file_bytes)
            keys.append(file_key(p, max_file_bytes))
        except Refused as exc:
            raise IngestError(f"cannot ingest {p}: {exc}") from exc
        except OSError as exc:
            raise IngestError(f"cannot read {p}: {exc.strerror or exc}") from exc
    crawl_id = crawl_id or ingest_crawl_id("wat", "\n".join(sorted(keys)))
    recorder = Recorder(store, crawl_id)
    recorder.begin(source=" ".join(str(p) for p in resolved), kind="wat",
                   settings={"max_file_bytes": max_file_bytes, "max_record_bytes": max_record_bytes},
                   warc_path=None)
    result = WatResult(crawl_id=crawl_id)
    stats = WatStats()
    writer = _Writer(store, progress)
    try:
        for path in resolved:
            result.files += 1
            archive = str(path)
            batch = _Batch()
            try:
                for page in iter_wat(path, stats, max_record_bytes=max_record_bytes, max_file_bytes=max_file_bytes,
                                     limits=limits):
                    batch.add(crawl_id, archive, page)
                    result.image_links += len(page.refs)
                    result.refs_cut += page.refs_cut
                    if batch.size >= BATCH_PAGES:
                        writer.put(batch)
                        batch = _Batch()
            except Refused as exc:  # checked above; the file changed since
                stats.error(path, "0", f"not read: {exc}")
            if batch.size:
                writer.put(batch)
    finally:
        writer.close()
    result.records, result.pages, result.bad_records = stats.records, stats.pages, stats.bad_records
    result.skipped, result.errors = dict(stats.skipped), stats.errors
    rows = store.query("SELECT count(*) FROM sightings WHERE crawl_id = ?", [crawl_id])
    result.sightings = int(rows[0][0]) if rows else 0
    summary: dict[str, Any] = {"files": result.files, "metadata_records": result.records, "pages": result.pages,
                               "image_links": result.image_links, "sightings": result.sightings,
                               "bad_records": result.bad_records, "records_not_pages": result.skipped}
    if result.refs_cut:
        summary["image_links_cut"] = result.refs_cut
    if result.errors:
        summary["errors"] = result.errors
    recorder.finish(summary)
    return result
