"""The temporary tables an audit run works in are the ones audit.schema declares, and none outlives the run."""

from __future__ import annotations

import shutil

import audit.derive.run
from audit.derive.run import run_audit
from audit.schema import CLUSTERS, SET_ATTRIBUTIONS, TEMP_TABLES, U_IMAGE
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
