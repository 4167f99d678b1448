"""Find image references and links in an HTML page: a pure function, shared by the spider and the archive ingest.

Pages are hostile: :func:`parse_page` reads the tree in one pass whose work is linear in the page (each element is
visited once; a caption is read once per ``<figure>``, a bounded number of text nodes), and stops after a budget of
nodes, recording what it found so far and an error saying where it stopped.

Besides ``<img>``, ``<picture>``, ``og:image`` and links to image files, a page names images in many other places,
each read with its own bound and recorded with its own ``ref_kind``: lazy-loading attributes (``data-src`` and its
kin, ``lazy``), CSS ``url()`` in ``style`` attributes and ``<style>`` blocks (:mod:`audit.decode.cssurls`, ``css``),
``background=`` attributes (``background``), ``<input type="image">`` (``input``), ``<link rel="icon">`` and kin
(``icon``), ``<link rel="image_src">`` and ``<link rel="preload" as="image">`` (``link-image``), ``<video poster>``
(``poster``), SVG ``<image href>`` (``svg``), microdata ``itemprop="image"`` (``microdata``), JSON-LD image keys
(:mod:`audit.decode.jsonld`, ``json-ld``) and ``<noscript>`` fallbacks kept as text (read with the same parser, their
own kinds). Every distinct http(s) URL an element names is recorded: a lazy image's placeholder ``src`` (a
``blank.gif``) is kept beside its real URL, as the page does name it; ``data:`` URLs never are.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml import etree
from parsel import Selector

from audit.decode.cssurls import MAX_CSS_CHARS, css_urls, import_urls
from audit.decode.htmltree import HtmlTree, read_html, top_level
from audit.decode.jsonld import jsonld_urls
from audit.records import ImageRef
from audit.settings import DEFAULTS

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".bmp"}
)
MAX_TEXT = 2000  # longest alt text / caption kept, in characters
MAX_TITLE = 300  # longest page <title> kept, in characters
MAX_HEADING = 300  # longest heading (the <h1>-<h3> nearest before an image) kept, in characters
HEADING_TAGS = frozenset({"h1", "h2", "h3"})
# sectioning elements: a heading inside one names its content only, not what follows it (a listing's card titles)
SECTION_TAGS = frozenset({"article", "section", "aside", "nav", "header", "footer"})
MAX_ATTRIBUTES = 40
MAX_ATTRIBUTE_VALUE = 1000
# One text (a caption, a link's text, the title) reads at most this many text nodes and characters: past them, only
# whitespace-padding of a hostile page could still change its first MAX_TEXT characters.
MAX_TEXT_NODES = 2000
MAX_TEXT_CHARS = 64 * MAX_TEXT
_SPACE = re.compile(r"\s+")
_URL_CONTROLS = str.maketrans("", "", "\t\r\n")  # what urlsplit removes from a URL
_C0_OR_SPACE = "".join(map(chr, range(0x21)))  # what urlsplit strips from a URL's start
# one srcset candidate: separators, its URL (to the next whitespace, trailing commas not part of it), then either
# those commas or its descriptors (to the next comma outside parentheses). Whitespace is any Unicode whitespace (the
# standard says ASCII), so that no URL found ever holds one.
_SRCSET_CANDIDATE = re.compile(r"[\s,]*(\S*[^\s,])?(?:,+|\s+(?:[^,(]+|\([^)]*\)?)*)?")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
logger = logging.getLogger(__name__)

_IMAGE_META = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")
# lazy-loading libraries' attributes naming an <img>'s real URL, and its real srcset
LAZY_ATTRIBUTES = ("data-src", "data-original", "data-lazy-src", "data-lazy", "data-url", "data-echo",
                   "data-hi-res-src", "data-full-src", "data-large-file", "data-orig-file", "data-bg",
                   "data-background")
LAZY_SRCSET_ATTRIBUTES = ("data-srcset", "data-lazy-srcset")
# the elements whose background= attribute browsers draw (the HTML standard's rendering section)
_BACKGROUND_ATTRIBUTE_TAGS = frozenset({"body", "table", "thead", "tbody", "tfoot", "tr", "td", "th"})
# rel tokens of an icon ("shortcut icon" has "icon"; "shortcut" alone names nothing)
_ICON_RELS = frozenset({"icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"})
MAX_CSS_URLS = 1000  # url() entries read in one page's style attributes and <style> blocks
MAX_JSONLD_BLOCKS = 20  # <script type="application/ld+json"> blocks read in one page
MAX_JSONLD_URLS = 1000  # image URLs taken from one page's JSON-LD
MAX_NOSCRIPTS = 50  # <noscript> fallbacks kept as text read in one page
MAX_NOSCRIPT_CHARS = 64 * 1024  # characters of one such fallback read
MAX_PROBLEMS = 5  # distinct reasons for a cut listed in a page's error
MAX_STYLESHEETS = int(DEFAULTS["AUDIT_MAX_STYLESHEETS_PER_PAGE"])  # stylesheets of one page read, by default


@dataclass(frozen=True, slots=True)
class ParsedPage:
    url: str
    lang: str | None
    title: str | None
    image_refs: list[ImageRef] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    error: str | None = None  # why the references may be incomplete (parsing cut, page flattened), or None
    nodes: int = 0  # nodes read: elements visited plus text nodes read (the work the budget bounds)
    links_cut: int = 0  # links past max_links (each time one appears)
    # linked stylesheets (<link rel=stylesheet>, <link rel=preload as=style>, @import in <style>), absolute, in order
    stylesheets: list[str] = field(default_factory=list)


def _clean_text(text: str | None) -> str | None:
    if text is None:
        return None
    text = _SPACE.sub(" ", text).strip()
    return text[:MAX_TEXT] if text else None


def absolute_url(base: str, href: str | None) -> str | None:
    """Resolve ``href`` against ``base``; only http(s) URLs survive, without their fragment."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith(("data:", "javascript:", "mailto:", "tel:", "#")):
        return None
    if href.startswith(_WITH_HOST) and base.startswith(_WITH_HOST[:2]) and _base_parses(base):
        # an href naming its host resolves the same against any valid base of the same scheme (urljoin keeps it, or
        # only gives it the base's scheme): one resolution serves every page that links it
        joined = _absolute_with_host(base[:base.index(":")], href)
        if joined is not _DEPENDS_ON_BASE:
            return joined
    return _absolute(base, href)


