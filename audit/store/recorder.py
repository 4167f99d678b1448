"""Turn crawl items into store rows, buffered and written in bulk.

The same :class:`Recorder` serves a live Scrapy crawl (through :mod:`audit.crawl.pipeline`), an archive ingest and a
folder ingest, so an image is recorded the same way wherever it came from. A crawl writes through a
:class:`~audit.store.db.StoreWriter`, which holds the DuckDB file only while it writes a batch; while another process
holds it, rows wait in memory, then in the store's spool.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from audit.decode.faces import DETECTOR, DETECTOR_VERSION
from audit.records import (
    ArchivedAt,
    DatasetSighting,
    FaceBox,
    ImageFetch,
    ImageRecord,
    ImageRef,
    PageItem,
    PolicyFile,
    StylesheetFetch,
)
from audit.settings import DEFAULTS
from audit.store.arrow import utc
from audit.store.db import Store, StoreBusy, StoreWriter
from audit.testweb_marker import mark_run

logger = logging.getLogger(__name__)

WARC_WAIT = 120.0  # seconds a batch of a live crawl's rows waits, in all, for the WARC writes of their responses

MAX_POLICY_CHARS = 512 * 1024


@dataclass(frozen=True, slots=True)
class PageRefs:
    """A fetched page and every image reference found in it, as one item: a crawl passes one object per page through
    Scrapy's item machinery instead of one per sighting."""

    page: PageItem
    refs: tuple[ImageRef, ...] = ()


def host_of(url: str | None) -> str | None:
    """Lower-case host name of a URL, or None (for ``file:`` URLs and garbage)."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def policy_host(url: str) -> str:
    """The ``host_policies.host`` of a robots.txt/tdmrep.json URL: the lower-case host name, as in
    ``sightings.image_host`` (which the audit joins on), with the port only when it is not the scheme's default, so
    that files of two origins on one host do not overwrite each other."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return ""
    if port is None or (parts.scheme, port) in (("http", 80), ("https", 443)):
        return host
    return f"{host}:{port}"


def sighting_id(crawl_id: str, image_url: str, page_url: str | None) -> str:
    """Stable identifier of one sighting, so that replaying the same input finds the same row."""
    h = hashlib.blake2b(digest_size=16)
    for part in (crawl_id, image_url, page_url or ""):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def dataset_sighting_id(crawl_id: str, image_url: str, discriminator: str) -> str:
    """Stable identifier of the sighting of one dataset sample (:class:`~audit.records.DatasetSighting`): a digest of
    the crawl, the image URL and what tells the sample from others of the same URL (its shard and key)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (crawl_id, image_url, "", "dataset-sample", discriminator):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def capture_id(crawl_id: str, kind: str, url: str, fetched_at: dt.datetime | None,
               archived_at: ArchivedAt | None) -> str:
    """Stable identifier of one capture, so that replaying the same input finds the same row."""
    h = hashlib.blake2b(digest_size=16)
    where = (archived_at.archive, str(archived_at.offset)) if archived_at is not None else ("", "")
    for part in (crawl_id, kind, url, fetched_at.isoformat() if fetched_at else "", *where):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def image_row(rec: ImageRecord) -> dict[str, Any]:
    return {
        "sha256": rec.sha256,
        "format": rec.format,
        "width": rec.width,
        "height": rec.height,
        "bytes": rec.size,
        "phash": rec.phash,
        "dhash": rec.dhash,
        "phash_mirror": rec.phash_mirror,
        "dhash_mirror": rec.dhash_mirror,
        "exif": _json(rec.exif),
        "iptc": _json(rec.iptc),
        "xmp": _json(rec.xmp),
        "gps_lat": rec.gps_lat,
        "gps_lon": rec.gps_lon,
        "gps_alt": rec.gps_alt,
        "taken_at": rec.taken_at,
        "utc_offset": rec.utc_offset,
        "location": _json(rec.location),
        "c2pa": _json(rec.c2pa),
        "error": rec.error,
        "field_errors": list(rec.field_errors),
        "face_count": None if rec.faces is None else len(rec.faces),
        "face_error": rec.face_error,
    }


def face_rows(rec: ImageRecord) -> list[dict[str, Any]]:
    """The rows of ``faces`` for an image's detected faces (none when detection did not run or failed)."""
    return faces_rows(rec.sha256, rec.height, rec.faces or ())


