"""Parse the text of an HTML page into an lxml tree, the one way the spider and the archive ingest do it.

libxml2's HTML parser stops reading a page whose elements nest deeper than its limit (2048 levels with the
``huge_tree`` option parsel sets, 256 without): everything after that point is silently missing from the tree, so
5,000 nested ``<div>`` before a page's images would hide them. :func:`read_html` notices the parser's complaint and
parses the page again with the start and end tags below :data:`MAX_DEPTH` levels removed (:func:`flatten_nesting`),
so the rest of the page is read; the page then carries an error saying so.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

from lxml import etree
from parsel import Selector

logger = logging.getLogger(__name__)

MAX_DEPTH = 512  # elements kept below this depth when a page nests deeper than the parser allows

# HTML elements without an end tag; they never nest anything
_VOID = frozenset({
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input", "isindex",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
})
# elements whose content is text up to their end tag, never markup
_RAW_TEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title"})
_SPACE = "\t\n\f\r "
# one token of markup, as an HTML5 tokenizer delimits it; every branch ends at its closing '>' or at the end of the
# text, so scanning the whole page is linear whatever it holds
_TOKEN = re.compile(
    r"<!--(?:-?>|.*?(?:--!?>|\Z))"  # comment
    r"|<[!?][^>]*+(?:>|\Z)"  # doctype, processing instruction, bogus comment
    r"|<(?P<end>/?)(?P<name>[A-Za-z][^\t\n\f\r />]*+)"  # start or end tag: its name,
    r"(?P<attrs>(?:[^>\"'=]++|=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+')|[=\"'])*+)(?:>|\Z)",  # then its attributes
    re.S,
)
_DEPTH_ERROR = re.compile(r"Excessive depth in document: (\d+)")


@dataclass(frozen=True, slots=True)
class HtmlTree:
    """A page's tree (a parsel ``Selector`` over it) and, when the tree is not the whole page as written, why."""

    selector: Selector
    error: str | None = None


def top_level(root: etree._Element) -> list[etree._Element]:
    """The elements at the top of ``root``'s document, in document order: ``root`` and, after a stray ``</html>``,
    the elements libxml2 puts beside it (XPath ``//x`` finds elements there too)."""
    before = [el for el in root.itersiblings(preceding=True) if isinstance(el.tag, str)]
    after = [el for el in root.itersiblings() if isinstance(el.tag, str)]
    return [*reversed(before), root, *after]


def _parse(body: bytes) -> tuple[etree._Element, list[str]]:
    """The tree libxml2's HTML parser builds (with parsel's options) and its resource-limit complaints."""
    # libxml2's HTML parser as lxml.html sets it up, without lxml.html's element classes: the same tree, and no
    # Python class lookup for every element the parsers visit (nothing here uses HtmlElement's own methods)
    parser = etree.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        root = None
    limits = [e.message for e in parser.error_log if e.type == etree.ErrorTypes.ERR_RESOURCE_LIMIT]
    if root is None:
        root = etree.fromstring(b"<html/>", parser=etree.HTMLParser())
    return root, limits


def flatten_nesting(text: str, max_depth: int = MAX_DEPTH) -> tuple[str, int]:
    """``text`` without the start and end tags of the elements that open below ``max_depth`` levels of nesting,
    and how many start tags were removed. Their content (text, images, links) stays, as children of the deepest
    element kept.

    The depth is counted as a tokenizer sees it: every start tag but a void or self-closed one opens a level, an end
    tag closes up to its open element, and an end tag of nothing open is ignored. It can only overestimate what the
    parser builds (which also closes elements implicitly), so it removes no tag of a page nested no deeper than
    ``max_depth`` as parsed. Linear in the length of ``text``."""
    out: list[str] = []
    last = 0
    stack: list[tuple[str, bool]] = []  # open elements: name, whether its tags are kept
    open_names: Counter[str] = Counter()
    dropped = 0
    pos = 0
    while True:
        m = _TOKEN.search(text, pos)
        if m is None:
            break
        pos = m.end()
        name = m.group("name")
        if name is None:
            continue  # comment, doctype...
        name = name.lower()
        if m.group("end"):
            if open_names[name] <= 0:
                continue
            while stack:
                top, kept = stack.pop()
                open_names[top] -= 1
                if top == name:
                    if not kept:
                        out.append(text[last:m.start()])
                        last = pos
                    break
            continue
        attrs = m.group("attrs") or ""
        if name in _VOID or attrs.rstrip(_SPACE).endswith("/"):
            continue
        # an element holding only text (script, style...) adds one level at most: its tags are kept, so that its
        # text never turns into markup
        kept = len(stack) < max_depth or name in _RAW_TEXT
        if not kept:
            out.append(text[last:m.start()])
            last = pos
            dropped += 1
        stack.append((name, kept))
        open_names[name] += 1
        if name in _RAW_TEXT:  # its text runs to its end tag, which the next search finds
            end = re.compile(rf"</{re.escape(name)}[\t\n\f\r />]", re.I).search(text, pos)
            if end is None:
                break
            pos = end.start()
    out.append(text[last:])
    return "".join(out), dropped


def read_html(text: str | None, *, max_depth: int = MAX_DEPTH) -> HtmlTree:
    """The tree of an HTML page, as parsel builds it (the same input clean-up and parser options), always parsed as
    HTML: a page served as ``text/html`` is HTML even when its text happens to be valid JSON or starts with an XML
    declaration. A page nested deeper than the parser allows is parsed again flattened below ``max_depth`` levels
    (:func:`flatten_nesting`), and :attr:`HtmlTree.error` says so; never does the parser's limit silently hide the
    rest of a page."""
    text = (text or "").strip().replace("\x00", "")
    body = text.encode("utf-8", errors="replace") or b"<html/>"
    root, limits = _parse(body)
    error = None
    if limits:
        depth = _DEPTH_ERROR.search(limits[0])
        if depth is None:
            error = f"page not parsed whole: {limits[0].strip()[:200]}"
        else:
            flat, dropped = flatten_nesting(text, max_depth)
            root, limits = _parse(flat.encode("utf-8", errors="replace") or b"<html/>")
            error = (f"page nested deeper than the HTML parser's limit ({depth.group(1)} levels): the tags of "
                     f"{dropped} elements below depth {max_depth} were ignored, their content was read")
            if limits:
                error = f"page nested deeper than the HTML parser's limit ({depth.group(1)} levels): page not " \
                        "parsed whole"
        logger.info("%s", error)
    return HtmlTree(Selector(root=root, type="html"), error)
