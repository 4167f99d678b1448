"""The store rows of WAT pages (:class:`audit.ingest.wat.WatPage`): a capture and a page row per page, a
reference-only sighting and ``images`` row per image link, gathered per batch and handed on as Arrow tables, in the
order they are written. Built in the process that reads the pages (:mod:`audit.ingest.watpool` builds them in
worker processes), so that the writing process only inserts them."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

import pyarrow as pa

from audit.ingest.tables import reference_key
from audit.ingest.wat import WatPage
from audit.records import ArchivedAt
from audit.schema import TABLES_BY_NAME
from audit.store.arrow import arrow_schema, arrow_table, utc
from audit.store.recorder import capture_id, host_of

_host = lru_cache(maxsize=65_536)(host_of)  # image hosts repeat across pages

_quote = json.encoder.encode_basestring  # a JSON string, as json.dumps(ensure_ascii=False) writes it

TABLE_ORDER = ("images", "pages", "captures", "sightings")  # as written, in one transaction
SIGHTING_COLUMNS = ("sighting_id", "crawl_id", "sha256", "image_url", "page_url", "image_host", "page_host",
                    "alt_text", "caption", "ref_kind", "attributes", "fetched_at", "rendered")


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


class WatRows:
    """The rows of a batch of pages; sightings kept as columns (the bulk of the rows). Within a batch the first
    page row of a URL and the first sighting of an (image, page) pair are kept, as the store keeps the first across
    batches."""

    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []
        self.captures: list[dict[str, Any]] = []
        self.sightings: dict[str, list[Any]] = {c: [] for c in SIGHTING_COLUMNS}
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
        page_host = host_of(page.url)
        if page.url not in self.page_keys:  # pages keep the first capture of a URL (INSERT OR IGNORE across batches)
            self.page_keys.add(page.url)
            self.pages.append({
                "crawl_id": crawl_id, "url": page.url, "host": page_host, "status": page.status,
                "fetched_at": fetched, "server_ip": page.server_ip, "lang": page.lang, "title": page.title,
                "content_type": page.content_type,
                "headers": json.dumps(page.headers, ensure_ascii=False) if page.headers else None,
                "facts": json.dumps(page.facts, ensure_ascii=False) if page.facts else None,
                "error": f"{page.refs_cut} image links past the first {len(page.refs)} not read"
                if page.refs_cut else None,
            })
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
        """Pages added (one capture each)."""
        return len(self.captures)

    def tables(self) -> list[tuple[str, pa.Table]]:
        """The non-empty tables, by store table name, in :data:`TABLE_ORDER`."""
        t = TABLES_BY_NAME
        schema = arrow_schema(t["sightings"])
        out = [
            ("images", pa.table({"sha256": pa.array(sorted(self.images), pa.string()),
                                 "reference_only": pa.array([True] * len(self.images), pa.bool_())})),
            ("pages", arrow_table(t["pages"], self.pages)),
            ("captures", arrow_table(t["captures"], self.captures)),
            ("sightings", pa.Table.from_pydict(self.sightings,
                                               schema=pa.schema([schema.field(n) for n in SIGHTING_COLUMNS]))),
        ]
        return [(name, table) for name, table in out if table.num_rows]
