"""Hostile pages: parsing is linear in the page (counted, never timed), bounded by AUDIT_MAX_PAGE_NODES with an
error saying where it stopped, done off the crawler's event loop for large pages, and deep nesting does not hide
what follows it. A real `provaudit crawl` of a generated loopback site holds such pages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loopsite import LoopSite
from lxml import etree
from parsel import Selector

import audit.decode.html
from audit.decode.html import parse_page
from audit.decode.pagefacts import page_facts
from audit.store.db import Store
from conftest import ROOT

URL = "http://site.test/page.html"
CRAWL_BOUND = 300  # seconds the whole test crawl may take (it takes ~20 s; the quadratic parser took many minutes)


def one_figure(n: int) -> str:
    """The red team's page: n images and n captions in one <figure> (every image's caption is all of them)."""
    pairs = "".join(f'<img src="/img/{i}.jpg" alt="photo {i}"><figcaption>caption <b>{i}</b></figcaption>'
                    for i in range(n))
    return f"<html><head><title>t</title></head><body><figure>{pairs}</figure></body></html>"


def deep(depth: int, images: int = 3) -> str:
    imgs = "".join(f'<img src="/img/after-{i}.jpg" alt="after {i}">' for i in range(images))
    return f"<html><body>{'<div>' * depth}deep{'</div>' * depth}{imgs}<a href='/next.html'>next</a></body></html>"


def _text_work(html: str, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[int, Any]:
    """Characters handed to the text cleaner while parsing ``html`` (captions, alt texts, titles), and the result."""
    seen = [0]
    clean = audit.decode.html._clean_text

    def counting(text: str | None) -> str | None:
        seen[0] += len(text or "")
        return clean(text)

    monkeypatch.setattr(audit.decode.html, "_clean_text", counting)
    parsed = parse_page(html, URL, **kw)
    monkeypatch.setattr(audit.decode.html, "_clean_text", clean)
    return seen[0], parsed


def test_caption_work_is_linear_in_the_number_of_images(monkeypatch):
    """Was: each image's caption read every caption of its figure (work ~ images x captions; 8,000 took 130 s)."""
    work = {n: _text_work(one_figure(n), monkeypatch) for n in (500, 1000, 2000, 4000)}
    for n in (1000, 2000, 4000):
        chars, parsed = work[n]
        half_chars, half = work[n // 2]
        assert len(parsed.image_refs) == n and parsed.error is None
        assert chars <= 2.2 * half_chars, (n, chars, half_chars)
        assert parsed.nodes <= 2.2 * half.nodes, (n, parsed.nodes, half.nodes)
    refs = work[4000][1].image_refs
    assert refs[0].caption.startswith("caption 0 caption 1 caption 2")
    assert len(refs[0].caption) == audit.decode.html.MAX_TEXT
    assert {r.caption for r in refs} == {refs[0].caption} and refs[3999].alt_text == "photo 3999"


def test_nodes_read_are_the_elements_plus_the_text_and_urls_read():
    """The work a page costs is counted: one per element, one per text node read, one per URL resolved."""
    html = "<html><body>" + "".join(f'<p><img src="{i}.jpg"></p>' for i in range(100)) + "</body></html>"
    parsed = parse_page(html, URL)
    assert len(parsed.image_refs) == 100
    assert parsed.nodes == 2 + 2 * 100 + 100  # html, body, 100 x (p, img), 100 src URLs


def test_deep_nesting_before_the_images_does_not_hide_them():
    """Was: libxml2 stops at 2048 levels (256 without huge_tree) and the page had 0 sightings and no error."""
    parsed = parse_page(deep(5000), URL)
    assert [r.image_url for r in parsed.image_refs] == [f"http://site.test/img/after-{i}.jpg" for i in range(3)]
    assert parsed.image_refs[2].alt_text == "after 2"
    assert parsed.links == ["http://site.test/next.html"]
    assert parsed.error is not None and "nested deeper than the HTML parser's limit (2048 levels)" in parsed.error
    assert "below depth 512 were ignored" in parsed.error
    shallow = parse_page(deep(300), URL)  # within the parser's limit: parsed as it is, no error
    assert len(shallow.image_refs) == 3 and shallow.error is None


def test_page_facts_of_a_deep_page_are_read_after_the_nesting():
    html = deep(5000).replace("</body>", '<p>call +33 4 78 00 00 00</p><meta name="geo.region" content="FR"></body>')
    facts = page_facts(html, URL)
    assert facts["phones"] == ["+33 4 78 00 00 00"] and facts["geo_region"] == "FR"


def test_the_node_budget_cuts_the_page_with_an_error_and_keeps_what_was_found():
    html = "<html><body>" + "".join(f'<img src="{i}.jpg">' for i in range(100)) + "<a href='/x'>x</a></body></html>"
    cut = parse_page(html, URL, max_nodes=50)
    again = parse_page(html, URL, max_nodes=50)
    assert [r.image_url for r in cut.image_refs] == [f"http://site.test/{i}.jpg" for i in range(48)]  # html, body
    assert [r.image_url for r in again.image_refs] == [r.image_url for r in cut.image_refs]  # counted, not timed
    assert cut.links == []
    assert cut.error == ("page parsing stopped after 50 nodes (AUDIT_MAX_PAGE_NODES): the image references and "
                         "links after that point were not read")
    whole = parse_page(html, URL, max_nodes=1000)
    assert len(whole.image_refs) == 100 and whole.links == ["http://site.test/x"] and whole.error is None


@pytest.mark.parametrize("text", ['{"images": ["a.jpg"]}', "[1, 2]", "<img src=a.jpg>\udcff<p>\ud800</p>"])
def test_json_like_pages_and_lone_surrogates_are_parsed_as_html(text):
    """Was: parsel read a page whose text is valid JSON as JSON (ValueError on XPath), and a lone surrogate raised
    UnicodeEncodeError: the page was lost with a traceback in the log."""
    parsed = parse_page(text, URL)
    assert parsed.error is None
    assert [r.image_url for r in parsed.image_refs] == (["http://site.test/a.jpg"] if "<img" in text else [])
    assert page_facts(text, URL)["url"] == URL


# -- the visible text scanned for phone numbers: one pass, equal to the XPath it replaces ------------------------

_VISIBLE = ("//body//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)"
            " and not(ancestor::template)]")
_tags = st.sampled_from(["body", "div", "script", "style", "noscript", "template", "p", "html", "b"])
_texts = st.sampled_from(["", "a", " b ", "<!--c-->", "<?x y?>", "01 23 45 67 89", "\n"])


@st.composite
def _markup(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 4 or draw(st.booleans()):
        return draw(_texts)
    tag = draw(_tags)
    inner = "".join(draw(_markup(depth + 1)) for _ in range(draw(st.integers(0, 3))))
    return f"<{tag}>{inner}" + (f"</{tag}>" if draw(st.booleans()) else "")


@settings(max_examples=300, deadline=None)
@given(st.lists(_markup(), min_size=1, max_size=4).map("".join))
def test_visible_text_is_the_xpath_it_replaces(html):
    from audit.decode.htmltree import read_html
    from audit.decode.pagefacts import MAX_TEXT, _visible_text

    root = read_html(html).selector.root
    parts = Selector(root=root, type="html").xpath(_VISIBLE).getall()
    assert _visible_text(root, 10**9) == " ".join(parts)[:MAX_TEXT]
    assert isinstance(root, etree._Element)


# -- a real crawl of such pages ----------------------------------------------------------------------------------

def _route(path: str) -> tuple[int, str, bytes]:
    if path == "/robots.txt":  # the images are not downloaded: their sightings are what this test is about
        return 200, "text/plain", b"User-agent: *\nDisallow: /img/\n"
    if path == "/":
        return 200, "text/html", b'<html><body><a href="/big.html">big</a> <a href="/deep.html">deep</a></body></html>'
    if path == "/big.html":
        return 200, "text/html; charset=utf-8", one_figure(8000).encode()
    if path == "/deep.html":
        return 200, "text/html; charset=utf-8", deep(5000).encode()
    return 404, "text/plain", b"not found"


@pytest.fixture(scope="module")
def hostile_pages_crawl(tmp_path_factory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("pages") / "pages.duckdb"
    with LoopSite(_route) as site:
        proc = subprocess.run([sys.executable, "-m", "audit.cli", "crawl", site.origin + "/", "--db", str(db),
                               "--allowed-domain", "127.0.0.1", "--no-throttle", "--no-warc"],
                              cwd=ROOT, capture_output=True, text=True, timeout=CRAWL_BOUND)
        origin = site.origin
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return {"db": db, "origin": origin}


def test_a_crawl_of_8000_captioned_images_and_of_a_deep_page_records_every_sighting(hostile_pages_crawl):
    db: Path = hostile_pages_crawl["db"]
    origin = hostile_pages_crawl["origin"]
    with Store.open(db, read_only=True) as store:
        pages = {r[0]: r[1:] for r in store.query("SELECT url, status, error FROM pages")}
        per_page = dict(store.query("SELECT page_url, count(*) FROM sightings GROUP BY 1"))
        first = store.query("SELECT alt_text, caption FROM sightings WHERE image_url = ?", [origin + "/img/0.jpg"])
        stats = json.loads(store.query("SELECT stats FROM crawls")[0][0])
    assert pages[origin + "/big.html"] == (200, None)
    assert per_page[origin + "/big.html"] == 8000
    assert first[0][0] == "photo 0" and first[0][1].startswith("caption 0 caption 1")
    status, error = pages[origin + "/deep.html"]
    assert status == 200 and "nested deeper than the HTML parser's limit" in error
    assert per_page[origin + "/deep.html"] == 3
    # the 600 KB page was parsed in a thread, the small ones in line
    assert stats["provaudit/pages_parsed_in_thread"] == 1


def test_a_page_over_the_reference_cap_says_so():
    """A page referencing more images than parse_page keeps (max_refs) is recorded with an error, not cut silently."""
    many = parse_page(one_figure(30), URL, max_refs=20)
    assert len(many.image_refs) == 20
    assert many.error == "the page references more than 20 images: the first 20 were kept"
    exact = parse_page(one_figure(20), URL, max_refs=20)
    assert len(exact.image_refs) == 20 and exact.error is None
    links = parse_page("<html><body>" + "".join(f'<a href="/{i}.jpg">x</a>' for i in range(5)) + "</body></html>",
                       URL, max_refs=3)
    assert len(links.image_refs) == 3 and links.error is not None
