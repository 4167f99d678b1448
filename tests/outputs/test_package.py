"""``provaudit package``: the captures behind a country's report as a WACZ, replayed by pywb (Webrecorder's wayback
machine, a real server on loopback) byte for byte; its datapackage digests checked, and a tampered file caught.

pywb cannot share our environment (it pins redis==2.10.6; we need redis>=5), so it runs from its own virtualenv,
``.venv-pywb`` (``make pywb``, the version in tests/pywb-requirements.txt), or the folder named by ``AUDIT_PYWB_BIN``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcs import read_located

from audit.outputs.package import check_package
from audit.store.db import Store
from conftest import ROOT, provaudit


def _pywb_bin() -> Path:
    folder = Path(os.environ.get("AUDIT_PYWB_BIN") or ROOT / ".venv-pywb" / "bin")
    if not (folder / "wayback").is_file():
        pytest.fail(f"pywb is not installed in {folder}: run `make pywb` (its own virtualenv; see the Makefile)")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def package(audited_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("package")
    provaudit("report", "--db", str(audited_store), "--country", "FR", "--out", str(out / "report.html"))
    wacz = out / "case.wacz"
    proc = provaudit("package", "--db", str(audited_store), "--out", str(wacz), "--country", "FR",
                     "--report", str(out / "report.html"), "--report", str(out / "report.json"))
    assert "records" in proc.stdout
    return wacz


@pytest.fixture(scope="module")
def replay(package, tmp_path_factory):
    """A pywb server on loopback whose collection `case` is the package's WARC and CDXJ index, as packaged."""
    pywb = _pywb_bin()
    root = tmp_path_factory.mktemp("pywb")
    subprocess.run([str(pywb / "wb-manager"), "init", "case"], cwd=root, check=True, capture_output=True,
                   timeout=120)
    with zipfile.ZipFile(package) as zf:
        for name in zf.namelist():
            if name.startswith("archive/"):
                (root / "collections/case/archive" / Path(name).name).write_bytes(zf.read(name))
        (root / "collections/case/indexes/index.cdxj").write_bytes(zf.read("indexes/index.cdxj"))
    port = _free_port()
    log = open(root / "wayback.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(pywb / "wayback"), "-b", "127.0.0.1", "-p", str(port)], cwd=root,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/case"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((root / "wayback.log").read_text()) from None
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.status == 200
        return response.read()


def test_pywb_replays_the_sightings_pages_and_images_byte_for_byte(audited_store, replay):
    with Store.open(audited_store, read_only=True) as store:
        rows = store.query("""
            SELECT DISTINCT s.image_url, s.page_url, f.sha256, c.archive, c.archive_offset, c.record_length
            FROM sightings s JOIN attributions a USING (sha256)
            JOIN fetches f ON f.crawl_id = s.crawl_id AND f.url = s.image_url
            JOIN captures c ON c.crawl_id = s.crawl_id AND c.kind = 'page' AND c.url = s.page_url
            WHERE a.country = 'FR' AND s.page_url IS NOT NULL AND f.status = 200 AND f.final_url = f.url
              AND s.ref_kind NOT IN ('stylesheet', 'referer')  -- named in the page's own HTML
            ORDER BY s.image_url, s.page_url""")
    assert len(rows) > 20
    replayed: dict[str, str] = {}
    pages: dict[str, bytes] = {}
    for image_url, page_url, sha, archive, offset, length in rows:
        if image_url not in replayed:  # `id_`: the archived bytes, unmodified
            replayed[image_url] = hashlib.sha256(_get(f"{replay}/2100id_/{image_url}")).hexdigest()
        assert replayed[image_url] == sha, image_url
        if page_url not in pages:
            pages[page_url] = _get(f"{replay}/2100id_/{page_url}")
            _, crawled = read_located(archive, offset, length)  # the page as the crawl's WARC holds it
            assert pages[page_url] == crawled, page_url
        name = urlsplit(image_url).path.rsplit("/", 1)[-1]  # pages name their images by relative URLs too
        assert name.encode() in pages[page_url], (page_url, image_url)


def test_the_package_follows_wacz_and_its_digests_hold(package, tmp_path):
    assert check_package(package) == []
    with zipfile.ZipFile(package) as zf:
        names = set(zf.namelist())
        assert {"archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl", "datapackage.json",
                "datapackage-digest.json", "reports/report.html", "reports/report.json"} <= names
        assert zf.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        datapackage = json.loads(zf.read("datapackage.json"))
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest["hash"] == "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()
        for resource in datapackage["resources"]:
            data = zf.read(resource["path"])
            assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert resource["bytes"] == len(data)
        assert datapackage["wacz_version"] == "1.1.1" and datapackage["software"] and datapackage["created"]
        pages = zf.read("pages/pages.jsonl").decode().splitlines()
        assert json.loads(pages[0])["format"] == "json-pages-1.0" and len(pages) > 10
        first = zf.read("indexes/index.cdxj").decode().splitlines()[0]
        entry = json.loads(first.split(" ", 2)[2])
        assert {"url", "mime", "status", "digest", "length", "offset", "filename"} <= set(entry)
    assert provaudit("package", "--check", str(package)).returncode == 0
    # a tampered report is caught: one byte changed in a copy of the package
    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "reports/report.json":
                data = data.replace(b"FR", b"DE", 1)
            dst.writestr(info, data)
    problems = check_package(tampered)
    assert len(problems) == 1 and problems[0].startswith("reports/report.json: its SHA-256")
    proc = provaudit("package", "--check", str(tampered), check=False)
    assert proc.returncode == 1 and "reports/report.json" in proc.stdout


def test_a_missing_warc_is_named(audited_store, tmp_path):
    copy = tmp_path / "store.duckdb"
    shutil.copy(audited_store, copy)
    with Store.open(copy) as store:
        store.con.execute("UPDATE captures SET archive = 'gone/crawl.warc.gz' WHERE archive IS NOT NULL")
    proc = provaudit("package", "--db", str(copy), "--out", str(tmp_path / "case.wacz"), check=False)
    assert proc.returncode == 1
    assert "gone/crawl.warc.gz" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "case.wacz").exists()


