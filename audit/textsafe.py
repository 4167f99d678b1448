"""Text safety: the one place where a string that came from outside (a scraped URL, alt text, caption, host, header
value, EXIF/IPTC/XMP field, file name, or any value of a store we did not write) is made safe for the medium it is
written to. Every output of the tool goes through exactly one function of this module; no other module escapes.

Which characters are dangerous
------------------------------
:func:`is_unsafe` names them, the same for every medium: Unicode categories ``Cc`` (C0 and C1 controls: ESC and so
ANSI CSI/OSC sequences such as OSC 52, which writes the clipboard; BEL, BS, NUL, CR, the 8-bit CSI U+009B, NEL
U+0085), ``Cf`` (format characters: the bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, the
marks U+200E, U+200F and U+061C, zero-width characters, U+FEFF, tag characters), ``Zl``/``Zp`` (U+2028, U+2029),
``Cs`` (lone surrogates, which UTF-8 cannot even encode) and ``Cn`` (code points unassigned in this Python's Unicode
database: a later Unicode version may make them format characters), except the zero-width non-joiner and joiner
(U+200C, U+200D), which scripts such as Persian and Hindi and emoji sequences need and which control nothing. Every
other character — letters of any
script, emoji, private-use characters, no-break and other spaces — is text and kept.

The rule of each medium
-----------------------
=====================  ============================  ==============================================================
medium                 function                      rule
=====================  ============================  ==============================================================
terminal line          :func:`terminal_text`         every unsafe character, tab and line breaks included, becomes
                                                     U+FFFD; optionally clipped with an ellipsis
rich console           :func:`rich_text`             :func:`terminal_text`, then rich markup (``[bold]``,
                                                     ``[link=…]``) escaped so it prints as typed
log record             :func:`log_text`              :func:`terminal_text` line by line; every line after the
                                                     first is indented, so scraped text cannot forge a record
HTML text, attribute,  :func:`html_text`             CR and CRLF become LF; tab and LF kept; every other unsafe
SVG text                                             character becomes U+FFFD; ``& < > " '`` escaped
HTML ``href``          :func:`http_href`             only an ``http``/``https`` URL, escaped, its unsafe
                                                     characters percent-encoded; anything else gives ``None``
Markdown table cell    :func:`markdown_cell`         as HTML, line breaks and tab as spaces, and the
                                                     characters of Markdown syntax (``| [ ] ( ) ! * _ ` \\ # ~``)
                                                     as HTML character references: no link, image or emphasis
CSV cell               :func:`csv_cell`              as HTML for characters, then the formula guard (below)
JSON                   :func:`json_dumps`,           the exact value; every unsafe character written only as a
                       :func:`json_text`             ``\\uXXXX`` escape (valid JSON, same meaning)
=====================  ============================  ==============================================================

CR and LF in HTML
~~~~~~~~~~~~~~~~~
A line break in scraped text is kept as a line break, and only as LF: CR and CRLF are written as LF. That is the
newline normalisation every HTML parser applies to its input before tokenising (HTML Standard, "preprocessing the
input stream"), so the page a browser shows is the same, while the file holds no raw CR — which, under
``cat report.html`` or in a diff, returns the terminal's cursor to the line start and lets text overwrite what
precedes it. LF and tab are HTML whitespace (a space on screen, inside text and inside quoted attribute values
alike) and harmless to a terminal, so they are kept. The same rule holds in CSV cells. Before this rule, the
report's escaping treated CR as HTML whitespace and kept it: that was the raw CR found in ``report.html`` (a
caption or alt text holding one).

The CSV formula guard
~~~~~~~~~~~~~~~~~~~~~
A spreadsheet runs a cell as a formula when it starts with ``=``, ``+``, ``-`` or ``@`` (Excel, LibreOffice; OWASP
"CSV injection"), and some locales also take the full-width forms. The file is written with ``,``, but Excel and
LibreOffice in French or German locales split CSV on ``;``, a user may choose tab or ``|``, and a program reading
lines may split on line breaks: then every part of a cell after one of ``, ; tab | LF`` starts a cell of its own.
So :func:`csv_cell` treats the cell *and every sub-field after one of those separators* as a cell start: when a
start, after optional whitespace and ``"`` (which a splitting reader may take as an opening quote or trim), holds a
formula character, a ``'`` is put right before that character; a cell that starts with a tab or a line break also
gets a ``'`` in front (OWASP: leading tab/CR). What remains after any separator, trimming and quote removal starts
with ``'``, which spreadsheets show as text. The formula characters are ``= + - @`` and every character that
Unicode compatibility normalisation (NFKC) turns into one of them: the full-width ``＝ ＋ － ＠`` (U+FF1D, U+FF0B,
U+FF0D, U+FF20), the small forms U+FE62, U+FE63, U+FE66, U+FE6B, super- and subscript ``⁺ ⁼ ₊ ₌`` and U+FB29.

Signed numbers are guarded too: ``-3.5`` is written ``'-3.5``. An exemption for plain numbers cannot be made
safe: in a reader that splits the line on another separator than the file's, the field that starts with the
number does not end with its cell but runs on into the next cells, which hold scraped text — ``-1`` followed by
the cell ``5+cmd|' /C calc'!A0`` reads, split on ``;`` in a locale whose decimal mark is ``,``, as the formula
``-1,5+cmd|' /C calc'!A0``. (The property test of ``tests/unit/test_textsafe.py`` found exactly this against an
exemption.) Unsigned numbers, dates and everything else that does not start with a formula character are written
as they are; for typed values, use the Parquet files. The guard inserts ``'`` only as text, so a JSON text written
to a cell stays valid JSON when its formula starts are inside strings (the ``'`` goes after the string's opening
``"``); a negative number right after a ``,`` in a JSON list gets a ``'`` like any other sub-field.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["CSV_SEPARATORS", "FORMULA_CHARS", "JOINERS", "REPLACEMENT", "UNSAFE_CATEGORIES", "csv_cell", "html_text",
           "http_href", "is_unsafe", "json_dumps", "json_text", "log_text", "markdown_cell", "rich_text",
           "terminal_text"]

REPLACEMENT = "\N{REPLACEMENT CHARACTER}"
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})

# ``= + - @`` and every character whose NFKC form is one of them (a test derives this set from unicodedata)
FORMULA_CHARS = frozenset("=+-@\u207a\u207c\u208a\u208c\ufb29\ufe62\ufe63\ufe66\ufe6b\uff0b\uff0d\uff1d\uff20")
# where a spreadsheet or a line reader may cut a cell: the separators of the CSV dialects in use, and line breaks
CSV_SEPARATORS = ",;\t|\n"
_SPLIT = re.compile(f"([{re.escape(CSV_SEPARATORS)}])")  # the group keeps the separators in re.split's result
_HTTP = ("http", "https")


# Format characters that are part of writing, not control: the zero-width non-joiner and joiner (Persian, Hindi and
# other scripts need them to spell words; emoji sequences such as family and profession emoji are joined by U+200D).
# They neither reorder text nor act on a terminal.
JOINERS = frozenset("\u200c\u200d")


def is_unsafe(ch: str) -> bool:
    """Whether the character ``ch`` must never reach an output raw (see the module docstring for the categories)."""
    return unicodedata.category(ch) in UNSAFE_CATEGORIES and ch not in JOINERS


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _replace_unsafe(text: str, keep: str = "") -> str:
    """``text`` with every unsafe character not in ``keep`` replaced by U+FFFD."""
    if text.isprintable():  # no character of the unsafe categories (the common case, checked in C)
        return text
    return "".join(ch if ch in keep or not is_unsafe(ch) else REPLACEMENT for ch in text)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def terminal_text(value: object, *, limit: int | None = None) -> str:
    """One line for a terminal that interprets no markup: every unsafe character (controls, so escape sequences,
    CR, LF and tab too; bidi and other format characters; line separators) replaced by U+FFFD, spaces kept.
    ``None`` gives ``""``. With ``limit``, text longer than that is clipped to ``limit`` characters ending in
    ``…``. The result holds no unsafe character."""
    text = _replace_unsafe(_text(value))
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def rich_text(value: object, *, limit: int | None = None) -> str:
    """Text for a rich console or table cell: :func:`terminal_text`, then rich markup escaped, so that ``[bold]``
    or ``[link=…]`` prints as typed. (Emoji codes such as ``:warning:`` are left to the consoles' ``emoji=False``.)"""
    from rich.markup import escape  # imported on first use: `provaudit --help` need not load Rich

    return escape(terminal_text(value, limit=limit))


def log_text(text: str) -> str:
    """A formatted log record for a terminal or log file: each line made safe as :func:`terminal_text`, the line
    breaks kept (a traceback stays readable), and every line after the first indented by two spaces, so that no
    line break in a logged value can start a line that looks like a record of its own."""
    return "\n  ".join(terminal_text(line) for line in text.split("\n"))


def html_text(value: object) -> str:
    """Text for HTML and SVG, safe as element text and inside a single- or double-quoted attribute value:
    CR and CRLF written as LF, tab and LF kept, every other unsafe character replaced by U+FFFD, and
    ``& < > " '`` escaped. ``None`` gives ``""``. See "CR and LF in HTML" in the module docstring."""
    return html.escape(_replace_unsafe(_lf(_text(value)), keep="\t\n"), quote=True)


# one pass, so that no reference is escaped twice: HTML's five, Markdown's syntax, and a cell is one line
_MARKDOWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "\n": " ", "\t": " "}
                          | {ch: f"&#{ord(ch)};" for ch in "|[]()!*_`\\#~"})


