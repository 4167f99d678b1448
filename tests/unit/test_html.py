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


def _kinds(page):
    return {r.image_url: r.ref_kind for r in page.image_refs}


def test_lazy_loading_placeholders_keep_the_real_url():
    html = """<html><body>
    <div class="staff"><img src="/wp-content/themes/x/blank.gif" data-src="/staff/jane-doe.jpg" alt="Jane Doe"></div>
    <img class="lazyload" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-lazy-src="/uploads/2021/05/team.jpg"
         data-lazy-srcset="/uploads/2021/05/team-300.jpg 300w, /uploads/2021/05/team-1024.jpg 1024w" alt="team">
    <img data-original="/o.jpg"><img data-hi-res-src="/hi.jpg" data-large-file="/large.jpg" data-orig-file="/orig.jpg">
    <img data-echo="/echo.png" data-url="/url.webp" data-full-src="/full.jpg" data-lazy="/lazy.gif">
    <picture><source data-srcset="/p.avif 1x" type="image/avif"><img data-src="/p.jpg" alt="p"></picture>
    <div class="hero" data-bg="/hero.jpg"></div><section data-background="url('/section.png')"></section>
    </body></html>"""
    page = parse_page(html, "https://uni.example.ac.uk/people/")
    base = "https://uni.example.ac.uk"
    assert _kinds(page) == {
        base + "/wp-content/themes/x/blank.gif": "img", base + "/staff/jane-doe.jpg": "lazy",
        base + "/uploads/2021/05/team.jpg": "lazy", base + "/uploads/2021/05/team-300.jpg": "lazy",
        base + "/uploads/2021/05/team-1024.jpg": "lazy", base + "/o.jpg": "lazy", base + "/hi.jpg": "lazy",
        base + "/large.jpg": "lazy", base + "/orig.jpg": "lazy", base + "/echo.png": "lazy",
        base + "/url.webp": "lazy", base + "/full.jpg": "lazy", base + "/lazy.gif": "lazy",
        base + "/p.jpg": "lazy", base + "/p.avif": "lazy", base + "/hero.jpg": "lazy", base + "/section.png": "lazy",
    }
    refs = {r.image_url: r for r in page.image_refs}
    assert refs[base + "/staff/jane-doe.jpg"].alt_text == "Jane Doe"
    assert refs[base + "/p.avif"].alt_text == "p"
    assert page.error is None


def test_noscript_fallback_kept_as_text_is_read():
    html = """<html><body><noscript><img src="/in-tree.jpg"></noscript></body></html>"""
    assert _kinds(parse_page(html, "http://a.fr/")) == {"http://a.fr/in-tree.jpg": "img"}
    # a tree whose <noscript> kept its markup as text (as an HTML5 parser with scripting on does)
    from lxml import html as lxml_html
    from parsel import Selector

    root = lxml_html.fromstring("<html><body><p>x</p></body></html>")
    body = root.find("body")
    noscript = lxml_html.Element("noscript")
    noscript.text = '<img src="/fallback.jpg" alt="fb"><a href="/big.png">big</a>'
    body.append(noscript)
    page = parse_page(Selector(root=root), "http://a.fr/dir/page.html")
    refs = {r.image_url: r for r in page.image_refs}
    assert set(refs) == {"http://a.fr/fallback.jpg", "http://a.fr/big.png"}
    assert refs["http://a.fr/fallback.jpg"].page_url == "http://a.fr/dir/page.html"
    assert refs["http://a.fr/fallback.jpg"].alt_text == "fb"
    assert refs["http://a.fr/big.png"].ref_kind == "link"


def test_css_backgrounds_in_style_attributes_and_blocks():
    html = r"""<html><head><style>
    @import url("/theme.css");
    @font-face { font-family: X; src: url(/fonts/x.woff2) format("woff2"); }
    .portrait { background-image: url( "/people/economist.jpg" ); }
    .banner{background:#fff url('/img/banner') no-repeat}
    ul { list-style-image: url(/bullet.svg); }
    .sprite { mask: url(/m.png) }
    .x { background: url(/a\29 b.png) }
    .js { background: url(javascript:alert(1)) } .d { background: url(data:image/png;base64,AAAA) }
    .f { background: url(file:///etc/passwd.jpg) }
    </style></head>
    <body><div class="cover" style="background-image:URL(&quot;https://cdn.social.example/covers/4411.jpg&quot;);height:300px"></div>
    <span style="color:red">no url</span>
    <table background="/tablebg.gif"><tr><td background="cell.jpg">x</td></tr></table>
    </body></html>"""
    page = parse_page(html, "https://www.example.org/about/")
    assert _kinds(page) == {
        "https://www.example.org/people/economist.jpg": "css", "https://www.example.org/img/banner": "css",
        "https://www.example.org/bullet.svg": "css", "https://www.example.org/m.png": "css",
        "https://www.example.org/a)b.png": "css", "https://cdn.social.example/covers/4411.jpg": "css",
        "https://www.example.org/tablebg.gif": "background", "https://www.example.org/about/cell.jpg": "background",
    }
    assert page.error is None


