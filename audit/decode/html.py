"""Find image references and links in an HTML page: a pure function, shared by the spider and the archive ingest.

Pages are hostile: :func:`parse_page` reads the tree in one pass whose work is linear in the page (each element is
visited once; a caption is read once per ``<figure>``, a bounded number of text nodes), and stops after a budget of
nodes, recording what it found so far and an error saying where it stopped.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml import etree
from parsel import Selector

from audit.decode.htmltree import HtmlTree, read_html, top_level
from audit.records import ImageRef
from audit.settings import DEFAULTS

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".bmp"}
)
MAX_TEXT = 2000  # longest alt text / caption kept, in characters
MAX_ATTRIBUTES = 40
MAX_ATTRIBUTE_VALUE = 1000
# One text (a caption, a link's text, the title) reads at most this many text nodes and characters: past them, only
# whitespace-padding of a hostile page could still change its first MAX_TEXT characters.
MAX_TEXT_NODES = 2000
MAX_TEXT_CHARS = 64 * MAX_TEXT
_SPACE = re.compile(r"\s+")
_URL_CONTROLS = str.maketrans("", "", "\t\r\n")  # what urlsplit removes from a URL
_C0_OR_SPACE = "".join(map(chr, range(0x21)))  # what urlsplit strips from a URL's start
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
logger = logging.getLogger(__name__)

_IMAGE_META = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")


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
    try:
        url = urldefrag(urljoin(base, href))[0]
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def srcset_urls(srcset: str | None) -> list[str]:
    """The candidate URLs of a ``srcset`` attribute, in order (descriptors dropped)."""
    if not srcset:
        return []
    urls = []
    for candidate in srcset.split(","):
        parts = candidate.strip().split()
        if parts:
            urls.append(parts[0])
    return urls


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
    base_href: str | None = None  # the first <base href>


def _walk(tops: list[Any], budget: _Budget) -> _Found:
    """One pass over the elements of a document (under its top-level elements ``tops``; each visited once, each
    costing one node of ``budget``), keeping the open ``<figure>`` and ``<picture>`` elements on stacks: every image
    learns its nearest figure, and every picture its first image, in constant time."""
    found = _Found()
    figures: list[Any] = []
    pictures: list[Any] = []
    without_img = 0  # pictures[without_img:] have no <img> yet: an <img> is the first of every one of them
    for event, el in (pair for top in tops for pair in etree.iterwalk(top, events=("start", "end"))):
        tag = el.tag
        if event == "end":
            if tag == "figure":
                figures.pop()
            elif tag == "picture":
                pictures.pop()
                without_img = min(without_img, len(pictures))
            continue
        if not budget.take():
            break
        if tag == "img":
            figure = figures[-1] if figures else None
            found.imgs.append((el, figure))
            for picture in pictures[without_img:]:
                found.first_img[picture] = (el, figure)
            without_img = len(pictures)
        elif tag == "a":
            if el.get("href") is not None:
                found.anchors.append(el)
        elif tag == "figure":
            figures.append(el)
        elif tag == "picture":
            pictures.append(el)
        elif tag == "source":
            parent = el.getparent()
            if parent is not None and parent.tag == "picture":
                found.sources.append((el, parent))
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
    return found


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


def _tree(html: str | Selector | HtmlTree | None) -> HtmlTree:
    if isinstance(html, HtmlTree):
        return html
    if isinstance(html, Selector):
        return HtmlTree(html)
    return read_html(html)


def parse_page(
    html: str | Selector | HtmlTree | None,
    url: str,
    *,
    fetched_at: dt.datetime | None = None,
    max_refs: int = 10_000,
    max_links: int = 10_000,
    max_nodes: int = int(DEFAULTS["AUDIT_MAX_PAGE_NODES"]),
) -> ParsedPage:
    """Every image reference (``<img src/srcset>``, ``<picture><source>``, ``og:image``, links to image files) and
    every other link of a page, as absolute URLs. Duplicate references to the same image URL are kept once (the
    first, which usually carries the alt text). An image's caption is the text of its nearest ``<figure>``'s
    ``<figcaption>`` children, or else its ``title``.

    ``html`` is the page's text (parsed with :func:`audit.decode.htmltree.read_html`), or its tree. The work is linear
    in the page: one pass over its elements, then each reference, caption and link text read once. After
    ``max_nodes`` elements visited, or as many text nodes and URLs read after that pass, it stops, and the page keeps
    what was found up to there with :attr:`ParsedPage.error` saying so (as it says why a page's tree is not the
    whole page, see :class:`audit.decode.htmltree.HtmlTree`)."""
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
    refs: dict[str, ImageRef] = {}
    captions: dict[Any, tuple[bool, str | None]] = {}

    def caption(img: Any, figure: Any) -> str | None:
        if figure is not None:
            got = captions.get(figure)
            if got is None:
                got = captions[figure] = _text_of(figure.iterchildren("figcaption"), budget)
            if got[0]:
                return got[1]
        return _clean_text(img.get("title"))

    def describe(img: Any, figure: Any) -> tuple[str | None, str | None]:
        """The alt text and caption of an <img> (none for no <img>)."""
        return (None, None) if img is None else (_clean_text(img.get("alt")), caption(img, figure))

    def new_url(raw: str | None) -> str | None:
        """The absolute URL of a candidate that is not referenced yet and still fits, else None."""
        if raw is None or len(refs) >= max_refs or not budget.take():
            return None
        img_url = absolute_url(base, raw)
        return None if img_url is None or img_url in refs else img_url

    def add_all(candidates: Iterable[tuple[str | None, str]], node: Any,
                describe: Callable[[], tuple[str | None, str | None]]) -> None:
        details: tuple[str | None, str | None, dict[str, str]] | None = None
        for raw, kind in candidates:
            img_url = new_url(raw)
            if img_url is None:
                continue
            if details is None:  # alt text, caption and attributes: read once per element, and only when used
                details = (*describe(), _attributes(node))
            refs[img_url] = ImageRef(page_url=url, image_url=img_url, alt_text=details[0], caption=details[1],
                                     ref_kind=kind, attributes=details[2], fetched_at=fetched_at)

    full = False  # the page had more image references than max_refs

    for img, figure in found.imgs:
        if len(refs) >= max_refs or budget.cut:
            full = full or len(refs) >= max_refs
            break
        src = img.get("src") or img.get("data-src")
        srcset = srcset_urls(img.get("srcset") or img.get("data-srcset"))
        add_all([(src, "img"), *((c, "srcset") for c in srcset)], img, partial(describe, img, figure))
    for source, picture in found.sources:
        if len(refs) >= max_refs or budget.cut:
            full = full or len(refs) >= max_refs
            break
        first = found.first_img.get(picture, (None, None))  # its alt text and caption are the picture's
        add_all(((c, "picture") for c in srcset_urls(source.get("srcset"))), source, partial(describe, *first))
    for meta in found.metas:
        if len(refs) >= max_refs or budget.cut:
            break
        key = (meta.get("property") or meta.get("name") or "").lower()
        if key in _IMAGE_META:
            add_all([(meta.get("content"), "og:image")], meta, partial(describe, None, None))

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
    errors = [tree.error] if tree.error else []
    if full:
        errors.append(f"the page references more than {max_refs:,} images: the first {max_refs:,} were kept")
    if walked.cut or budget.cut:
        errors.append(f"page parsing stopped after {max_nodes:,} nodes (AUDIT_MAX_PAGE_NODES): the image references "
                      "and links after that point were not read")
        logger.info("%s: %s", url, errors[-1])
    return ParsedPage(url=url, lang=lang, title=title, image_refs=list(refs.values()), links=links,
                      error="; ".join(errors) or None, nodes=walked.used + budget.used, links_cut=links_cut)
