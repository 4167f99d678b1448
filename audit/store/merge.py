"""``provaudit merge``: combine store shards (one per crawl worker, or stores of separate crawls) into one store.

Crawl rows are added idempotently: a row whose key is already in the target is skipped, so merging a shard twice,
or two shards that both recorded the same image, adds it once. Sightings recorded without their image (a worker of a
shared crawl parsed the page, another fetched the image) are then linked through the merged ``fetches``. The derived
tables (signals, opt-outs, clusters, attributions) describe the store they were computed on, so a merge that adds
rows empties them: run ``provaudit audit`` on the merged store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from audit.errors import MergeError, StoreError
from audit.schema import DERIVED, TABLES
from audit.store.db import Store
from audit.store.export import insert_missing

logger = logging.getLogger(__name__)


MERGE_BATCH_ROWS = 10_000


@dataclass
class MergeResult:
    shards: int = 0
    added: dict[str, int] = field(default_factory=dict)
    offered: dict[str, int] = field(default_factory=dict)
    derived_cleared: bool = False


def merge_stores(store: Store, shards: Sequence[str | Path]) -> MergeResult:
    """Add the crawl rows of every store in ``shards`` to ``store`` (each shard in its own transaction).

    Each shard is opened on its own, read-only, exactly as any store is (:meth:`Store.open`: a sealed connection, and
    refused whole if it is not a DuckDB file or holds views, macros or computed columns where provaudit keeps plain
    tables); its rows reach ``store`` as Arrow batches, so the target's connection reads no file."""
    result = MergeResult()
    target = store.path.resolve() if store.path is not None else None
    for shard in shards:
        path = Path(shard)
        if not path.is_file():
            raise MergeError(f"no store at {path}")
        if target is not None and path.resolve() == target:
            raise MergeError(f"{path} is the target store itself")
        try:
            source = Store.open(path, read_only=True)
        except StoreError as exc:
            raise MergeError(f"cannot merge: {exc}") from exc
        try:
            _merge_one(store, source, path, result)
        finally:
            source.close()
        result.shards += 1
    if any(result.added.values()):
        store.con.execute("BEGIN TRANSACTION")
        # A worker of a shared crawl records the sightings of the pages it parsed, and another may have fetched
        # their image: the link comes from the merged fetches.
        for (crawl_id,) in store.query("SELECT DISTINCT crawl_id FROM sightings WHERE sha256 IS NULL"):
            store.link_sightings(str(crawl_id))
        for name in DERIVED:
            store.con.execute(f"DELETE FROM {name}")
        store.con.execute("COMMIT")
        result.derived_cleared = True
    return result


def _merge_one(store: Store, source: Store, path: Path, result: MergeResult) -> None:
    columns = source.columns
    store.con.execute("BEGIN TRANSACTION")
    try:
        for table in TABLES:
            if table.name in DERIVED or table.name == "meta" or table.name not in columns:
                continue
            have = columns[table.name]
            if not set(table.primary_key) <= have:
                raise MergeError(f"{path}: table {table.name} lacks its key columns {table.primary_key}")
            # a shard written by an older version may lack newer columns: they arrive as NULL
            select = ", ".join(c.name if c.name in have else f"NULL::{c.type} AS {c.name}" for c in table.columns)
            try:
                rows = source.con.sql(f"SELECT {select} FROM {table.name}").to_arrow_reader(MERGE_BATCH_ROWS)
                offered, added = insert_missing(store, table, rows)
            except duckdb.Error as exc:
                raise MergeError(f"cannot merge table {table.name} of {path}: {str(exc).splitlines()[0]}") from exc
            result.offered[table.name] = result.offered.get(table.name, 0) + offered
            result.added[table.name] = result.added.get(table.name, 0) + added
        store.con.execute("COMMIT")
    except BaseException:
        store.con.execute("ROLLBACK")
        raise
    logger.info("merged %s", path)
