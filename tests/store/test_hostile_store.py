"""Hostile stores: a DuckDB file is input like any other. Views and macros that read local files, a SQLite or random
file given as a store, a store missing tables, a hostile merge shard, a Parquet export hiding a huge string. Every
command refuses them with one line (exit status 1), reads no file but the store's own, and lets nothing through.

The hostile stores are made here from a real crawled and audited store, with DuckDB itself (the payload), then handed
to the real ``provaudit`` commands in subprocesses.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.errors import ExportError, MergeError, NotAStore, StoreIncomplete, UnsafeStore
from audit.schema import TABLES
from audit.store.db import Store
from audit.store.export import export_store, import_export
from audit.store.merge import merge_stores
from audit.testbed.stores import craft_store
from conftest import ROOT, provaudit


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)


def _refused(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """The command failed with exit status 1 and one line on stderr (no traceback) that says ``words``."""
    said = proc.stderr.strip()
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in said and len(said.splitlines()) == 1, said
    for word in words:
        assert word in said, (word, said)
    return said


def _all_text(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _rows_text(db: Path) -> str:
    with Store.open(db, read_only=True) as store:
        tables = store.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
        return "\n".join(str(store.query(f'SELECT * FROM "{t}"')) for (t,) in tables)


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> tuple[Path, str]:
    """A local file an attacker wants: its content is a marker no output may hold."""
    marker = f"PROVAUDIT-SECRET-{uuid.uuid4().hex}"
    path = tmp_path_factory.mktemp("secret") / "passwd"
    path.write_text(f"root:x:0:0:{marker}:/root:/bin/bash\n")
    return path, marker


def _leaky_sql(secret_path: Path) -> tuple[str, ...]:
    """The red team's store: ``sightings`` a view over the real rows whose alt text and caption are a local file."""
    cols = []
    for c in next(t for t in TABLES if t.name == "sightings").column_names:
        cols.append(f"(SELECT content FROM read_text('{secret_path}')) AS {c}" if c in ("alt_text", "caption")
                    else c)
    return ("ALTER TABLE sightings RENAME TO sightings_real",
            f"CREATE VIEW sightings AS SELECT {', '.join(cols)} FROM sightings_real")


@pytest.fixture(scope="module")
def leaky_store(audited_store, secret, tmp_path_factory) -> Path:
    path, _ = secret
    return craft_store(audited_store, tmp_path_factory.mktemp("leaky") / "store.duckdb", *_leaky_sql(path))


@pytest.fixture(scope="module")
def photo(audited_store, small_web) -> Path:
    """A served image file of the crawled web (lookup's argument)."""
    with Store.open(audited_store, read_only=True) as store:
        (url,) = store.query("SELECT image_url FROM ground_truth WHERE sha256 IN (SELECT sha256 FROM sightings) "
                             "AND image_url LIKE 'http://%' ORDER BY image_url LIMIT 1")[0]
    path = small_web.root / "www" / url.removeprefix("http://")
    assert path.is_file()
    return path


def _commands(db: Path, good: Path, photo: Path, out: Path) -> dict[str, list[str | Path]]:
    """Every command that opens ``db``, writing what it writes under ``out``."""
    return {
        "report": ["report", "--db", db, "--country", "FR", "--out", out / "report.html"],
        "lookup": ["lookup", photo, "--db", db, "--json"],
        "sweep": ["sweep", "--db", db, "--country", "FR", "--out", out / "sweep.csv"],
        "evaluate": ["evaluate", "--db", db],
        "export": ["export", "--db", db, "--out", out / "export"],
        "verify-after": ["verify", "--before", good, "--after", db, "--country", "FR", "--out", out / "v1.html"],
        "verify-before": ["verify", "--before", db, "--after", good, "--country", "FR", "--out", out / "v2.html"],
        "merge": ["merge", db, "--db", out / "merged.duckdb"],
        "audit": ["audit", "--db", db],
        "ingest": ["ingest", photo, "--db", db],
        "package": ["package", "--db", db, "--out", out / "case.wacz"],
    }


