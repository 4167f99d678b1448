"""Print and PDF: the report and the verification page print through the system's headless Chromium, every printed
page naming the store's SHA-256 and its page number; the print stylesheet hides navigation and starts each section
on a new page; the PDF is recorded with the other outputs for `provaudit fixity`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

from pypdf import PdfReader

from audit.testweb_marker import BANNER
from conftest import ROOT, provaudit


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pages(pdf: Path) -> list[str]:
    # NFKC: the PDF's fonts write "fi" as one ligature glyph
    return [" ".join(unicodedata.normalize("NFKC", p.extract_text()).split()) for p in PdfReader(pdf).pages]


def test_the_report_prints_every_page_with_the_store_hash_and_its_number(audited_store, tmp_path):
    out = tmp_path / "r"
    proc = provaudit("report", "--db", str(audited_store), "--country", "FR", "--out", str(out / "report.html"),
                     "--pdf")
    pdf = out / "report.pdf"
    assert str(pdf) in " ".join(proc.stdout.split())
    sha = _sha(audited_store)
    pages = _pages(pdf)
    assert len(pages) >= 5  # a page break before each section
    for i, text in enumerate(pages, 1):
        assert f"page {i} of {len(pages)}" in text, (i, text[-200:])
        assert sha in text.replace(" ", ""), i
        assert text.count(BANNER) == 1, i  # a crawl of the test web: said once on every page, hiding nothing
    whole = " ".join(pages)
    assert "Provenance and fixity" in whole and "The claim" in whole
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "@media print" in html and "nav," in html and "break-before:page" in html
    # the PDF is one of the outputs fixity checks
    checked = json.loads(provaudit("fixity", str(out), "--json").stdout)
    assert "report.pdf" in {f["path"] for f in checked["files"]} and checked["intact"]


def test_the_verification_prints_both_stores(audited_store, tmp_path):
    after = tmp_path / "after.duckdb"
    shutil.copy(audited_store, after)
    page = tmp_path / "v" / "check.html"
    provaudit("verify", "--before", str(audited_store), "--after", str(after), "--country", "FR", "--out", str(page),
              "--pdf", check=False)
    pages = _pages(page.with_suffix(".pdf"))
    for i, text in enumerate(pages, 1):
        flat = text.replace(" ", "")
        assert f"page {i} of {len(pages)}" in text
        assert f"beforeSHA-256{_sha(audited_store)[:32]}" in flat and f"after{_sha(after)[:32]}" in flat
    assert "Verdict" in pages[0]


def test_no_browser_is_a_clear_error_and_writes_no_pdf(audited_store, tmp_path):
    out = tmp_path / "r"
    env = {**os.environ, "AUDIT_RENDER_BROWSER": str(tmp_path / "no-chromium")}
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "report", "--db", str(audited_store), "--country",
                           "FR", "--out", str(out / "report.html"), "--pdf"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "AUDIT_RENDER_BROWSER" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (out / "report.pdf").exists()
