"""The page parser and the independent reference parser (``tests/refparser.py``) find the same image references
on a real-looking page that uses every way of naming an image issue 14 lists (``tests/data/pages/team.html``: lazy
placeholders and every lazy attribute, ``<picture>`` with several sources, CSS backgrounds, ``background=``,
icons, ``og:image``, JSON-LD graphs, microdata, ``<video poster>``, SVG ``<image>``, ``<input type=image>``, a CDN
``srcset`` with commas, links to an image and to an HTML ``File:…jpg`` page). The real archives hold few of these
ways (``tests/store/test_link_accuracy.py`` checks those); this page holds them all."""

from __future__ import annotations

from pathlib import Path

import pytest
from linkcheck import norm
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


# small real-world oddities: case, entities, escapes, relative bases, bad JSON, odd rels and values
EDGES = {
    'unicode': '<img src="/fotos/año niño.jpg">',
    'pct': '<img src="/a%20b.jpg">',
    'upper': '<IMG SRC="/UP.JPG" DATA-SRC="/lazy.JPG">',
    'entity': '<img src="/a.php?x=1&amp;y=2">',
    'proto-rel': '<img src="//cdn.x.org/a.jpg">',
    'base-rel': '<base href="sub/"><img src="a.jpg">',
    'two-base': '<base href="/one/"><base href="/two/"><img src="a.jpg">',
    'style-upper': '<div style="BACKGROUND-IMAGE: URL(/bg.png)"></div>',
    'style-escape': '<div style="background:url(/a\\(1\\).png)"></div>',
    'image-set': '<div style="background-image: image-set(url(/a1.png) 1x, url(/a2.png) 2x)"></div>',
    'multi-bg': '<div style="background-image: url(/l1.png), url(\'/l2.png\')"></div>',
    'css-import': '<style>@import url(/x.css); @import "/y.css"; .a{background:url(/z.png)}</style>',
    'jsonld-bad': '<script type="application/ld+json">{"image": "/a.jpg",}</script>',
    'jsonld-list': ('<script type="application/ld+json">[{"@type":"Product","image":'
                    '[{"@type":"ImageObject","contentUrl":"/p1.jpg"},"/p2.jpg"]}]</script>'),
    'jsonld-html-escape': '<script type="application/ld+json">{"image":"https:\\/\\/x.org\\/e.jpg"}</script>',
    'og-relative': '<meta property="og:image" content="/og.jpg">',
    'og-name': '<meta name="og:image" content="/ogn.jpg">',
    'twitter-src': '<meta name="twitter:image:src" content="/tw.jpg">',
    'itemprop-multi': '<img itemprop="image thumbnailUrl" src="/m.jpg">',
    'itemprop-div': '<div itemprop="image">https://x.org/text.jpg</div>',
    'itemprop-logo': '<img itemprop="logo" src="/logo.png">',
    'icon-mask': '<link rel="mask-icon" href="/mask.svg">',
    'icon-shortcut-only': '<link rel="shortcut" href="/s.ico">',
    'fluid-icon': '<link rel="fluid-icon" href="/fluid.png">',
    'poster-empty': '<video poster=""></video>',
    'lazy-on-div': '<div class="lazyload" data-src="/div-lazy.jpg"></div>',
    'srcset-sizes-only': '<img srcset="/s.jpg">',
    'input-upper': '<input TYPE="IMAGE" src="/in.png">',
    'a-image-upper': '<a href="/BIG.JPEG">x</a>',
    'noscript-lazy': '<noscript><img src="/ns2.jpg" srcset="/ns2x.jpg 2x"></noscript>',
    'picture-img-srcset': ('<picture><source srcset="/p1.avif" type="image/avif">'
                           '<source srcset="/p1.webp" type="image/webp"><img src="/p1.jpg"></picture>'),
    'svg-use': '<svg><use href="/sprite.svg#i"></use></svg>',
    'background-th': '<table><tr><th background="/th.gif">x</th></tr></table>',
    'background-div': '<div background="/div-bg.gif">x</div>',
    'data-bg-url': '<div data-bg="url(/dbg.jpg)"></div>',
    'ws-url': '<img src="\n /ws.jpg \n">',
    'javascript': '<img src="JavaScript:alert(1)">',
    'mailto': '<a href="mailto:a@b.jpg">m</a>',
    'frag': '<img src="/f.jpg#x">',
    'empty-srcset-entry': '<img srcset=", /e1.jpg 1x, , /e2.jpg 2x,">',
}
EDGE_IMAGES = {"https://w.org/BIG.JPEG", "mailto:a@b.jpg"}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_both_parsers_agree_on_edge_cases(name):
    html, url = f"<!DOCTYPE html><html><head></head><body>{EDGES[name]}</body></html>", "https://w.org/p/"
    reference = {norm(u) for u, _ in image_refs(html, url, is_image=EDGE_IMAGES.__contains__)}
    production = {norm(r.image_url) for r in parse_page(read_html(html), url).image_refs
                  if r.ref_kind != "link" or r.image_url in EDGE_IMAGES}
    assert reference == production


def test_a_link_to_an_image_without_an_image_extension():
    """A known difference, on purpose: the reference counts an ``<a href>`` to any URL the archive holds an image
    for; the page parser only proposes links whose path looks like an image file (the ingest then keeps those the
    archive holds an image for), so a link to ``/img.php?f=a.jpg`` is no sighting of an ingest. The real archives
    hold no such link (recall 100%); a live crawl, which follows every link, records it."""
    html, url = '<html><body><a href="/get-image.php?id=7">photo</a></body></html>', "https://w.org/p/"
    assert image_refs(html, url, is_image=lambda u: u == "https://w.org/get-image.php?id=7") == [
        ("https://w.org/get-image.php?id=7", "link")]
    assert parse_page(read_html(html), url).image_refs == []
