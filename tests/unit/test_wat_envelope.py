"""audit.ingest.wat.page_of: what one WAT Envelope gives (page row fields, facts in page_facts' shape, image links
with their ref_kind), on envelopes written here in ia-web-commons' shape, hostile values included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.decode.pagefacts import page_facts
from audit.ingest.wat import MAX_IMAGE_REFS, page_of, ref_kind


def _envelope(links: list[dict[str, Any]], head: dict[str, Any], *, url: str = "https://www.exemple.fr/a/b.html",
              headers: Any = None, status: Any = "200", warc_type: str = "response") -> dict[str, Any]:
    return {
        "WARC-Header-Metadata": {"WARC-Type": warc_type, "WARC-Target-URI": url, "WARC-Date": "2024-05-18T01:58:10Z",
                                 "WARC-IP-Address": "192.0.2.7"},
        "Payload-Metadata": {"HTTP-Response-Metadata": {
            "Response-Message": {"Status": status},
            "Headers": headers if headers is not None else {"Content-Type": "text/html", "Content-Language": "fr"},
            "HTML-Metadata": {"Head": head, "Links": links}}},
    }


HEAD = {
    "Title": "  Marché\n de Lyon ",
    "Base": "https://cdn.exemple.fr/base/",
    "Metas": [{"name": "HTML@/lang", "content": "fr-FR"}, {"property": "og:locale", "content": "fr_FR"},
              {"property": "og:image", "content": "/og.jpg"}, {"name": "twitter:image", "content": "tw.png"},
              {"name": "geo.region", "content": "FR-69"}, {"name": "geo.position", "content": "45.76;4.83"},
              {"name": "ICBM", "content": "45.76, 4.83"}, {"http-equiv": "Content-Language", "content": "fr-FR"},
              {"name": "robots", "content": "noimageindex"}, {"name": "GPTBot", "content": "noai"},
              {"name": "tdm-reservation", "content": "1"}, {"name": "description", "content": "x" * 10_000}],
    "Link": [{"path": "LINK@/href", "url": "/canon", "rel": "canonical"},
             {"path": "LINK@/href", "url": "favicon.ico", "rel": "shortcut icon"},
             {"path": "LINK@/href", "url": "share.jpg", "rel": "image_src"},
             {"path": "LINK@/href", "url": "https://www.exemple.be/", "rel": "alternate", "hreflang": "fr-BE"},
             {"path": "LINK@/href", "url": "/style.css", "rel": "stylesheet"}],
}
HTML = ('<html lang="fr-FR"><head><base href="https://cdn.exemple.fr/base/"><meta property="og:locale" '
        'content="fr_FR"><meta name="geo.region" content="FR-69"><meta name="geo.position" content="45.76;4.83">'
        '<meta name="ICBM" content="45.76, 4.83"><meta http-equiv="Content-Language" content="fr-FR">'
        '<meta name="robots" content="noimageindex"><meta name="GPTBot" content="noai">'
        '<meta name="tdm-reservation" content="1"><link rel="canonical" href="/canon">'
        '<link rel="alternate" hreflang="fr-BE" href="https://www.exemple.be/"></head><body></body></html>')


def test_facts_have_page_facts_shape_and_values() -> None:
    page = page_of(_envelope([], HEAD), Path("x.wat"), 7, None, None)
    assert page is not None
    assert page.facts == page_facts(HTML, "https://www.exemple.fr/a/b.html")
    assert (page.status, page.server_ip, page.lang, page.title, page.offset) == (200, "192.0.2.7", "fr-FR",
                                                                                 "Marché de Lyon", 7)
    assert page.headers["content-language"] == ["fr"] and page.content_type == "text/html"
    assert page.fetched_at is not None and page.fetched_at.isoformat() == "2024-05-18T01:58:10+00:00"


def test_image_links_resolved_against_base_with_their_kinds() -> None:
    links = [
        {"path": "A@/href", "url": "/photo.jpg", "text": "a link, not an image on the page"},
        {"path": "IMG@/src", "url": "img/1.jpg", "alt": "  Place  Bellecour ", "title": "Lyon"},
        {"path": "IMG@/src", "url": "img/1.jpg#frag", "alt": "the same image again"},
        {"path": "IMG@/srcset", "url": "s-1x.jpg 1x, //img.exemple.de/s-2x.jpg 2x"},
        {"path": "IMG@/data-src", "url": "lazy.jpg"},
        {"path": "IMG@/longdesc", "url": "desc.html"},
        {"path": "INPUT@/src", "url": "button.png"},
        {"path": "VIDEO@/poster", "url": "poster.jpg"},
        {"path": "TD@/background", "url": "bg.gif"},
        {"path": "DIV@/data-href", "url": "nope.jpg"},
        {"path": "STYLE/#text", "href": "hero.webp"},
        {"path": "STYLE/#text", "href": "font.woff2"},
        {"path": "IMG@/src", "url": "javascript:alert(1)"},
        {"path": "IMG@/src", "url": "data:image/png;base64,AAAA"},
        {"path": "IMG@/src", "url": 42},
        "not an object",
        {"path": "IMG@/src"},
    ]
    page = page_of(_envelope(links, HEAD), Path("x.wat"), 0, None, None)
    assert page is not None
    got = {r.url: (r.ref_kind, r.alt_text, r.caption) for r in page.refs}
    b = "https://cdn.exemple.fr/base/"
    assert got == {
        "https://cdn.exemple.fr/og.jpg": ("og:image", None, None), b + "tw.png": ("og:image", None, None),
        b + "favicon.ico": ("icon", None, None), b + "share.jpg": ("link-image", None, None),
        b + "img/1.jpg": ("img", "Place Bellecour", "Lyon"), b + "s-1x.jpg": ("srcset", None, None),
        "https://img.exemple.de/s-2x.jpg": ("srcset", None, None), b + "lazy.jpg": ("lazy", None, None),
        b + "button.png": ("input", None, None), b + "poster.jpg": ("poster", None, None),
        b + "bg.gif": ("background", None, None), b + "hero.webp": ("css", None, None),
    }
    assert next(r for r in page.refs if r.ref_kind == "img").attributes["path"] == "IMG@/src"


def test_what_is_not_a_page() -> None:
    assert page_of(_envelope([], {}, warc_type="request") | {"Payload-Metadata": {"HTTP-Request-Metadata": {}}},
                   Path("x"), 0, None, None) is None
    image = _envelope([], {}, headers={"Content-Type": "image/jpeg"})
    del image["Payload-Metadata"]["HTTP-Response-Metadata"]["HTML-Metadata"]
    assert page_of(image, Path("x"), 0, None, None) is None
    assert page_of(_envelope([], {}, url="ftp://x.example/"), Path("x"), 0, None, None) is None
    odd = page_of(_envelope([], {"Metas": "no", "Link": {"a": 1}, "Title": ["x"]}, status="2OO",
                            headers=["x"]), Path("x"), 0, None, None)
    assert odd is not None and odd.status is None and odd.title is None and odd.headers == {}
    assert odd.facts == {"url": "https://www.exemple.fr/a/b.html"}


def test_bounds() -> None:
    links = [{"path": "IMG@/src", "url": f"/i/{n}.jpg", "alt": "a" * 10_000} for n in range(MAX_IMAGE_REFS + 50)]
    page = page_of(_envelope(links, {"Title": "t" * 10_000}), Path("x"), 0, None, None)
    assert page is not None and len(page.refs) == MAX_IMAGE_REFS and page.refs_cut == 50
    assert all(len(r.alt_text or "") <= 2000 for r in page.refs) and len(page.title or "") <= 300
    assert ref_kind("IMG@/src", "x") == "img" and ref_kind("A@/href", "x.jpg") is None