COMMANDS = ("report", "lookup", "sweep", "evaluate", "export", "verify-after", "verify-before", "merge", "audit",
            "ingest", "package")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_store_whose_table_is_a_view_reading_a_local_file_is_refused(command, leaky_store, audited_store, photo,
                                                                        secret, tmp_path):
    _, marker = secret
    db = tmp_path / "store.duckdb"
    shutil.copy(leaky_store, db)  # audit and ingest open it for writing
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(*_commands(db, audited_store, photo, out)[command])
    said = _refused(proc, "refused", "sightings is a view")
    assert marker not in proc.stdout + said
    assert marker.encode() not in _all_text(out)
    merged = out / "merged.duckdb"
    if merged.exists():  # the merge target was created, and received nothing
        assert marker not in _rows_text(merged)
        with Store.open(merged, read_only=True) as store:
            assert store.count("sightings") == 0 and store.count("images") == 0


def test_the_store_connection_reads_no_local_file(audited_store, secret, tmp_path):
    """Even SQL the tool does not write cannot reach a file, turn the protection off, or attach a database."""
    path, marker = secret
    with Store.open(audited_store, read_only=True) as store:
        for sql in (f"SELECT content FROM read_text('{path}')", f"SELECT * FROM read_csv('{path}')",
                    f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
                    f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'"):
            with pytest.raises(duckdb.PermissionException):
                store.query(sql)
        for sql in ("SET enable_external_access = true", "SET allowed_directories = ['/']",
                    "SET autoinstall_known_extensions = true", "SET lock_configuration = false"):
            with pytest.raises(duckdb.Error, match="locked"):
                store.query(sql)
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "other.duckdb").exists()


def _computed_country() -> tuple[str, ...]:
    """``attributions`` rebuilt with its country computed by an expression (a generated column) from each row."""
    table = next(t for t in TABLES if t.name == "attributions")
    cols = [f"{c.name} VARCHAR GENERATED ALWAYS AS ('FR')" if c.name == "country" else f"{c.name} {c.type}"
            for c in table.columns]
    kept = ", ".join(c for c in table.column_names if c != "country")
    return ("ALTER TABLE attributions RENAME TO attributions_real",
            f"CREATE TABLE attributions ({', '.join(cols)})",
            f"INSERT INTO attributions ({kept}) SELECT {kept} FROM attributions_real")


@pytest.mark.parametrize("payload, words", [
    (("CREATE MACRO lower(x) AS 'pwned'",), ("macro", "main.lower")),
    (("CREATE MACRO duckdb_tables() AS TABLE SELECT 'x' AS table_name",), ("main.duckdb_tables",)),
    (("CREATE TYPE JSON AS VARCHAR",), ("type", "JSON")),
    (("ALTER TABLE images ADD COLUMN note VARCHAR DEFAULT 'x'",), ("images.note has a default",)),
    (_computed_country(), ("attributions.country is computed",)),
    (("ALTER TABLE images DROP COLUMN width", "ALTER TABLE images ADD COLUMN width VARCHAR"),
     ("images.width is VARCHAR, not INTEGER",)),
    (("CREATE OR REPLACE VIEW signal_countries AS SELECT 'x' AS sha256, 'FR' AS country",),
     ("signal_countries is not provaudit's definition",)),
])
def test_a_store_with_macros_types_or_computed_columns_is_refused(payload, words, audited_store, tmp_path):
    db = craft_store(audited_store, tmp_path / "store.duckdb", *payload)
    _refused(_run("evaluate", "--db", db), "refused", *words)
    _refused(_run("report", "--db", db, "--country", "FR", "--out", tmp_path / "r.html"), "refused")
    assert not (tmp_path / "r.html").exists()
    with pytest.raises(UnsafeStore):
        Store.open(db, read_only=True)


def test_a_writable_open_puts_back_provaudit_s_view(audited_store, tmp_path):
    db = craft_store(audited_store, tmp_path / "store.duckdb",
                "CREATE OR REPLACE VIEW signal_countries AS SELECT 'x' AS sha256, 'FR' AS country")
    with pytest.raises(UnsafeStore, match="signal_countries"):
        Store.open(db, read_only=True)
    Store.open(db).close()
    with Store.open(db, read_only=True) as store, Store.open(audited_store, read_only=True) as original:
        assert store.count("signals") > 0
        assert sorted(store.query("SELECT * FROM signal_countries")) == \
            sorted(original.query("SELECT * FROM signal_countries"))


