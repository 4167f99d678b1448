"""audit.textsafe, function by function: unit tests of each output medium's rule, and property tests (hypothesis)
that no output holds a raw control or bidi character for its medium and that the CSV formula guard holds whatever
separator a spreadsheet splits the file with.

The checks below do not reuse the module's own predicates: the characters that must never be raw are listed here
from the finding (C0/C1 controls, DEL, the bidi controls U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C,
U+2028/U+2029, zero-width and other format characters), and the formula characters are derived from Unicode's
NFKC normalisation. Examples: ``EXAMPLES`` (150) derandomized, as in tests/unit/test_properties.py;
``HYPOTHESIS_EXAMPLES`` runs more, random ones."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from audit import textsafe
from audit.outputs.summary import markdown_table
from audit.textsafe import (
    csv_cell,
    html_text,
    http_href,
    json_dumps,
    json_text,
    log_text,
    markdown_cell,
    rich_text,
    terminal_text,
)

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "150"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, derandomize="HYPOTHESIS_EXAMPLES" not in os.environ,
                   database=None, suppress_health_check=[HealthCheck.too_slow])

ESC = "\x1b"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
C1 = "".join(chr(c) for c in range(0x80, 0xA0))
C0 = "".join(chr(c) for c in range(0x20)) + "\x7f"
OSC52 = f"{ESC}]52;c;cm0gLXJmIH4K\x07"  # writes "rm -rf ~" to the clipboard of a terminal that allows it
# every character no output may hold raw (tab and LF are allowed where a medium keeps them; see each test)
RAW = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
                 "\U000e0000-\U000e007f\ud800-\udfff]")
FORMULA = frozenset(ch for ch in map(chr, range(0x110000))
                    if unicodedata.normalize("NFKC", ch) in ("=", "+", "-", "@"))
SEPARATORS = (",", ";", "\t", "|", "\n")


def raw(text: str, allowed: str = "") -> list[str]:
    return sorted({ch for ch in RAW.findall(text) if ch not in allowed})


def formula_start(cell: str) -> bool:
    """Whether a spreadsheet could run ``cell`` as a formula: after the whitespace and quotes it may trim, it starts
    with a formula character."""
    return cell.lstrip(" \t\n\r\u00a0\u3000\"")[:1] in FORMULA


# text rich in what each rule handles: controls, bidi, separators, quotes, whitespace, formula characters, numbers
ALPHABET = (C0 + C1 + BIDI + "\u2028\u2029\u200b\ufeff\U000e0041\ud800" + ",;\t|\n\r\"' \u00a0\u3000"
            + "".join(sorted(FORMULA)) + "0123456789.eE]}[{<>&:/\\" + "aé中\U0001f600\ue000")
hostile_text = st.text(alphabet=st.sampled_from(ALPHABET) | st.characters(), max_size=80)


# --- the shared definition ------------------------------------------------------------------------------------------

def test_unsafe_characters_are_those_of_the_finding():
    for ch in C0 + C1 + BIDI + "\u2028\u2029\u200b\u2060\ufeff\U000e0001\ud800":
        assert textsafe.is_unsafe(ch), hex(ord(ch))
    # text, including joiners (Persian ZWNJ, emoji ZWJ sequences), private use and odd spaces
    for ch in "\u200c\u200da é中ß\U0001f600\u00a0\u3000\ue000\U000f0000'\"<>&=":
        assert not textsafe.is_unsafe(ch), hex(ord(ch))


def test_formula_characters_are_every_nfkc_form_of_the_four():
    assert frozenset(textsafe.FORMULA_CHARS) == FORMULA
    assert {"\uff1d", "\uff0b", "\uff0d", "\uff20"} <= FORMULA  # the full-width ＝ ＋ － ＠


# --- terminal and log lines -----------------------------------------------------------------------------------------

def _rendered(markup: str) -> str:
    console = Console(record=True, width=10_000, emoji=False, highlight=False, color_system=None)
    console.print(markup)
    return console.export_text().rstrip("\n")


def test_terminal_text():
    assert terminal_text(f"a{ESC}[31mb\rc\nd\te{OSC52}\x85\x9b{BIDI}\u2028f") == (
        "a\ufffd[31mb\ufffdc\ufffdd\ufffde\ufffd]52;c;cm0gLXJmIH4K\ufffd\ufffd\ufffd"
        + "\ufffd" * len(BIDI) + "\ufffdf")
    assert terminal_text(None) == "" and terminal_text(3.5) == "3.5" and terminal_text("plain ok") == "plain ok"
    assert terminal_text("x" * 10, limit=5) == "xxxx…" and terminal_text("x" * 5, limit=5) == "x" * 5


def test_rich_text_prints_markup_as_typed():
    text = "[bold red]MARKUP[/] [link=http://evil.test]click[/link] \\[x] ends with \\"
    shown = rich_text(text + ESC)
    assert _rendered(shown) in (text + "\ufffd", text + "\ufffd\\")  # rich's escape may double a final backslash


def test_log_text_cannot_forge_a_record():
    out = log_text(f"WARNING audit.x: cannot read photo.jpg\nCRITICAL audit: forged{ESC}[2J\r\nline")
    lines = out.split("\n")
    assert lines[0] == "WARNING audit.x: cannot read photo.jpg"
    assert all(line.startswith("  ") for line in lines[1:]) and not raw(out, "\n")


@PROFILE
@given(hostile_text, st.none() | st.integers(1, 40))
def test_terminal_rules_hold_for_any_text(text, limit):
    plain = terminal_text(text, limit=limit)
    assert not raw(plain) and (limit is None or len(plain) <= limit)
    assert _rendered(rich_text(text)) in (terminal_text(text), terminal_text(text) + "\\")
    logged = log_text(text)
    assert not raw(logged, "\n") and all(line.startswith("  ") for line in logged.split("\n")[1:])


# --- HTML -----------------------------------------------------------------------------------------------------------

def test_html_text():
    assert html_text('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"
    # CR and CRLF as LF (what an HTML parser does with them), tab and LF kept, the rest replaced
    assert html_text(f"a\r\nb\rc\nd\te{ESC}[2J\x85\u202e\u2028") == "a\nb\nc\nd\te\ufffd[2J\ufffd\ufffd\ufffd"
    assert html_text(None) == "" and html_text("é中 \u00a0ok") == "é中 \u00a0ok"


def test_http_href():
    for bad in ("javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "data:text/html,x",
                "vbscript:x", "file:///etc/passwd", "//evil.test/x", "http://[::1", None, ""):
        assert http_href(bad) is None, bad
    assert http_href("http://x.test/a?b=1&c=2") == "http://x.test/a?b=1&amp;c=2"
    assert http_href('HTTPS://x.test/"onmouseover="alert(1)') == "HTTPS://x.test/&quot;onmouseover=&quot;alert(1)"
    # the browser drops tab/CR/LF and percent-encodes the rest: the same target, no raw control in the file
    assert http_href("http://x.test/\u202eg\tp\x1b.jpg") == "http://x.test/%E2%80%AEgp%1B.jpg"


@PROFILE
@given(hostile_text)
def test_html_rules_hold_for_any_text(text):
    out = html_text(text)
    assert not raw(out, "\t\n") and not set(out) & set("<>\"'")
    expected = "".join(ch if ch in "\t\n" or not textsafe.is_unsafe(ch) else "\ufffd"
                       for ch in text.replace("\r\n", "\n").replace("\r", "\n"))
    assert html.unescape(out) == expected  # the text itself, nothing else changed


@PROFILE
@given(st.sampled_from(["http://", "https://", "HTTP://", " https://", "javascript:", "data:", ""]), hostile_text)
def test_href_rules_hold_for_any_url(prefix, rest):
    href = http_href(prefix + rest)
    if href is not None:
        assert not raw(href) and not set(href) & set("<>\"'")
        assert href.lower().startswith(("http://", "https://"))


# --- Markdown (notebook tables) -------------------------------------------------------------------------------------

def test_markdown_cell():
    evil = "![x](http://evil.test/t.png) a|b *c* [l](javascript:x) `code` <s>\r\nit's &amp;\u202e"
    cell = markdown_cell(evil)
    assert not set(cell) & set("|[]()!*_`<>\n\r\u202e")
    assert html.unescape(cell) == evil.replace("\r\n", " ").replace("\u202e", "\ufffd")
    table = markdown_table([{"alt": evil, "n": 0.5}])
    assert table.count("\n") == 2 and table.splitlines()[2].count("|") == 3  # one row, two cells


@PROFILE
@given(hostile_text)
def test_markdown_rules_hold_for_any_text(text):
    cell = markdown_cell(text)
    assert not raw(cell) and not set(cell) & set("|[]()!*_`<>\"'\\~")  # ("#" and ";" make the references)
    expected = "".join(" " if ch in "\t\n" else ch if not textsafe.is_unsafe(ch) else "\ufffd"
                       for ch in text.replace("\r\n", "\n").replace("\r", "\n"))
    assert html.unescape(cell) == expected


# --- CSV ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["=1+1", "+1+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "＝1+1", "＋1", "－1",
                                   "＠x", "\ufe66x", " =1", '"=1"', "\u00a0\u3000=1", ["=a", "http://b"], "-", "-inf",
                                   "-3.5", -3.5, "+33 1 23 45 67 89"])
def test_csv_cell_guards_every_formula_start(value):
    cell = csv_cell(value)
    assert cell != value and not formula_start(cell)
    assert all(not formula_start(part) for sep in SEPARATORS for part in cell.split(sep))


@pytest.mark.parametrize("value", ["a;=1", "a,@SUM(1)", "a\t+1+1", "a|-2+3", "48.85, -2.35", "a\n=1", "a\r\n=1",
                                   "a; =1", 'a;"=1"', "ok;＝1", "x, -2.5)", "[2, -1.5, \"=cmd\"]"])
def test_csv_cell_guards_every_sub_field(value):
    cell = csv_cell(value)
    assert cell != value
    for sep in SEPARATORS:
        assert not [p for p in cell.split(sep) if formula_start(p)], (sep, cell)


def test_csv_cell_keeps_plain_values_and_unsigned_numbers():
    for value in ("http://x.test/a.jpg", "plain, with \"quotes\"", "Jean-Pierre @ Paris", "2021-05-03", "0.5",
                  "1e-05", "48.85, 2.35", "[2, 1.5]", "{\"x\": -1}", "é中"):
        assert csv_cell(value) == value, value
    assert csv_cell(None) == "" and csv_cell(0.5) == "0.5" and csv_cell(True) == "True"
    assert csv_cell(-0.5) == "'-0.5"  # a signed number can run on into the next cells: see the module docstring


def test_a_signed_number_cannot_start_a_formula_with_the_next_cell():
    buf = io.StringIO()
    csv.writer(buf).writerow([csv_cell(-1), csv_cell("5+cmd|' /C calc'!A0")])
    (row,) = csv.reader(io.StringIO(buf.getvalue(), newline=""), delimiter=";")
    assert row == ["'-1,5+cmd|' /C calc'!A0"]
    assert csv_cell(["a", "=b"]) == "a\n'=b"  # a list cell: one value a line, each line a cell start
    assert csv_cell("'=1") == "'=1"  # already text for a spreadsheet


def test_csv_cell_strips_controls_and_keeps_json_valid():
    assert csv_cell(f"x{ESC}[31m{OSC52}\x07\u202e\x85\r\ny") == "x\ufffd[31m\ufffd]52;c;cm0gLXJmIH4K" + \
        "\ufffd" * 4 + "\ny"
    value = ["a", "=1", "x;@y", "-2", 3, {"k": "+cmd|' /C calc'!A0", "n": -1.5}]
    cell = csv_cell(json_dumps(value))  # "+cmd..." follows ": ", where no reader splits a line: it stays
    assert json.loads(cell) == ["a", "'=1", "x;'@y", "'-2", 3, {"k": "+cmd|' /C calc'!A0", "n": -1.5}]


CSV_TEXT = st.text(alphabet=st.sampled_from(ALPHABET), max_size=40)


@PROFILE
@given(st.lists(CSV_TEXT | hostile_text | st.floats(allow_nan=False) | st.integers(), min_size=1, max_size=6))
def test_csv_guard_holds_for_any_separator(values):
    cells = [csv_cell(v) for v in values]
    for cell in cells:
        assert not raw(cell, "\t\n")
        for sep in SEPARATORS:  # a reader that splits on any separator, ignoring quotes
            assert not [p for p in cell.split(sep) if formula_start(p)], (sep, cell)
    buf = io.StringIO()
    csv.writer(buf).writerows([cells, cells[::-1]])
    written = buf.getvalue()
    for delimiter in (",", ";", "\t", "|"):  # the file as a spreadsheet in any locale reads it
        for row in csv.reader(io.StringIO(written, newline=""), delimiter=delimiter):
            assert not [c for c in row if formula_start(c)], (delimiter, row)
        for line in written.splitlines():  # and as a program splitting lines without quote rules
            assert not [p for p in line.split(delimiter) if formula_start(p)], (delimiter, line)


@PROFILE
@given(CSV_TEXT)
def test_csv_cell_changes_only_what_it_must(text):
    if not set(text) & (set(",;\t|\n\r\"") | FORMULA) and not raw(text):
        assert csv_cell(text) == text


# --- JSON -----------------------------------------------------------------------------------------------------------

def test_json_dumps_escapes_what_json_dumps_leaves_raw():
    value = {"alt": f"a{ESC}[31m\x85\x9b{BIDI}\u2028\u2029\U000e0041\ud800é中\U0001f600", "n": [1, -2.5, None]}
    assert raw(json.dumps(value, ensure_ascii=False))  # the standard library's way leaves them raw
    text = json_dumps(value)
    assert not raw(text) and json.loads(text) == value
    assert "é中\U0001f600" in text and "\\u202e" in text and "\\udb40\\udc41" in text  # readable, escaped
    assert "\n" in json_dumps(value, indent=2) and not raw(json_dumps(value, indent=2), "\n")
    assert json_text('{"a": "\u202e\t"}') == '{"a": "\\u202e\t"}'


json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
                          max_leaves=12)


@PROFILE
@given(json_value, st.sampled_from([None, 2]))
def test_json_rules_hold_for_any_value(value, indent):
    text = json_dumps(value, indent=indent)
    assert not raw(text, "\n")
    assert json.loads(text) == value
    text.encode("utf-8")  # lone surrogates are escaped too, so the text can be written
