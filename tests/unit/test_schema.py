"""The schema is declared once (audit.schema) and everything that needs a list of tables takes it from there: the
derived tables, the core tables, and the temporary tables an audit run works in."""

from __future__ import annotations

import subprocess
import sys

from audit.schema import (
    CORE_TABLES,
    DERIVED,
    TABLES,
    TABLES_BY_NAME,
    TEMP_TABLES,
    VIEWS,
)
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
