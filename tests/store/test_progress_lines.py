"""Long commands are never silent: run with their output going to a pipe (a log, CI), an ingest and an audit print a
first line as soon as they start and their counters as they go."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUDIT_PROGRESS_SECONDS": "0.5"}
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_ingest_and_audit_report_progress_on_a_pipe(corpora, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest = _run("ingest", str(corpora / "photos"), "--db", str(db), "--no-faces")
    assert ingest.returncode == 0, ingest.stderr
    lines = [line for line in ingest.stderr.splitlines() if line.startswith("ingest")]
    assert lines[0] == "ingest: started (progress every 0.5 s)"
    assert lines[-1].startswith("ingest: done, ") and "images" in lines[-1]
    audit = _run("audit", "--db", str(db))
    assert audit.returncode == 0, audit.stderr
    stages = [line for line in audit.stderr.splitlines() if line.startswith("• audit: ")]
    assert len(stages) >= 3 and all(line.rstrip().endswith(")") for line in stages)
