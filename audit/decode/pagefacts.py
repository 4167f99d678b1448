"""The compact raw facts of an HTML page that the page signals need, kept in ``pages.facts`` so an audit can be re-run
without the HTML.

Everything is bounded: scraped HTML is hostile. Strings are cut to ``MAX_VALUE`` characters, lists to a few dozen
entries, JSON-LD blocks are parsed with :func:`json.loads` inside ``try`` and walked iteratively with a node budget.
"""

from __future__ import annotations

import json
import logging
import re
from itertools import islice
from typing import Any
from urllib.parse import urljoin

from lxml import etree
from parsel import Selector

from audit.decode.html import absolute_url
from audit.decode.htmltree import HtmlTree, read_html, top_level
from audit.settings import DEFAULTS

logger = logging.getLogger(__name__)

MAX_HTML = 5_000_000  # characters of HTML parsed
MAX_VALUE = 500  # characters per stored string
MAX_LIST = 50  # entries per stored list (hreflang, og:locale:alternate)
MAX_PHONES = 20
MAX_ADDRESSES = 20
MAX_ROBOTS_META = 20
MAX_META = 2000  # <meta> elements examined
MAX_LD_BLOCKS = 50
MAX_LD_CHARS = 1_000_000
MAX_LD_NODES = 20_000
MAX_TEXT = 200_000  # characters of visible text scanned for phone numbers
MAX_MICRODATA_NODES = 10_000  # elements searched under one microdata address for its itemprop=name
_INVISIBLE = frozenset({"script", "style", "noscript", "template"})
MAX_URL = 2000

# <meta name=...> naming a crawler: robots rules addressed to it (Google, Bing, AI crawlers...).
ROBOTS_META_NAMES = frozenset({
    "robots", "googlebot", "googlebot-image", "googlebot-news", "googlebot-video", "google-extended", "bingbot",
    "msnbot", "slurp", "yandex", "yandexbot", "baiduspider", "duckduckbot", "applebot", "applebot-extended",
    "gptbot", "chatgpt-user", "oai-searchbot", "ccbot", "anthropic-ai", "claudebot", "claude-web", "perplexitybot",
    "bytespider", "meta-externalagent", "facebookbot", "omgilibot", "cohere-ai", "amazonbot", "diffbot",
})
_BOT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,38}bot$")
_ADDRESS_KEYS = frozenset({"addressCountry", "http://schema.org/addressCountry", "https://schema.org/addressCountry",
                           "schema:addressCountry"})
_PHONE_KEYS = frozenset({"telephone", "http://schema.org/telephone", "https://schema.org/telephone",
                         "schema:telephone"})
_SPACE = re.compile(r"\s+")

# Conservative phone patterns over visible text. Each must stand alone (no digit, letter or '+' glued on either side).
#   international: +33 4 78 00 00 00, +1 (514) 555-0123, +44 20 7946 0000, +41.22.123.45.67
#   national with trunk 0, grouped: 04 78 00 00 00, 020 7946 0000, (0221) 1234567, 0161-496-0000
#   North American: (514) 555-0123, 514-555-0123, 514.555.0123
#   Spanish/Italian style 9-digit groups: 954 12 34 56, 91 123 45 67
#   North American with spaces: 514 555 0199 (area code and exchange start 2-9)
_PHONE_PATTERNS = re.compile(
    r"(?<![\w+])(?:"
    r"\+[1-9]\d{0,2}(?:[ .\-]?\(0?\d{1,4}\))?(?:[ .\-]?\d{1,4}){2,6}"
    r"|\(?0\d{1,4}\)?(?:[ .\-]\d{2,8}){1,4}"
    r"|\(\d{3}\) ?\d{3}[ .\-]\d{4}"
    r"|\d{3}[.\-]\d{3}[.\-]\d{4}"
    r"|[6-9]\d{1,2}(?: \d{2,3}){3}"
    r"|\(?[2-9]\d{2}\)? [2-9]\d{2} \d{4}"
    r")(?![\w])"
)
# Any grouping, when a phone label stands right before it: "Tlf. 22 12 34 56", "Phone: 514 555 0199", "Tél : …".
# Without a label, groups of two digits are scores, dates and prices as often as phone numbers.
_LABELLED_PHONE = re.compile(
    r"(?<!\w)(?:tel|tél|tlf|tfn|phone|telephone|téléphone|telefon|telefono|teléfono|telefoon|fon|ph)\b\.?"
    r"(?:\s*(?:no|nr|n°)\.?)?\s*[:.]?\s*"
    r"(\+?\(?\d[\d .\-()/]{5,22}\d)(?![\w])",
    re.IGNORECASE,
)
_DATE = re.compile(r"^\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}$")  # 01.02.2024, 2024-02-01: not phone numbers
_MIN_PHONE_DIGITS = 7
_MAX_PHONE_DIGITS = 15


