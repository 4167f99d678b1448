"""A crawl fills ``faces`` and ``images.face_count`` (a loopback site serving a labelled photo with faces and a
negative), ``--no-faces`` leaves them NULL, and ``provaudit audit --faces`` reads the images back from the crawl's
WARC to fill them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from loopsite import LoopSite

from audit.derive.faces import add_faces
from audit.ingest.run import ingest
from audit.store.db import Store
from conftest import CORPORA, ROOT, provaudit

FACES = CORPORA / "faces"
PHOTO, NEGATIVE = "max-pose__Pilots.jpg", "gcp-vision__cat.jpg"


def _crawl(db: Path, *extra: str) -> str:
    photo = (FACES / "images" / PHOTO).read_bytes()
    negative = (FACES / "images" / NEGATIVE).read_bytes()

    def route(path: str) -> tuple[int, str, bytes]:
        if path == "/":
            return 200, "text/html", b'<html><body><img src="/crew.jpg"><img src="/cat.jpg"></body></html>'
        if path == "/crew.jpg":
            return 200, "image/jpeg", photo
        if path == "/cat.jpg":
            return 200, "image/jpeg", negative
        return 404, "text/plain", b"not found"

    with LoopSite(route) as site:
        proc = subprocess.run([sys.executable, "-m", "audit.cli", "crawl", site.origin + "/", "--db", str(db),
                               "--allowed-domain", "127.0.0.1", "--no-throttle", *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        origin = site.origin
    assert proc.returncode == 0, proc.stderr[-3000:]
    return origin


def _faces(db: Path, origin: str) -> dict[str, tuple[int | None, list[tuple[int, ...]]]]:
    with Store.open(db, read_only=True) as store:
        boxes: dict[str, list[tuple[int, ...]]] = {}
        for sha, *box in store.query("SELECT sha256, box_left, box_top, box_width, box_height FROM faces "
                                     "ORDER BY sha256, face_index"):
            boxes.setdefault(sha, []).append(tuple(box))
        rows = store.query("SELECT f.url, i.sha256, i.face_count FROM fetches f JOIN images i USING (sha256)")
    return {url[len(origin):]: (count, boxes.get(sha, [])) for url, sha, count in rows}


def _overlaps(box: tuple[int, ...], label: list[int]) -> bool:
    w = min(box[0] + box[2], label[0] + label[2]) - max(box[0], label[0])
    h = min(box[1] + box[3], label[1] + label[3]) - max(box[1], label[1])
    return w > 0 and h > 0 and w * h / (box[2] * box[3] + label[2] * label[3] - w * h) >= 0.4


def test_a_crawl_fills_faces_and_audit_faces_reads_a_crawl_s_warc(corpora, tmp_path):
    labels = {e["file"]: e for e in map(json.loads, (FACES / "boxes.jsonl").read_text().splitlines()) if e}
    db = tmp_path / "faces.duckdb"
    origin = _crawl(db, "--no-warc", "--faces")
    found = _faces(db, origin)
    count, boxes = found["/crew.jpg"]
    assert count == len(boxes) and count >= 2, found
    assert all(any(_overlaps(box, lab) for lab in labels[PHOTO]["faces"]) for box in boxes), boxes
    assert found["/cat.jpg"] == (0, [])

    later = tmp_path / "later.duckdb"
    origin = _crawl(later, "--no-faces")
    assert {url: count for url, (count, _) in _faces(later, origin).items()} == {"/crew.jpg": None, "/cat.jpg": None}
    provaudit("audit", "--db", str(later), "--faces")
    assert _faces(later, origin) == found  # the bytes read back from the crawl's WARC, the same faces

    # an ingest of that WARC without faces: audit --faces reads each image's record at its offset in the archive
    [warc] = tmp_path.glob("*.warc.gz")
    ingested = tmp_path / "ingested.duckdb"
    with Store.open(ingested) as store:
        ingest(store, [warc], faces=False, workers=1)
        result = add_faces(store)
    assert result.sources == {"archives": 2} and (result.detected, result.not_found) == (2, 0)
    assert _faces(ingested, origin) == found
