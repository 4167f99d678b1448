"""An independent reference parser of a page's image references, used to check the production parser.

Written from the list of reference kinds in issue 14, with lxml, without reading or importing
``audit/decode/html.py`` (or the CSS / JSON-LD helpers beside it): where the two agree, both are probably right;
where they differ, one of them is wrong and the difference is looked at by hand (``bench/link_accuracy.py`` lists
the pairs). It favours plainness over speed and guards only against what real pages do (no hostile-input bounds).

:func:`image_refs` returns ``(image URL, kind)`` pairs, URLs resolved against ``<base href>`` and the page URL,
``data:``, ``javascript:`` and other non-http(s) URLs dropped, fragments kept (the comparison normalises them).
An ``<a href>`` counts only when ``is_image(url)`` says the archive holds an image for it. A
lazy image's placeholder ``src`` (a ``blank.gif``) counts beside its real URL: the page names it and a browser
without script loads it (``data:`` placeholders are dropped with every ``data:`` URL).
Images named by linked stylesheets are not read (another part of issue 14 adds them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

# lazy-loading attributes read on <img> (and <source>): the list
LAZY_SRC = ("data-src", "data-original", "data-lazy-src", "data-lazy", "data-url", "data-echo", "data-hi-res-src",
            "data-full-src", "data-large-file", "data-orig-file", "data-bg", "data-background")
LAZY_SRCSET = ("data-srcset", "data-lazy-srcset")
# on any element, a lazy background (the lazysizes/lozad convention)
LAZY_BACKGROUND = ("data-bg", "data-background")
ICON_RELS = {"icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"}  # ("shortcut icon" has icon)
# elements whose background= browsers draw (the HTML standard's rendering section)
BACKGROUND_TAGS = {"body", "table", "thead", "tbody", "tfoot", "tr", "td", "th"}
META_IMAGE = {"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"}
# JSON-LD keys whose value is an image (a URL, an ImageObject, or a list); contentUrl counts inside an ImageObject
JSONLD_IMAGE_KEYS = {"image", "thumbnailurl", "logo", "primaryimageofpage", "thumbnail"}
IMAGE_OBJECT_URL_KEYS = ("url", "contentUrl", "thumbnailUrl")
KEEP_SCHEMES = {"http", "https"}

_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|((?:[^)"'\s\\]|\\.)*))\s*\)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?["']?([^"')\s;]*)""", re.I)
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}", re.I | re.S)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)")

Ref = tuple[str, str]


def _unescape_css(value: str) -> str:
    return _CSS_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2), value)


def css_urls(css: str) -> list[str]:
    """Every ``url()`` of a piece of CSS except ``@import`` targets and ``@font-face`` sources, in order."""
    css = _FONT_FACE.sub(" ", _CSS_COMMENT.sub(" ", css))
    imports = {m.group(1) for m in _CSS_IMPORT.finditer(css)}
    out = []
    for m in _CSS_URL.finditer(css):
        raw = next(g for g in m.groups() if g is not None)
        value = _unescape_css(raw).strip()
        if value and value not in imports:
            out.append(value)
    return out


def srcset_urls(value: str) -> list[str]:
    """The URLs of a ``srcset`` (the candidate URL up to whitespace; a trailing comma ends it; descriptors skipped up
    to the next comma outside parentheses)."""
    urls, i, n = [], 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        start = i
        while i < n and not value[i].isspace():
            i += 1
        url = value[start:i]
        if url.endswith(","):
            url = url.rstrip(",")
        else:  # descriptors up to the next comma outside parentheses
            depth = 0
            while i < n and not (value[i] == "," and depth == 0):
                depth += {"(": 1, ")": -1}.get(value[i], 0)
                i += 1
        if url:
            urls.append(url)
    return urls


def _jsonld_images(node: object, depth: int = 0) -> Iterator[str]:
    """Image URLs of a parsed JSON-LD value: strings under image keys, ``ImageObject`` URLs, nested and in arrays."""
    if depth > 40:
        return
    if isinstance(node, list):
        for item in node:
            yield from _jsonld_images(item, depth + 1)
    elif isinstance(node, dict):
        types = node.get("@type")
        types = types if isinstance(types, list) else [types]
        if "ImageObject" in types:
            for key in IMAGE_OBJECT_URL_KEYS:
                if isinstance(node.get(key), str):
                    yield node[key]
        for key, value in node.items():
            if key.lower() in JSONLD_IMAGE_KEYS:
                yield from _image_value(value, depth + 1)
            elif isinstance(value, (dict, list)):
                yield from _jsonld_images(value, depth + 1)


def _image_value(value: object, depth: int) -> Iterator[str]:
    """The URLs of the value of an image key: a string, an object (its ``url``/``contentUrl``), or a list."""
    if depth > 40:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _image_value(item, depth + 1)
    elif isinstance(value, dict):
        for key in IMAGE_OBJECT_URL_KEYS:
            if isinstance(value.get(key), str):
                yield value[key]
        yield from _jsonld_images(value, depth + 1)  # nested objects may name images of their own


def _microdata_value(el: etree._Element) -> str | None:
    tag = el.tag.lower() if isinstance(el.tag, str) else ""
    if tag == "meta":
        return el.get("content")
    if tag in ("img", "audio", "embed", "iframe", "source", "track", "video"):
        return el.get("src")
    if tag in ("a", "area", "link"):
        return el.get("href")
    if tag == "object":
        return el.get("data")
    return None  # any other element's value is its text, not a reference to an image