_WITH_HOST = ("http://", "https://", "//")
_DEPENDS_ON_BASE = "\0"  # an href without a host after all ("http:///x"): resolved against the base itself


@lru_cache(maxsize=4096)
def _base_parses(base: str) -> bool:
    try:
        urlsplit(base)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)
def _absolute_with_host(scheme: str, href: str) -> str | None:
    """:func:`absolute_url` of ``href`` (beginning ``http://``, ``https://`` or ``//``) against any valid base of
    ``scheme``, or :data:`_DEPENDS_ON_BASE` when it names no host."""
    try:
        if not urlsplit(href).netloc:
            return _DEPENDS_ON_BASE
    except ValueError:
        return None  # urljoin parses it the same way: no URL, whatever the base
    return _absolute(f"{scheme}://base.invalid/", href)


def _absolute(base: str, href: str) -> str | None:
    try:
        url = urldefrag(urljoin(base, href))[0]
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def srcset_urls(srcset: str | None) -> list[str]:
    """The candidate URLs of a ``srcset`` attribute, in order (descriptors dropped), split as the HTML standard
    splits them: a candidate's URL runs to the next whitespace, so it may hold commas (an image CDN's
    ``/w_400,c_scale/a.jpg``), and only trailing commas end it; its descriptors run to the next comma outside
    parentheses. Linear in the attribute's length (one regular-expression scan)."""
    if not srcset:
        return []
    return [m.group(1) for m in _SRCSET_CANDIDATE.finditer(srcset) if m.group(1)]


def _picture_of(source: Any) -> Any:
    """The ``<picture>`` a ``<source>`` belongs to, or None. libxml2 does not know that ``<source>`` has no end tag:
    it nests each ``<source>`` of a picture in the one before, so the picture is the parent of the outermost."""
    parent = source.getparent()
    while parent is not None and parent.tag == "source":
        parent = parent.getparent()
    return parent if parent is not None and parent.tag == "picture" else None


def looks_like_image_url(url: str) -> bool:
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    return dot != -1 and path[dot:] in IMAGE_EXTENSIONS


class _Budget:
    """The nodes a page's parsing may still read: elements visited, text nodes read, URLs resolved."""

    __slots__ = ("cut", "left", "used")

    def __init__(self, limit: int) -> None:
        self.left = max(0, limit)
        self.used = 0
        self.cut = False

    def take(self, n: int = 1) -> bool:
        if self.left < n:
            self.cut = True
            return False
        self.left -= n
        self.used += n
        return True


