"""The page parser and the independent reference parser (``tests/refparser.py``) find the same image references
on a real-looking page that uses every way of naming an image issue 14 lists (``tests/data/pages/team.html``: lazy
placeholders and every lazy attribute, ``<picture>`` with several sources, CSS backgrounds, ``background=``,
icons, ``og:image``, JSON-LD graphs, microdata, ``<video poster>``, SVG ``<image>``, ``<input type=image>``, a CDN
``srcset`` with commas, links to an image and to an HTML ``File:…jpg`` page). The real archives hold few of these
ways (``tests/store/test_link_accuracy.py`` checks those); this page holds them all."""

from __future__ import annotations

from pathlib import Path

from refparser import image_refs, srcset_urls

from audit.decode.html import parse_page
from audit.decode.htmltree import read_html

PAGE = Path(__file__).resolve().parents[1] / "data" / "pages" / "team.html"
URL = "https://www.example-news.co.uk/about/team/"
# what the archive holding the page serves as images among the page's <a href> targets
ARCHIVED_IMAGES = {"https://www.example-news.co.uk/staff/ada-full.jpg"}


def _reference() -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for url, kind in image_refs(PAGE.read_text(encoding="utf-8"), URL, is_image=ARCHIVED_IMAGES.__contains__):
        kinds.setdefault(url, set()).add(kind)
    return kinds


def _production() -> dict[str, str]:
    refs = parse_page(read_html(PAGE.read_text(encoding="utf-8")), URL).image_refs
    # as the ingest does (audit/ingest/imagelinks.py): a link is kept only when the archive holds an image there
    return {r.image_url: r.ref_kind for r in refs if r.ref_kind != "link" or r.image_url in ARCHIVED_IMAGES}


def test_both_parsers_find_the_same_images():
    reference, production = _reference(), _production()
    assert sorted(set(reference) - set(production)) == []  # missed by the page parser
    assert sorted(set(production) - set(reference)) == []  # found by the page parser only
    assert len(reference) >= 55


def test_every_kind_is_on_the_page():
    kinds = set().union(*_reference().values())
    assert kinds == {"img", "srcset", "picture", "lazy", "noscript", "css", "background", "input", "icon",
                     "link-image", "og:image", "poster", "svg", "json-ld", "microdata", "link"}
    assert set(_production().values()) == kinds - {"noscript"}  # the page parser calls a <noscript> <img> "img"


def test_kinds_agree_where_the_reference_has_one():
    reference, production = _reference(), _production()
    for url, kinds in reference.items():
        if kinds <= {"img", "noscript"} or len(kinds) > 1:
            continue  # an <img> in <noscript>, or a URL named in several ways (the sighting keeps one)
        assert production[url] in kinds, url


def test_reference_srcset_splits_as_browsers_do():
    assert srcset_urls("https://c.example/w_400,c_fill/a.jpg 400w, /b.jpg 2x,c.jpg") == [
        "https://c.example/w_400,c_fill/a.jpg", "/b.jpg", "c.jpg"]