def faces_rows(sha256: str, image_height: int | None, faces: Sequence[FaceBox]) -> list[dict[str, Any]]:
    """The rows of ``faces`` for the faces detected in the image ``sha256``, in order, each with its height
    relative to the image's and the detector (and version) that found it."""
    return [{"sha256": sha256, "face_index": i, "box_left": f.left, "box_top": f.top, "box_width": f.width,
             "box_height": f.height, "confidence": f.confidence,
             "relative_size": f.height / image_height if image_height else None,
             "detector": DETECTOR, "detector_version": DETECTOR_VERSION}
            for i, f in enumerate(faces)]


class Recorder:
    """Buffers rows per table and writes each table in bulk every ``batch_size`` rows.

    Sightings are linked to their image content by ``(crawl_id, image_url)``: the page is usually parsed before its
    images arrive, so unresolved sightings are completed from ``fetches`` on every flush.

    ``store`` is an open :class:`~audit.store.db.Store` (an ingest holds its store) or a
    :class:`~audit.store.db.StoreWriter` (a crawl opens the store for each batch). When the writer finds the file held
    by another process, the rows stay in memory and the write is tried again at the next batch, at most every
    ``RETRY_INTERVAL`` seconds; past ``spool_rows`` rows they go to the store's spool (Arrow files beside it), which
    the next successful write adds first. :meth:`finish` waits up to ``finish_wait`` seconds for the store, then
    leaves the last rows in the spool for the next process that writes the store.
    """

    RETRY_INTERVAL = 0.25  # seconds between two tries while another process holds the store
    # the order rows are written in
    TABLES = ("crawls", "images", "faces", "fetches", "pages", "captures", "sightings", "host_policies", "stylesheets")

    def __init__(
        self,
        store: Store | StoreWriter,
        crawl_id: str,
        *,
        batch_size: int = int(DEFAULTS["AUDIT_BATCH_SIZE"]),
        spool_rows: int = int(DEFAULTS["AUDIT_SPOOL_ROWS"]),
        finish_wait: float = float(DEFAULTS["AUDIT_STORE_FINISH_WAIT"]),
    ) -> None:
        self.store = store
        self.crawl_id = crawl_id
        self.batch_size = max(1, batch_size)
        self.spool_rows = max(self.batch_size, spool_rows)
        self.finish_wait = max(0.0, finish_wait)
        # images before fetches before sightings: a reader never sees a sighting whose image row is missing
        self._buffers: dict[str, list[dict[str, Any]]] = {table: [] for table in self.TABLES}
        self._seen_images: set[str] = set()
        self._url_sha: dict[str, str] = {}
        # the hashes a dataset published for the original of content it holds re-encoded (img2dataset), by content
        self._published: dict[str, tuple[str | None, str | None]] = {}
        # image URLs of sightings written without their sha256 (the image had not arrived yet)
        self._pending: set[str] = set()
        self._final = False
        self._retry_at = 0.0  # no try before this time (monotonic) while the store is busy
        self._busy: StoreBusy | None = None  # the last refusal, while another process holds the store
        self._busy_since = 0.0
        self.counts: Counter[str] = Counter()
        # called with the URLs (pages, image fetches, policy files) whose rows are now durable: in the store or in
        # the spool (a shared crawl's worker then stops listing their requests as its own)
        self.on_commit: Callable[[list[str]], None] | None = None
        # a live crawl's: the future of the WARC record written for a response URL (audit.crawl.context.WarcRecords);
        # capture rows without an archive location wait for theirs until the next write (_locate_buffered)
        self.locate: Callable[[str], Future[ArchivedAt | None] | None] | None = None
        self._locating: list[tuple[dict[str, Any], Future[ArchivedAt | None]]] = []

    # -- crawl bookkeeping -------------------------------------------------------------------------------------
    def begin(self, *, source: str, kind: str, settings: Mapping[str, Any], warc_path: str | None) -> None:
        self._buffers["crawls"].append({
            "crawl_id": self.crawl_id, "source": source, "kind": kind, "started_at": utc(dt.datetime.now(dt.UTC)),
            "settings": _json(dict(settings)), "warc_path": warc_path,
        })
        self.flush()

    def finish(self, stats: Mapping[str, Any] | None = None) -> bool:
        """Write everything left and the crawl's end (``finished_at``, ``stats``). Returns False when another process
        held the store for all of ``finish_wait``: the rows are then in the spool, and an error says where."""
        merged = dict(self.counts)
        if stats:
            merged.update(stats)
        self._buffers["crawls"].append({"crawl_id": self.crawl_id, "finished_at": utc(dt.datetime.now(dt.UTC)),
                                        "stats": _json(merged)})
        # the last write also links sightings to images that only `fetches` holds (fetched by an earlier run of the
        # same crawl: a resumed JOBDIR crawl)
        self._final = True
        if self.flush(wait=self.finish_wait, spill=False):
            return True
        busy = self._busy
        # the end row goes to the spool too: its counters say so
        merged.update(store_busy=self.counts["store_busy"], spooled_rows=self.counts["spooled_rows"] + self.buffered)
        self._buffers["crawls"][-1]["stats"] = _json(merged)
        rows = self._spill()
        logger.error("the store %s is still held by %s after waiting %g s: the crawl's last %d rows are in the "
                     "spool %s; the next process that opens the store for writing (provaudit crawl, ingest or "
                     "audit) adds them", self.store.path, busy.holder if busy else "another process",
                     self.finish_wait, rows, self.store.spool.dir)
        return False

    # -- items -------------------------------------------------------------------------------------------------
    def add(self, item: object) -> None:
        """Buffer the rows of one item (the ``add_*`` methods only buffer: call this) and write a batch if one is
        full."""
        if isinstance(item, PageRefs):
            self.add_page(item.page)
            for ref in item.refs:
                self.add_ref(ref)
        elif isinstance(item, ImageRef):
            self.add_ref(item)
        elif isinstance(item, ImageFetch):
            self.add_fetch(item)
        elif isinstance(item, PageItem):
            self.add_page(item)
        elif isinstance(item, ImageRecord):
            self.add_image(item)
        elif isinstance(item, PolicyFile):
            self.add_policy(item)
        elif isinstance(item, StylesheetFetch):
            self.add_stylesheet(item)
        elif isinstance(item, DatasetSighting):
            self.add_dataset_sighting(item)
        else:
            raise TypeError(f"cannot record {type(item).__name__}")
        self._item_done()

    def add_page(self, page: PageItem) -> None:
        self.counts["pages"] += 1
        if page.error:
            self.counts["page_errors"] += 1
        self._push(
            "pages",
            {
                "crawl_id": self.crawl_id,
                "url": page.url,
                "host": host_of(page.url),
                "status": page.status,
                "fetched_at": utc(page.fetched_at),
                "server_ip": page.server_ip,
                "lang": page.lang,
                "title": page.title,
                "content_type": page.content_type,
                "headers": _json(page.headers),
                "facts": _json(page.facts) if page.facts else None,
                "error": page.error,
            },
        )
        self._capture("page", page.url, page.fetched_at, status=page.status, sha256=None,
                      server_ip=page.server_ip, error=page.error, archived_at=page.archived_at, record_url=page.url)

    def _capture(self, kind: str, url: str, fetched_at: dt.datetime, *, status: int | None, sha256: str | None,
                 server_ip: str | None, error: str | None, archived_at: ArchivedAt | None,
                 record_url: str | None = None) -> None:
        """One ``captures`` row. Without ``archived_at``, a live crawl's row (``locate`` set) gets the location of
        the WARC record written for ``record_url`` (the URL that answered) before it is written."""
        self.counts["captures"] += 1
        if archived_at is not None and archived_at.revisit_of is not None:
            self.counts["revisit_captures"] += 1
        written = self.locate(record_url) if archived_at is None and record_url and self.locate else None
        row = {
                "capture_id": capture_id(self.crawl_id, kind, url, fetched_at, archived_at),
                "crawl_id": self.crawl_id,
                "kind": kind,
                "url": url,
                "fetched_at": utc(fetched_at),
                "status": status,
                "sha256": sha256,
                "server_ip": server_ip,
                "error": error,
                "archive": archived_at.archive if archived_at is not None else None,
                "archive_offset": archived_at.offset if archived_at is not None else None,
                "revisit_of": archived_at.revisit_of if archived_at is not None else None,
                "record_id": archived_at.record_id if archived_at is not None else None,
                "record_length": archived_at.length if archived_at is not None else None,
            }
        self._push("captures", row)
        if written is not None:
            self._locating.append((row, written))

    def _locate_buffered(self) -> None:
        """Fill the archive location of the buffered capture rows of a live crawl from their WARC writes (waiting at
        most ``WARC_WAIT`` seconds in all for writes still queued); a row whose write failed or did not finish in
        time names no record."""
        if not self._locating:
            return
        deadline = time.monotonic() + WARC_WAIT
        late = 0
        for row, written in self._locating:
            try:
                at = written.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                late += 1
                continue
            if at is not None:
                row.update(archive=at.archive, archive_offset=at.offset, record_id=at.record_id,
                           record_length=at.length)
        if late:
            logger.warning("%d WARC records were not written within %g s: their capture rows name no record", late,
                           WARC_WAIT)
        self._locating.clear()

    def add_policy(self, policy: PolicyFile) -> None:
        self.counts[policy.kind] += 1
        if policy.error:
            self.counts[f"{policy.kind}_errors"] += 1
        self._push(
            "host_policies",
            {
                "crawl_id": self.crawl_id,
                "host": policy_host(policy.url),
                "kind": policy.kind,
                "url": policy.url,
                "status": policy.status,
                "body": policy.body[:MAX_POLICY_CHARS] if policy.status is not None else None,
                "fetched_at": utc(policy.fetched_at),
                "error": policy.error,
            },
        )

    def add_stylesheet(self, sheet: StylesheetFetch) -> None:
        self.counts["stylesheets"] += 1
        if sheet.error:
            self.counts["stylesheet_errors"] += 1
        self._push(
            "stylesheets",
            {
                "crawl_id": self.crawl_id,
                "url": sheet.url,
                "final_url": sheet.final_url,
                "status": sheet.status,
                "content_type": sheet.content_type,
                "fetched_at": utc(sheet.fetched_at),
                "bytes": sheet.bytes,
                "images": len(sheet.image_urls),
                "imports": list(sheet.imports),
                "skipped": sheet.skipped,
                "error": sheet.error,
            },
        )

    def add_ref(self, ref: ImageRef) -> None:
        self.counts["sightings"] += 1
        sha = self._url_sha.get(ref.image_url)
        self._push(
            "sightings",
            {
                "sighting_id": sighting_id(self.crawl_id, ref.image_url, ref.page_url),
                "crawl_id": self.crawl_id,
                "sha256": sha,
                "image_url": ref.image_url,
                "page_url": ref.page_url,
                "image_host": host_of(ref.image_url),
                "page_host": host_of(ref.page_url),
                "alt_text": ref.alt_text,
                "caption": ref.caption,
                "heading": ref.heading,
                "ref_kind": ref.ref_kind,
                "attributes": _json(ref.attributes) if ref.attributes else None,
                "fetched_at": utc(ref.fetched_at),
                "rendered": ref.rendered,
            },
        )

    def add_dataset_sighting(self, item: DatasetSighting) -> None:
        """A dataset sample's sighting (``ref_kind`` ``dataset``, no page): of the content last fetched at its URL,
        or, for a sample with a ``reference_key``, of the reference-only image of that key (written here, with the
        published hashes, unless this recorder wrote it already)."""
        self.counts["sightings"] += 1
        sha: str | None
        if item.reference_key is not None:
            sha = key = item.reference_key
            self.counts["reference_only_sightings"] += 1
            if key not in self._seen_images:
                self._seen_images.add(key)
                self.counts["reference_only_images"] += 1
                self._push("images", {"sha256": sha, "reference_only": True,
                                      "published_sha256": item.published_sha256,
                                      "published_md5": item.published_md5, "face_count": None})
        else:
            sha = self._url_sha.get(item.image_url)
            published = (item.published_sha256 if item.published_sha256 != sha else None, item.published_md5)
            if sha is not None and any(published):
                self._published.setdefault(sha, published)
        self._push(
            "sightings",
            {
                "sighting_id": dataset_sighting_id(self.crawl_id, item.image_url, item.discriminator),
                "crawl_id": self.crawl_id,
                "sha256": sha,
                "image_url": item.image_url,
                "page_url": None,
                "image_host": host_of(item.image_url),
                "page_host": None,
                "caption": item.caption,
                "ref_kind": "dataset",
                "attributes": _json(item.attributes) if item.attributes else None,
                "fetched_at": utc(item.fetched_at),
                "rendered": False,
            },
        )

    def add_image(self, rec: ImageRecord) -> None:
        if rec.sha256 in self._seen_images:
            return
        self._seen_images.add(rec.sha256)
        self.counts["images"] += 1
        if rec.error:
            self.counts["image_errors"] += 1
        self._push("images", image_row(rec))
        for row in face_rows(rec):
            self._push("faces", row)

    def add_fetch(self, fetch: ImageFetch) -> None:
        self.counts["image_fetches"] += 1
        rec = fetch.record
        if rec is not None:
            self.add_image(rec)
            self._url_sha[fetch.url] = rec.sha256
        if fetch.error:
            self.counts["image_fetch_errors"] += 1
        self._push(
            "fetches",
            {
                "crawl_id": self.crawl_id,
                "url": fetch.url,
                "final_url": fetch.final_url,
                "status": fetch.status,
                "content_type": fetch.content_type,
                "fetched_at": utc(fetch.fetched_at),
                "server_ip": fetch.server_ip,
                "headers": _json(fetch.headers),
                "bytes": rec.size if rec is not None else None,
                "sha256": rec.sha256 if rec is not None else None,
                "error": fetch.error,
            },
        )
        self._capture("image", fetch.url, fetch.fetched_at, status=fetch.status,
                      sha256=rec.sha256 if rec is not None else None, server_ip=fetch.server_ip,
                      error=fetch.error, archived_at=fetch.archived_at, record_url=fetch.final_url or fetch.url)

    # -- writing -----------------------------------------------------------------------------------------------
    def _push(self, table: str, row: dict[str, Any]) -> None:
        self._buffers[table].append(row)

    def _item_done(self) -> None:
        """After all the rows of one item are buffered, write a batch if one is full: an item's rows (a page and
        its sightings, an image and its fetch) are never split between two batches, so a kill cannot leave a page
        stored without its sightings."""
        if any(len(buf) >= self.batch_size for buf in self._buffers.values()):
            if time.monotonic() >= self._retry_at:
                self.flush()
            elif self.buffered >= self.spool_rows:
                self._spill()

    @property
    def buffered(self) -> int:
        """Rows in memory, not yet in the store."""
        return sum(len(buf) for buf in self._buffers.values())

    def _link_in_memory(self) -> None:
        """Link buffered sightings whose image arrived after them, in memory; the rest wait in ``_pending``."""
        for row in self._buffers["sightings"]:
            if row["sha256"] is None:
                sha = self._url_sha.get(row["image_url"])
                if sha is None:
                    self._pending.add(row["image_url"])
                else:
                    row["sha256"] = sha

    def flush(self, wait: float = 0.0, *, spill: bool = True) -> bool:
        """Write every buffered row in one transaction, then link sightings to their images. With a
        :class:`~audit.store.db.StoreWriter`, try for up to ``wait`` seconds while another process holds the store;
        returns False if it still does: the rows are kept (and, with ``spill``, moved to the spool past
        ``spool_rows``)."""
        if not self.buffered:
            return True
        self._link_in_memory()
        self._locate_buffered()
        resolved = {url: self._url_sha[url] for url in self._pending if url in self._url_sha}
        try:
            with self.store.transaction(wait) as store:
                self._write(store, resolved)
                if self._final:
                    # whether the run recorded the built-in test web (every response and dataset row marked)
                    mark_run(store, self.crawl_id)
        except StoreBusy as exc:
            self._held(exc)
            if spill and self.buffered >= self.spool_rows:
                self._spill()
            return False
        self._pending.difference_update(resolved)
        self._published.clear()
        if self._final:
            self._pending.clear()
        self._committed()
        for buf in self._buffers.values():
            buf.clear()
        if self._busy is not None:
            logger.info("the store is free again after %.1f s; rows kept meanwhile written",
                        time.monotonic() - self._busy_since)
            self._busy = None
        self._retry_at = 0.0
        return True

    def _write(self, store: Store, resolved: Mapping[str, str]) -> None:
        for table in self.TABLES:
            rows = self._buffers[table]
            if rows:
                store.insert(table, rows)
        self._fill_face_counts(store)
        self._fill_published(store)
        if resolved:
            # sightings written earlier without their image: only the URLs that have arrived since
            con = store.con
            batch = pa.table({"url": list(resolved), "sha256": list(resolved.values())})
            con.register("_resolved", batch)
            try:
                con.execute(
                    "UPDATE sightings SET sha256 = r.sha256 FROM _resolved r "
                    "WHERE sightings.sha256 IS NULL AND sightings.crawl_id = ? AND sightings.image_url = r.url",
                    [self.crawl_id],
                )
            finally:
                con.unregister("_resolved")
        if self._final:
            # sightings whose image only `fetches` holds: written before their image arrived and never resolved in
            # memory, or recorded again by a resumed run (INSERT OR IGNORE kept the earlier row, unlinked)
            store.link_sightings(self.crawl_id)

    def _fill_published(self, store: Store) -> None:
        """The hashes a dataset published for the originals of images it holds re-encoded, on those images' rows
        where none is set yet."""
        if not self._published:
            return
        batch = pa.table({"sha256": pa.array(list(self._published), pa.string()),
                          "p_sha256": pa.array([v[0] for v in self._published.values()], pa.string()),
                          "p_md5": pa.array([v[1] for v in self._published.values()], pa.string())})
        store.con.register("_published", batch)
        try:
            store.con.execute("UPDATE images SET published_sha256 = p.p_sha256, published_md5 = p.p_md5 "
                              "FROM _published p WHERE images.sha256 = p.sha256 AND images.published_sha256 IS NULL "
                              "AND images.published_md5 IS NULL")
        finally:
            store.con.unregister("_published")

    def _fill_face_counts(self, store: Store) -> None:
        """Images already in the store without faces (written by a run without detection) that this batch detected:
        their ``face_count`` is filled (their ``faces`` rows were just inserted), nothing else of theirs changes."""
        detected = [row for row in self._buffers["images"] if row["face_count"] is not None]
        if not detected:
            return
        batch = pa.table({"sha256": pa.array([r["sha256"] for r in detected], pa.string()),
                          "face_count": pa.array([r["face_count"] for r in detected], pa.int32())})
        store.con.register("_face_counts", batch)
        try:
            store.con.execute("UPDATE images SET face_count = f.face_count, face_error = NULL FROM _face_counts f "
                              "WHERE images.sha256 = f.sha256 AND images.face_count IS NULL")
        finally:
            store.con.unregister("_face_counts")

    def _committed(self) -> None:
        if self.on_commit is None:
            return
        tables = ("pages", "fetches", "host_policies", "stylesheets")
        urls = [row["url"] for table in tables for row in self._buffers[table] if row.get("url")]
        if urls:
            self.on_commit(urls)

    def _held(self, exc: StoreBusy) -> None:
        now = time.monotonic()
        self._retry_at = now + self.RETRY_INTERVAL
        self.counts["store_busy"] += 1
        if self._busy is None:
            self._busy_since = now
            logger.info("the store %s is held by %s%s: keeping the rows and trying again at the next batch",
                        exc.path, exc.holder, " (reading it)" if exc.reading else "")
        self._busy = exc

    def _spill(self) -> int:
        """Move every buffered row to the store's spool; returns how many."""
        self._link_in_memory()  # spooled sightings carry every image already known
        self._locate_buffered()
        spool = self.store.spool
        self._committed()  # once spooled (synced files), the rows survive this process
        moved = 0
        for table, rows in self._buffers.items():
            if rows:
                spool.write(table, rows)
                moved += len(rows)
                rows.clear()
        self.counts["spooled_rows"] += moved
        holder = self._busy.holder if self._busy else "another process"
        logger.warning("the store %s is held by %s: %d rows written to the spool %s (the next write to the store "
                       "adds them)", self.store.path, holder, moved, spool.dir)
        return moved
