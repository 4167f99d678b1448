from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from audit.schema import TABLES
from audit.store.db import Store, StoreBusy, StoreError, StoreWriter
from audit.store.spool import Spool


def test_schema_created_and_insert_is_idempotent(tmp_path):
    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        names = {r[0] for r in store.query("SELECT table_name FROM information_schema.tables")}
        assert {t.name for t in TABLES} <= names
        rows = [
            {"sha256": "a" * 64, "phash": 2**64 - 1, "dhash": 0, "exif": '{"Make": "X"}', "field_errors": ["bad"],
             "taken_at": dt.datetime(2021, 5, 1, 12, 0)},
            {"sha256": "b" * 64, "phash": 0x0F0F, "dhash": 1},
        ]
        store.insert("images", rows)
        store.insert("images", rows)  # replay: no duplicates
        assert store.count("images") == 2
        # the documented notebook idiom works on UBIGINT hashes
        (dist,) = store.query("SELECT bit_count(xor(a.phash, b.phash)) FROM images a, images b "
                              "WHERE a.sha256 < b.sha256")[0]
        assert dist == 64 - 8
        (make,) = store.query("SELECT exif->>'Make' FROM images WHERE sha256 = ?", ["a" * 64])[0]
        assert make == "X"


def test_reopen_keeps_rows(tmp_path):
    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        store.insert("pages", [{"crawl_id": "c", "url": "http://x.fr/", "status": 200}])
    with Store.open(db, read_only=True) as store:
        assert store.count("pages") == 1


def test_clear_errors(tmp_path):
    with pytest.raises(StoreError, match="no store"):
        Store.open(tmp_path / "missing.duckdb", read_only=True)
    bogus = tmp_path / "not-a-db.duckdb"
    bogus.write_text("hello, I am not DuckDB")
    with pytest.raises(StoreError):
        Store.open(bogus)


def test_one_writer_at_a_time(tmp_path):
    db = tmp_path / "s.duckdb"
    Store.open(db).close()
    # a second process-level writer is refused by DuckDB; within one process DuckDB shares the database, so check
    # the read-only + missing cases above and that a plain duckdb connection sees the schema
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    con.close()


# -- another process holding the store (DuckDB: one writer, or any number of readers) ----------------------------------


