"""What the independent reference parser (``tests/refparser.py``) found the page parser doing wrong: the second and
later ``<source>`` of a ``<picture>`` were lost (libxml2 does not know ``<source>`` has no end tag and nests each in
the one before), ``srcset`` candidates whose URL holds a comma (image CDNs' transformation URLs) were cut, the
``background=`` of ``<thead>``/``<tbody>``/``<tfoot>`` was not read, and ``rel="shortcut"`` alone was an icon."""

from __future__ import annotations

from audit.decode.html import parse_page, srcset_urls
from audit.decode.htmltree import read_html

PICTURE = """<!DOCTYPE html><html><body><article>
<figure class="portrait">
  <picture>
    <source media="(min-width: 1200px)" srcset="/media/staff/ana-1200.webp 1x, /media/staff/ana-2400.webp 2x"
            type="image/webp">
    <source media="(min-width: 600px)" srcset="/media/staff/ana-800.webp" type="image/webp">
    <source class="lazyload" data-srcset="/media/staff/ana-800.jpg" type="image/jpeg">
    <img src="/media/staff/ana-400.jpg" alt="Ana Souza, economist">
  </picture>
  <figcaption>Ana Souza</figcaption>
</figure>
</article></body></html>"""

CLOUDINARY = "https://res.cloudinary.com/demo/image/upload"
CDN_PAGE = f"""<!DOCTYPE html><html><body>
<img src="{CLOUDINARY}/w_400,c_scale/team/lee.jpg" alt="Lee"
     srcset="{CLOUDINARY}/w_400,c_scale/team/lee.jpg 400w, {CLOUDINARY}/w_800,c_scale,q_auto/team/lee.jpg 800w">
</body></html>"""


def _refs(html: str, url: str = "https://www.example.org/team/") -> dict[str, str]:
    return {r.image_url: r.ref_kind for r in parse_page(read_html(html), url).image_refs}


def test_every_source_of_a_picture_is_read():
    refs = _refs(PICTURE)
    base = "https://www.example.org/media/staff/"
    assert refs == {base + "ana-400.jpg": "img", base + "ana-1200.webp": "picture", base + "ana-2400.webp": "picture",
                    base + "ana-800.webp": "picture", base + "ana-800.jpg": "lazy"}


def test_later_sources_keep_the_picture_alt_text():
    (ref,) = [r for r in parse_page(read_html(PICTURE), "https://www.example.org/team/").image_refs
              if r.image_url.endswith("ana-800.webp")]
    assert ref.alt_text == "Ana Souza, economist"


def test_srcset_urls_with_commas():
    assert srcset_urls(f"{CLOUDINARY}/w_400,c_scale/a.jpg 400w, {CLOUDINARY}/w_800,c_scale/a.jpg 800w") == [
        f"{CLOUDINARY}/w_400,c_scale/a.jpg", f"{CLOUDINARY}/w_800,c_scale/a.jpg"]
    assert srcset_urls("a.jpg,b.jpg") == ["a.jpg,b.jpg"]  # no whitespace: one URL, as browsers read it
    assert srcset_urls("a.jpg, b.jpg 2x,c.jpg 3x") == ["a.jpg", "b.jpg", "c.jpg"]
    assert srcset_urls("a.jpg (max-width: 10px, 2x), b.jpg") == ["a.jpg", "b.jpg"]


def test_cdn_transformation_urls_in_srcset():
    assert _refs(CDN_PAGE) == {f"{CLOUDINARY}/w_400,c_scale/team/lee.jpg": "img",
                               f"{CLOUDINARY}/w_800,c_scale,q_auto/team/lee.jpg": "srcset"}


TABLE = """<!DOCTYPE html><html><body>
<table width="600" background="/img/table.gif">
<thead background="/img/head.gif"><tr><th>Name</th></tr></thead>
<tbody background="/img/rows.jpg"><tr><td background="/img/cell.gif">Staff</td></tr></tbody>
<tfoot background="/img/foot.gif"><tr><td>end</td></tr></tfoot>
</table></body></html>"""


def test_background_of_every_table_part():
    base = "https://www.example.org/img/"
    assert _refs(TABLE) == {base + name: "background"
                            for name in ("table.gif", "head.gif", "rows.jpg", "cell.gif", "foot.gif")}


def test_icon_rels():
    head = ('<html><head><link rel="shortcut icon" href="/favicon.ico"><link rel="shortcut" href="/not-an-icon.ico">'
            '<link rel="apple-touch-icon-precomposed" href="/touch.png"><link rel="mask-icon" href="/mask.svg">'
            "</head><body></body></html>")
    assert _refs(head, "https://a.fr/") == {"https://a.fr/favicon.ico": "icon", "https://a.fr/touch.png": "icon",
                                            "https://a.fr/mask.svg": "icon"}
