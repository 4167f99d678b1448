"""The test web shows people: a crawl of it with face detection on, then ``evaluate``, gives detection precision and
recall that match what the store holds (counted here independently), and ``evaluate`` of a store crawled without
detection says it did not run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.store.db import Store
from audit.testbed.evaluate import evaluate
from audit.testbed.groundtruth import load_ground_truth
from conftest import crawl_args, only_crawl_id, provaudit


@pytest.fixture(scope="module")
def faces_store(small_web, server, tmp_path_factory) -> Path:
    """The small test web crawled with face detection on (``-s AUDIT_FACES=True``), its ground truth loaded, audited."""
    db = tmp_path_factory.mktemp("faces") / "store.duckdb"
    provaudit(*crawl_args(small_web, server, db, "-s", "AUDIT_FACES=True"))
    only_crawl_id(db)
    with Store.open(db) as store:
        load_ground_truth(store, small_web.ground_truth_path)
    provaudit("audit", "--db", str(db))
    return db


def _iou(a: list[int], b: list[int]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h) if w > 0 and h > 0 else 0.0


def test_detection_figures_match_the_store(faces_store: Path) -> None:
    with Store.open(faces_store, read_only=True) as store:
        det = evaluate(store).detection
        images = store.query("""
            SELECT g.sha256, bool_or(g.shows_face), any_value(g.face_boxes), any_value(g.face_ignore),
                   any_value(i.face_count)
            FROM ground_truth g JOIN images i USING (sha256) GROUP BY g.sha256""")
        boxes: dict[str, list[list[int]]] = {}
        for sha, *box in store.query("SELECT sha256, box_left, box_top, box_width, box_height FROM faces"):
            boxes.setdefault(sha, []).append(box)
    assert det["status"] == "ran"
    assert all(count is not None for *_, count in images)  # every image of the crawl went through detection
    assert det["images"] == len(images) and det["images_not_run"] == 0
    shows = [r for r in images if r[1]]
    found = [r for r in images if r[4] > 0]
    assert shows, "the small test web shows no face"
    assert det["images_showing_faces"] == len(shows)
    assert det["per_image"]["recall"]["n"] == len(shows)
    assert det["per_image"]["recall"]["hits"] == len([r for r in shows if r[4] > 0])
    assert det["per_image"]["precision"]["n"] == len(found)
    assert det["per_image"]["precision"]["hits"] == len([r for r in found if r[1]])
    # per face: labelled faces, found boxes, and labelled faces some found box overlaps at IoU >= 0.4
    labelled = [(sha, b) for sha, _, fb, _, _ in images for b in fb]
    assert det["per_face"]["labelled"] == len(labelled)
    assert det["per_face"]["found"] == sum(len(v) for v in boxes.values())
    covered = [(sha, b) for sha, b in labelled if any(_iou(b, d) >= 0.4 for d in boxes.get(sha, []))]
    assert det["per_face"]["recall"]["hits"] == len(covered)
    large = [(sha, b) for sha, b in labelled if b[3] >= 40]
    assert det["per_face"]["recall_large"]["n"] == len(large)
    assert det["per_face"]["recall_small"]["n"] == len(labelled) - len(large)
    # the detector finds most of the large faces of real photos, and no face in the graphics
    assert det["per_face"]["recall_large"]["value"] >= 0.5
    for kind in ("logo", "icon", "banner", "map", "product"):
        assert det["per_image"]["false_alarms"][kind]["n"] > 0
    proc = provaudit("evaluate", "--db", str(faces_store))
    assert "face detection on" in proc.stdout and "per face, large" in proc.stdout
    assert json.loads(provaudit("evaluate", "--db", str(faces_store), "--json").stdout)["detection"] == det


def test_evaluate_without_detection_says_not_run(audited_store: Path) -> None:
    with Store.open(audited_store, read_only=True) as store:
        assert store.query("SELECT count(*) FROM images WHERE face_count IS NOT NULL")[0][0] == 0
        truth = store.query("SELECT count(DISTINCT sha256) FROM ground_truth WHERE sha256 IN (SELECT sha256 FROM "
                            "images)")[0][0]
        assert evaluate(store).detection == {"status": "not run", "images": truth}
    proc = provaudit("evaluate", "--db", str(audited_store))
    assert "face detection: not run" in proc.stdout and "per face" not in proc.stdout
    assert json.loads(provaudit("evaluate", "--db", str(audited_store), "--json").stdout)["detection"] == {
        "status": "not run", "images": truth}