@dataclass(slots=True)
class _Found:
    """What one walk over a page's elements collected, in document order."""

    imgs: list[tuple[Any, Any]] = field(default_factory=list)  # <img>, its nearest <figure> ancestor or None
    sources: list[tuple[Any, Any]] = field(default_factory=list)  # <picture><source>, its <picture>
    first_img: dict[Any, tuple[Any, Any]] = field(default_factory=dict)  # <picture> -> its first <img>, with its figure
    metas: list[Any] = field(default_factory=list)  # <meta> with a property or name
    anchors: list[Any] = field(default_factory=list)  # <a href>
    titles: list[Any] = field(default_factory=list)  # <head><title>
    headings: dict[Any, Any] = field(default_factory=dict)  # <img> -> the last <h1>-<h3> opened before it
    others: list[tuple[Any, str]] = field(default_factory=list)  # an element naming images another way, and how
    noscripts: list[Any] = field(default_factory=list)  # <noscript> whose fallback markup was kept as text
    base_href: str | None = None  # the first <base href>


def _walk(tops: list[Any], budget: _Budget) -> _Found:
    """One pass over the elements of a document (under its top-level elements ``tops``; each visited once, each
    costing one node of ``budget``), keeping the open ``<figure>`` and ``<picture>`` elements on stacks: every image
    learns its nearest figure, and every picture its first image, in constant time."""
    found = _Found()
    figures: list[Any] = []
    pictures: list[Any] = []
    without_img = 0  # pictures[without_img:] have no <img> yet: an <img> is the first of every one of them
    heading: Any = None  # the last <h1>-<h3> opened so far in the open sections
    sections: list[Any] = []  # the heading current when each open sectioning element started
    for event, el in (pair for top in tops for pair in etree.iterwalk(top, events=("start", "end"))):
        tag = el.tag
        if not isinstance(tag, str):
            continue
        if event == "end":
            if tag == "figure":
                figures.pop()
            elif tag == "picture":
                pictures.pop()
                without_img = min(without_img, len(pictures))
            elif tag in SECTION_TAGS and sections:
                heading = sections.pop()
            continue
        if not budget.take():
            break
        _other_ways(el, tag, found.others)
        if tag == "img":
            figure = figures[-1] if figures else None
            found.imgs.append((el, figure))
            if heading is not None:
                found.headings[el] = heading
            for picture in pictures[without_img:]:
                found.first_img[picture] = (el, figure)
            without_img = len(pictures)
        elif tag == "a":
            if el.get("href") is not None:
                found.anchors.append(el)
        elif tag == "figure":
            figures.append(el)
        elif tag in HEADING_TAGS:
            heading = el
        elif tag in SECTION_TAGS:
            sections.append(heading)
        elif tag == "picture":
            pictures.append(el)
        elif tag == "source":
            picture = _picture_of(el)
            if picture is not None:
                found.sources.append((el, picture))
        elif tag == "meta":
            if el.get("property") is not None or el.get("name") is not None:
                found.metas.append(el)
        elif tag == "base":
            if found.base_href is None:
                found.base_href = el.get("href")
        elif tag == "title":
            parent = el.getparent()
            if parent is not None and parent.tag == "head":
                found.titles.append(el)
        elif tag == "noscript":
            if el.text and "<" in el.text:
                found.noscripts.append(el)
    return found


def _other_ways(el: Any, tag: str, others: list[tuple[Any, str]]) -> None:
    """Add to ``others`` each way, other than ``<img>``, ``<picture>``, ``<meta>`` and ``<a>``, in which ``el`` may
    name an image (a constant number of attribute look-ups)."""
    style = el.get("style")
    if style and "url(" in style.lower():
        others.append((el, "style"))
    if tag != "img" and (el.get("data-bg") or el.get("data-background")):
        others.append((el, "lazy-bg"))
    if tag in _BACKGROUND_ATTRIBUTE_TAGS and el.get("background"):
        others.append((el, "background"))
    itemprop = el.get("itemprop")
    if itemprop and "image" in itemprop.lower().split():
        others.append((el, "microdata"))
    if tag == "style":
        others.append((el, "style-block"))
    elif tag == "script":
        if (el.get("type") or "").strip().lower() == "application/ld+json":
            others.append((el, "json-ld"))
    elif tag == "input":
        if (el.get("type") or "").strip().lower() == "image":
            others.append((el, "input"))
    elif tag == "link":
        others.append((el, "link"))
    elif tag == "video":
        others.append((el, "poster"))
    elif tag == "image":  # SVG <image> inside an <svg>
        others.append((el, "svg"))