def markdown_cell(value: object) -> str:
    """Text for one cell of a Markdown table (rendered as HTML by notebooks): unsafe characters as in
    :func:`html_text`, ``& < > " '`` escaped, line breaks and tabs as spaces (a cell is one line), and every
    character of Markdown syntax that could end the cell or make a link, an image (a request to a remote host when
    the notebook is shown), emphasis or code written as an HTML character reference, so it shows as typed."""
    return _replace_unsafe(_lf(_text(value)), keep="\t\n").translate(_MARKDOWN)


def _percent(ch: str) -> str:
    if ch in "\t\n\r":  # a browser's URL parser drops them, so dropping them keeps the link's target
        return ""
    return quote(ch.encode("utf-8", "replace"), safe="")


def http_href(url: object) -> str | None:
    """The value of an ``href`` for ``url`` when it is an ``http`` or ``https`` URL (scheme in any case, around
    any whitespace), else ``None`` — so ``javascript:``, ``data:``, ``vbscript:``, ``file:`` and anything
    unparsable are never links. The value is escaped for a quoted attribute and holds no unsafe character: tab,
    CR and LF are dropped and the rest percent-encoded as UTF-8, which is what a browser does with them, so the
    link points where the URL does."""
    if url is None:
        return None
    s = str(url)
    try:
        scheme = urlsplit(s.strip()).scheme.lower()
    except ValueError:
        return None
    if scheme not in _HTTP:
        return None
    if not s.isprintable():
        s = "".join(_percent(ch) if is_unsafe(ch) else ch for ch in s)
    return html.escape(s.strip(), quote=True)


