"""`provaudit audit` killed with SIGKILL at several points: the store keeps the previous results whole (the audit
writes in one transaction), and the next audit gives the same tables as an uninterrupted one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from audit.checkpoints import ENV
from audit.schema import DERIVED
from audit.store.db import Store
from conftest import ROOT


def digest(db: Path) -> dict[str, tuple[int, int]]:
    """Rows and an order-independent checksum of every derived table."""
    with Store.open(db, read_only=True) as store:
        return {t: tuple(store.query(f"SELECT count(*), coalesce(sum(hash(x)), 0) FROM {t} x")[0])  # type: ignore[misc]
                for t in DERIVED}


def kill_audit_at(db: Path, point: str) -> bool:
    """Start `provaudit audit` told to stop at checkpoint ``point`` (:mod:`audit.checkpoints`), and SIGKILL it once
    it says it is there; False if it ended without reaching it."""
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "audit", "--db", str(db)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200", ENV: point})
    assert proc.stdout is not None
    for line in proc.stdout:
        if f"stopped at checkpoint {point}:" in line:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return True
    proc.wait(timeout=120)
    return False


@pytest.mark.parametrize("point", [
    "audit-reading-pages",  # extracting, before the write transaction
    "audit-writing-begun",  # derived tables dropped and re-created, inside the transaction
    "audit-signals-written",  # direct signals inserted, inside it
    "audit-propagated",  # propagated signals inserted, inside it
    "audit-attributed",  # attributions computed, not yet inserted
])
def test_killed_audit_keeps_the_previous_results(store_path, tmp_path, point):
    db = tmp_path / "store.duckdb"
    shutil.copy(store_path, db)
    before = digest(db)
    assert all(n > 0 for n, _ in before.values())
    assert kill_audit_at(db, point), f"the audit ended without reaching checkpoint {point}"
    assert digest(db) == before  # nothing half-written, nothing lost
    left = [p for p in tmp_path.iterdir() if p.name.startswith("store.duckdb.audit-")]
    assert len(left) == 1 and left[0].is_dir()  # the extraction's directory, which the killed run could not remove
    mine = tmp_path / "store.duckdb.audit-abcd1234"  # named as the audit names them, but holding someone's file
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    subprocess.run([sys.executable, "-m", "audit.cli", "audit", "--db", str(db)], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    assert digest(db) == before  # a re-run after the kill gives the uninterrupted audit's tables
    assert sorted(p.name for p in tmp_path.iterdir() if ".audit-" in p.name) == [mine.name]
    assert (mine / "notes.txt").read_text() == "mine"
