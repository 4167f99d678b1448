"""Long commands are never silent: run with their output going to a pipe (a log, CI), an ingest and an audit print a
first line as soon as they start and their counters as they go; a report and a deletion check say they have started
once their inputs are checked, and a failing one says only why."""

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


def _one_line_failure(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    said = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(said) == 1, proc.stderr
    assert "started" not in said[0] and all(word in said[0] for word in words), said


def test_report_and_verify_say_they_started_once_their_inputs_are_checked(corpora, tmp_path):
    db = tmp_path / "s.duckdb"
    assert _run("ingest", str(corpora / "photos"), "--db", str(db), "--no-faces").returncode == 0
    out = tmp_path / "out"
    # not audited yet: each fails with the reason alone
    _one_line_failure(_run("report", "--db", str(db), "--country", "FR", "--out", str(out / "r.html")),
                      "provaudit audit")
    _one_line_failure(_run("verify", "--before", str(db), "--after", str(db), "--country", "FR", "--out",
                           str(out / "v.html")), "provaudit audit")
    assert _run("audit", "--db", str(db)).returncode == 0
    # audited, but --pdf has no browser: it is looked for before the check is built (the report: test_print.py)
    env_browser = {"AUDIT_RENDER_BROWSER": str(tmp_path / "no-chromium")}
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "verify", "--before", str(db), "--after", str(db),
                           "--country", "FR", "--out", str(out / "v.html"), "--pdf"], cwd=ROOT,
                          env={**os.environ, **env_browser}, capture_output=True, text=True, timeout=600)
    _one_line_failure(proc, "AUDIT_RENDER_BROWSER")
    assert not out.exists()
    report = _run("report", "--db", str(db), "--country", "FR", "--out", str(out / "r.html"))
    assert report.returncode == 0, report.stderr
    assert report.stderr.splitlines()[0] == f"report: started (FR, store {db})"
    assert (out / "r.html").is_file()
    verify = _run("verify", "--before", str(db), "--after", str(db), "--country", "fr", "--out", str(out / "v.html"))
    assert verify.returncode in (0, 3, 4), verify.stderr
    assert verify.stderr.splitlines()[0] == f"verify: started (FR, before {db}, after {db})"
    assert (out / "v.html").is_file()