def _guard_field(field: str) -> str:
    """``field`` (text between two separators) with a ``'`` before its first character when that is a formula
    character after optional whitespace and quotes."""
    for i, ch in enumerate(field):
        if ch.isspace() or ch == '"':
            continue
        if ch in FORMULA_CHARS:
            return field[:i] + "'" + field[i:]
        return field
    return field


def csv_cell(value: object) -> str:
    """A CSV cell that no spreadsheet runs as a formula, whatever separator it splits the file with, and that holds
    no unsafe character: ``None`` gives ``""``, a list or tuple one value a line; CR and CRLF become LF, tab and LF
    are kept, every other unsafe character becomes U+FFFD; then the formula guard of the module docstring puts a
    ``'`` before a formula character at the cell's start and at the start of every sub-field after ``, ; tab |``
    or a line break (signed numbers included), and in front of a cell starting with a tab or a line break. Text
    with neither a formula start nor an unsafe character is returned unchanged."""
    if isinstance(value, list | tuple):
        text = "\n".join(_text(v) for v in value)
    else:
        text = _text(value)
    text = _replace_unsafe(_lf(text), keep="\t\n")
    if _SPLIT.search(text) is None:  # one field: only its start can make a formula
        return _guard_field(text)
    parts = _SPLIT.split(text)
    guarded = "".join(part if i % 2 else _guard_field(part) for i, part in enumerate(parts))
    return "'" + guarded if text[:1] in ("\t", "\n") else guarded


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code > 0xFFFF:  # a surrogate pair, as JSON writes characters outside the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_text(text: str) -> str:
    """A JSON text with every unsafe character outside JSON's own whitespace (tab, LF, CR, which a JSON encoder
    never writes raw inside a string) written as a ``\\uXXXX`` escape. A valid JSON text stays valid and means
    the same; raw unsafe characters can only stand inside its strings, where the escape is what they mean."""
    if text.isprintable():
        return text
    return "".join(_json_escape(ch) if ch not in "\t\n\r" and is_unsafe(ch) else ch for ch in text)


def json_dumps(value: Any, *, indent: int | None = None, sort_keys: bool = False,
               default: Callable[[Any], Any] | None = None,
               separators: tuple[str, str] | None = None) -> str:
    """``value`` as JSON for any output (a file, the terminal, a CSV cell): non-ASCII text kept readable, the exact
    values kept, and every unsafe character (controls, C1, bidi and other format characters, U+2028/U+2029, lone
    surrogates) written only as a ``\\uXXXX`` escape — ``json.dumps(ensure_ascii=False)`` alone leaves the
    non-C0 ones raw. The result holds no unsafe character other than the LFs of ``indent``."""
    return json_text(json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys, default=default,
                                separators=separators))

