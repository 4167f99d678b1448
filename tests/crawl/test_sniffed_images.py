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
