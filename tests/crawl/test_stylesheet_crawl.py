"""The crawl fetches the stylesheets a page links, once per crawl however many pages link them, keeps them in the
WARC, and records the images they name as sightings of each page (``ref_kind`` ``stylesheet``); it obeys the
robots.txt of an off-site stylesheet host, follows ``@import`` one level, cuts a stylesheet over its byte bound and
records every stylesheet, fetched or not, in ``stylesheets``."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

from loopsite import LoopSite
from warcio.archiveiterator import ArchiveIterator

from audit.store.db import Store
from conftest import CORPORA, ROOT

PHOTOS = sorted((CORPORA / "photos").rglob("*.jpg"))[:3]  # real camera photos


def test_linked_stylesheets_are_fetched_once_and_their_images_recorded_for_each_page(tmp_path):
    bg, imported, early = (p.read_bytes() for p in PHOTOS)
    big = b".early{background:url(/early.jpg)}" + b"a{color:red}" * 250_000 + b".late{background:url(/late.jpg)}"

    def cdn(path: str) -> tuple[int, str, bytes]:
        if path == "/robots.txt":
            return 200, "text/plain", b"User-agent: *\nDisallow: /\n"
        return 200, "text/css", b".off{background:url(/off.jpg)}"

    db = tmp_path / "css.duckdb"
    with LoopSite(cdn, host="127.0.0.2") as offsite:
        off_css = offsite.origin + "/theme/off.css"
        head = (f'<link rel="stylesheet" href="/css/a.css"><link rel="stylesheet" href="{off_css}">'
                '<link rel="stylesheet" href="/big.css">')

        def site(path: str) -> tuple[int, str, bytes]:
            pages = {
                "/": f'<html><head>{head}</head><body><div class="hero"></div><a href="/two">two</a></body></html>',
                "/two": '<html><head><link rel="stylesheet" href="/css/a.css"></head><body>two</body></html>',
            }
            sheets = {
                "/css/a.css": b"@import 'b.css'; .hero{background-image:url('../bg.jpg')}"
                              b".x{background:url('javascript:alert(1)')}",
                "/css/b.css": b"@import 'a.css'; @import 'c.css'; .y{background:url(/imported.jpg)}",
                "/css/c.css": b".z{background:url(/too-deep.jpg)}",
                "/big.css": big,
            }
            images = {"/bg.jpg": bg, "/imported.jpg": imported, "/early.jpg": early}
            if path in pages:
                return 200, "text/html; charset=utf-8", pages[path].encode()
            if path in sheets:
                return 200, "text/css", sheets[path]
            if path in images:
                return 200, "image/jpeg", images[path]
            return 404, "text/plain", b"not found"

        with LoopSite(site) as publisher:
            proc = subprocess.run([sys.executable, "-m", "audit.cli", "crawl", publisher.origin + "/", "--db", str(db),
                                   "--allowed-domain", "127.0.0.1", "--no-throttle"],
                                  cwd=ROOT, capture_output=True, text=True, timeout=300)
            paths = list(publisher.paths)
            origin = publisher.origin
        cdn_paths = list(offsite.paths)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert paths.count("/css/a.css") == 1 and paths.count("/css/b.css") == 1, paths  # once, for both pages
    assert "/css/c.css" not in paths and "/too-deep.jpg" not in paths  # @import is followed one level
    assert "/bg.jpg" in paths and "/imported.jpg" in paths and "/early.jpg" in paths
    assert cdn_paths == ["/robots.txt"], cdn_paths  # the off-site stylesheet host's rules forbid it
    with Store.open(db, read_only=True) as store:
        rows = store.query("SELECT image_url, page_url, ref_kind, attributes, sha256 FROM sightings "
                           "WHERE ref_kind = 'stylesheet'")
        sheets = {r[0]: r[1:] for r in store.query("SELECT url, status, images, skipped, error, bytes "
                                                   "FROM stylesheets")}
        (warc_path,) = store.query("SELECT warc_path FROM crawls")[0]
    found = {(r[0].removeprefix(origin), r[1].removeprefix(origin)): (json.loads(r[3])["stylesheet"], r[4])
             for r in rows}
    a_css, b_css = origin + "/css/a.css", origin + "/css/b.css"
    assert found[("/bg.jpg", "/")][0] == a_css and found[("/bg.jpg", "/two")][0] == a_css
    assert found[("/imported.jpg", "/")][0] == b_css and found[("/imported.jpg", "/two")][0] == b_css
    assert found[("/early.jpg", "/")][0] == origin + "/big.css"
    assert all(sha is not None for _, sha in found.values())  # each image fetched and linked
    assert set(found) == {("/bg.jpg", "/"), ("/bg.jpg", "/two"), ("/imported.jpg", "/"), ("/imported.jpg", "/two"),
                          ("/early.jpg", "/")}  # not late.jpg (past the cut), nor off.jpg, nor too-deep.jpg
    assert sheets[a_css][:4] == (200, 1, 1, None)  # one image, one javascript: URL skipped
    assert sheets[b_css][:4] == (200, 1, 0, None)
    status, _, _, error, size = sheets[origin + "/big.css"]
    assert status == 200 and size == 2 * 1024 * 1024 and "read to its first 2,097,152" in error
    off = sheets[off_css]
    assert off[0] is None and "robots.txt" in off[3], off
    with gzip.open(warc_path, "rb") as fh:
        kept = {r.rec_headers.get_header("WARC-Target-URI"): r.rec_headers.get_header("WARC-Truncated")
                for r in ArchiveIterator(fh) if r.rec_type == "response"}
    assert {a_css, b_css, origin + "/big.css"} <= set(kept)
    assert kept[origin + "/big.css"] == "length" and kept[a_css] is None  # the cut stylesheet says so


def test_a_page_waiting_for_a_stylesheet_gets_its_images_after_a_clean_pause(tmp_path):
    """With JOBDIR, a crawl paused (here: after its first page) while the stylesheet is still in the request queue
    resumes with the page still waiting for it: the stylesheet's images are the page's sightings."""
    bg = PHOTOS[0].read_bytes()

    def site(path: str) -> tuple[int, str, bytes]:
        if path == "/":
            return 200, "text/html", b'<html><head><link rel="stylesheet" href="/a.css"></head><body></body></html>'
        if path == "/a.css":
            return 200, "text/css", b".hero{background:url(/bg.jpg)}"
        if path == "/bg.jpg":
            return 200, "image/jpeg", bg
        return 404, "text/plain", b"not found"

    db, jobdir = tmp_path / "paused.duckdb", tmp_path / "job"
    with LoopSite(site) as publisher:
        args = [sys.executable, "-m", "audit.cli", "crawl", publisher.origin + "/", "--db", str(db),
                "--allowed-domain", "127.0.0.1", "--no-throttle", "--no-warc", "--jobdir", str(jobdir)]
        first = subprocess.run([*args, "--max-pages", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        first_paths = list(publisher.paths)
        second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        origin = publisher.origin
    assert first.returncode == 0 and second.returncode == 0, (first.stderr[-2000:], second.stderr[-2000:])
    with Store.open(db, read_only=True) as store:
        rows = store.query("SELECT page_url, ref_kind, sha256 FROM sightings WHERE image_url = ?",
                           [origin + "/bg.jpg"])
        sheets = store.query("SELECT url, error FROM stylesheets")
    assert "/a.css" not in first_paths, first_paths  # the pause came before the stylesheet was fetched
    assert rows and rows[0][:2] == (origin + "/", "stylesheet") and rows[0][2] is not None, rows
    assert sheets == [(origin + "/a.css", None)]
