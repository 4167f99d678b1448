"""The temporary tables an audit run works in are the ones audit.schema declares, and none outlives the run; nor do
the files its extraction units write their rows to."""

from __future__ import annotations

import os
import shutil

import pyarrow as pa
import pytest

import audit.derive.run
import audit.derive.units
from audit.derive.run import run_audit
from audit.derive.units import UnitFiles, write_unit_file
from audit.errors import StoreError
from audit.schema import CLUSTERS, SET_ATTRIBUTIONS, TEMP_TABLES, U_IMAGE, U_PAGE
from audit.store.db import Store

TEMP_SQL = "SELECT table_name FROM duckdb_tables() WHERE temporary"


def test_every_temporary_table_of_an_audit_is_declared_and_dropped(store_path, tmp_path, monkeypatch):
    """At the audit's last checkpoint every temporary table exists: each must be one the schema declares (which is
    the list the run drops at the end), and none is left afterwards."""
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    seen: list[set[str]] = []
    real = audit.derive.run.checkpoint
    with Store.open(copy) as store:

        def spy(name: str) -> None:
            if name == "audit-attributed":
                seen.append({str(r[0]) for r in store.query(TEMP_SQL)})
            real(name)

        monkeypatch.setattr(audit.derive.run, "checkpoint", spy)
        run_audit(store, workers=1)
        assert store.query(TEMP_SQL) == []
    assert len(seen) == 1
    declared = {t.name for t in TEMP_TABLES}
    assert seen[0] <= declared, seen[0] - declared
    assert {U_IMAGE, CLUSTERS, SET_ATTRIBUTIONS} <= seen[0]  # the spy saw the tables (the test can fail)


def _audit_dirs(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".audit-" in p.name)


def test_extraction_rows_wait_in_files_beside_the_store(store_path, tmp_path, monkeypatch):
    """While the units run, their rows are Arrow files in a directory beside the store and their temporary tables
    are still empty (the rows are neither in this process nor in DuckDB); the tables are filled once the extraction
    is over, and the directory is gone after the run."""
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    during: list[tuple[list[str], int, int]] = []
    after: list[int] = []
    real = audit.derive.run.checkpoint
    with Store.open(copy) as store:

        def spy(name: str) -> None:
            if name == "audit-reading-image_headers":  # the last unit: every other unit has run
                dirs = _audit_dirs(tmp_path)
                files = [f for d in dirs for f in (tmp_path / d).iterdir() if f.name.startswith(f"{U_PAGE}-")]
                during.append((dirs, len(files), store.query(f"SELECT count(*) FROM temp.main.{U_PAGE}")[0][0]))
            if name == "audit-writing-begun":
                after.append(store.query(f"SELECT count(*) FROM temp.main.{U_PAGE}")[0][0])
            real(name)

        monkeypatch.setattr(audit.derive.run, "checkpoint", spy)
        run_audit(store, workers=1)
    (dirs, page_files, rows_then), = during
    assert len(dirs) == 1 and dirs[0].startswith("store.duckdb.audit-"), dirs
    assert page_files >= 1 and rows_then == 0
    assert after[0] > 0
    assert _audit_dirs(tmp_path) == []


def test_a_failed_audit_leaves_no_files_and_the_tables_as_they_were(store_path, tmp_path, monkeypatch):
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    real = audit.derive.run.checkpoint

    def fail(name: str) -> None:
        if name == "audit-signals-written":
            raise RuntimeError("stopped here")
        real(name)

    with Store.open(copy) as store:
        before = store.query("SELECT count(*) FROM signals")[0][0]
        monkeypatch.setattr(audit.derive.run, "checkpoint", fail)
        with pytest.raises(RuntimeError, match="stopped here"):
            run_audit(store, workers=1)
        assert store.query("SELECT count(*) FROM signals")[0][0] == before > 0
        assert store.query(TEMP_SQL) == []
    assert _audit_dirs(tmp_path) == []


def test_unit_files_are_loaded_a_group_at_a_time_and_deleted(tmp_path, monkeypatch):
    schema = pa.schema([("url", pa.string()), ("n", pa.float64())])
    files = UnitFiles(tmp_path)
    paths = [write_unit_file(pa.table({"url": [f"u{i}-{j}" for j in range(100)], "n": [float(i)] * 100},
                                      schema=schema), str(tmp_path), "_t") for i in range(5)]
    assert all(p is not None and os.path.exists(p) for p in paths)
    assert write_unit_file(schema.empty_table(), str(tmp_path), "_t") is None  # nothing to write: no file
    statements: list[str] = []
    with Store.open(tmp_path / "s.duckdb") as store:
        files.table(store, "_t", schema)
        for p in paths:
            files.add("_t", p)
        monkeypatch.setattr(audit.derive.units, "LOAD_BYTES", os.path.getsize(paths[0]) * 2)
        real = audit.derive.units._load_files
        monkeypatch.setattr(audit.derive.units, "_load_files",
                            lambda st, name, sc, group: statements.append(name) or real(st, name, sc, group))
        files.load(store)
        assert store.query("SELECT count(*), count(DISTINCT url), sum(n) FROM temp.main._t")[0] == (500, 500, 1000.0)
        # in the order the batches were read (a store opened without AUDIT_OPTIONS keeps the insertion order)
        assert [r[0] for r in store.query("SELECT url FROM temp.main._t ORDER BY rowid")] == \
            [f"u{i}-{j}" for i in range(5) for j in range(100)]
    assert len(statements) == 3  # two files per statement, then the fifth alone
    assert list(tmp_path.glob("*.arrow")) == []


def test_a_unit_file_that_cannot_be_written_is_named(tmp_path):
    table = pa.table({"url": ["u"]})
    with pytest.raises(StoreError, match="cannot write the audit's temporary file .*nowhere"):
        write_unit_file(table, str(tmp_path / "nowhere"), "_t")
