"""Crawl identifiers: new for each crawl, stable across a JOBDIR pause/resume, derived from content for ingests."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from pathlib import Path
from typing import Any

JOBDIR_FILE = "provaudit-crawl-id"


def new_crawl_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"c-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def ingest_crawl_id(kind: str, key: str) -> str:
    """A crawl id for an ingest, derived from what is ingested so that re-ingesting it finds the same id."""
    return f"{kind}-{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def crawl_id_for(crawler: Any) -> str:
    """The crawl id of a running Scrapy crawler: ``AUDIT_CRAWL_ID`` if set, else the one kept in ``JOBDIR`` (so a
    resumed crawl keeps its id), else a new one. Cached on the crawler so every component agrees."""
    cached = getattr(crawler, "_provaudit_crawl_id", None)
    if cached:
        return str(cached)
    settings = crawler.settings
    crawl_id = settings.get("AUDIT_CRAWL_ID")
    if not crawl_id and settings.get("AUDIT_REDIS_URL"):
        from audit.crawl.shared import connect, shared_crawl_id

        # every worker of a shared crawl records under one id, so that their shards merge without duplicates
        crawl_id = shared_crawl_id(connect(settings.get("AUDIT_REDIS_URL")), settings.get("AUDIT_REDIS_KEY"))
    jobdir = settings.get("JOBDIR")
    if not crawl_id and jobdir:
        path = Path(jobdir) / JOBDIR_FILE
        if path.exists():
            crawl_id = path.read_text(encoding="utf-8").strip() or None
        if not crawl_id:
            crawl_id = new_crawl_id()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(crawl_id, encoding="utf-8")
    crawl_id = crawl_id or new_crawl_id()
    crawler._provaudit_crawl_id = crawl_id
    return str(crawl_id)