def _text_of(elements: Iterable[Any], budget: _Budget) -> tuple[bool, str | None]:
    """Whether ``elements`` hold any text node, and their text nodes (XPath ``.//text()``) joined by spaces and
    cleaned (whitespace collapsed, stripped, cut to ``MAX_TEXT``). Reads text nodes only until the cleaned text
    cannot change any more (``MAX_TEXT`` characters that are not whitespace), and at most ``MAX_TEXT_NODES`` of them
    and ``MAX_TEXT_CHARS`` characters, each text node costing one node of ``budget``."""
    pieces: list[str] = []
    found = False
    visible = chars = 0
    for el in elements:
        for piece in el.itertext():
            found = True
            if visible >= MAX_TEXT or chars >= MAX_TEXT_CHARS or len(pieces) >= MAX_TEXT_NODES or not budget.take():
                return found, _clean_text(" ".join(pieces))
            piece = piece[:MAX_TEXT_CHARS - chars]
            pieces.append(piece)
            chars += len(piece)
            visible += len("".join(piece.split()))
    return found, _clean_text(" ".join(pieces))


def _may_be_image_link(href: str | None) -> bool:
    """False only when ``absolute_url(base, href)`` cannot look like an image file (:func:`looks_like_image_url`),
    whatever the base: the last segment of its path, which resolving keeps, has no image extension. Saves resolving
    the links of a page past its ``max_links`` (a trap page links 10,000)."""
    if not href:
        return False
    url = href.strip().translate(_URL_CONTROLS).lstrip(_C0_OR_SPACE)  # as absolute_url and urlsplit clean it
    path = _SCHEME.sub("", url).split("#", 1)[0].split("?", 1)[0]
    if path.startswith("//"):  # //host/path: the path after the host
        slash = path.find("/", 2)
        path = path[slash:] if slash != -1 else ""
    last = path.rsplit("/", 1)[-1]
    if not path or last in (".", ".."):
        return True  # the path is the base's, or a parent of it: resolve to know
    dot = last.rfind(".")
    return dot != -1 and last[dot:].lower() in IMAGE_EXTENSIONS


def _attributes(el: Any) -> dict[str, str]:
    attrs = {}
    for i, (name, value) in enumerate(el.attrib.iteritems()):
        if i >= MAX_ATTRIBUTES:
            break
        attrs[str(name)[:100]] = str(value)[:MAX_ATTRIBUTE_VALUE]
    return attrs


def stylesheet_links(others: Iterable[tuple[Any, str]], base: str, max_stylesheets: int) -> tuple[list[str], bool]:
    """The stylesheets named by the ``<link>`` and ``<style>`` elements of ``others`` (as :func:`_walk` collects
    them), resolved against ``base``, each once, in document order: ``<link rel="stylesheet">`` (not ``alternate``),
    ``<link rel="preload" as="style">`` and ``@import`` rules; and whether there were more than ``max_stylesheets``."""
    found: dict[str, None] = {}
    for el, way in others:
        if way == "link":
            rels = set((el.get("rel") or "").lower().split())
            preload = "preload" in rels and (el.get("as") or "").strip().lower() == "style"
            raws = [el.get("href")] if ("stylesheet" in rels and "alternate" not in rels) or preload else []
        elif way == "style-block":
            raws = import_urls(el.text or "", max_stylesheets + 1)[0]
        else:
            continue
        for raw in raws:
            url = absolute_url(base, raw)
            if url is None or url in found:
                continue
            if len(found) >= max_stylesheets:
                return list(found), True
            found[url] = None
    return list(found), False


def _tree(html: str | Selector | HtmlTree | None) -> HtmlTree:
    if isinstance(html, HtmlTree):
        return html
    if isinstance(html, Selector):
        return HtmlTree(html)
    return read_html(html)