def parse_html(html: str | bytes) -> etree._Element | None:
    """The lxml tree of a page, or None for one lxml cannot parse (empty, or no element at all)."""
    if isinstance(html, str):
        html = html.encode("utf-8")  # lxml refuses str with an encoding declaration
    try:
        return lxml.html.document_fromstring(html, parser=lxml.html.HTMLParser(encoding="utf-8"))
    except (etree.ParserError, ValueError):
        return None


def _raw_refs(root: etree._Element, is_image: Callable[[str], bool], page_url: str,
              base: str) -> Iterator[tuple[str, str]]:
    """``(raw URL, kind)`` of every reference in the tree, before resolution."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower().rsplit("}", 1)[-1]
        attrs = {k.lower(): v for k, v in el.attrib.items()}
        in_noscript = any(isinstance(a.tag, str) and a.tag.lower() == "noscript" for a in el.iterancestors())
        if tag == "img":
            lazy = [(a, attrs[a]) for a in LAZY_SRC + LAZY_SRCSET if attrs.get(a, "").strip()]
            src = attrs.get("src", "")
            if src.strip():  # a lazy image's placeholder (blank.gif) too: the page names it, a browser loads it
                yield src, "noscript" if in_noscript else "img"
            for value in srcset_urls(attrs.get("srcset", "")):
                yield value, "srcset"
            for name, value in lazy:
                for url in (srcset_urls(value) if name in LAZY_SRCSET else [value]):
                    yield url, "lazy"
        elif tag == "source" and any(isinstance(a.tag, str) and a.tag.lower() == "picture"
                                     for a in el.iterancestors()):
            for value in srcset_urls(attrs.get("srcset", "")):
                yield value, "picture"
            for name in LAZY_SRCSET:
                for value in srcset_urls(attrs.get(name, "")):
                    yield value, "lazy"
        elif tag == "input" and attrs.get("type", "").strip().lower() == "image" and attrs.get("src"):
            yield attrs["src"], "input"
        elif tag == "link":
            rels = set(attrs.get("rel", "").lower().split())
            href = attrs.get("href", "")
            if rels & ICON_RELS and href:
                yield href, "icon"
            if "image_src" in rels and href:
                yield href, "link-image"
            if "preload" in rels and attrs.get("as", "").strip().lower() == "image":
                if href:
                    yield href, "link-image"
                for value in srcset_urls(attrs.get("imagesrcset", "")):
                    yield value, "link-image"
        elif tag == "meta":
            key = (attrs.get("property") or attrs.get("name") or "").strip().lower()
            if key in META_IMAGE and attrs.get("content", "").strip():
                yield attrs["content"], "og:image"
        elif tag == "video" and attrs.get("poster"):
            yield attrs["poster"], "poster"
        elif tag == "image":  # SVG <image> (libxml2 keeps the tag and the xlink: prefix in the attribute name)
            href = attrs.get("href") or attrs.get("xlink:href") or attrs.get("src")
            if href:
                yield href, "svg"
        elif tag == "style":
            for value in css_urls(el.text_content()):
                yield value, "css"
        elif tag == "script" and attrs.get("type", "").strip().lower() == "application/ld+json":
            try:
                data = json.loads(el.text_content().strip().strip(";"), strict=False)
            except ValueError:
                data = None
            for value in _jsonld_images(data):
                yield value, "json-ld"
        elif tag == "a" and attrs.get("href"):  # (<area href> is left out, as the list does)
            href = attrs["href"].strip()
            if is_image(_resolve(href, base, page_url) or ""):
                yield href, "link"
        if attrs.get("style"):
            for value in css_urls(attrs["style"]):
                yield value, "css"
        if tag in BACKGROUND_TAGS and attrs.get("background", "").strip():
            yield attrs["background"], "background"
        if tag != "img":
            for name in LAZY_BACKGROUND:
                value = attrs.get(name, "").strip()
                if value:  # a URL, or CSS naming one (data-bg="url(/a.jpg)")
                    for url in (css_urls(value) if "url(" in value.lower() else [value]):
                        yield url, "lazy"
        if "itemprop" in attrs and {"image", "thumbnailurl", "logo"} & set(attrs["itemprop"].lower().split()):
            value = _microdata_value(el)
            if value:
                yield value, "microdata"


def _resolve(raw: str, base: str, page_url: str) -> str | None:
    """``raw`` resolved against the base, or None for a URL that is not http(s)."""
    raw = raw.strip().replace("\n", "").replace("\r", "").replace("\t", "")
    if not raw:
        return None
    try:
        url = urljoin(base or page_url, raw)
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in KEEP_SCHEMES else None


def image_refs(html: str | bytes, page_url: str, *,
               is_image: Callable[[str], bool] = lambda _url: False) -> list[Ref]:
    """Every ``(image URL, kind)`` of a page, deduplicated, in document order. Kinds: img, srcset, picture, lazy,
    noscript (an ``<img src>`` inside ``<noscript>``), css, background, input, icon, link-image, og:image, poster,
    svg, json-ld, microdata, link (an ``<a href>`` for which ``is_image`` is true)."""
    root = parse_html(html)
    if root is None:
        return []
    base = page_url
    for el in root.iter("base"):
        if el.get("href", "").strip():
            base = urljoin(page_url, el.get("href", "").strip())
            break
    seen: set[Ref] = set()
    out: list[Ref] = []
    for raw, kind in _raw_refs(root, is_image, page_url, base):
        url = _resolve(raw, base, page_url)
        if url is not None and (url, kind) not in seen:
            seen.add((url, kind))
            out.append((url, kind))
    return out
