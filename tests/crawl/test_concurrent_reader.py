"""A notebook holding the store open read-only during a crawl does not break the crawl (issue 6).

Real crawls of the loopback test web run in a subprocess (``provaudit crawl``) while this process opens the same
DuckDB file read-only, as a notebook does. DuckDB lets one process write a file or any number read it, never both: the
crawl holds its store only while it writes a batch (``audit.store.db.StoreWriter``), keeps its rows while a reader holds
the file, spools them beside the store past a bound or at its end, and the next writer adds the spool. Whatever the
reader does, the store ends up equal to an undisturbed crawl's."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from audit.store.db import Store
from audit.store.spool import Spool
from conftest import ROOT, crawl_args

logger = logging.getLogger(__name__)

BATCH = "20"  # rows per batch: many writes in a small crawl, so the reader meets the crawl often


def _content(db: Path) -> dict[str, set[tuple[Any, ...]]]:
    """What a crawl recorded, without its crawl id: equal for two crawls of the same web."""
    with Store.open(db, read_only=True) as store:
        return {
            "images": set(store.query("SELECT sha256, format, width, height, phash, gps_lat FROM images")),
            "sightings": set(store.query("SELECT image_url, page_url, sha256, alt_text, ref_kind FROM sightings")),
            "pages": set(store.query("SELECT url, status, error, lang FROM pages")),
            "fetches": set(store.query("SELECT url, final_url, status, sha256, error FROM fetches")),
            "host_policies": set(store.query("SELECT host, kind, status, error FROM host_policies")),
        }


def _counts(store: Store) -> tuple[int, int]:
    (pages, linked) = store.query("SELECT (SELECT count(*) FROM pages), "
                                  "(SELECT count(*) FROM sightings WHERE sha256 IS NOT NULL)")[0]
    return int(pages), int(linked)


def _start_crawl(small_web: Any, server: Any, db: Path, tmp_path: Path, *settings: str) -> subprocess.Popen[str]:
    extra: list[str] = ["-s", f"AUDIT_BATCH_SIZE={BATCH}"]
    for s in settings:
        extra += ["-s", s]
    out = open(tmp_path / "crawl.out", "w")  # noqa: SIM115 - closed when the test reads it back
    err = open(tmp_path / "crawl.err", "w")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "audit.cli", *crawl_args(small_web, server, db, *extra)],
                            cwd=ROOT, stdout=out, stderr=err, text=True)


def _crawl_stats(db: Path) -> dict[str, Any]:
    with Store.open(db, read_only=True) as store:
        rows = store.query("SELECT finished_at IS NOT NULL, stats FROM crawls")
    assert len(rows) == 1 and rows[0][0], rows
    return dict(json.loads(rows[0][1]))


def test_a_reader_opening_the_store_throughout_the_crawl_does_not_disturb_it(small_web, server, crawled, tmp_path):
    undisturbed, _ = crawled
    db = tmp_path / "read-during.duckdb"
    rng = random.Random(6)
    # 0.25 s between two requests to a site: a crawl of ~15 s instead of ~6 s, so the reader comes back many times
    proc = _start_crawl(small_web, server, db, tmp_path, "DOWNLOAD_DELAY=0.25", "RANDOMIZE_DOWNLOAD_DELAY=False")
    seen: list[tuple[int, int]] = []
    held = 0.0
    started = time.monotonic()
    while proc.poll() is None:
        if not db.exists():
            time.sleep(0.05)
            continue
        # like a notebook cell: open read-only (waiting for a gap between the crawl's batches), query, keep the
        # store open for a while, query again, close
        with Store.open(db, read_only=True, wait=30) as store:
            t0 = time.monotonic()
            first = _counts(store)
            time.sleep(rng.uniform(0.5, 1.2))
            last = _counts(store)
            held += time.monotonic() - t0
        assert first == last  # a read-only connection sees one state of the file
        seen.append(last)
        time.sleep(rng.uniform(0.2, 0.4))
    elapsed = time.monotonic() - started
    assert proc.wait() == 0, (tmp_path / "crawl.err").read_text()
    # the reader held the store again and again during the crawl, and saw it grow batch by batch (how much of the
    # crawl's time it held the store depends on the machine's load: logged, not asserted)
    logger.info("the reader held the store %.1f s of the crawl's %.1f s, %d times", held, elapsed, len(seen))
    assert seen == sorted(seen) and len(set(seen)) >= 4, seen
    stats = _crawl_stats(db)
    assert stats["finish_reason"] == "finished"
    assert stats.get("store_busy", 0) > 0  # the crawl did find the store held, and waited for the reader
    assert not Spool(db).dir.exists()
    assert _content(db) == _content(undisturbed)


def test_a_reader_holding_the_store_past_the_crawls_end_loses_nothing(small_web, server, crawled, tmp_path):
    undisturbed, _ = crawled
    db = tmp_path / "held-over-end.duckdb"
    proc = _start_crawl(small_web, server, db, tmp_path, "AUDIT_STORE_FINISH_WAIT=1", "AUDIT_SPOOL_ROWS=100")
    # wait for the crawl's first batches, then hold the store read-only, like a notebook left open, until the
    # crawl has ended
    reader: Store | None = None
    while reader is None:
        assert proc.poll() is None, (tmp_path / "crawl.err").read_text()
        if db.exists():
            store = Store.open(db, read_only=True, wait=30)
            if _counts(store)[0] > 0:
                reader = store
            else:
                store.close()
        time.sleep(0.05)
    try:
        at_start = _counts(reader)
        assert proc.wait(timeout=300) == 0, (tmp_path / "crawl.err").read_text()
        err = (tmp_path / "crawl.err").read_text()
        # the crawl said who held its store, and where its last rows are
        assert f"still held by process {os.getpid()}" in err, err
        spool = Spool(db)
        assert spool.files() and str(spool.dir) in err
        assert _counts(reader) == at_start  # nothing was written while the reader held the file
        spooled = spool.rows()
    finally:
        reader.close()
    assert spooled > 100  # past AUDIT_SPOOL_ROWS during the crawl, and the rest at its end
    with Store.open(db):  # the next writer (a crawl, ingest, audit, or this) adds the spool first
        pass
    assert not spool.dir.exists()
    stats = _crawl_stats(db)
    assert stats["finish_reason"] == "finished" and stats["spooled_rows"] >= spooled
    assert _content(db) == _content(undisturbed)
