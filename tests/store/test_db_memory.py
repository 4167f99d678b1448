"""DuckDB's memory on a store is bounded (AUDIT_DB_MEMORY, `provaudit --db-memory`): past the bound, queries spill to
disk beside the store instead of growing, the sealed connection included; a bound too small for a query that cannot
spill is a one-line error naming the setting; the answers do not depend on the bound."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from audit import cli
from audit.derive import run
from audit.settings import DEFAULTS
from audit.sizes import format_size, parse_size
from audit.store.db import Store
from conftest import CORPORA, provaudit

LAION = CORPORA / "datasets" / "laion" / "test_1000.parquet"


@pytest.mark.parametrize(("text", "expected"), [
    ("2684354560", 2684354560), ("2.5GiB", int(2.5 * 1024**3)), ("800MB", 800_000_000), ("64 mib", 64 * 1024**2),
    ("1KiB", 1024), ("0", 0), ("3TB", 3 * 1000**4),
])
def test_sizes_are_read_as_people_write_them(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1GB", "2.5 GiBs", "1e9", "GB"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_sizes_are_shown_in_binary_units() -> None:
    assert format_size(int(2.5 * 1024**3)) == "2.5 GiB"
    assert format_size(512 * 1024**2) == "512 MiB"
    assert format_size(10) == "10 B"


def test_the_default_bound_is_set_on_the_connection(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb", memory=int(DEFAULTS["AUDIT_DB_MEMORY"])) as store:
        assert store.con.execute("SELECT current_setting('memory_limit')").fetchone() == ("2.5 GiB",)


def test_a_sealed_store_spills_past_its_bound_instead_of_failing(tmp_path: Path) -> None:
    """Two million distinct 32-character keys need far more than 48 MiB to group and to join: the answers come out
    whole, so DuckDB spilled to its folder beside the store, which the sealing (no external access) allows."""
    db = tmp_path / "s.duckdb"
    with Store.open(db, memory=48 * 1024**2) as store:
        con = store.con
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == ("48.0 MiB",)
        con.execute("CREATE TEMP TABLE k AS SELECT md5(i::VARCHAR) AS key, i FROM range(2000000) r(i)")
        assert con.execute("SELECT count(*) FROM (SELECT key FROM k GROUP BY key)").fetchone() == (2_000_000,)
        spilled = con.execute("SELECT path FROM duckdb_temporary_files()").fetchall()
        assert spilled and all(Path(p).parent == Path(f"{db}.tmp") for (p,) in spilled)
        assert con.execute("SELECT count(*), sum(a.i - b.i) FROM k a JOIN k b USING (key)").fetchone() == (2_000_000, 0)
    with Store.open(db, memory=48 * 1024**2) as store, pytest.raises(duckdb.InvalidInputException, match="locked"):
        store.con.execute("SET memory_limit = '16GiB'")  # the sealed configuration: a query cannot lift the bound
    assert not Path(f"{db}.tmp").exists()  # the spill folder goes with the connection


def _attributions(db: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT sha256, country, tier, score, capture_country, residence_country "
                           "FROM attributions ORDER BY sha256").fetchall()
    finally:
        con.close()


def test_ingest_and_audit_under_a_small_bound_give_the_same_answers(tmp_path: Path) -> None:
    """The real LAION rows, ingested and audited with DuckDB held to 96 MiB (set by option, then by the environment),
    and with DuckDB's own default: the same attributions."""
    free, small, env = tmp_path / "free.duckdb", tmp_path / "small.duckdb", tmp_path / "env.duckdb"
    provaudit("--db-memory", "0", "ingest", str(LAION), "--db", str(free))
    provaudit("--db-memory", "0", "audit", "--db", str(free))
    provaudit("--db-memory", "96MiB", "ingest", str(LAION), "--db", str(small))
    provaudit("--db-memory", "96MiB", "audit", "--db", str(small))
    os.environ["AUDIT_DB_MEMORY"] = "96MiB"
    try:
        provaudit("ingest", str(LAION), "--db", str(env))
        provaudit("audit", "--db", str(env))
    finally:
        del os.environ["AUDIT_DB_MEMORY"]
    answers = _attributions(free)
    assert len(answers) > 100
    assert _attributions(small) == answers
    assert _attributions(env) == answers