class _OtherRefs:
    """The candidate URLs of the elements that name images other ways than ``<img>``, ``<picture>``, ``<meta>`` and
    ``<a>``, within the page's bounds on CSS ``url()`` entries and JSON-LD; each cut is added to ``problems``."""

    def __init__(self, base: str, problems: list[str]) -> None:
        self.base = base
        self.problems = problems
        self.css_left = MAX_CSS_URLS
        self.jsonld_blocks = 0
        self.jsonld_left = MAX_JSONLD_URLS

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def css(self, text: str, kind: str) -> list[tuple[str | None, str]]:
        """The image URLs of a piece of CSS: a url() in a declaration showing images, or to an image file."""
        if self.css_left <= 0:
            self.note(f"the page's CSS holds more than {MAX_CSS_URLS:,} url() entries: the rest were "
                                 "not read")
            return []
        found, read, cut = css_urls(text, self.css_left)
        self.css_left -= read
        if len(text) > MAX_CSS_CHARS:
            self.note(f"a block of CSS of {len(text):,} characters was read to its first "
                                 f"{MAX_CSS_CHARS:,}")
        if cut:
            self.note(f"the page's CSS holds more than {MAX_CSS_URLS:,} url() entries: the rest were "
                                 "not read")
            self.css_left = 0
        out: list[tuple[str | None, str]] = []
        for raw, shows_image in found:
            if shows_image:
                out.append((raw, kind))
            else:
                resolved = absolute_url(self.base, raw)
                if resolved is not None and looks_like_image_url(resolved):
                    out.append((raw, kind))
        return out

    def candidates(self, el: Any, way: str) -> list[tuple[str | None, str]]:
        if way == "style":
            return self.css(el.get("style") or "", "css")
        if way == "style-block":
            return self.css(el.text or "", "css")
        if way == "lazy-bg":
            out: list[tuple[str | None, str]] = []
            for name in ("data-bg", "data-background"):
                value = el.get(name)
                if value:
                    out += self.css(value, "lazy") if "url(" in value.lower() else [(value, "lazy")]
            return out
        if way == "background":
            return [(el.get("background"), "background")]
        if way == "microdata":
            return [(el.get(name), "microdata") for name in ("src", "href", "content")]
        if way == "input":
            return [(el.get("src"), "input")]
        if way == "poster":
            return [(el.get("poster"), "poster")]
        if way == "svg":
            return [(el.get("href"), "svg"), (el.get("xlink:href"), "svg")]
        if way == "link":
            rels = set((el.get("rel") or "").lower().split())
            if rels & _ICON_RELS:
                return [(el.get("href"), "icon")]
            if "image_src" in rels:
                return [(el.get("href"), "link-image")]
            if "preload" in rels and (el.get("as") or "").strip().lower() == "image":
                return [(el.get("href"), "link-image"),
                        *((c, "link-image") for c in srcset_urls(el.get("imagesrcset")))]
            return []
        if way == "json-ld":
            return self.jsonld(el.text or "")
        return []

    def jsonld(self, text: str) -> list[tuple[str | None, str]]:
        if self.jsonld_blocks >= MAX_JSONLD_BLOCKS:
            self.note(f"the page holds more than {MAX_JSONLD_BLOCKS} JSON-LD blocks: the rest were not "
                                 "read")
            return []
        self.jsonld_blocks += 1
        if self.jsonld_left <= 0:
            self.note(f"the page's JSON-LD names more than {MAX_JSONLD_URLS:,} image URLs: the rest "
                                 "were not read")
            return []
        urls, problem = jsonld_urls(text, self.jsonld_left)
        self.jsonld_left -= len(urls)
        if problem:
            self.note(problem)
        return [(u, "json-ld") for u in urls]


