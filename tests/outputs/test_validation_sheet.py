"""The labelling sheet in a real headless browser: hostile scraped text shown as text, nothing fetched, its one
script allowed by the Content-Security-Policy, and the saved answers a labels file `provaudit validate` reads."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from test_browser import _errors, browser  # noqa: F401 - the module's browser fixture, reused

from audit.outputs.validation.labels import read_labels
from audit.outputs.validation.sample import draw
from audit.outputs.validation.sheet import write_sheet
from audit.store.db import Store

EVIL = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">"


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    work = tmp_path_factory.mktemp("sheet")
    with Store.open(work / "store.duckdb") as store:
        store.insert("attributions", [{"sha256": f"{i:064x}", "country": "FR" if i < 4 else "DE",
                                       "tier": "strong" if i < 4 else "medium", "score": 0.9,
                                       "residence_country": "FR" if i < 4 else "DE",
                                       "residence_tier": "strong" if i < 4 else "medium", "capture_tier": "none"}
                                      for i in range(10)])
        store.insert("sightings", [{"sighting_id": f"s{i}", "crawl_id": "c", "sha256": f"{i:064x}",
                                    "image_url": "javascript:alert('img')", "page_url": f"http://news.example/{i}",
                                    "alt_text": EVIL, "caption": "</table><b>bold?</b>"} for i in range(10)])
        html, _, _ = write_sheet(draw(store, "FR", 6, 3), work)
    return html


def test_sheet_renders_safely_and_saves_a_labels_file(browser, sheet, tmp_path):  # noqa: F811
    browser.get(sheet.as_uri())
    assert _errors(browser) == []  # a script refused by the CSP would be reported here
    assert browser.execute_script("return window.__pwned === undefined")
    assert EVIL in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.CSS_SELECTOR, "a[href^='javascript:']")
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })") == []
    items = browser.find_elements(By.CSS_SELECTOR, "fieldset.item")
    assert len(items) == 6
    # answer the first two images only; the blob the button saves is caught instead of downloaded
    items[0].find_element(By.CSS_SELECTOR, "input[value='yes'][name^='located-']").click()
    items[0].find_element(By.CSS_SELECTOR, "input[value='unknown'][name^='resides-']").click()
    items[1].find_element(By.CSS_SELECTOR, "input[value='no'][name^='located-']").click()
    browser.execute_script("window.__blob = null; URL.createObjectURL = function (b) { window.__blob = b; "
                           "return 'about:blank'; }; HTMLAnchorElement.prototype.click = function () {};")
    browser.find_element(By.ID, "save").click()
    text = browser.execute_async_script("var done = arguments[0]; window.__blob.text().then(done);")
    assert _errors(browser) == []
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    labels = read_labels(path)
    assert len(labels) == 6 and all(lab.country == "FR" for lab in labels)
    ids = [i.get_attribute("data-sample-id") for i in items]
    answers = {lab.sample_id: (lab.located, lab.resides) for lab in labels}
    assert answers[ids[0]] == ("yes", "unknown") and answers[ids[1]] == ("no", None)
    assert all(answers[i] == (None, None) for i in ids[2:])
