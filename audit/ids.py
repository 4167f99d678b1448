"""Crawl identifiers: pure functions, no settings, no I/O.

A live crawl's id is chosen by :func:`audit.crawl.context.resolve_crawl_id` (an explicit id, the shared crawl's, the
one kept in ``JOBDIR`` under :data:`JOBDIR_FILE`, or a new one); an ingest's id is derived from what it reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

#: the file in a crawl's ``JOBDIR`` that keeps its crawl id, so that a resumed crawl records under the same id
JOBDIR_FILE = "provaudit-crawl-id"


def new_crawl_id(now: dt.datetime | None = None) -> str:
    """A new crawl id, ``c-<UTC time>-<6 random hex digits>``: sortable by start time, unique across workers."""
    now = now or dt.datetime.now(dt.UTC)
    return f"c-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def ingest_crawl_id(kind: str, key: str) -> str:
    """A crawl id for an ingest, derived from what is ingested so that re-ingesting it finds the same id."""
    return f"{kind}-{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
