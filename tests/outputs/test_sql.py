"""`provaudit sql` and the saved questions (views) on the demo store: each view agrees with the tables it reads,
the shell can neither write the store nor read another file, and scraped text stays inert in every format."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

from audit.store.db import Store
from conftest import ROOT, provaudit


def test_attribution_evidence_is_every_signal_for_the_attributed_country(store):
    sha, country = store.query("SELECT sha256, country FROM attributions WHERE tier = 'strong' ORDER BY sha256 "
                               "LIMIT 1")[0]
    got = sorted(store.query("SELECT kind, evidence FROM attribution_evidence WHERE sha256 = ?", [sha]))
    want = sorted(store.query("SELECT kind, evidence FROM signals WHERE sha256 = ? AND ((candidates IS NULL AND "
                              "country = ?) OR list_contains(candidates, ?))", [sha, country, country]))
    assert got == want and got


def test_image_sightings_and_cluster_members_keep_every_row(store):
    assert store.query("SELECT count(*) FROM image_sightings")[0][0] == store.query(
        "SELECT count(*) FROM sightings")[0][0]
    titled = store.query("SELECT count(*) FROM image_sightings WHERE page_title IS NOT NULL")[0][0]
    assert titled > 0
    cid, size = store.query("SELECT cluster_id, size FROM clusters WHERE size > 1 ORDER BY size DESC LIMIT 1")[0]
    members = store.query("SELECT sha256, sightings FROM cluster_members WHERE cluster_id = ?", [cid])
    assert len(members) == size
    for sha, n in members:
        assert n == store.query("SELECT count(*) FROM sightings WHERE sha256 = ?", [sha])[0][0]


def test_host_signals_counts_images_per_host_and_kind(store):
    host, kind, country, images = store.query(
        "SELECT host, kind, country, images FROM host_signals WHERE host <> '(in the image)' ORDER BY images DESC, "
        "host, kind, country LIMIT 1")[0]
    want = store.query(
        "SELECT count(DISTINCT sc.sha256) FROM signal_countries sc JOIN sightings s USING (sighting_id) "
        "WHERE coalesce(s.page_host, s.image_host) = ? AND sc.kind = ? AND sc.country = ? AND sc.via_sha256 IS NULL",
        [host, kind, country])[0][0]
    assert images == want


def test_sql_prints_rows_and_names_each_failed_statement(store_path):
    ok = provaudit("sql", "--db", str(store_path), "--json",
                   "SELECT count(*) AS n FROM sightings; SELECT kind FROM signals LIMIT 3")
    lines = [json.loads(line) for line in ok.stdout.splitlines()]
    with Store.open(store_path, read_only=True) as s:
        assert lines[0] == {"n": s.query("SELECT count(*) FROM sightings")[0][0]}
    assert len(lines) == 4 and all("kind" in x for x in lines[1:])
    bad = provaudit("sql", "--db", str(store_path), "DELETE FROM sightings; SELECT * FROM read_text('/etc/passwd');"
                    " COPY images TO 'leak.csv'; SELECT 1 AS still", check=False)
    assert bad.returncode == 1
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, bad.stderr
    assert "still" in bad.stdout  # the statements after a failure still run
    assert not (ROOT / "leak.csv").exists()
    with Store.open(store_path, read_only=True) as s:
        assert s.query("SELECT count(*) FROM sightings")[0][0] == lines[0]["n"]


def test_sql_output_keeps_scraped_text_inert(tmp_path):
    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        store.insert("sightings", [{"sighting_id": "x", "crawl_id": "c", "image_url": "http://e.example/a.jpg",
                                    "alt_text": "=HYPERLINK(\"http://evil\")\x1b[31m\u202e"}])
    csv_out = provaudit("sql", "--db", str(db), "--csv", "SELECT alt_text FROM sightings").stdout
    assert "'=HYPERLINK" in csv_out and "\x1b" not in csv_out and "\u202e" not in csv_out
    table = provaudit("sql", "--db", str(db), "SELECT alt_text FROM sightings").stdout
    assert "\x1b[31m" not in table and "\u202e" not in table


def test_the_prompt_on_a_terminal(store_path):
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "sql", "--db", str(store_path)], cwd=ROOT,
                            stdin=slave, stdout=slave, stderr=slave, env={**os.environ, "COLUMNS": "160"})
    os.close(slave)
    for line in (".tables", "SELECT count(*) AS n", "FROM clusters;", ".quit"):
        os.write(master, (line + "\n").encode())
    seen = b""
    deadline = time.monotonic() + 120
    while proc.poll() is None or select.select([master], [], [], 0)[0]:
        if time.monotonic() > deadline:
            proc.kill()
            break
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    os.close(master)
    text = seen.decode("utf-8", "replace")
    assert proc.wait(timeout=10) == 0, text
    assert "attribution_evidence" in text and "host_signals" in text  # .tables lists the views
    with Store.open(store_path, read_only=True) as s:
        n = s.query("SELECT count(*) FROM clusters")[0][0]
    assert f"│ {n}" in text  # the statement typed over two lines ran


def _sql_examples() -> list[tuple[str, str]]:
    """Every statement of every ```sql block in README.md and docs/*.md: (file, statement)."""
    import duckdb

    found = []
    con = duckdb.connect()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for block in text.split("```sql")[1:]:
            sql = block.split("```", 1)[0]
            found += [(path.name, str(st.query).strip()) for st in con.extract_statements(sql)]
    return found


def test_every_sql_example_of_the_docs_runs_on_the_demo_store(store):
    examples = _sql_examples()
    assert len(examples) >= 8
    for name, sql in examples:
        try:
            store.con.execute(sql).fetchmany(5)
        except Exception as exc:  # the file and the statement, to fix the doc
            raise AssertionError(f"{name}: {sql}\n{exc}") from exc