def test_a_store_from_before_record_locations(audited_store, tmp_path):
    """An older store (captures without record ids and lengths), opened read-only: the report shows no record,
    `package` is refused in one line; opened for writing, it gets the columns (empty)."""
    import duckdb

    copy = tmp_path / "old.duckdb"
    shutil.copy(audited_store, copy)
    con = duckdb.connect(str(copy))
    con.execute("ALTER TABLE captures DROP COLUMN record_id")
    con.execute("ALTER TABLE captures DROP COLUMN record_length")
    con.close()
    out = tmp_path / "r" / "report.html"
    provaudit("report", "--db", str(copy), "--country", "FR", "--out", str(out))
    sample = json.loads((out.parent / "report.json").read_text())["sample"]
    assert sample and all(s["image_record"] is None for item in sample for s in item["sighting_sample"])
    assert "no record" in out.read_text()
    proc = provaudit("package", "--db", str(copy), "--out", str(tmp_path / "case.wacz"), check=False)
    assert proc.returncode == 1 and "capture locations" in proc.stderr and "Traceback" not in proc.stderr
    with Store.open(copy) as store:
        assert {"record_id", "record_length"} <= store.columns["captures"]
        assert store.query("SELECT count(record_id) FROM captures")[0][0] == 0


@pytest.mark.parametrize("change, said", [
    ("record_id = '<urn:uuid:00000000-0000-0000-0000-000000000000>'", "as the store recorded"),
    ("record_length = record_length - 10", "cut short"),
    ("archive_offset = archive_offset + 1", "not a WARC record"),
])
def test_bytes_that_are_not_the_recorded_record_are_refused(change, said, audited_store, tmp_path):
    copy = tmp_path / "store.duckdb"
    shutil.copy(audited_store, copy)
    with Store.open(copy) as store:
        store.con.execute(f"UPDATE captures SET {change} WHERE capture_id = (SELECT min(capture_id) FROM captures "
                          "WHERE kind = 'image' AND record_length IS NOT NULL)")
    proc = provaudit("package", "--db", str(copy), "--out", str(tmp_path / "case.wacz"), check=False)
    assert proc.returncode == 1 and said in proc.stderr and "offset" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "case.wacz").exists()