def test_other_elements_naming_images():
    html = """<html><head>
    <link rel="shortcut icon" href="/favicon.ico"><link rel="apple-touch-icon" href="/apple.png">
    <link rel="image_src" href="/share.jpg"><link rel="stylesheet" href="/s.css">
    <link rel="preload" as="image" href="/hero.webp" imagesrcset="/hero-2x.webp 2x">
    <link rel="preload" as="font" href="/f.woff2">
    </head><body>
    <form><input type="image" src="/go.png" alt="go"><input type="text" src="/no.png"></form>
    <video poster="/poster.jpg" src="/v.mp4"></video>
    <svg><image href="/svg.png"></image><image xlink:href="/xlink.png"></image></svg>
    <div itemscope itemtype="https://schema.org/Person"><span itemprop="name">A</span>
    <meta itemprop="image" content="/person.jpg"><link itemprop="image" href="/person2.jpg"></div>
    </body></html>"""
    page = parse_page(html, "https://shop.example.com/")
    b = "https://shop.example.com"
    assert _kinds(page) == {
        b + "/favicon.ico": "icon", b + "/apple.png": "icon", b + "/share.jpg": "link-image",
        b + "/hero.webp": "link-image", b + "/hero-2x.webp": "link-image", b + "/go.png": "input",
        b + "/poster.jpg": "poster", b + "/svg.png": "svg", b + "/xlink.png": "svg", b + "/person.jpg": "microdata",
        b + "/person2.jpg": "microdata",
    }


ARTICLE_JSONLD = """<html><head>
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebPage", "@id": "https://news.example/a#webpage",
   "primaryImageOfPage": {"@id": "https://news.example/a#primaryimage"}},
  {"@type": "ImageObject", "@id": "https://news.example/a#primaryimage",
   "url": "https://news.example/wp-content/uploads/minister.jpg",
   "contentUrl": "https://news.example/wp-content/uploads/minister.jpg", "caption": "The minister"},
  {"@type": "Organization", "name": "News", "logo": {"@type": "ImageObject", "url": "https://news.example/logo.png"}},
  {"@type": "NewsArticle", "headline": "H", "url": "https://news.example/a",
   "image": ["https://news.example/1x1.jpg", {"@type": "ImageObject", "contentUrl": "/4x3.jpg"}],
   "thumbnailUrl": "https://news.example/thumb.jpg",
   "video": {"@type": "VideoObject", "contentUrl": "https://news.example/v.mp4",
             "thumbnailUrl": ["https://news.example/vthumb.jpg"]},
   "author": {"@type": "Person", "name": "R", "image": {"@type": "ImageObject", "url": "https://news.example/r.jpg"}}}
]}
</script>
<script type="application/ld+json">not json {</script>
</head><body></body></html>"""


def test_json_ld_images_nested_arrays_and_graph():
    page = parse_page(ARTICLE_JSONLD, "https://news.example/a")
    assert _kinds(page) == {u: "json-ld" for u in (
        "https://news.example/wp-content/uploads/minister.jpg", "https://news.example/logo.png",
        "https://news.example/1x1.jpg", "https://news.example/4x3.jpg", "https://news.example/thumb.jpg",
        "https://news.example/vthumb.jpg", "https://news.example/r.jpg",
    )}
    assert page.error == "a JSON-LD block is not valid JSON"


