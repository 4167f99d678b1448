"""Simulated deletions, to demonstrate and test ``audit.outputs.verify``.

``simulate_deletion`` writes an "after" store: the before-store minus a set of images (their rows in every table
keyed by the image, see ``IMAGE_TABLES``), everything else copied unchanged. The derived tables of the remaining
images are copied as they were, not recomputed: run ``provaudit audit --db AFTER`` to rebuild them if needed.

``sloppy_vendor`` is the scenario the verification is for. A vendor is told to delete the images a policy names for a
country. It deletes the exact files the policy named, but only those whose own signals attribute them to the country
at the strong tier (its "confident" list), and it never looks for the near-duplicate copies of those photos that
other hosts re-posted (resized, re-compressed, mirrored): whatever the policy named on a weaker direct attribution
(a copy that only inherits its country from a near-duplicate, under a ``+nd`` policy) stays as is, and copies the
policy did not name at all stay too. ``verify`` must find both: the named files still present exactly, and the
copies still present as near-duplicates of deleted images.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pyarrow as pa

from audit.outputs.verify import should_delete
from audit.schema import TABLES, TABLES_BY_NAME
from audit.store.db import Store

log = logging.getLogger(__name__)

# The tables whose rows belong to one image, which a deletion removes: every table with a sha256 column but
# ground_truth, which describes what the test web served and stays as it was.
IMAGE_TABLES = tuple(t.name for t in TABLES if "sha256" in t.column_names and t.name != "ground_truth")


def simulate_deletion(before_path: Path, after_path: Path, delete: set[str]) -> dict[str, int]:
    """Write ``after_path``: a copy of the store at ``before_path`` without the images in ``delete`` (by sha256).

    The before-store must not be open for writing by another process. ``after_path`` is replaced if it exists.
    Returns the number of rows removed per table."""
    before_path, after_path = Path(before_path), Path(after_path)
    if before_path.resolve() == after_path.resolve():
        raise ValueError("the after-store must be a different file from the before-store")
    for old in (after_path, after_path.with_name(after_path.name + ".wal")):
        old.unlink(missing_ok=True)
    after_path.parent.mkdir(parents=True, exist_ok=True)
    # copy table contents from a read-only open of the before-store (consistent even if it has a WAL), as Arrow
    # batches: neither connection reads a file but its own
    removed: dict[str, int] = {}
    doomed = pa.table({"sha256": pa.array(sorted(delete), pa.string())})
    with Store.open(before_path, read_only=True) as before, Store.open(after_path) as after:
        before.con.register("_delete", doomed)
        con = after.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM meta")
            for name, table in TABLES_BY_NAME.items():
                have = before.columns.get(name)
                if have is None:
                    continue
                cols = ", ".join(c for c in table.column_names if c in have)
                where = ""
                if name in IMAGE_TABLES:
                    where = " WHERE sha256 IS NULL OR sha256 NOT IN (SELECT sha256 FROM _delete)"
                    removed[name] = int(before.query(f"SELECT count(*) FROM {name}")[0][0]) - int(before.query(
                        f"SELECT count(*) FROM {name}{where}")[0][0])
                con.register("_rows", before.con.sql(f"SELECT {cols} FROM {name}{where}").to_arrow_reader(10_000))
                try:
                    con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _rows")
                finally:
                    con.unregister("_rows")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    log.info("simulated deletion of %d images into %s: %s", len(delete), after_path, removed)
    return removed


def sloppy_vendor(before: Store, country: str, policy: str, *, seed: int, miss_rate: float = 0.0) -> set[str]:
    """What a sloppy vendor deletes when told to apply ``policy`` for ``country`` (see the module doc): the named
    images whose own signals attribute them to ``country`` at the strong tier, nothing else. With ``miss_rate`` > 0
    it also forgets that share of those (drawn with ``seed``, reproducibly)."""
    country = country.strip().upper()
    named = should_delete(before, country, policy)
    confident = {str(r[0]) for r in before.query(
        "SELECT sha256 FROM attributions WHERE direct_country = ? AND direct_tier = 'strong'", [country])}
    chosen = sorted(named & confident)
    if miss_rate > 0:
        rng = random.Random(seed)
        chosen = [s for s in chosen if rng.random() >= miss_rate]
    log.info("sloppy vendor, %s %s: %d named, deletes %d", country, policy, len(named), len(chosen))
    return set(chosen)

