"""The schema is declared once (audit.schema) and everything that needs a list of tables takes it from there: the
derived tables, the core tables, and the temporary tables an audit run works in."""

from __future__ import annotations

import shutil
import subprocess
import sys

import audit.derive.run
from audit.derive.run import run_audit
from audit.schema import (
    CLUSTERS,
    CORE_TABLES,
    DERIVED,
    SET_ATTRIBUTIONS,
    TABLES,
    TABLES_BY_NAME,
    TEMP_TABLES,
    U_IMAGE,
    VIEWS,
)
from audit.store.db import Store
from conftest import ROOT

TEMP_SQL = "SELECT table_name FROM duckdb_tables() WHERE temporary"


def test_the_schema_module_imports_neither_duckdb_nor_pyarrow():
    code = ("import sys, audit.schema, audit.errors, audit.stats; "
            "print(sorted(m for m in ('duckdb', 'pyarrow', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_derived_tables_are_the_ones_the_audit_rebuilds():
    """What each table's documentation says agrees with the flag the audit, export and merge read."""
    assert DERIVED == tuple(t.name for t in TABLES if "Rebuilt by `provaudit audit`" in t.doc)
    assert DERIVED and not set(DERIVED) & CORE_TABLES
    assert CORE_TABLES <= set(TABLES_BY_NAME)


def test_names_are_declared_once_and_do_not_collide():
    names = [t.name for t in TABLES] + [v.name for v in VIEWS] + [t.name for t in TEMP_TABLES]
    assert len(names) == len(set(names))
    assert all(t.name.startswith("_") and t.doc for t in TEMP_TABLES)


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
