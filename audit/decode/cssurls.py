"""The image URLs a piece of CSS names in ``url()``: a small bounded scanner, not a CSS parser.

CSS in a page is hostile (a 10 MB ``<style>`` block, 100,000 ``url()`` entries, unterminated quotes): the scanner
reads at most :data:`MAX_CSS_CHARS` characters of one block and the caller's count of ``url()`` entries, and each
entry is matched within :data:`MAX_URL_CHARS` characters, so its work is linear in what it reads whatever the text
holds. A ``url()`` counts as an image when its declaration's property shows images (``background``,
``background-image``, ``list-style``, ``border-image``, ``content``, ``mask``, ``cursor``) or when the URL ends in an
image extension; ``@import`` and ``@font-face`` sources are neither.
"""

from __future__ import annotations

import re

MAX_CSS_CHARS = 256 * 1024  # characters of one style block or attribute read
MAX_URL_CHARS = 2048  # longest url() entry read
_LOOKBACK = 256  # characters before a url() searched for its property
_URL_START = re.compile(r"url\(", re.I)
_ESC = r"\\(?:[0-9A-Fa-f]{1,6}[\t\n\f\r ]?|.)"  # a CSS escape
_URL_BODY = re.compile(
    rf"""url\([\t\n\f\r ]*(?:"((?:[^"\\\n]|{_ESC})*)"|'((?:[^'\\\n]|{_ESC})*)'|((?:[^"'()\\\s]|{_ESC})*))"""
    r"[\t\n\f\r ]*\)",
    re.I | re.S,
)
_ESCAPE = re.compile(r"\\(?:([0-9A-Fa-f]{1,6})[\t\n\f\r ]?|(\n)|(.))", re.S)
_PROPERTY = re.compile(r"([A-Za-z-]+)[\t\n\f\r ]*:[^;{}]*$")
_IMAGE_PROPERTIES = ("background", "list-style", "border-image", "content", "mask", "cursor", "-webkit-mask")


def _unescape(match: re.Match[str]) -> str:
    if match.group(1):
        code = int(match.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return "" if match.group(2) else match.group(3)


def css_urls(css: str, max_urls: int, *, max_chars: int = MAX_CSS_CHARS) -> tuple[list[tuple[str, bool]], int, bool]:
    """The ``url()`` entries of ``css`` (unquoted, CSS escapes decoded), each with whether its declaration's property
    shows images, in order; how many ``url(`` openings were read; and whether ``css`` holds more than ``max_urls``
    of them (only its first ``max_chars`` characters, :data:`MAX_CSS_CHARS` unless given, are read: the caller can
    tell when it is longer). Reads at most ``max_urls`` ``url(`` openings, each within :data:`MAX_URL_CHARS`
    characters: linear in the text read, whatever it holds."""
    css = css[:max_chars]
    found: list[tuple[str, bool]] = []
    seen = 0
    for start in _URL_START.finditer(css):
        if seen >= max_urls:
            return found, seen, True
        seen += 1
        pos = start.start()
        match = _URL_BODY.match(css, pos, min(len(css), pos + MAX_URL_CHARS))
        if match is None:
            continue
        raw = next(g for g in match.groups() if g is not None)
        url = _ESCAPE.sub(_unescape, raw).strip()
        if not url:
            continue
        before = css[max(0, pos - _LOOKBACK):pos]
        declaration = re.split(r"[;{}]", before)[-1]
        prop = _PROPERTY.search(declaration)
        shows_image = prop is not None and prop.group(1).lower().startswith(_IMAGE_PROPERTIES)
        found.append((url, shows_image))
    return found, seen, False


MAX_IMPORT_SCAN = 256  # ``@import`` rules looked at in one piece of CSS
_IMPORT_START = re.compile(r"@import\b", re.I)
_IMPORT_BODY = re.compile(
    rf"""@import[\t\n\f\r ]*(?:url\([\t\n\f\r ]*(?:"((?:[^"\\\n]|{_ESC})*)"|'((?:[^'\\\n]|{_ESC})*)'|"""
    rf"""((?:[^"'()\\\s]|{_ESC})*))[\t\n\f\r ]*\)|"((?:[^"\\\n]|{_ESC})*)"|'((?:[^'\\\n]|{_ESC})*)')""",
    re.I | re.S,
)


def import_urls(css: str, max_imports: int, *, max_chars: int = MAX_CSS_CHARS) -> tuple[list[str], bool]:
    """The URLs ``@import`` rules of ``css`` name (unquoted, CSS escapes decoded), in order, and whether there were
    more than ``max_imports`` of them. Reads at most ``max_chars`` characters and :data:`MAX_IMPORT_SCAN` ``@import``
    openings, each within :data:`MAX_URL_CHARS` characters: linear in the text read."""
    css = css[:max_chars]
    found: list[str] = []
    for seen, start in enumerate(_IMPORT_START.finditer(css)):
        if seen >= MAX_IMPORT_SCAN or len(found) >= max_imports:
            return found, True
        pos = start.start()
        match = _IMPORT_BODY.match(css, pos, min(len(css), pos + MAX_URL_CHARS))
        if match is None:
            continue
        raw = next((g for g in match.groups() if g is not None), "")
        url = _ESCAPE.sub(_unescape, raw).strip()
        if url:
            found.append(url)
    return found, False
