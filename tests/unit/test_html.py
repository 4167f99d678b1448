from __future__ import annotations

from audit.decode.html import absolute_url, parse_page, srcset_urls

PAGE = """<!doctype html>
<html lang="fr-BE"><head><title>Actu  locale</title>
<base href="https://www.example.be/news/">
<meta property="og:image" content="https://cdn.example.net/og.jpg">
<meta name="twitter:image" content="/tw.png">
</head><body>
<figure><img src="a.jpg" alt=" Un  chat " srcset="a-small.jpg 480w, a-large.jpg 1200w">
<figcaption>Photo: <b>Jean</b> à Liège</figcaption></figure>
<picture><source srcset="//img.example.net/p.webp 1x, //img.example.net/p2.webp 2x" type="image/webp">
<img src="p.jpg" alt="pic" title="t"></picture>
<img data-src="lazy.jpg" alt="lazy">
<img src="data:image/png;base64,AAAA">
<img src="a.jpg" alt="again">
<a href="full/a-orig.JPG">full size</a>
<a href="../about.html#team">about</a>
<a href="javascript:alert(1)">x</a>
<a href="mailto:x@example.be">m</a>
<a href="http://other.example.fr/page">other</a>
<p>alt with <script>alert(1)</script></p>
</body></html>"""


def test_parse_page_finds_every_kind_of_reference():
    page = parse_page(PAGE, "https://www.example.be/news/article.html")
    assert page.lang == "fr-BE"
    assert page.title == "Actu locale"
    refs = {r.image_url: r for r in page.image_refs}
    base = "https://www.example.be/news/"
    assert set(refs) == {
        base + "a.jpg", base + "a-small.jpg", base + "a-large.jpg",
        "https://img.example.net/p.webp", "https://img.example.net/p2.webp", base + "p.jpg",
        base + "lazy.jpg", "https://cdn.example.net/og.jpg", "https://www.example.be/tw.png",
        base + "full/a-orig.JPG",
    }
    a = refs[base + "a.jpg"]
    assert a.alt_text == "Un chat" and a.caption == "Photo: Jean à Liège" and a.ref_kind == "img"
    assert a.page_url == "https://www.example.be/news/article.html"
    assert a.attributes["src"] == "a.jpg"
    assert refs[base + "a-large.jpg"].ref_kind == "srcset"
    assert refs["https://img.example.net/p.webp"].ref_kind == "picture"
    assert refs["https://img.example.net/p.webp"].alt_text == "pic"
    assert refs[base + "p.jpg"].caption == "t"  # title attribute when there is no figcaption
    assert refs["https://cdn.example.net/og.jpg"].ref_kind == "og:image"
    assert refs[base + "full/a-orig.JPG"].ref_kind == "link"
    assert page.links == ["https://www.example.be/about.html", "http://other.example.fr/page"]


def test_urls_and_srcset():
    assert absolute_url("http://a.fr/x/", "javascript:alert(1)") is None
    assert absolute_url("http://a.fr/x/", "  ") is None
    assert absolute_url("http://a.fr/x/", "ftp://a.fr/f.jpg") is None
    assert absolute_url("http://a.fr/x/", "http://[::1") is None
    assert absolute_url("http://a.fr/x/", "y.jpg#frag") == "http://a.fr/x/y.jpg"
    assert srcset_urls(" a.jpg 1x,b.jpg 2x , ") == ["a.jpg", "b.jpg"]
    assert srcset_urls(None) == []


def test_empty_and_garbage_pages_do_not_raise():
    assert parse_page("", "http://a.fr/").image_refs == []
    page = parse_page("<img src=x.jpg><<<>>\x00<a href=", "http://a.fr/")
    assert [r.image_url for r in page.image_refs] == ["http://a.fr/x.jpg"]
