"""Face detection against the test web's ground truth: per image (does it show a face, did the detector find one)
and per face (stored boxes matched to labelled boxes at IoU >= 0.4, recall by labelled face height), with 95% Wilson
intervals. Only images whose detection ran (``images.face_count`` not NULL) count; a store where it never ran gets
``{"status": "not run"}``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from audit.stats import Rate
from audit.store.db import Store

IOU_MIN = 0.4  # a stored box matches a labelled face at this intersection over union or more
MIN_FACE_HEIGHT = 40  # faces at least this high (served pixels) are "large", the detector's stated range

Box = tuple[int, int, int, int]


def iou(a: Box | list[int], b: Box | list[int]) -> float:
    """Intersection over union of two ``[left, top, width, height]`` boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def match_faces(found: list[Box], truth: list[Box], ignore: list[Box]) -> tuple[list[bool], list[str]]:
    """Greedy matching in the detector's order (highest confidence first): each found box takes the unmatched
    labelled face it overlaps most, if at IoU >= :data:`IOU_MIN`. Returns, per labelled face, whether it was found,
    and per found box ``hit``, ``ignored`` (it falls on an ignore region instead) or ``false`` (a false alarm)."""
    taken = [False] * len(truth)
    verdicts: list[str] = []
    for box in found:
        best, best_iou = -1, IOU_MIN
        for i, face in enumerate(truth):
            overlap = iou(box, face)
            if not taken[i] and overlap >= best_iou:
                best, best_iou = i, overlap
        if best >= 0:
            taken[best] = True
            verdicts.append("hit")
        elif any(iou(box, region) >= IOU_MIN for region in ignore):
            verdicts.append("ignored")
        else:
            verdicts.append("false")
    return taken, verdicts


TRUTH_SQL = """
SELECT g.sha256, bool_or(g.shows_face), any_value(g.face_boxes), any_value(g.face_ignore),
       any_value(coalesce(g.image_kind, 'photo')), any_value(i.face_count)
FROM ground_truth g JOIN images i USING (sha256)
WHERE g.shows_face IS NOT NULL
GROUP BY g.sha256 ORDER BY g.sha256
"""


def evaluate_detection(store: Store) -> dict[str, Any]:
    """Detection precision and recall on the test web (see the module's doc). ``status`` is ``ran``, ``not run``
    (no image of the ground truth went through detection) or ``no face truth`` (a ground truth written before the
    test web recorded faces)."""
    if not {"shows_face", "face_boxes"} <= store.columns.get("ground_truth", frozenset()) or \
            "face_count" not in store.columns.get("images", frozenset()):
        return {"status": "no face truth"}
    rows = store.query(TRUTH_SQL)
    if not rows:
        return {"status": "no face truth"}
    ran = [r for r in rows if r[5] is not None]
    if not ran:
        return {"status": "not run", "images": len(rows)}
    found: dict[str, list[Box]] = defaultdict(list)
    if "faces" in store.columns:
        for sha, *box in store.query("""
                SELECT f.sha256, f.box_left, f.box_top, f.box_width, f.box_height FROM faces f
                WHERE f.sha256 IN (SELECT sha256 FROM ground_truth) ORDER BY f.sha256, f.face_index"""):
            found[sha].append((int(box[0]), int(box[1]), int(box[2]), int(box[3])))
    positives = predicted = both = 0
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # kind -> [images without a face, found one]
    faces = {"large": [0, 0], "small": [0, 0]}  # labelled faces by height -> [total, found]
    dets = {"large": [0, 0, 0], "small": [0, 0, 0]}  # found boxes by height -> [counted, hits, ignored]
    for sha, shows, boxes, ignore, kind, count in ran:
        truth = [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in boxes or []]
        regions = [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in ignore or []]
        has = int(count) > 0
        positives += bool(shows)
        predicted += has
        both += bool(shows) and has
        if not shows:
            per_kind[kind][0] += 1
            per_kind[kind][1] += has
        taken, verdicts = match_faces(found.get(sha, []), truth, regions)
        for face, hit in zip(truth, taken, strict=True):
            size = "large" if face[3] >= MIN_FACE_HEIGHT else "small"
            faces[size][0] += 1
            faces[size][1] += hit
        for det, verdict in zip(found.get(sha, []), verdicts, strict=True):
            size = "large" if det[3] >= MIN_FACE_HEIGHT else "small"
            dets[size][0] += 1
            dets[size][1] += verdict == "hit"
            dets[size][2] += verdict == "ignored"
    counted = sum(d[0] - d[2] for d in dets.values())
    hits = sum(d[1] for d in dets.values())
    return {
        "status": "ran", "iou_min": IOU_MIN, "min_face_height": MIN_FACE_HEIGHT,
        "images": len(ran), "images_not_run": len(rows) - len(ran), "images_showing_faces": positives,
        "per_image": {
            "precision": Rate(both, predicted).as_dict(),
            "recall": Rate(both, positives).as_dict(),
            # share of the images showing no face in which a face was found, per kind of image
            "false_alarms": {k: Rate(v[1], v[0]).as_dict()
                             for k, v in sorted(per_kind.items())},
        },
        "per_face": {
            "labelled": sum(f[0] for f in faces.values()), "found": sum(d[0] for d in dets.values()),
            "ignored": sum(d[2] for d in dets.values()),
            "precision": Rate(hits, counted).as_dict(),
            "precision_large": Rate(dets["large"][1], dets["large"][0] - dets["large"][2]).as_dict(),
            "precision_small": Rate(dets["small"][1], dets["small"][0] - dets["small"][2]).as_dict(),
            "recall": Rate(sum(f[1] for f in faces.values()), sum(f[0] for f in faces.values())).as_dict(),
            "recall_large": Rate(faces["large"][1], faces["large"][0]).as_dict(),
            "recall_small": Rate(faces["small"][1], faces["small"][0]).as_dict(),
        },
    }
