"""provaudit export / ingest of an export / merge, on a real crawled and audited store."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from audit.errors import ExportError, MergeError
from audit.schema import TABLES
from audit.store.db import Store
from audit.store.export import export_store, import_export, partition_name
from audit.store.merge import merge_stores
from conftest import provaudit


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


def _rows(db: Path) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    with Store.open(db, read_only=True) as store:
        for table in TABLES:
            cols = ", ".join(table.column_names)
            out[table.name] = sorted((tuple(json.dumps(v, default=str) if isinstance(v, list | dict) else v
                                            for v in row)
                                      for row in store.query(f"SELECT {cols} FROM {table.name}")), key=repr)
    return out


def test_parquet_export_reads_back_unchanged(audited_store, tmp_path):
    out = tmp_path / "export"
    provaudit("export", "--db", str(audited_store), "--format", "parquet", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    original = _rows(audited_store)
    assert {name: entry["rows"] for name, entry in manifest["tables"].items()} == \
        {name: len(rows) for name, rows in original.items()}
    assert original["sightings"] and original["signals"] and original["attributions"]
    # one file per crawl for the crawl tables
    assert all(f.startswith("sightings/crawl=") for f in manifest["tables"]["sightings"]["files"])

    copy = tmp_path / "copy.duckdb"
    first = provaudit("ingest", str(out), "--db", str(copy))
    assert "rows added" in _said(first)
    assert _read_back(copy, ingests=1) == original
    again = provaudit("ingest", str(out), "--db", str(copy))
    assert ": 0 rows added" in _said(again)
    assert _read_back(copy, ingests=2) == original


def _read_back(copy: Path, *, ingests: int) -> dict[str, list[tuple]]:
    """The copy's rows without the runs that read the export into it: the original's runs travel with the export,
    and each ingest of it adds its own (the copy's chain of custody), naming the export's manifest among its inputs."""
    rows = _rows(copy)
    own = [r for r in rows["runs"] if r[1] == "ingest" and "manifest.json" in (r[9] or "")]
    assert len(own) == ingests
    rows["runs"] = [r for r in rows["runs"] if r not in own]
    return rows


def test_csv_export_escapes_formulas_and_cannot_be_read_back(audited_store, tmp_path):
    db = tmp_path / "store.duckdb"
    shutil.copy(audited_store, db)
    with Store.open(db) as store:
        store.con.execute("UPDATE sightings SET alt_text = '=HYPERLINK(\"http://evil.example\",\"x\")' "
                          "WHERE sighting_id = (SELECT min(sighting_id) FROM sightings)")
    out = tmp_path / "csv"
    provaudit("export", "--db", str(db), "--format", "csv", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    rows = []
    for f in manifest["tables"]["sightings"]["files"]:
        with (out / f).open(newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    assert len(rows) == manifest["tables"]["sightings"]["rows"]
    alts = [r["alt_text"] for r in rows if "HYPERLINK" in r["alt_text"]]
    assert alts == ["'=HYPERLINK(\"http://evil.example\",\"x\")"]
    with Store.open(tmp_path / "new.duckdb") as store, pytest.raises(ExportError, match="only Parquet"):
        import_export(store, out)


def test_export_refuses_to_mix_and_keeps_files_inside(audited_store, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = provaudit("export", "--db", str(audited_store), "--out", str(out), check=False)
    assert result.returncode != 0 and "not an empty folder" in _said(result)
    assert (out / "keep.txt").read_text() == "mine"
    for hostile in ("../../etc/passwd", "/abs", "a/b", "..", "", "é ü"):
        name = partition_name(hostile)
        assert "/" not in name and name not in (".", "..") and not name.startswith("crawl=.")
    assert partition_name("c-20261127T000000Z-abc123") == "crawl=c-20261127T000000Z-abc123"


def test_a_bad_export_adds_nothing(audited_store, tmp_path):
    out = tmp_path / "export"
    with Store.open(audited_store, read_only=True) as store:
        export_store(store, out)
    manifest = json.loads((out / "manifest.json").read_text())
    # a corrupt file: the whole import is refused and the store is left as it was
    victim = out / manifest["tables"]["attributions"]["files"][0]
    victim.write_bytes(b"PAR1 not really parquet")
    target = tmp_path / "target.duckdb"
    with Store.open(target) as store:
        with pytest.raises(ExportError, match="attributions"):
            import_export(store, out)
        assert store.count("sightings") == 0 and store.count("images") == 0
    # a manifest pointing outside its folder
    manifest["tables"]["images"]["files"] = ["../../outside.parquet"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    with Store.open(target) as store, pytest.raises(ExportError, match="outside the export folder"):
        import_export(store, out)


def test_merge_of_shards_equals_the_whole(audited_store, tmp_path):
    """Two shards that overlap (both hold some of the same images and sightings) merge into the original crawl
    rows, once; merging again adds nothing; an audit of the merge gives the original attributions."""
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    shutil.copy(audited_store, a)
    shutil.copy(audited_store, b)
    with Store.open(a) as store:
        store.con.execute("DELETE FROM sightings WHERE hash(sighting_id) % 3 = 0")
        store.con.execute("DELETE FROM pages WHERE hash(url) % 2 = 0")
    with Store.open(b) as store:
        store.con.execute("DELETE FROM sightings WHERE hash(sighting_id) % 3 = 1")
        store.con.execute("DELETE FROM images WHERE hash(sha256) % 2 = 0")
        store.con.execute("DELETE FROM pages WHERE hash(url) % 2 = 1")
    merged = tmp_path / "merged.duckdb"
    out = provaudit("merge", str(a), str(b), "--db", str(merged))
    assert "provaudit audit" in _said(out)
    original = _rows(audited_store)
    now = _rows(merged)
    for table in ("crawls", "pages", "host_policies", "fetches", "images", "sightings", "ground_truth"):
        assert now[table] == original[table], table
    assert now["signals"] == [] and now["attributions"] == []
    again = provaudit("merge", str(a), str(b), "--db", str(merged))
    assert "nothing new" in _said(again)
    provaudit("audit", "--db", str(merged))
    assert _rows(merged)["attributions"] == original["attributions"]


def test_merge_names_bad_shards(audited_store, tmp_path):
    target = tmp_path / "t.duckdb"
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database")
    with Store.open(target) as store:
        with pytest.raises(MergeError, match="no store at"):
            merge_stores(store, [tmp_path / "missing.duckdb"])
        with pytest.raises(MergeError, match="junk.duckdb"):
            merge_stores(store, [junk])
        with pytest.raises(MergeError, match="target store itself"):
            merge_stores(store, [target])


def test_a_store_from_an_older_version_exports_its_missing_columns_as_null(audited_store, tmp_path):
    db = tmp_path / "old.duckdb"
    shutil.copy(audited_store, db)
    with duckdb.connect(str(db)) as con:  # as an older provaudit wrote it: no host_policies.error column
        con.execute("ALTER TABLE host_policies DROP COLUMN error")
    out = tmp_path / "export"
    provaudit("export", "--db", str(db), "--out", str(out))  # read-only: the store is not migrated
    copy = tmp_path / "copy.duckdb"
    provaudit("ingest", str(out), "--db", str(copy))
    with Store.open(copy, read_only=True) as store:
        assert store.query("SELECT count(*), count(error) FROM host_policies")[0] == (
            len(_rows(audited_store)["host_policies"]), 0)
