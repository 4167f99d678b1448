"""The HTML outputs opened in a real headless browser (Debian's Chromium through chromedriver): no console
errors, every chart drawn, scraped text shown as text, nothing fetched from the network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from audit.store.db import Store
from audit.testweb_marker import BANNER
from conftest import provaudit

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Chromium and chromedriver are needed (make test installs Debian's chromium and chromium-driver)")
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def outputs(crawled, tmp_path_factory):
    """The report and the verification of a crawled, audited test web, with hostile alt text and URLs added."""
    db, crawl_id = crawled
    work = tmp_path_factory.mktemp("browser")
    copy = work / "store.duckdb"
    shutil.copy(db, copy)
    with Store.open(copy) as store:
        # an image the report shows for FR with all its sightings (it lists five per image): a French resident's
        # photo that kept its GPS (attributed FR, strong), seen on at most three pages
        sha = store.query("SELECT s.sha256 FROM sightings s JOIN ground_truth g USING (image_url) "
                          "WHERE s.sha256 IS NOT NULL AND g.residence_country = 'FR' AND g.capture_country = 'FR' "
                          "AND list_contains(g.kept_metadata, 'gps') AND s.sha256 IN "
                          "(SELECT sha256 FROM sightings GROUP BY sha256 HAVING count(*) <= 3) "
                          "ORDER BY s.sha256 LIMIT 1")[0][0]
        store.insert("sightings", [{
            "sighting_id": "xss-test", "crawl_id": crawl_id, "sha256": sha,
            "image_url": "javascript:alert('img')", "page_url": "javascript:alert('page')",
            "image_host": "evil.example", "page_host": "evil.example",
            "alt_text": "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">",
            "caption": "</table><b>bold?</b>",
        }])
    provaudit("audit", "--db", str(copy))
    provaudit("report", "--db", str(copy), "--country", "FR", "--out", str(work / "report.html"), "--sample", "400")
    proc = provaudit("verify", "--before", str(copy), "--after", str(copy), "--country", "FR",
                     "--out", str(work / "verify.html"), check=False)
    assert proc.returncode == 3, proc.stderr  # the store checked against itself: everything is still there
    return work


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_report_renders_without_errors_and_with_every_chart(browser, outputs):
    browser.get((outputs / "report.html").as_uri())
    assert browser.title
    assert _errors(browser) == []
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) >= 4  # headline, signal kinds, threshold curve, map
    for chart in charts:
        size = chart.size
        assert size["width"] > 100 and size["height"] > 50, chart.get_attribute("id")
    ids = {c.get_attribute("id") for c in charts}
    assert "chart-map" in ids
    # scraped text is shown as text: nothing it contained ran or became markup
    assert browser.execute_script("return window.__pwned === undefined")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "<script>window.__pwned = 1</script>" in body
    assert not browser.find_elements(By.CSS_SELECTOR, "a[href^='javascript:']")
    # nothing was loaded from anywhere: the file is self-contained
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert resources == []


def test_verification_renders_without_errors(browser, outputs):
    browser.get((outputs / "verify.html").as_uri())
    assert _errors(browser) == []
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "FR" in body
    # the verdict comes first, boxed, with its exit status; then the coverage per host
    verdict = browser.find_element(By.CSS_SELECTOR, "div.verdict")
    assert "Verdict: deletion incomplete" in verdict.text and "exit status" in verdict.text
    assert verdict.location["y"] < browser.find_element(By.TAG_NAME, "table").location["y"]
    assert "Per host" in body and "The crawls compared" in body
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0


@pytest.mark.parametrize("page", ["report.html", "verify.html"])
def test_the_test_web_banner_is_on_top_and_on_every_printed_page(browser, outputs, page):
    """A crawl of the test web: the banner comes before the title on screen; in print it moves into the top margin
    of every page (a CSS page-margin box, where it can hide no content) and the on-screen element is not printed."""
    browser.get((outputs / page).as_uri())
    banner = browser.find_element(By.ID, "testweb-banner")
    assert banner.text == BANNER
    assert banner.location["y"] < browser.find_element(By.TAG_NAME, "h1").location["y"]
    style = "return getComputedStyle(document.getElementById('testweb-banner')).display"
    assert browser.execute_script(style) == "block"
    assert f'@top-center{{content:"{BANNER}"' in browser.page_source
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert browser.execute_script(style) == "none"
        pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
        assert pdf["data"]  # it prints
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
