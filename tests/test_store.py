from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from audit.store import TABLES, Store, StoreError


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
