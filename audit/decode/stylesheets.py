"""The image URLs a linked stylesheet names: a pure function over its bytes, shared by the spider and the ingest.

A page's ``<link rel="stylesheet">`` (and ``@import`` in its ``<style>`` blocks, see
:attr:`audit.decode.html.ParsedPage.stylesheets`) leads to a stylesheet whose ``url()`` entries name images the page
shows (an economist's portrait set as a CSS background). :func:`read_stylesheet` decodes the stylesheet (its
``Content-Type`` charset, else a byte-order mark, else its ``@charset`` rule, else UTF-8, undecodable bytes
replaced), reads its ``url()`` entries with the scanner of :mod:`audit.decode.cssurls`, and resolves them against the
stylesheet's own URL (CSS resolves relative URLs against the stylesheet, not the page).

Stylesheets are hostile, so everything is bounded: ``max_bytes`` of the body, :data:`MAX_STYLESHEET_URLS` ``url()``
entries, :data:`MAX_STYLESHEET_IMAGES` image URLs kept, :data:`MAX_IMPORTS` ``@import`` rules; each cut is said in
:attr:`StylesheetRefs.error`. Only http(s) URLs are kept: ``data:``, ``javascript:``, ``file:``, ``about:`` and the
like are counted in :attr:`StylesheetRefs.skipped`, never followed.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from audit.decode.cssurls import css_urls, import_urls
from audit.decode.html import absolute_url, looks_like_image_url
from audit.settings import DEFAULTS

MAX_STYLESHEET_URLS = 10_000  # url( openings read in one stylesheet
MAX_STYLESHEET_IMAGES = 1_000  # image URLs kept from one stylesheet
MAX_IMPORTS = 16  # @import rules of one stylesheet followed
DEFAULT_MAX_BYTES = int(DEFAULTS["AUDIT_MAX_STYLESHEET_BYTES"])
_CHARSET_RULE = re.compile(rb'@charset "([A-Za-z0-9_.:-]{1,40})";')
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_CSS_TYPES = ("text/css",)


@dataclass(frozen=True, slots=True)
class StylesheetRefs:
    """What one stylesheet names: the image URLs its ``url()`` entries show (absolute, http(s), each once, in order)
    and the stylesheets its ``@import`` rules name (absolute, http(s))."""

    url: str
    image_urls: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    skipped: int = 0  # url() and @import entries that are no http(s) URL (data:, javascript:, file:, about:, ...)
    error: str | None = None  # what was cut (the body past max_bytes, url() entries past the bounds), or None


def is_css(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` says CSS (``text/css``, parameters ignored)."""
    return bool(content_type) and content_type.split(";")[0].strip().lower() in _CSS_TYPES  # type: ignore[union-attr]


def _known(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _header_charset(content_type: str | None) -> str | None:
    if not content_type or "charset=" not in content_type.lower():
        return None
    return _known(content_type.lower().split("charset=", 1)[1].split(";")[0].strip().strip("\"'"))


def stylesheet_text(body: bytes, content_type: str | None = None) -> str:
    """The text of a stylesheet's bytes, decoded as CSS Syntax says (a ``Content-Type`` charset, else a byte-order
    mark, else an ``@charset "…";`` rule at its very start, else UTF-8); undecodable bytes become U+FFFD. Never
    raises."""
    encoding = _header_charset(content_type)
    if encoding is None:
        for bom, name in _BOMS:
            if body.startswith(bom):
                return body[len(bom):].decode(name, errors="replace")
        rule = _CHARSET_RULE.match(body)
        encoding = _known(rule.group(1).decode("ascii")) if rule else None
        if encoding in ("utf-16-le", "utf-16-be", "utf-16"):
            encoding = "utf-8"  # CSS Syntax: an @charset naming UTF-16 in ASCII-compatible bytes means UTF-8
    return body.decode(encoding or "utf-8", errors="replace")


def read_stylesheet(
    body: bytes,
    url: str,
    *,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_imports: int = MAX_IMPORTS,
    cut: bool = False,
) -> StylesheetRefs:
    """The image URLs and ``@import`` URLs of the stylesheet ``body`` fetched from ``url`` (see the module's
    docstring). Reads at most ``max_bytes`` bytes of ``body`` (and the bounds of the module): its work is linear in
    what it reads, whatever the stylesheet holds. ``cut`` says the body was already cut before it came here (the
    download stopped at the size bound). Never raises."""
    problems: list[str] = []
    if len(body) > max_bytes:
        problems.append(f"stylesheet of {len(body):,} bytes read to its first {max_bytes:,} "
                        "(AUDIT_MAX_STYLESHEET_BYTES)")
        body = body[:max_bytes]
    elif cut:
        problems.append(f"stylesheet cut short where its download stopped: read to its first {len(body):,} bytes "
                        "(AUDIT_MAX_STYLESHEET_BYTES)")
    text = stylesheet_text(body, content_type)
    found, _read, urls_cut = css_urls(text, MAX_STYLESHEET_URLS, max_chars=len(text))
    if urls_cut:
        problems.append(f"stylesheet holds more than {MAX_STYLESHEET_URLS:,} url() entries: the rest were not read")
    images: dict[str, None] = {}
    skipped = 0
    for raw, shows_image in found:
        resolved = absolute_url(url, raw)
        if resolved is None:
            skipped += 1
            continue
        if resolved == url or not (shows_image or looks_like_image_url(resolved)):
            continue
        if len(images) >= MAX_STYLESHEET_IMAGES and resolved not in images:
            problems.append(f"stylesheet names more than {MAX_STYLESHEET_IMAGES:,} images: the first "
                            f"{MAX_STYLESHEET_IMAGES:,} were kept")
            break
        images[resolved] = None
    raw_imports, imports_cut = import_urls(text, max_imports, max_chars=len(text))
    if imports_cut:
        problems.append(f"stylesheet holds more than {max_imports} @import rules: the first {max_imports} were read")
    imports: dict[str, None] = {}
    for raw in raw_imports:
        resolved = absolute_url(url, raw)
        if resolved is None:
            skipped += 1
        elif resolved != url:
            imports[resolved] = None
    return StylesheetRefs(url=url, image_urls=tuple(images), imports=tuple(imports), skipped=skipped,
                          error="; ".join(problems) or None)