def _clip(value: object, limit: int = MAX_VALUE) -> str | None:
    if not isinstance(value, str):
        return None
    text = _SPACE.sub(" ", value).strip()
    return text[:limit] if text else None


def _add(items: list[Any], value: Any, limit: int) -> None:
    if value is not None and value not in items and len(items) < limit:
        items.append(value)


def _phone_digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _add_phone(phones: list[str], raw: object) -> None:
    value = _clip(raw, 60)
    if value is None:
        return
    if _DATE.match(value):
        return
    if _MIN_PHONE_DIGITS <= _phone_digits(value) <= _MAX_PHONE_DIGITS:
        _add(phones, value, MAX_PHONES)


def _walk_json_ld(data: Any, addresses: list[str], phones: list[str], budget: list[int]) -> None:
    """Collect ``addressCountry`` and ``telephone`` values anywhere in a JSON-LD document (nested objects, @graph,
    lists), iteratively, visiting at most ``budget[0]`` nodes."""
    stack: list[Any] = [data]
    while stack and budget[0] > 0:
        node = stack.pop()
        budget[0] -= 1
        if isinstance(node, list):
            stack.extend(reversed(node[:1000]))
        elif isinstance(node, dict):
            children: list[Any] = []
            for i, (key, value) in enumerate(node.items()):
                if i >= 1000:
                    break
                if key in _ADDRESS_KEYS:
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, dict):  # {"@type": "Country", "name": "France"}
                            item = item.get("name") or item.get("@id") or item.get("identifier")
                        _add(addresses, _clip(item, 100), MAX_ADDRESSES)
                elif key in _PHONE_KEYS:
                    for item in value if isinstance(value, list) else [value]:
                        _add_phone(phones, item)
                elif isinstance(value, dict | list):
                    children.append(value)
            stack.extend(reversed(children))  # document order


def _query(path: str) -> etree.XPath:
    return etree.XPath(path, smart_strings=False)


# The page's queries, compiled once (parsel compiles a query on every call and wraps each result in a Selector). Each
# first keeps the elements that have the attribute it reads (a cheap test), then runs the string functions on those
# only: the same elements, in the same order (an absent attribute reads as "", which never matches).
_BASE_HREF = _query("//base/@href")
_CANONICAL = _query("//link[@rel][contains(concat(' ', translate(@rel, 'CANONIL', 'canonil'), ' '), ' canonical ')]"
                    "/@href")
_HTML_LANG = _query("/html/@lang")
_XML_LANG = _query("/html/@xml:lang")
_METAS = _query("//meta")
_HREFLANGS = _query("//link[@hreflang]")
_JSON_LD = _query("//script[@type][contains(translate(@type, 'LDJSON', 'ldjson'), 'application/ld+json')]/text()")
_MICRODATA_COUNTRY = _query("//*[@itemprop or @property]"
                            "[contains(concat(' ', normalize-space(@itemprop), ' '), ' addressCountry ')"
                            " or contains(concat(' ', normalize-space(@property), ' '), ' addressCountry ')"
                            " or contains(concat(' ', normalize-space(@property), ' '), ' schema:addressCountry ')]")
_TEL_HREFS = _query("//a[@href][starts-with(translate(normalize-space(@href), 'TEL', 'tel'), 'tel:')]/@href")


def _first(results: Any) -> str | None:
    """The first string an attribute or text query found, as parsel's ``.get()``."""
    return str(results[0]) if results else None


