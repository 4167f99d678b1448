from __future__ import annotations

import time

from audit.decode.html import parse_page
from audit.decode.stylesheets import is_css, read_stylesheet, stylesheet_text

SHEET_URL = "https://static.example.org/css/site.css"


def test_page_lists_the_stylesheets_it_links():
    html = """<html><head>
    <link rel="stylesheet" href="/css/site.css">
    <link rel="Stylesheet preload" href="https://cdn.example.net/theme.css?v=2#x">
    <link rel="preload" as="style" href="late.css">
    <link rel="preload" as="image" href="/hero.jpg">
    <link rel="alternate stylesheet" href="/alt.css">
    <link rel="icon" href="/favicon.ico">
    <link rel="stylesheet" href="/css/site.css">
    <link rel="stylesheet" href="javascript:alert(1)">
    <style>@import url("/css/print.css") print; @import 'fonts.css'; .a{background:url(/a.jpg)}</style>
    </head><body><noscript><link rel="stylesheet" href="/noscript.css"></noscript></body></html>"""
    page = parse_page(html, "https://www.example.org/news/story.html")
    assert page.stylesheets == [
        "https://www.example.org/css/site.css",
        "https://cdn.example.net/theme.css?v=2",
        "https://www.example.org/news/late.css",
        "https://www.example.org/css/print.css",
        "https://www.example.org/news/fonts.css",
        "https://www.example.org/noscript.css",  # parsed as markup here: what a browser without script loads
    ]
    assert page.error is None
    kinds = {r.image_url: r.ref_kind for r in page.image_refs}
    assert kinds["https://www.example.org/a.jpg"] == "css"
    assert "https://www.example.org/css/print.css" not in kinds  # an @import is no image


def test_page_stylesheets_are_bounded():
    links = "".join(f'<link rel="stylesheet" href="/s{i}.css">' for i in range(100))
    page = parse_page(f"<html><head>{links}</head></html>", "https://a.fr/", max_stylesheets=32)
    assert len(page.stylesheets) == 32 and page.stylesheets[-1] == "https://a.fr/s31.css"
    assert page.error is not None and "links more than 32 stylesheets" in page.error
    imports = "".join(f"@import '/i{i}.css';" for i in range(10_000))
    page = parse_page(f"<html><head><style>{imports}</style></head></html>", "https://a.fr/")
    assert len(page.stylesheets) == 32


def test_stylesheet_images_resolve_against_the_stylesheet_url():
    css = b"""@import url(../base.css);
    @import "https://fonts.example.com/css?family=X";
    @font-face { font-family: X; src: url(fonts/x.woff2) format("woff2"); }
    .portrait { background-image: url("../img/economist.jpg"); }
    .banner { background: #fff url(/banner) no-repeat; }
    .sprite { background: url('//cdn.example.net/sprite.png?v=3'); }
    ul { list-style: url(bullet.svg); }
    .hero { background: url(../img/economist.jpg); }
    .plain { cursor: pointer; }
    .file { border: url(icons/arrow.gif); }
    """
    refs = read_stylesheet(css, SHEET_URL, content_type="text/css")
    assert refs.image_urls == (
        "https://static.example.org/img/economist.jpg",
        "https://static.example.org/banner",
        "https://cdn.example.net/sprite.png?v=3",
        "https://static.example.org/css/bullet.svg",
        "https://static.example.org/css/icons/arrow.gif",
    )
    assert refs.imports == ("https://static.example.org/base.css", "https://fonts.example.com/css?family=X")
    assert refs.error is None and refs.skipped == 0


def test_hostile_schemes_are_skipped_never_followed():
    css = (b".a{background:url(javascript:alert(1))}.b{background:url(data:image/png;base64,AAAA)}"
           b".c{background:url(file:///etc/passwd.jpg)}.d{background:url(about:blank)}"
           b".e{background:url('jav\\61script:x')}.f{background:url(ftp://x.example/a.jpg)}"
           b"@import url(file:///etc/x.css); @import 'data:text/css,a{}';"
           b".ok{background:url(ok.png)}")
    refs = read_stylesheet(css, SHEET_URL)
    assert refs.image_urls == ("https://static.example.org/css/ok.png",)
    assert refs.imports == ()
    assert refs.skipped >= 8


def test_a_ten_megabyte_stylesheet_is_cut_at_the_byte_bound():
    huge = b"a{color:red}" * (10_000_000 // 12) + b".late{background:url(/late.jpg)}"
    start = time.monotonic()
    refs = read_stylesheet(b".early{background:url(/early.jpg)}" + huge, SHEET_URL, max_bytes=2 * 1024 * 1024)
    assert time.monotonic() - start < 10
    assert refs.image_urls == ("https://static.example.org/early.jpg",)
    assert refs.error is not None and "read to its first 2,097,152" in refs.error
    assert f"{len(huge) + 34:,} bytes" in refs.error
    cut = read_stylesheet(b".x{background:url(/x.jpg)}", SHEET_URL, cut=True)
    assert cut.image_urls == ("https://static.example.org/x.jpg",)
    assert cut.error is not None and "AUDIT_MAX_STYLESHEET_BYTES" in cut.error


def test_a_hundred_thousand_url_entries_are_bounded():
    many = "".join(f".c{i}{{background:url(/u{i}.png)}}" for i in range(100_000)).encode()
    start = time.monotonic()
    refs = read_stylesheet(many, SHEET_URL, max_bytes=len(many))
    assert time.monotonic() - start < 20
    assert len(refs.image_urls) == 1000
    assert refs.image_urls[-1] == "https://static.example.org/u999.png"
    assert refs.error is not None and "more than 1,000 images" in refs.error
    unterminated = b'x{background:url("' * 200_000
    start = time.monotonic()
    refs = read_stylesheet(unterminated, SHEET_URL, max_bytes=len(unterminated))
    assert time.monotonic() - start < 20
    assert refs.image_urls == ()
    assert refs.error is not None and "more than 10,000 url() entries" in refs.error


def test_import_loops_and_floods_are_bounded():
    loop = read_stylesheet(b"@import url(site.css); @import 'b.css';", SHEET_URL)
    assert loop.imports == ("https://static.example.org/css/b.css",)  # itself left out
    flood = b"".join(b"@import 'i%d.css';" % i for i in range(100_000))
    start = time.monotonic()
    refs = read_stylesheet(flood, SHEET_URL, max_bytes=len(flood))
    assert time.monotonic() - start < 10
    assert len(refs.imports) == 16
    assert refs.error is not None and "more than 16 @import rules" in refs.error
    open_quotes = b"@import '" * 300_000
    start = time.monotonic()
    read_stylesheet(open_quotes, SHEET_URL, max_bytes=len(open_quotes))
    assert time.monotonic() - start < 10


def test_stylesheet_text_charsets():
    latin = ".a{content:'caf\xe9'}".encode("latin-1")
    assert "café" in stylesheet_text(latin, "text/css; charset=ISO-8859-1")
    assert "café" in stylesheet_text(b'@charset "iso-8859-1";' + latin)
    assert "café" in stylesheet_text(b"\xef\xbb\xbf.a{content:'caf\xc3\xa9'}", "text/css")
    assert "caf\ufffd" in stylesheet_text(latin)  # UTF-8 by default, bad bytes replaced
    assert "café" in stylesheet_text(".a{content:'café'}".encode("utf-16-le"), "text/css; charset=utf-16le")
    assert stylesheet_text(b"a{}", "text/css; charset=no-such-charset") == "a{}"
    assert is_css("text/css; charset=utf-8") and is_css("TEXT/CSS") and not is_css("text/html") and not is_css(None)
