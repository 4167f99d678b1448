"""Provenance and fixity of every output: the store's runs (tool, command line, input files' SHA-256), the crawl
WARC's warcinfo record, the report's and the verification's custody block, export checksums, and `provaudit
fixity` naming every file changed or missing since it was written."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from audit.provenance import redact, source_revision
from audit.store.db import Store
from audit.store.runs import store_runs
from conftest import ROOT, provaudit


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_store_records_each_run_that_wrote_it(audited_store):
    with Store.open(audited_store, read_only=True) as store:
        runs = store_runs(store)
        (warc,) = [r[0] for r in store.query("SELECT warc_path FROM crawls")]
    commands = [r["command"] for r in runs]
    assert commands == ["crawl", "audit"]
    crawl, audit = runs
    assert crawl["status"] == "ok" and audit["status"] == "ok"
    assert crawl["argv"][:2] == ["provaudit", "crawl"] and "--no-throttle" in crawl["argv"]
    assert crawl["software"] == "provenance-audit" and crawl["version"]
    assert crawl["started"] <= crawl["finished"] <= audit["started"]
    # the WARC the crawl wrote, with the SHA-256 it has now
    (out,) = crawl["outputs"]
    assert Path(out["path"]) == Path(warc)
    assert out["sha256"] == _sha(Path(warc)) and out["bytes"] == Path(warc).stat().st_size
    assert audit["settings"]["options"]["phash_threshold"] >= 0


def test_an_ingest_records_the_sha256_of_every_input_file(corpora, tmp_path):
    src = corpora / "warc"
    db = tmp_path / "s.duckdb"
    provaudit("ingest", str(src), "--db", str(db), "--no-faces", check=False)
    with Store.open(db, read_only=True) as store:
        (run,) = store_runs(store)
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.is_symlink())
    assert len(files) >= 3
    recorded = {Path(i["path"]): i for i in run["inputs"]}
    assert set(recorded) == set(files)
    for f in files:
        assert recorded[f]["sha256"] == _sha(f), f
        assert recorded[f]["bytes"] == f.stat().st_size
    assert run["command"] == "ingest" and run["finished"] is not None


def test_the_crawl_warcinfo_names_software_operator_robots_and_settings(crawled):
    db, _ = crawled
    with Store.open(db, read_only=True) as store:
        (warc,) = [Path(r[0]) for r in store.query("SELECT warc_path FROM crawls")]
    with warc.open("rb") as fh:
        first = next(iter(ArchiveIterator(fh)))
        assert first.rec_type == "warcinfo"
        body = first.content_stream().read().decode("utf-8")
    fields = dict(line.split(": ", 1) for line in body.strip().splitlines())
    assert fields["software"].startswith("provenance-audit/")
    assert fields["robots"].startswith("obey robots.txt")
    assert "AUDIT_OPERATOR" in fields["operator"]  # not given: says so
    settings = json.loads(fields["settings"])
    assert settings["ROBOTSTXT_OBEY"] is True and "AUDIT_WARC_GZIP_LEVEL" in settings
    assert fields["http-header-user-agent"].startswith("provaudit/")


def test_a_report_carries_its_custody_and_fixity_names_each_changed_file(audited_store, tmp_path):
    out = tmp_path / "r"
    provaudit("report", "--db", str(audited_store), "--country", "FR", "--out", str(out / "report.html"))
    (json_path,) = sorted(out.glob("report*.json"))
    html = (out / "report.html").read_text(encoding="utf-8")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    custody = data["provenance"]
    (store,) = custody["stores"]
    assert store["sha256"] == _sha(audited_store) and store["role"] == "store"
    assert [r["command"] for r in store["runs"]] == ["crawl", "audit"]
    assert custody["run"]["argv"][:2] == ["provaudit", "report"]
    assert store["sha256"] in html and 'id="provenance"' in html
    # each input of the crawl that wrote the store is listed with its hash: the WARC it wrote
    assert store["runs"][0]["outputs"][0]["sha256"] in html

    ok = provaudit("fixity", str(out))
    assert "intact" in ok.stderr + ok.stdout
    checked = json.loads(provaudit("fixity", str(out), "--json").stdout)
    assert checked["intact"] and {f["path"] for f in checked["files"]} == {"report.html", json_path.name}

    with (out / "report.html").open("ab") as fh:
        fh.write(b"<!-- edited -->")
    json_path.unlink()
    bad = provaudit("fixity", str(out), check=False)
    assert bad.returncode == 3
    text = bad.stdout + bad.stderr
    assert "changed: report.html" in text.replace("\n", " ") or "changed:" in text and "report.html" in text
    assert "missing" in text and json_path.name in text

    # a second report into the same folder is recorded beside the first
    provaudit("report", "--db", str(audited_store), "--country", "FR", "--out", str(out / "report.html"))
    assert provaudit("fixity", str(out), check=False).returncode == 0


def test_a_verification_page_names_both_stores_hashes_and_crawls(audited_store, tmp_path):
    after = tmp_path / "after.duckdb"
    shutil.copy(audited_store, after)
    page = tmp_path / "v" / "verify.html"
    proc = provaudit("verify", "--before", str(audited_store), "--after", str(after), "--country", "FR",
                     "--out", str(page), check=False)
    assert proc.returncode in (3, 4), proc.stderr
    data = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    roles = {s["role"]: s for s in data["provenance"]["stores"]}
    assert roles["before"]["sha256"] == _sha(audited_store) and roles["after"]["sha256"] == _sha(after)
    assert roles["before"]["crawls"] and roles["before"]["crawls"][0]["started"]
    html = page.read_text(encoding="utf-8")
    assert roles["before"]["sha256"] in html and roles["after"]["sha256"] in html
    assert provaudit("fixity", str(page.parent)).returncode == 0


def test_an_export_lists_a_checksum_per_file_and_fixity_checks_them(audited_store, tmp_path):
    out = tmp_path / "export"
    provaudit("export", "--db", str(audited_store), "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = [f for fs in manifest["tables"].values() for f in fs["files"]]
    assert files and set(manifest["checksums"]) == set(files)
    for f in files:
        assert manifest["checksums"][f] == _sha(out / f)
    assert provaudit("fixity", str(out)).returncode == 0
    victim = out / files[0]
    victim.write_bytes(victim.read_bytes()[:-1])
    bad = provaudit("fixity", str(out), check=False)
    assert bad.returncode == 3 and files[0] in bad.stdout + bad.stderr


def test_fixity_of_a_folder_without_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "report.html").write_text("x")
    proc = provaudit("fixity", str(tmp_path), check=False)
    assert proc.returncode == 1
    assert "provaudit-fixity.json" in proc.stderr


def test_provenance_never_shows_a_password_and_knows_its_revision():
    assert redact("--redis redis://:s3cret@h:6379/0 http://u:pw@proxy:8080/") == \
        "--redis redis://:***@h:6379/0 http://u:***@proxy:8080/"
    assert redact("https://example.org/a:b@c") == "https://example.org/a:b@c"
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        assert source_revision() == head
