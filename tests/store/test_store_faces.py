"""Faces in the store: an ingest fills ``faces`` and ``images.face_count`` (real photos of ../shared/corpora/faces with
hand-labelled boxes, and negatives), a detection that fails is named per image and loses nothing else (every file of
../shared/corpora/bad-images; a detection over its time bound), ``--no-faces`` leaves ``face_count`` NULL, and
``provaudit audit --faces`` adds faces to such a store, or to an older store without the columns, once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audit.decode.facejob import detection_pool
from audit.decode.faces import DETECTOR, DETECTOR_VERSION
from audit.decode.workers import AnalysisPool, Bounds
from audit.derive.faces import NOT_FOUND, add_faces
from audit.ingest.run import analysed, ingest, iter_files
from audit.store.db import Store
from audit.store.recorder import Recorder
from conftest import CORPORA, provaudit

FACES = CORPORA / "faces"
LABELS = {e["file"]: e for e in map(json.loads, (FACES / "boxes.jsonl").read_text().splitlines()) if e}


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def _faces_by_file(store: Store) -> dict[str, tuple[int | None, str | None, int, list[tuple[int, ...]]]]:
    """file name -> (face_count, face_error, image height, face boxes in face_index order)."""
    boxes: dict[str, list[tuple[int, ...]]] = {}
    for sha, *box in store.query("SELECT sha256, box_left, box_top, box_width, box_height FROM faces "
                                 "ORDER BY sha256, face_index"):
        boxes.setdefault(sha, []).append(tuple(box))
    return {url.rsplit("/", 1)[1]: (count, error, height, boxes.get(sha, []))
            for url, sha, count, error, height in store.query(
                "SELECT f.url, i.sha256, i.face_count, i.face_error, i.height FROM fetches f JOIN images i USING "
                "(sha256)")}


def _snapshot(store: Store) -> tuple[list[tuple], list[tuple]]:
    return (store.query("SELECT * EXCLUDE (exif, iptc, xmp, location, c2pa) FROM images ORDER BY sha256"),
            store.query("SELECT * FROM faces ORDER BY sha256, face_index"))


@pytest.fixture(scope="module")
def faces_store(tmp_path_factory) -> Path:
    if not FACES.is_dir():
        pytest.fail(f"the shared test corpora are missing: expected {FACES}")
    db = tmp_path_factory.mktemp("faces") / "faces.duckdb"
    with Store.open(db) as store:
        ingest(store, [FACES / "images"], faces=True, workers=2)
    return db


def test_an_ingest_of_face_photos_fills_faces_that_overlap_the_labels(faces_store):
    with Store.open(faces_store, read_only=True) as store:
        found = _faces_by_file(store)
        rows = store.query("SELECT sha256, face_index, box_height, relative_size, confidence, detector, "
                           "detector_version FROM faces")
        heights = dict(store.query("SELECT sha256, height FROM images"))
    assert set(found) == set(LABELS)
    labelled = matched = detected = right = negatives = clean = 0
    for name, (count, error, _height, boxes) in found.items():
        entry = LABELS[name]
        assert error is None and count == len(boxes), (name, count, error, boxes)
        if entry["negative"]:
            negatives += 1
            clean += count == 0
            continue
        labels = [tuple(b) for b in entry["faces"]]
        labelled += len(labels)
        matched += sum(any(_iou(box, lab) >= 0.4 for box in boxes) for lab in labels)
        detected += len(boxes)
        right += sum(any(_iou(box, lab) >= 0.4 for lab in labels + [tuple(b) for b in entry.get("ignore", [])])
                     for box in boxes)
    assert negatives >= 10 and clean / negatives >= 0.9, (clean, negatives)
    assert detected and right / detected >= 0.9, (right, detected)
    assert matched / labelled >= 0.6, (matched, labelled)
    for sha, index, box_height, relative_size, confidence, detector, version in rows:
        assert relative_size == pytest.approx(box_height / heights[sha]) and 0 < relative_size <= 1
        assert confidence is not None and index >= 0
        assert (detector, version) == (DETECTOR, DETECTOR_VERSION)


def test_every_bad_image_keeps_its_rows_and_a_failed_detection_is_named(corpora, tmp_path):
    folder = corpora / "bad-images"
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    with Store.open(tmp_path / "bad.duckdb") as store:
        result = ingest(store, [folder], faces=True, workers=2)
        fetched = store.query("SELECT count(*), count(sha256) FROM fetches")[0]
        rows = store.query("SELECT error, face_count, face_error FROM images")
        orphans = store.query("SELECT count(*) FROM faces WHERE sha256 NOT IN (SELECT sha256 FROM images)")[0][0]
    assert fetched == (files, files) and result.images == files  # every file is recorded with its image row
    assert orphans == 0
    readable = [r for r in rows if r[0] is None]
    assert readable and any(count is not None for _, count, _ in readable)
    for error, count, face_error in rows:
        if error is not None:  # an image the analysis could not read: detection did not run, images.error says why
            assert count is None and face_error is None
        else:  # face_count NULL only with its reason named
            assert (count is None) == (face_error is not None), (count, face_error)
            assert face_error is None or face_error.startswith("face detection")


def test_a_detection_over_its_time_bound_is_named_and_the_analysis_is_kept(tmp_path):
    photo = FACES / "images" / "max-caption__soccer.jpg"  # 1280x853: detection takes well over a millisecond
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(photo, folder / photo.name)
    with AnalysisPool(1, bounds=Bounds(timeout=60)) as pool, \
            detection_pool(1, bounds=Bounds(timeout=0.001)) as detector, Store.open(tmp_path / "s.duckdb") as store:
        recorder = Recorder(store, "c1")
        recorder.begin(source="test", kind="files", settings={}, warc_path=None)
        for item in analysed(iter_files(folder, max_image_bytes=1 << 24), pool, faces=detector):
            recorder.add(item)
        recorder.finish()
        assert detector.stats["timed_out"] == 1
        row = store.query("SELECT error, phash, width, face_count, face_error FROM images")
        assert store.query("SELECT count(*) FROM faces")[0][0] == 0
        assert store.query("SELECT count(*) FROM fetches WHERE sha256 IS NOT NULL")[0][0] == 1
    [(error, phash, width, count, face_error)] = row
    assert error is None and phash is not None and width == 1280  # the analysis is whole
    assert count is None and face_error == "face detection timed out after 0.001 s"


def test_no_faces_then_audit_faces_fills_them_once(faces_store, tmp_path):
    db = tmp_path / "later.duckdb"
    provaudit("ingest", str(FACES / "images"), "--db", str(db), "--no-faces")
    with Store.open(db, read_only=True) as store:
        assert store.query("SELECT count(*), count(face_count), count(face_error) FROM images")[0] == (41, 0, 0)
        assert store.query("SELECT count(*) FROM faces")[0][0] == 0
    proc = provaudit("audit", "--db", str(db), "--faces")
    assert "faces: 41 of 41 images detected" in proc.stderr + proc.stdout, proc.stderr
    with Store.open(faces_store, read_only=True) as store:
        expected = _faces_by_file(store)
    with Store.open(db) as store:
        assert _faces_by_file(store) == expected  # the same faces as an ingest that detected them
        before = _snapshot(store)
        again = add_faces(store)
        assert (again.wanted, again.detected) == (0, 0)
        assert _snapshot(store) == before


def test_audit_faces_names_an_image_whose_bytes_are_gone_and_opens_an_older_store(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("max-pose__Pilots.jpg", "max-facerec__Chris.jpeg", "gcp-vision__cat.jpg"):
        shutil.copy(FACES / "images" / name, folder / name)
    db = tmp_path / "old.duckdb"
    with Store.open(db) as store:
        ingest(store, [folder], faces=False, workers=1)
        # a store written before faces existed: no faces table, no face columns
        store.con.execute("DROP TABLE faces")
        store.con.execute("ALTER TABLE images DROP COLUMN face_count")
        store.con.execute("ALTER TABLE images DROP COLUMN face_error")
    (folder / "gcp-vision__cat.jpg").unlink()
    with Store.open(db) as store:  # opening it for writing adds what it lacks
        result = add_faces(store, bounds=Bounds(timeout=60))
        found = _faces_by_file(store)
    assert (result.wanted, result.detected, result.not_found) == (3, 2, 1)
    assert found["max-pose__Pilots.jpg"][0] == 3 and found["max-facerec__Chris.jpeg"][0] == 1
    assert found["gcp-vision__cat.jpg"][:2] == (None, NOT_FOUND)


def test_ingesting_again_with_faces_fills_the_images_recorded_without(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("max-pose__Pilots.jpg", "gcp-vision__cat.jpg"):
        shutil.copy(FACES / "images" / name, folder / name)
    with Store.open(tmp_path / "again.duckdb") as store:
        ingest(store, [folder], faces=False, workers=1)
        assert [c for (c,) in store.query("SELECT face_count FROM images")] == [None, None]
        ingest(store, [folder], faces=True, workers=1)  # the same crawl id: no row is added, the faces are filled
        found = _faces_by_file(store)
        assert store.query("SELECT count(*) FROM fetches")[0][0] == 2
    assert found["max-pose__Pilots.jpg"][0] == len(found["max-pose__Pilots.jpg"][3]) == 3
    assert found["gcp-vision__cat.jpg"][0] == 0