def _json_ld(root: etree._Element, addresses: list[str], phones: list[str]) -> None:
    budget = [MAX_LD_NODES]
    for n, text in enumerate(_JSON_LD(root)):
        if n >= MAX_LD_BLOCKS or budget[0] <= 0:
            break
        if not text or len(text) > MAX_LD_CHARS:
            continue
        text = text.strip()
        if text.startswith("<!--"):
            text = text.removeprefix("<!--").removesuffix("-->").strip()
        try:
            data = json.loads(text, strict=False)
        except (ValueError, RecursionError):
            logger.debug("unparsable JSON-LD block (%d chars)", len(text))
            continue
        _walk_json_ld(data, addresses, phones, budget)


def _visible_text(root: Any, max_nodes: int) -> str:
    """The text nodes under ``<body>`` outside ``script``, ``style``, ``noscript`` and ``template`` (XPath
    ``//body//text()[not(ancestor::script)...]``), joined by spaces, up to ``MAX_TEXT`` characters. One pass, visiting
    at most ``max_nodes`` elements: linear whatever the nesting (the XPath tests every ancestor of every text)."""
    parts: list[str] = []
    size = 0
    seen = 0
    for body in (el for top in top_level(root) for el in top.iter("body")):
        if any(a.tag == "body" for a in body.iterancestors()):
            continue  # read with the body holding it
        hidden = sum(1 for a in body.iterancestors() if a.tag in _INVISIBLE)  # elements hiding the current node
        for event, el in etree.iterwalk(body, events=("start", "end", "comment", "pi")):
            text = None
            if event == "start":
                seen += 1
                if seen > max_nodes:
                    break
                if hidden or el.tag in _INVISIBLE:
                    hidden += 1
                if not hidden:
                    text = el.text
            else:
                if event == "end" and hidden:
                    hidden -= 1
                if not hidden and el is not body:
                    text = el.tail  # a text node of the enclosing element, after this one
            if text:
                parts.append(text)
                size += len(text) + 1
                if size >= MAX_TEXT:
                    return " ".join(parts)[:MAX_TEXT]
        if seen > max_nodes:
            break
    return " ".join(parts)[:MAX_TEXT]


def _url_or_raw(base: str, href: str | None) -> str | None:
    if not href:
        return None
    resolved = absolute_url(base, href)
    if resolved is None:
        try:
            resolved = urljoin(base, href.strip())
        except ValueError:
            resolved = href
    return _clip(resolved, MAX_URL)