def test_hostile_css_and_json_ld_are_bounded(caplog):
    import time

    huge = "a{color:red}" * (10_000_000 // 12) + ".late{background:url(/late.jpg)}"
    many = "".join(f".c{i}{{background:url(/u{i}.png)}}" for i in range(100_000))
    unterminated = "x{background:url(\"" * 200_000
    deep50 = '{"image": ' * 50 + '"https://a.fr/deep.jpg"' + "}" * 50
    deep_huge = "[" * 400_000 + "]" * 400_000
    schemes = ".a{background:url(javascript:alert(1))}.b{background:url(data:image/png;base64,AA)}" \
              ".c{background:url(file:///x.jpg)}.d{background:url(  'jav\\61script:x' )}"
    html = (f"<html><head><style>{huge}</style><style>{many}</style><style>{unterminated}</style>"
            f"<style>{schemes}</style>"
            f'<script type="application/ld+json">{deep50}</script>'
            f'<script type="application/ld+json">{deep_huge}</script></head>'
            '<body><div style="background:url(/attr.jpg)"></div></body></html>')
    start = time.monotonic()
    page = parse_page(html, "https://a.fr/")
    assert time.monotonic() - start < 20
    urls = {r.image_url for r in page.image_refs}
    assert "https://a.fr/late.jpg" not in urls  # past the first 256 KiB of its block
    assert "https://a.fr/u0.png" in urls and "https://a.fr/u999.png" in urls and "https://a.fr/u1000.png" not in urls
    assert "https://a.fr/attr.jpg" not in urls  # the page's url() entries were used up
    assert "https://a.fr/deep.jpg" not in urls  # deeper than 20 levels
    assert not any(u.startswith(("javascript", "data", "file")) for u in urls)
    assert len(page.image_refs) == 1000
    assert f"a block of CSS of {len(huge):,} characters was read to its first 262,144" in page.error
    assert "the page's CSS holds more than 1,000 url() entries" in page.error
    assert "nests deeper than 20 levels" in page.error
    assert "nested too deep to parse" in page.error or "not valid JSON" in page.error


def test_json_ld_bounds_on_blocks_and_size():
    block = '<script type="application/ld+json">{"image": "/i%d.jpg"}</script>'
    html = "<html><head>" + "".join(block % i for i in range(30)) + "</head></html>"
    page = parse_page(html, "https://a.fr/")
    assert {r.image_url for r in page.image_refs} == {f"https://a.fr/i{i}.jpg" for i in range(20)}
    assert page.error == "the page holds more than 20 JSON-LD blocks: the rest were not read"
    big = '<script type="application/ld+json">{"image": "/big.jpg", "x": "' + "y" * 1_100_000 + '"}</script>'
    page = parse_page("<html><head>" + big + "</head></html>", "https://a.fr/")
    assert page.image_refs == [] and "was not read (over 1,048,576)" in page.error


def test_page_title_and_the_heading_nearest_each_image_are_kept_bounded():
    html = ("<html><head><title>" + "Lyon " * 100 + "</title></head><body>"
            "<img src='top.jpg' alt='logo'>"
            "<h1>Notre semaine à <em>Lyon</em></h1><figure><img src='a.jpg'><figcaption>x</figcaption></figure>"
            "<h4>not a section heading</h4><img src='b.jpg'>"
            "<h2>Day two: Annecy</h2><p>text</p><picture><source srcset='c.webp'><img src='c.jpg'></picture>"
            "<h3>" + "Grenoble " * 100 + "</h3><img src='d.jpg'>"
            "<meta property='og:image' content='og.jpg'></body></html>")
    page = parse_page(html, "https://example.org/post")
    assert page.title is not None and len(page.title) <= 300 and page.title.startswith("Lyon Lyon")
    refs = {r.image_url.rsplit("/", 1)[-1]: r for r in page.image_refs}
    assert refs["top.jpg"].heading is None
    assert refs["a.jpg"].heading == "Notre semaine à Lyon"
    assert refs["b.jpg"].heading == "Notre semaine à Lyon"  # an <h4> is no section heading here
    assert refs["c.webp"].heading == refs["c.jpg"].heading == "Day two: Annecy"
    d = refs["d.jpg"].heading
    assert d is not None and len(d) <= 300 and d.startswith("Grenoble Grenoble")
    assert refs["og.jpg"].heading is None


def test_a_heading_inside_a_closed_section_does_not_name_the_images_after_it():
    """A listing's cards put their title after their image: the next card's image is not under that title."""
    html = ("<html><body><h1>Le Blog</h1>"
            "<article><img src='a.jpg'><h2><a href='/a'>Chloé à Lyon</a></h2></article>"
            "<article><img src='b.jpg'><h2>Léa à Nantes</h2><img src='b2.jpg'></article>"
            "<img src='c.jpg'></body></html>")
    refs = {r.image_url.rsplit("/", 1)[-1]: r.heading for r in parse_page(html, "https://example.org/").image_refs}
    assert refs == {"a.jpg": "Le Blog", "b.jpg": "Le Blog", "b2.jpg": "Léa à Nantes", "c.jpg": "Le Blog"}