def test_a_bad_bound_and_a_bound_too_small_are_one_line_errors(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    bad = provaudit("--db-memory", "lots", "ingest", str(LAION), "--db", str(db), check=False)
    assert bad.returncode == 1
    assert "--db-memory / AUDIT_DB_MEMORY: not a size: 'lots'" in bad.stderr
    assert not db.exists()
    tiny = provaudit("--db-memory", "1MiB", "ingest", str(LAION), "--db", str(db), check=False)
    assert tiny.returncode == 1
    lines = tiny.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in tiny.stderr
    assert "ran out of the 1 MiB it may use" in lines[0] and "--db-memory" in lines[0]


def test_an_audit_starts_with_a_bound_in_proportion_to_its_store() -> None:
    """A base (384 MiB) plus half the store file's size, then the ceiling if that ran out; never above the ceiling;
    DuckDB's own default (0) as it is."""
    ceiling = int(DEFAULTS["AUDIT_DB_MEMORY"])
    base = run.AUDIT_MEMORY_BASE
    assert run.audit_memory(484 * 1024**2, ceiling) == [base + 242 * 1024**2, ceiling]  # the 1M-sighting store
    assert run.audit_memory(0, ceiling) == [base, ceiling]
    assert run.audit_memory(5 * 1024**3, ceiling) == [ceiling]  # the 10M-sighting store: all it may use
    assert run.audit_memory(10 * 1024**2, 300 * 1024**2) == [300 * 1024**2]
    assert run.audit_memory(10 * 1024**2, 0) == [0]


def test_an_audit_that_runs_out_of_its_first_bound_starts_again_with_the_ceiling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first bound is made too small for any query: the audit says so, starts again with all it may use (the
    default bound), and gives the answers of an audit that had a bound from the start; the store records one audit
    run, ended ok."""
    free, retried = tmp_path / "free.duckdb", tmp_path / "retried.duckdb"
    for db in (free, retried):
        provaudit("ingest", str(LAION), "--db", str(db))
    provaudit("--db-memory", "96MiB", "audit", "--db", str(free))
    monkeypatch.delenv("AUDIT_DB_MEMORY", raising=False)
    monkeypatch.setattr(run, "audit_memory", lambda _size, ceiling: [1024**2, ceiling])
    result = CliRunner().invoke(cli.main, ["audit", "--db", str(retried)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "DuckDB ran out of the 1 MiB the audit started with" in said
    assert f"starting again with {format_size(int(DEFAULTS['AUDIT_DB_MEMORY']))}" in said
    assert _attributions(retried) == _attributions(free)
    con = duckdb.connect(str(retried), read_only=True)
    try:
        assert con.execute("SELECT status FROM runs WHERE command = 'audit'").fetchall() == [("ok",)]
    finally:
        con.close()


def test_a_bound_the_user_gives_is_the_audits_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--db-memory` (or AUDIT_DB_MEMORY) is used as it is, e.g. raised on a large machine for speed: the audit does
    not start below it."""
    db = tmp_path / "s.duckdb"
    provaudit("ingest", str(LAION), "--db", str(db))
    opened: list[int | None] = []
    real_open = Store.open

    def recording_open(*args: object, **kwargs: object) -> Store:
        opened.append(kwargs.get("memory"))  # type: ignore[arg-type]
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "open", recording_open)
    monkeypatch.delenv("AUDIT_DB_MEMORY", raising=False)
    default = int(DEFAULTS["AUDIT_DB_MEMORY"])
    for given in ("3GiB", None):
        first = 3 * 1024**3 if given else run.audit_memory(db.stat().st_size, default)[0]
        opened.clear()
        result = CliRunner().invoke(cli.main, [*(["--db-memory", given] if given else []), "audit", "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert opened[0] == first
    assert first < default


def test_an_audit_that_runs_out_of_its_ceiling_is_a_one_line_error(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    provaudit("ingest", str(LAION), "--db", str(db))
    provaudit("audit", "--db", str(db))
    before = _attributions(db)
    assert len(before) > 100
    tiny = provaudit("--db-memory", "1MiB", "audit", "--db", str(db), check=False)
    assert tiny.returncode == 1
    lines = tiny.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in tiny.stderr
    assert "ran out of the 1 MiB it may use" in lines[0]
    assert _attributions(db) == before  # the previous audit's results, whole