def page_facts(html: str | Selector | HtmlTree, url: str, *,
               max_nodes: int = int(DEFAULTS["AUDIT_MAX_PAGE_NODES"])) -> dict[str, Any]:
    """The raw, JSON-safe, bounded facts of one page that the page signals read (see docs/signals-page.md).

    Keys, each omitted when empty: ``url``, ``canonical``, ``html_lang``, ``og_locale``, ``og_locale_alternate``,
    ``hreflang`` (``[lang, absolute href]`` pairs), ``meta_language``, ``geo_region``, ``geo_placename``,
    ``geo_position``, ``icbm``, ``addresses`` (schema.org ``addressCountry`` values), ``phones`` (candidate strings),
    ``robots_meta`` (``[name, content]`` pairs), ``tdm_reservation``, ``tdm_policy``.

    ``html`` is the page's text or its tree (:func:`audit.decode.htmltree.read_html`). Linear in the page; the scan for
    phone numbers in the visible text visits at most ``max_nodes`` elements."""
    if isinstance(html, HtmlTree):
        sel = html.selector
    elif isinstance(html, Selector):
        sel = html
    else:
        sel = read_html((html or "")[:MAX_HTML]).selector
    if not isinstance(sel.root, etree._Element):  # a Selector over JSON or plain text
        return {"url": (url or "")[:MAX_URL]} if url else {}
    root = sel.root
    url = (url or "")[:MAX_URL]
    base = absolute_url(url, _first(_BASE_HREF(root))) or url
    facts: dict[str, Any] = {}
    if url:
        facts["url"] = url

    canonical = _url_or_raw(base, _first(_CANONICAL(root)))
    html_lang = _clip(_first(_HTML_LANG(root)) or _first(_XML_LANG(root)), 100)

    og_alternate: list[str] = []
    robots_meta: list[list[str]] = []
    single: dict[str, str] = {}
    for i, meta in enumerate(_METAS(root)):
        if i >= MAX_META:
            break
        attrib = meta.attrib
        content = _clip(attrib.get("content"))
        if content is None:
            continue
        prop = (attrib.get("property") or "").strip().lower()
        name = (attrib.get("name") or "").strip().lower()
        equiv = (attrib.get("http-equiv") or "").strip().lower()
        if prop == "og:locale" or name == "og:locale":
            single.setdefault("og_locale", content[:100])
        elif prop == "og:locale:alternate" or name == "og:locale:alternate":
            _add(og_alternate, content[:100], MAX_LIST)
        elif equiv == "content-language":
            single.setdefault("meta_language", content)
        elif name == "geo.region":
            single.setdefault("geo_region", content)
        elif name == "geo.placename":
            single.setdefault("geo_placename", content)
        elif name == "geo.position":
            single.setdefault("geo_position", content)
        elif name == "icbm":
            single.setdefault("icbm", content)
        elif name == "tdm-reservation":
            single.setdefault("tdm_reservation", content)
        elif name == "tdm-policy":
            single.setdefault("tdm_policy", content)
        elif name in ROBOTS_META_NAMES or _BOT_NAME.match(name):
            _add(robots_meta, [name[:100], content], MAX_ROBOTS_META)

    hreflang: list[list[str]] = []
    for link in _HREFLANGS(root):
        lang = _clip(link.attrib.get("hreflang"), 100)
        href = _url_or_raw(base, link.attrib.get("href"))
        if lang is not None:
            _add(hreflang, [lang, href or ""], MAX_LIST)
        if len(hreflang) >= MAX_LIST:
            break

    addresses: list[str] = []
    phones: list[str] = []
    _json_ld(root, addresses, phones)
    for n, element in enumerate(_MICRODATA_COUNTRY(root)):
        if n >= MAX_ADDRESSES * 5:
            break
        value = element.get("content")
        if value is None:
            named = next((el for el in islice(element.iterdescendants(), MAX_MICRODATA_NODES)
                          if el.get("itemprop") == "name"), None)
            value = " ".join(islice((named if named is not None else element).itertext(), 50))
        _add(addresses, _clip(value, 100), MAX_ADDRESSES)

    for n, href in enumerate(_TEL_HREFS(root)):
        if n >= MAX_PHONES * 5 or len(phones) >= MAX_PHONES:
            break
        raw = href.strip()[4:].split(";", 1)[0]  # tel:+33-4-78;ext=12
        _add_phone(phones, raw.replace("%20", " "))
    if len(phones) < MAX_PHONES:
        text = _visible_text(root, max_nodes)
        for match in _PHONE_PATTERNS.finditer(text):
            _add_phone(phones, match.group(0))
            if len(phones) >= MAX_PHONES:
                break
        for match in _LABELLED_PHONE.finditer(text):
            if len(phones) >= MAX_PHONES:
                break
            _add_phone(phones, match.group(1).strip())

    return assemble_facts(facts, canonical=canonical, html_lang=html_lang, single=single, og_alternate=og_alternate,
                          hreflang=hreflang, robots_meta=robots_meta, addresses=addresses, phones=phones)


def assemble_facts(facts: dict[str, Any], *, canonical: str | None, html_lang: str | None, single: dict[str, Any],
                   og_alternate: list[Any], hreflang: list[Any], robots_meta: list[Any],
                   addresses: list[Any] | None = None, phones: list[Any] | None = None) -> dict[str, Any]:
    """``facts`` with the page's facts added under the keys the page signals read, in one order, the empty ones
    left out: what :func:`page_facts` reads of a page's HTML and what a Common Crawl WAT holds of it
    (:mod:`audit.ingest.wat`) become the same dict. ``single`` holds the metas read once (og:locale, geo, TDM)."""
    if canonical:
        facts["canonical"] = canonical
    if html_lang:
        facts["html_lang"] = html_lang
    if "og_locale" in single:
        facts["og_locale"] = single.pop("og_locale")
    if og_alternate:
        facts["og_locale_alternate"] = og_alternate
    if hreflang:
        facts["hreflang"] = hreflang
    for key in ("meta_language", "geo_region", "geo_placename", "geo_position", "icbm"):
        if key in single:
            facts[key] = single[key]
    if addresses:
        facts["addresses"] = addresses
    if phones:
        facts["phones"] = phones
    if robots_meta:
        facts["robots_meta"] = robots_meta
    for key in ("tdm_reservation", "tdm_policy"):
        if key in single:
            facts[key] = single[key]
    return facts