class Holder:
    """A second process that holds a store open, read-only or for writing, until :meth:`release`."""

    def __init__(self, db: Path, *, read_only: bool) -> None:
        code = ("import duckdb, sys\n"
                f"con = duckdb.connect({str(db)!r}, read_only={read_only!r})\n"
                "print('ready', flush=True)\n"
                "sys.stdin.read()\n"
                "con.close()\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_a_reader_waits_for_the_writer_to_close_then_opens(tmp_path):
    db = tmp_path / "s.duckdb"
    Store.open(db).close()
    holder = Holder(db, read_only=False)
    timer = threading.Timer(0.8, holder.release)
    timer.start()
    started = time.monotonic()
    try:
        with Store.open(db, read_only=True, wait=20) as store:
            assert store.count("pages") == 0
    finally:
        timer.join()
    assert 0.5 < time.monotonic() - started < 15


def test_a_busy_store_is_a_clear_error_naming_the_holder(tmp_path):
    db = tmp_path / "s.duckdb"
    Store.open(db).close()
    with Holder(db, read_only=False) as writer:
        started = time.monotonic()
        with pytest.raises(StoreBusy, match=rf"being written by process {writer.pid} \(.*\); try again") as err:
            Store.open(db, read_only=True, wait=0.4)
        assert 0.4 <= time.monotonic() - started < 5
        assert err.value.pid == writer.pid and not err.value.reading and isinstance(err.value, StoreError)
    with Holder(db, read_only=True) as reader:
        with pytest.raises(StoreBusy, match=rf"open for reading in process {reader.pid} .*; try again") as err:
            Store.open(db, wait=0)
        assert err.value.reading
        with Store.open(db, read_only=True, wait=0) as store:  # readers share the file
            assert store.count("crawls") == 0


def test_a_read_command_on_a_busy_store_fails_with_one_line(tmp_path):
    from conftest import provaudit

    db = tmp_path / "s.duckdb"
    Store.open(db).close()
    with Holder(db, read_only=False) as writer:
        proc = provaudit("evaluate", "--db", str(db), check=False)
    assert proc.returncode == 1
    assert f"being written by process {writer.pid}" in proc.stderr and "try again" in proc.stderr
    assert "Traceback" not in proc.stderr


def _items(n: int, now: dt.datetime) -> list[object]:
    from audit.records import ImageFetch, ImageRecord, ImageRef, PageItem, PolicyFile
    from audit.store.recorder import PageRefs

    refs = tuple(ImageRef(page_url="http://a.example/", image_url=f"http://a.example/{i}.jpg", fetched_at=now)
                 for i in range(n))
    items: list[object] = [PageRefs(page=PageItem(url="http://a.example/", status=200, fetched_at=now), refs=refs)]
    items += [ImageFetch(url=f"http://a.example/{i}.jpg", fetched_at=now, status=200,
                         record=ImageRecord(sha256=f"{i:064x}", size=i + 1)) for i in range(n)]
    items.append(PolicyFile(kind="robots.txt", url="http://a.example/robots.txt", status=None, body="",
                            fetched_at=now, error="ConnectionRefusedError: refused"))
    return items


def _recorded(db: Path) -> dict[str, object]:
    with Store.open(db, read_only=True, wait=0) as store:
        return {
            "sightings": sorted(store.query("SELECT image_url, sha256 FROM sightings")),
            "images": store.count("images"), "fetches": store.count("fetches"), "pages": store.count("pages"),
            "policies": store.query("SELECT host, kind, status, body, error FROM host_policies"),
            "crawl": store.query("SELECT source, started_at IS NOT NULL, finished_at IS NOT NULL, "
                                 "stats->>'finish_reason' FROM crawls"),
        }


EXPECTED_SIGHTINGS = [(f"http://a.example/{i}.jpg", f"{i:064x}") for i in range(6)]


def test_rows_wait_in_memory_then_in_the_spool_and_the_next_batch_adds_them(tmp_path):
    from audit.store.recorder import Recorder

    db = tmp_path / "s.duckdb"
    writer = StoreWriter(db)
    rec = Recorder(writer, "c1", batch_size=2, spool_rows=4, finish_wait=0)
    rec.begin(source="test", kind="crawl", settings={}, warc_path=None)
    now = dt.datetime.now(dt.UTC)
    items = _items(6, now)
    with Holder(db, read_only=True):
        for item in items[:4]:  # the page, its six sightings, three images
            rec.add(item)
        assert rec.counts["store_busy"] >= 1
        assert writer.spool.files() and rec.counts["spooled_rows"] > 0 and rec.buffered < 4
        assert _recorded(db)["pages"] == 0  # nothing reached the store while the reader held it
    rec.RETRY_INTERVAL = 0
    rec._retry_at = 0
    for item in items[4:]:
        rec.add(item)
    assert rec.finish({"finish_reason": "finished"})
    assert not writer.spool.dir.exists()  # the recorder's own next open added the spool
    got = _recorded(db)
    assert got["sightings"] == EXPECTED_SIGHTINGS
    assert (got["images"], got["fetches"], got["pages"]) == (6, 6, 1)
    assert got["policies"] == [("a.example", "robots.txt", None, None, "ConnectionRefusedError: refused")]
    assert got["crawl"] == [("test", True, True, "finished")]


def test_a_store_held_at_the_end_keeps_the_rows_in_the_spool_for_the_next_writer(tmp_path, caplog):
    from audit.store.recorder import Recorder

    db = tmp_path / "s.duckdb"
    writer = StoreWriter(db)
    rec = Recorder(writer, "c1", batch_size=3, spool_rows=1000, finish_wait=0.5)
    now = dt.datetime.now(dt.UTC)
    with Holder(db, read_only=False) as holder:  # held from before the crawl's start to after its end
        rec.begin(source="test", kind="crawl", settings={}, warc_path=None)
        for item in _items(6, now):
            rec.add(item)
        with caplog.at_level(logging.ERROR, logger="audit.store.recorder"):
            started = time.monotonic()
            assert not rec.finish({"finish_reason": "finished"})
            assert time.monotonic() - started >= 0.5
        assert f"held by process {holder.pid}" in caplog.text and str(writer.spool.dir) in caplog.text
        # crawls twice, the rest, and a capture per page and image fetch
        assert rec.buffered == 0 and writer.spool.rows() == 1 + 1 + 6 + 6 + 6 + 1 + 1 + 7
    with Store.open(db) as store:  # the next writer adds the spool first
        assert store.count("sightings") == 6
    assert not writer.spool.dir.exists()
    got = _recorded(db)
    assert got["sightings"] == EXPECTED_SIGHTINGS
    assert got["crawl"] == [("test", True, True, "finished")]  # start and end merged into one row
    with Store.open(db) as store:  # idempotent: nothing left, nothing doubled
        assert store.count("sightings") == 6 and store.count("crawls") == 1


def test_crawl_rows_merge_in_any_order_and_a_spool_file_is_added_once(tmp_path):
    db = tmp_path / "s.duckdb"
    start = {"crawl_id": "c", "source": "s", "kind": "crawl", "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    end = {"crawl_id": "c", "finished_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "stats": '{"n": 1}'}
    restart = {**start, "source": "other", "started_at": dt.datetime(2026, 1, 3, tzinfo=dt.UTC)}
    with Store.open(db) as store:
        store.insert("crawls", [end])
        store.insert("crawls", [start, restart])  # a resumed run keeps what the crawl started with
        assert store.query("SELECT source, started_at, finished_at, stats FROM crawls") == [
            ("s", start["started_at"], end["finished_at"], '{"n": 1}')]
    spool = Spool(db)
    spool.write("pages", [{"crawl_id": "c", "url": "http://x/", "status": 200}])
    (spool.dir / ".half-written.arrow.tmp").write_bytes(b"not yet")  # a spill in progress is not read
    bad = spool.dir / "00000000000000000000-1-000001-pages.arrow"
    bad.write_bytes(b"garbage")
    with Store.open(db) as store:
        assert store.count("pages") == 1
    assert (spool.dir / (bad.name + ".unreadable")).exists() and not bad.exists()
    with Store.open(db) as store:
        assert store.count("pages") == 1


def test_policy_host_matches_sighting_hosts_and_keeps_odd_ports():
    from audit.store.recorder import host_of, policy_host

    assert policy_host("http://WWW.Example.FR/robots.txt") == host_of("http://www.example.fr/a.jpg") == "www.example.fr"
    assert policy_host("https://user:pw@www.example.fr:443/robots.txt") == "www.example.fr"
    assert policy_host("http://www.example.fr:80/.well-known/tdmrep.json") == "www.example.fr"
    assert policy_host("http://127.0.0.1:8081/robots.txt") == "127.0.0.1:8081"
    assert policy_host("http://[::1:bad/robots.txt") == ""


def test_a_test_web_run_whose_end_was_spooled_is_marked_when_the_spool_is_added(tmp_path):
    """Every response of the run carried the test web's header, but the store was held when the run ended: its rows
    wait in the spool, and the next writer that adds them judges the run as the recorder would have."""
    from audit.records import ImageFetch, ImageRecord, ImageRef, PageItem
    from audit.store.recorder import PageRefs, Recorder
    from audit.testweb_marker import HEADER, VALUE, is_test_web

    db = tmp_path / "s.duckdb"
    writer = StoreWriter(db)
    rec = Recorder(writer, "c1", batch_size=100, spool_rows=1000, finish_wait=0.2)
    now = dt.datetime.now(dt.UTC)
    marked = {HEADER.lower(): [VALUE], "content-type": ["text/html"]}
    refs = (ImageRef(page_url="http://a.example/", image_url="http://a.example/0.jpg", fetched_at=now),)
    with Holder(db, read_only=False):
        rec.begin(source="test", kind="crawl", settings={}, warc_path=None)
        rec.add(PageRefs(page=PageItem(url="http://a.example/", status=200, fetched_at=now, headers=marked),
                         refs=refs))
        rec.add(ImageFetch(url="http://a.example/0.jpg", fetched_at=now, status=200, headers=marked,
                           record=ImageRecord(sha256="0" * 64, size=1)))
        assert not rec.finish({"finish_reason": "finished"})
    with Store.open(db) as store:  # adds the spool, and judges the run
        assert store.query("SELECT test_web, stats->>'test_web_marked' FROM crawls") == [(True, "2")]
        assert is_test_web(store)