def _no_network_env(home: Path) -> dict[str, str]:
    """An empty HOME (DuckDB would put downloaded extensions in ~/.duckdb) and a proxy that refuses."""
    env = dict(os.environ, HOME=str(home), http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    return env


@pytest.mark.parametrize("kind", ["sqlite", "random", "empty", "parquet"])
def test_a_file_that_is_not_a_duckdb_store_is_refused_by_its_header(kind, tmp_path):
    db = tmp_path / "store.duckdb"
    if kind == "sqlite":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE sightings (image_url TEXT)")
        con.execute("INSERT INTO sightings VALUES ('x')")
        con.commit()
        con.close()
    elif kind == "random":
        db.write_bytes(os.urandom(64 * 1024))
    elif kind == "empty":
        db.write_bytes(b"")
    else:
        pq.write_table(pa.table({"x": [1]}), db)
    before = db.read_bytes()
    what = {"sqlite": "a SQLite database", "random": "without a DuckDB header", "empty": "an empty file",
            "parquet": "a Parquet file"}[kind]
    home = tmp_path / "home"
    home.mkdir()
    env = _no_network_env(home)
    for args in (["report", "--db", db, "--country", "FR", "--out", tmp_path / "r.html"], ["evaluate", "--db", db],
                 ["export", "--db", db, "--out", tmp_path / "e"], ["audit", "--db", db],
                 ["ingest", tmp_path / "nothing-here", "--db", db],
                 ["merge", db, "--db", tmp_path / "target.duckdb"]):
        _refused(_run(*args, env=env), str(db), what)
    assert list(home.iterdir()) == []  # no extension was looked for, downloaded or installed
    assert db.read_bytes() == before  # and the file was not touched
    with pytest.raises(NotAStore):
        Store.open(db)


def test_a_path_like_a_service_url_is_a_file(tmp_path, monkeypatch):
    """``md:x`` or ``sqlite:x`` given as a store is a file of that name, never MotherDuck or another reader."""
    monkeypatch.chdir(tmp_path)
    for name in ("md:store", "sqlite:store.db"):
        with Store.open(name) as store:
            assert store.count("sightings") == 0
        assert (tmp_path / name).is_file()


def test_the_same_store_twice_in_one_process(audited_store):
    with Store.open(audited_store, read_only=True) as a, Store.open(audited_store, read_only=True) as b:
        assert a.count("images") == b.count("images") > 0
        with pytest.raises(duckdb.PermissionException):
            b.query("SELECT * FROM read_text('/etc/hostname')")


# -- a store missing a table (medium: "a raw traceback") ------------------------------------------------------------


@pytest.mark.parametrize("table, outcome", [
    ("sightings", "refused"),  # a table every store has: damaged or not a store, every command refuses it at open
    ("attributions", "needs it"),  # a table added by a later version: only the commands that read it fail
])
def test_a_store_missing_a_table_gets_one_line(table, outcome, audited_store, photo, tmp_path):
    db = craft_store(audited_store, tmp_path / "store.duckdb", f"DROP TABLE {table}")
    out = tmp_path / "out"
    out.mkdir()
    commands = _commands(db, audited_store, photo, out)
    for name in COMMANDS:
        if name in ("audit", "ingest"):
            continue  # they open the store for writing, which adds the missing table
        work = tmp_path / name
        shutil.copy(tmp_path / "store.duckdb", work.with_suffix(".duckdb"))
        proc = _run(*[work.with_suffix(".duckdb") if a == db else a for a in commands[name]])
        if outcome == "refused":
            _refused(proc, "incomplete provaudit store", "no sightings table")
        elif name in ("export", "merge", "package"):  # they copy what there is (package: captures, not attributions)
            assert proc.returncode == 0, proc.stderr
        elif name == "verify-after":  # reads no attribution of the after-store, which is a copy of the before-store
            assert proc.returncode == 3, proc.stderr  # so everything that should be gone is still there
        else:
            said = _refused(proc)
            assert "attributions" in said, said
    provaudit("audit", "--db", str(db))  # opened for writing, the store gets its table back (empty, or rebuilt)
    with Store.open(db, read_only=True) as store:
        assert table in store.columns
        assert store.count(table) == (0 if table == "sightings" else store.count("images"))


def test_an_empty_duckdb_database_is_not_a_store_when_read(tmp_path, audited_store, photo):
    db = craft_store(None, tmp_path / "store.duckdb", "CREATE TABLE notes (x INTEGER)")
    out = tmp_path / "out"
    out.mkdir()
    commands = _commands(db, audited_store, photo, out)
    for name in COMMANDS:
        if name in ("audit", "ingest"):
            continue
        _refused(_run(*commands[name]), "not a provaudit store")
    with pytest.raises(StoreIncomplete):
        Store.open(craft_store(audited_store, tmp_path / "damaged.duckdb", "DROP TABLE images"), read_only=True)


# -- merge shards ---------------------------------------------------------------------------------------------------


def test_a_hostile_merge_shard_adds_nothing(audited_store, secret, tmp_path):
    path, marker = secret
    good = tmp_path / "good.duckdb"
    shutil.copy(audited_store, good)
    leaky = craft_store(audited_store, tmp_path / "leaky.duckdb", *_leaky_sql(path))
    macro = craft_store(audited_store, tmp_path / "macro.duckdb", "CREATE MACRO coalesce(a, b) AS 'pwned'")
    target = tmp_path / "target.duckdb"
    for shard in (leaky, macro):
        proc = _run("merge", good, shard, "--db", target)
        _refused(proc, str(shard), "refused")
        assert marker not in proc.stdout + proc.stderr
    # the good shard before the bad one was merged whole, in its own transaction; nothing of the bad ones
    assert marker not in _rows_text(target)
    with Store.open(target, read_only=True) as t, Store.open(audited_store, read_only=True) as o:
        assert t.count("sightings") == o.count("sightings")
        assert t.query("SELECT count(*) FROM sightings WHERE alt_text LIKE '%root:x%'")[0][0] == 0
    with Store.open(tmp_path / "lib.duckdb") as store, pytest.raises(MergeError, match="is a view"):
        merge_stores(store, [leaky])


# -- spilling to disk still works --------------------------------------------------------------------------------------


def test_a_sealed_store_still_spills_large_sorts_to_its_temporary_folder(tmp_path):
    """External access is off, but DuckDB's own temporary files are not external: a sort over the memory limit
    spills to ``<store>.tmp`` and completes."""
    db = tmp_path / "big.duckdb"
    with Store.open(db, options={"memory_limit": "64MB", "threads": 1}) as store:
        # ~200 MB of rows to sort, three times the memory limit
        store.con.execute("CREATE TABLE big AS SELECT i, md5(i::VARCHAR) || md5((i * 7)::VARCHAR) AS s "
                          "FROM range(3000000) t(i)")
        rows = store.query("SELECT count(*), max(s2) FROM (SELECT s || 'x' AS s2 FROM big ORDER BY s DESC)")
        assert rows[0][0] == 3_000_000
        assert (tmp_path / "big.duckdb.tmp").is_dir()
    with pytest.raises(ValueError, match="enable_external_access"):
        Store.open(tmp_path / "x.duckdb", options={"enable_external_access": True})


# -- Parquet exports with huge values (low) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_export(audited_store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "export"
    with Store.open(audited_store, read_only=True) as store:
        export_store(store, out)
    return out


def _poison(export: Path, dst: Path, size: int) -> Path:
    """A copy of ``export`` whose images file holds one ``format`` of ``size`` bytes (compressed to a few KB)."""
    shutil.copytree(export, dst)
    f = dst / "images" / "all.parquet"
    table = pq.read_table(f)
    formats = table.column("format").to_pylist()
    formats[1] = "J" * size
    table = table.set_column(table.schema.get_field_index("format"), "format", pa.array(formats, pa.string()))
    pq.write_table(table, f, compression="zstd")
    assert f.stat().st_size < 1024 * 1024
    return dst


def test_a_parquet_export_with_a_huge_string_is_refused(small_export, tmp_path):
    poisoned = _poison(small_export, tmp_path / "poisoned", 40 * 1024 * 1024)  # over the default 8 MiB bound
    target = tmp_path / "target.duckdb"
    _refused(_run("ingest", poisoned, "--db", target), "images/all.parquet", "row 2", "column format",
             "AUDIT_IMPORT_MAX_VALUE_BYTES", "nothing was imported")
    with Store.open(target, read_only=True) as store:
        assert sum(store.count(t.name) for t in TABLES if t.name not in ("meta", "runs")) == 0
        # the refused run is recorded, with why it failed (the chain of custody keeps failures too)
        (status,) = store.query("SELECT status FROM runs WHERE command = 'ingest'")[0]
        assert status.startswith("failed: ") and "AUDIT_IMPORT_MAX_VALUE_BYTES" in status
    provaudit("ingest", str(small_export), "--db", str(target))  # the clean export imports as before
    with Store.open(target, read_only=True) as store:
        assert store.count("images") > 0
        assert store.query("SELECT max(strlen(format)) FROM images")[0][0] < 100


def test_a_parquet_page_larger_than_the_import_memory_is_refused_before_it_is_read(small_export, tmp_path):
    poisoned = _poison(small_export, tmp_path / "poisoned", 48 * 1024 * 1024)
    with Store.open(tmp_path / "target.duckdb") as store:
        with pytest.raises(ExportError, match=r"needs more than 33,554,432 bytes of memory .*AUDIT_IMPORT_MEMORY"):
            import_export(store, poisoned, max_value_bytes=1024 * 1024, memory=32 * 1024 * 1024)
        with pytest.raises(ExportError, match=r"row 2 holds 2,000,000 bytes in column format, over the bound of "
                                              r"1,048,576"):
            import_export(store, _poison(small_export, tmp_path / "p2", 2_000_000), max_value_bytes=1024 * 1024,
                          memory=32 * 1024 * 1024)
        assert store.count("images") == 0


def test_the_audit_leaves_a_store_s_own_objects_named_like_its_temporary_tables(audited_store, tmp_path):
    """The audit's scratch tables live in DuckDB's temp catalog; a store's own table or view with the same name is
    neither dropped nor in the way."""
    db = craft_store(audited_store, tmp_path / "store.duckdb", "CREATE TABLE _attr AS SELECT 42 AS mine",
                "CREATE VIEW _clusters AS SELECT 'not yours' AS x")
    provaudit("audit", "--db", str(db))
    with Store.open(db, read_only=True) as store, Store.open(audited_store, read_only=True) as original:
        assert store.query("SELECT mine FROM _attr") == [(42,)]
        assert store.query("SELECT x FROM _clusters") == [("not yours",)]
        assert sorted(store.query("SELECT sha256, country, tier FROM attributions")) == \
            sorted(original.query("SELECT sha256, country, tier FROM attributions"))


@pytest.mark.timeout(120)
def test_an_export_manifest_that_is_a_fifo_or_too_large_is_refused_in_one_line(tmp_path):
    """The manifest of an export folder is read only if it is a regular file of bounded size (a FIFO hung the
    ingest; a huge one was read whole)."""
    from audit.store.export import MAX_MANIFEST_BYTES, read_manifest

    fifo_dir = tmp_path / "fifo-export"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "manifest.json")
    big_dir = tmp_path / "big-export"
    big_dir.mkdir()
    with open(big_dir / "manifest.json", "wb") as fh:
        fh.truncate(MAX_MANIFEST_BYTES + 1)
    for folder in (fifo_dir, big_dir):
        proc = provaudit("ingest", str(folder), "--db", str(tmp_path / "s.duckdb"), check=False)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 1)  # read as a folder holding one unreadable file, or refused: never hangs
        with pytest.raises(ExportError, match="manifest.json: .*not read"):
            read_manifest(folder)
