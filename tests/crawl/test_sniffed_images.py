"""A link that leads to an image served under a type that does not say so (an icon as ``application/octet-stream``,
as real servers send them) is recorded as an image by its bytes; a binary that is no image is not."""

from __future__ import annotations

import subprocess
import sys

from loopsite import LoopSite

from audit.store.db import Store
from conftest import CORPORA, ROOT

ICON = CORPORA / "photos" / "exiftool-t-images" / "ICO.ico"  # a real .ico file (exiftool's test images)


def test_a_linked_icon_served_as_octet_stream_is_recorded_by_its_bytes(tmp_path):
    icon = ICON.read_bytes()
    zipped = b"PK\x03\x04" + bytes(200)  # a ZIP's start: binary, not an image

    def route(path: str) -> tuple[int, str, bytes]:
        if path == "/":
            return 200, "text/html", b'<html><body><a href="/get?id=1">logo</a> <a href="/get?id=2">archive</a>' \
                                     b"</body></html>"
        if path == "/get?id=1":
            return 200, "application/octet-stream", icon
        if path == "/get?id=2":
            return 200, "application/octet-stream", zipped
        return 404, "text/plain", b"not found"

    db = tmp_path / "sniff.duckdb"
    with LoopSite(route) as site:
        proc = subprocess.run([sys.executable, "-m", "audit.cli", "crawl", site.origin + "/", "--db", str(db),
                               "--allowed-domain", "127.0.0.1", "--no-throttle", "--no-warc"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        origin = site.origin
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Store.open(db, read_only=True) as store:
        seen = {r[0]: r[1:] for r in store.query(
            "SELECT s.image_url, s.page_url, s.ref_kind, i.format FROM sightings s LEFT JOIN images i USING (sha256)")}
    assert seen[origin + "/get?id=1"] == (origin + "/", "link", "ICO"), seen
    assert origin + "/get?id=2" not in seen, seen


def test_an_html_page_behind_an_image_link_is_no_image_and_is_read_as_a_page(tmp_path):
    """A wiki's ``File:…jpg`` description page linked from an article, and a soft 404 (an HTML page answering an
    ``<img>``): neither is recorded as an image; the description page is read as a page, so the photo it shows is
    found."""
    photo = next((CORPORA / "photos").rglob("*.jpg")).read_bytes()

    def route(path: str) -> tuple[int, str, bytes]:
        if path == "/wiki/Article":
            return 200, "text/html", (b'<html><body><a href="/wiki/File:Portrait.jpg"><img src="/thumb/p.jpg"></a>'
                                      b'<img src="/missing.png"></body></html>')
        if path == "/wiki/File:Portrait.jpg":
            return 200, "text/html; charset=utf-8", b'<html><body><img src="/upload/portrait.jpg"></body></html>'
        if path in ("/thumb/p.jpg", "/upload/portrait.jpg"):
            return 200, "image/jpeg", photo
        if path == "/missing.png":
            return 200, "text/html", b"<html><body>Sorry, no such page</body></html>"
        return 404, "text/plain", b"not found"

    db = tmp_path / "wiki.duckdb"
    with LoopSite(route) as site:
        proc = subprocess.run([sys.executable, "-m", "audit.cli", "crawl", site.origin + "/wiki/Article", "--db",
                               str(db), "--allowed-domain", "127.0.0.1", "--no-throttle", "--no-warc"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        o = site.origin
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Store.open(db, read_only=True) as store:
        seen = {(r[0], r[1]): r[2:] for r in store.query(
            "SELECT s.image_url, s.page_url, s.ref_kind, s.sha256, i.format "
            "FROM sightings s LEFT JOIN images i USING (sha256)")}
        errors = dict(store.query("SELECT url, error FROM fetches"))
        unreadable = store.query("SELECT count(*) FROM images WHERE format IS NULL")[0][0]
        pages = {r[0] for r in store.query("SELECT url FROM pages")}
    file_page = o + "/wiki/File:Portrait.jpg"
    assert seen[(file_page, o + "/wiki/Article")][1] is None  # the link's sighting holds no image
    assert errors[file_page].startswith("not an image: an HTML page answered"), errors
    assert seen[(o + "/missing.png", o + "/wiki/Article")][1] is None
    assert errors[o + "/missing.png"].startswith("not an image"), errors
    assert unreadable == 0  # no HTML page stored as an unreadable image
    assert file_page in pages
    assert seen[(o + "/upload/portrait.jpg", file_page)][2] == "JPEG", seen  # the photo the page shows
    assert seen[(o + "/thumb/p.jpg", o + "/wiki/Article")][2] == "JPEG"
