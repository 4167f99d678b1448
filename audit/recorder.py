"""Turn crawl items into store rows, buffered and written in bulk.

The same :class:`Recorder` serves a live Scrapy crawl (through :mod:`audit.pipeline`), an archive ingest and a folder
ingest, so an image is recorded the same way wherever it came from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from .records import ImageFetch, ImageRecord, ImageRef, PageItem, PolicyFile
from .store import Store, utc

logger = logging.getLogger(__name__)

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


def sighting_id(crawl_id: str, image_url: str, page_url: str | None) -> str:
    """Stable identifier of one sighting, so that replaying the same input finds the same row."""
    h = hashlib.blake2b(digest_size=16)
    for part in (crawl_id, image_url, page_url or ""):
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
    }


class Recorder:
    """Buffers rows per table and writes each table in bulk every ``batch_size`` rows.

    Sightings are linked to their image content by ``(crawl_id, image_url)``: the page is usually parsed before its
    images arrive, so unresolved sightings are completed from ``fetches`` on every flush.
    """

    def __init__(self, store: Store, crawl_id: str, *, batch_size: int = 500) -> None:
        self.store = store
        self.crawl_id = crawl_id
        self.batch_size = max(1, batch_size)
        self._buffers: dict[str, list[dict[str, Any]]] = {
            "pages": [],
            "fetches": [],
            "images": [],
            "sightings": [],
            "host_policies": [],
        }
        self._seen_images: set[str] = set()
        self._url_sha: dict[str, str] = {}
        # image URLs of sightings written without their sha256 (the image had not arrived yet)
        self._pending: set[str] = set()
        self.counts: Counter[str] = Counter()

    # -- crawl bookkeeping -------------------------------------------------------------------------------------
    def begin(self, *, source: str, kind: str, settings: Mapping[str, Any], warc_path: str | None) -> None:
        self.store.con.execute(
            "INSERT OR IGNORE INTO crawls (crawl_id, source, kind, started_at, settings, warc_path) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [self.crawl_id, source, kind, utc(dt.datetime.now(dt.UTC)), _json(dict(settings)), warc_path],
        )

    def finish(self, stats: Mapping[str, Any] | None = None) -> None:
        self.flush()
        if self._pending:
            # images fetched by an earlier run of the same crawl (a resumed JOBDIR crawl) are only in `fetches`
            self.store.con.execute(
                "UPDATE sightings SET sha256 = f.sha256 FROM fetches f "
                "WHERE sightings.sha256 IS NULL AND sightings.crawl_id = ? "
                "AND f.crawl_id = sightings.crawl_id AND f.url = sightings.image_url "
                "AND f.sha256 IS NOT NULL",
                [self.crawl_id],
            )
            self._pending.clear()
        merged = dict(self.counts)
        if stats:
            merged.update(stats)
        self.store.con.execute(
            "UPDATE crawls SET finished_at = ?, stats = ? WHERE crawl_id = ?",
            [utc(dt.datetime.now(dt.UTC)), _json(merged), self.crawl_id],
        )

    # -- items -------------------------------------------------------------------------------------------------
    def add(self, item: object) -> None:
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
        else:
            raise TypeError(f"cannot record {type(item).__name__}")

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
                "content_type": page.content_type,
                "headers": _json(page.headers),
                "facts": _json(page.facts) if page.facts else None,
                "error": page.error,
            },
        )

    def add_policy(self, policy: PolicyFile) -> None:
        self.counts[policy.kind] += 1
        parts = urlsplit(policy.url)
        self._push(
            "host_policies",
            {
                "crawl_id": self.crawl_id,
                "host": (parts.netloc or "").lower(),
                "kind": policy.kind,
                "url": policy.url,
                "status": policy.status,
                "body": policy.body[:MAX_POLICY_CHARS],
                "fetched_at": utc(policy.fetched_at),
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
                "ref_kind": ref.ref_kind,
                "attributes": _json(ref.attributes) if ref.attributes else None,
                "fetched_at": utc(ref.fetched_at),
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

    # -- writing -----------------------------------------------------------------------------------------------
    def _push(self, table: str, row: dict[str, Any]) -> None:
        buf = self._buffers[table]
        buf.append(row)
        if len(buf) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write every buffered row, in one transaction, then link sightings to their images."""
        if not any(self._buffers.values()):
            return
        con = self.store.con
        # Link buffered sightings whose image arrived after them, in memory; the rest wait in `_pending`.
        for row in self._buffers["sightings"]:
            if row["sha256"] is None:
                sha = self._url_sha.get(row["image_url"])
                if sha is None:
                    self._pending.add(row["image_url"])
                else:
                    row["sha256"] = sha
        resolved = {url: self._url_sha[url] for url in self._pending if url in self._url_sha}
        con.execute("BEGIN TRANSACTION")
        try:
            # images before fetches before sightings: a reader never sees a sighting whose image row is missing
            for table in ("images", "fetches", "pages", "sightings", "host_policies"):
                rows = self._buffers[table]
                if rows:
                    self.store.insert(table, rows)
            if resolved:
                # sightings written earlier without their image: only the URLs that have arrived since
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
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._pending.difference_update(resolved)
        for buf in self._buffers.values():
            buf.clear()