def parse_page(
    html: str | Selector | HtmlTree | None,
    url: str,
    *,
    fetched_at: dt.datetime | None = None,
    max_refs: int = 10_000,
    max_links: int = 10_000,
    max_nodes: int = int(DEFAULTS["AUDIT_MAX_PAGE_NODES"]),
    noscript_text: bool = True,
    max_stylesheets: int = MAX_STYLESHEETS,
) -> ParsedPage:
    """Every image reference (``<img src/srcset>`` and its lazy-loading attributes, ``<picture><source>``,
    ``og:image``, CSS ``url()``, JSON-LD and the other ways the module's docstring lists, links to image files) and
    every other link of a page, as absolute URLs. Duplicate references to the same image URL are kept once (the
    first, which usually carries the alt text). An image's caption is the text of its nearest ``<figure>``'s
    ``<figcaption>`` children, or else its ``title``; its heading is the text of the last ``<h1>``-``<h3>`` opened
    before it in the document and not inside a sectioning element (``<article>``, ``<section>``...) closed since (a
    listing's card title names its own card only; at most ``MAX_HEADING`` characters; an ``<img>``'s only), and the
    page's title is cut to ``MAX_TITLE`` characters.

    ``html`` is the page's text (parsed with :func:`audit.decode.htmltree.read_html`), or its tree. The work is linear
    in the page: one pass over its elements, then each reference, caption and link text read once. After
    ``max_nodes`` elements visited, or as many text nodes and URLs read after that pass, it stops, and the page keeps
    what was found up to there with :attr:`ParsedPage.error` saying so (as it says why a page's tree is not the
    whole page, see :class:`audit.decode.htmltree.HtmlTree`).

    The other ways a page names images (see the module's docstring) are read in the same pass, each bounded (CSS
    ``url()`` entries, JSON-LD blocks, values and depth, ``<noscript>`` fallbacks and their size); a cut there is
    said in :attr:`ParsedPage.error` too. ``noscript_text`` is False for the markup of a ``<noscript>`` fallback
    itself, which is read once, never nested further.

    The stylesheets the page links are listed in :attr:`ParsedPage.stylesheets` (at most ``max_stylesheets``; a
    cut is said in the error): their images are read from the stylesheets themselves
    (:mod:`audit.decode.stylesheets`)."""
    tree = _tree(html)
    root = tree.selector.root
    if not isinstance(root, etree._Element):  # a Selector over JSON or plain text
        return ParsedPage(url=url, lang=None, title=None, error=tree.error)
    walked = _Budget(max_nodes)  # elements visited
    budget = _Budget(max_nodes)  # then text nodes and URLs read: what the walk found is always resolved
    tops = top_level(root)
    found = _walk(tops, walked)
    base = absolute_url(url, found.base_href) or url
    lang = _clean_text(next((el.get("lang") for el in tops if el.tag == "html" and el.get("lang") is not None), None))
    title = _text_of(found.titles, budget)[1]
    title = title[:MAX_TITLE].rstrip() if title else None
    refs: dict[str, ImageRef] = {}
    captions: dict[Any, tuple[bool, str | None]] = {}
    heading_texts: dict[Any, str | None] = {}

    def heading_of(img: Any) -> str | None:
        h = found.headings.get(img)
        if h is None:
            return None
        if h not in heading_texts:
            text = _text_of([h], budget)[1]
            heading_texts[h] = text[:MAX_HEADING].rstrip() if text else None
        return heading_texts[h]

    def caption(img: Any, figure: Any) -> str | None:
        if figure is not None:
            got = captions.get(figure)
            if got is None:
                got = captions[figure] = _text_of(figure.iterchildren("figcaption"), budget)
            if got[0]:
                return got[1]
        return _clean_text(img.get("title"))

    def describe(img: Any, figure: Any) -> tuple[str | None, str | None, str | None]:
        """The alt text, caption and nearest preceding heading of an <img> (none for no <img>)."""
        if img is None:
            return None, None, None
        return _clean_text(img.get("alt")), caption(img, figure), heading_of(img)

    def new_url(raw: str | None) -> str | None:
        """The absolute URL of a candidate that is not referenced yet and still fits, else None."""
        if raw is None or len(refs) >= max_refs or not budget.take():
            return None
        img_url = absolute_url(base, raw)
        return None if img_url is None or img_url in refs else img_url

    def add_all(candidates: Iterable[tuple[str | None, str]], node: Any,
                describe: Callable[[], tuple[str | None, str | None, str | None]]) -> None:
        details: tuple[str | None, str | None, str | None, dict[str, str]] | None = None
        for raw, kind in candidates:
            img_url = new_url(raw)
            if img_url is None:
                continue
            if details is None:  # alt text, caption and attributes: read once per element, and only when used
                details = (*describe(), _attributes(node))
            refs[img_url] = ImageRef(page_url=url, image_url=img_url, alt_text=details[0], caption=details[1],
                                     heading=details[2], ref_kind=kind, attributes=details[3],
                                     fetched_at=fetched_at)

    full = False  # the page had more image references than max_refs

    for img, figure in found.imgs:
        if len(refs) >= max_refs or budget.cut:
            full = full or len(refs) >= max_refs
            break
        candidates = [(img.get("src"), "img"), *((c, "srcset") for c in srcset_urls(img.get("srcset")))]
        candidates += [(img.get(name), "lazy") for name in LAZY_ATTRIBUTES]
        candidates += [(c, "lazy") for name in LAZY_SRCSET_ATTRIBUTES for c in srcset_urls(img.get(name))]
        add_all(candidates, img, partial(describe, img, figure))
    for source, picture in found.sources:
        if len(refs) >= max_refs or budget.cut:
            full = full or len(refs) >= max_refs
            break
        first = found.first_img.get(picture, (None, None))  # its alt text and caption are the picture's
        candidates = [(c, "picture") for c in srcset_urls(source.get("srcset"))]
        candidates += [(c, "lazy") for name in LAZY_SRCSET_ATTRIBUTES for c in srcset_urls(source.get(name))]
        add_all(candidates, source, partial(describe, *first))
    for meta in found.metas:
        if len(refs) >= max_refs or budget.cut:
            break
        key = (meta.get("property") or meta.get("name") or "").lower()
        if key in _IMAGE_META:
            add_all([(meta.get("content"), "og:image")], meta, partial(describe, None, None))
    problems: list[str] = []
    other_refs = _OtherRefs(base, problems)
    for el, way in found.others:
        if len(refs) >= max_refs or budget.cut:
            full = full or len(refs) >= max_refs
            break
        add_all(other_refs.candidates(el, way), el, partial(describe, None, None))
    for noscript in found.noscripts[:MAX_NOSCRIPTS] if noscript_text else ():
        if len(refs) >= max_refs or budget.cut:
            full = full or len(refs) >= max_refs
            break
        text = noscript.text
        if len(text) > MAX_NOSCRIPT_CHARS:
            problems.append(f"a <noscript> fallback of {len(text):,} characters was read to its first "
                            f"{MAX_NOSCRIPT_CHARS:,}")
        inner = parse_page(text[:MAX_NOSCRIPT_CHARS], base, fetched_at=fetched_at, max_refs=max_refs - len(refs),
                           max_links=0, max_nodes=min(budget.left, max_nodes), noscript_text=False)
        budget.take(inner.nodes)
        for ref in inner.image_refs:
            if ref.image_url not in refs:
                refs[ref.image_url] = replace(ref, page_url=url)
    if len(found.noscripts) > MAX_NOSCRIPTS and noscript_text:
        problems.append(f"the page holds {len(found.noscripts):,} <noscript> fallbacks as text: the first "
                        f"{MAX_NOSCRIPTS} were read")

    links: list[str] = []
    seen_links: set[str] = set()
    links_cut = 0
    for a in found.anchors:
        raw = a.get("href")
        if len(links) >= max_links and not _may_be_image_link(raw):
            links_cut += 1  # a link past the cap, not to an image file: not worth resolving
            continue
        if not budget.take():
            break
        href = absolute_url(base, raw)
        if href is None:
            continue
        if looks_like_image_url(href):
            if len(refs) >= max_refs:
                full = full or href not in refs
            elif href not in refs:
                refs[href] = ImageRef(page_url=url, image_url=href, alt_text=_text_of([a], budget)[1],
                                      ref_kind="link", attributes=_attributes(a), fetched_at=fetched_at)
        elif href not in seen_links:
            if len(links) < max_links:
                seen_links.add(href)
                links.append(href)
            else:
                links_cut += 1
    stylesheets, sheets_cut = stylesheet_links(found.others, base, max_stylesheets) if noscript_text else ([], False)
    if sheets_cut:
        problems.append(f"the page links more than {max_stylesheets} stylesheets (AUDIT_MAX_STYLESHEETS_PER_PAGE): "
                        f"the first {max_stylesheets} were read")
    errors = [tree.error] if tree.error else []
    errors += list(dict.fromkeys(problems))[:MAX_PROBLEMS]
    if full:
        errors.append(f"the page references more than {max_refs:,} images: the first {max_refs:,} were kept")
    if walked.cut or budget.cut:
        errors.append(f"page parsing stopped after {max_nodes:,} nodes (AUDIT_MAX_PAGE_NODES): the image references "
                      "and links after that point were not read")
        logger.info("%s: %s", url, errors[-1])
    return ParsedPage(url=url, lang=lang, title=title, image_refs=list(refs.values()), links=links,
                      error="; ".join(errors) or None, nodes=walked.used + budget.used, links_cut=links_cut,
                      stylesheets=stylesheets)
