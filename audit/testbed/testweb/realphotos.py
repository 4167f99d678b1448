"""Real photos for the test web: the labelled face-detection set of the shared corpora (``faces/``: photos with
hand-placed face boxes, and negatives without a face), and the face boxes of each served copy.

The set lives beside the repository (``../shared/corpora/faces`` from its root, as the tests reach it). A clone
without it builds a test web of synthetic photos only; :func:`load_corpus` then returns nothing and says why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # left, top, width, height in pixels

# ../shared/corpora/faces from the repository root (this file is audit/testbed/testweb/realphotos.py)
DEFAULT_CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "faces"
BOXES = "boxes.jsonl"
MAX_CORPUS_FILES = 200  # bound on what one build reads from a corpus folder
MAX_FILE_BYTES = 20 * 1024 * 1024
# a face box a crop leaves with less than this share of its area is no longer a labelled face: it becomes an
# "ignore" region (a detection there counts neither as a hit nor as a false alarm)
MIN_VISIBLE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class RealPhoto:
    """One labelled file of the corpus: where it came from, its licence, its pixel size and its face boxes."""

    file: str  # name under images/
    path: str  # absolute path of the file, read when a copy is encoded
    width: int
    height: int
    faces: tuple[Box, ...]
    ignore: tuple[Box, ...]
    source: str  # owner/repo:path
    commit: str
    licence: str


def _box(value: object) -> Box:
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(x, int) for x in value)):
        raise ValueError(f"not a box [left, top, width, height]: {value!r}")
    left, top, width, height = value
    return left, top, width, height


def load_corpus(folder: Path | None = None) -> tuple[list[RealPhoto], str]:
    """The labelled photos of ``folder`` (default :data:`DEFAULT_CORPUS`), in file-name order, and a one-line note
    saying what was used or why nothing was (absent folder, unreadable ``boxes.jsonl``). Never raises."""
    folder = Path(folder) if folder is not None else DEFAULT_CORPUS
    boxes = folder / BOXES
    if not boxes.is_file():
        return [], f"no face photos: {boxes} not found (synthetic photos only)"
    out: list[RealPhoto] = []
    try:
        with boxes.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                if len(out) >= MAX_CORPUS_FILES:
                    break
                row = json.loads(line)
                name = str(row["file"])
                path = folder / "images" / name
                if "/" in name or "\\" in name or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                    logger.warning("%s:%d: skipped %r (missing, too large or not a plain name)", boxes, lineno, name)
                    continue
                out.append(RealPhoto(
                    name, str(path), int(row["width"]), int(row["height"]),
                    tuple(_box(b) for b in row.get("faces") or ()), tuple(_box(b) for b in row.get("ignore") or ()),
                    str(row.get("source", "")), str(row.get("commit", "")), str(row.get("licence", ""))))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [], f"no face photos: {boxes} unreadable ({exc}) (synthetic photos only)"
    out.sort(key=lambda r: r.file)
    with_faces = sum(1 for r in out if r.faces)
    return out, (f"{len(out)} real photos from {folder} ({with_faces} with {sum(len(r.faces) for r in out)} "
                 f"labelled faces, {len(out) - with_faces} without a face)")


def _clip(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    left, top, right, bottom = box
    return max(0.0, left), max(0.0, top), min(float(width), right), min(float(height), bottom)


def served_boxes(real: RealPhoto, *, base: tuple[int, int], crop: tuple[int, int, int, int] | None,
                 mirror: bool) -> tuple[list[Box], list[Box]]:
    """The face boxes and ignore regions of a copy of ``real`` resized to ``base`` (width, height), then cropped to
    ``crop`` (left, top, right, bottom in the resized image) and mirrored, in the served copy's pixels: exactly the
    transforms :func:`audit.testbed.testweb.images.encode` applies. A face the crop leaves with less than
    :data:`MIN_VISIBLE_SHARE` of its area moves to the ignore regions; one it removes entirely is dropped."""
    sx, sy = base[0] / real.width, base[1] / real.height
    ox, oy, right, bottom = crop if crop is not None else (0, 0, base[0], base[1])
    width, height = right - ox, bottom - oy
    faces: list[Box] = []
    ignore: list[Box] = []
    for boxes, is_face in ((real.faces, True), (real.ignore, False)):
        for left, top, w, h in boxes:
            scaled = (left * sx - ox, top * sy - oy, (left + w) * sx - ox, (top + h) * sy - oy)
            area = (scaled[2] - scaled[0]) * (scaled[3] - scaled[1])
            c = _clip(scaled, width, height)
            visible = max(0.0, c[2] - c[0]) * max(0.0, c[3] - c[1])
            if visible <= 0 or area <= 0:
                continue
            if mirror:
                c = (width - c[2], c[1], width - c[0], c[3])
            box = (round(c[0]), round(c[1]), round(c[2] - c[0]), round(c[3] - c[1]))
            if box[2] < 1 or box[3] < 1:
                continue
            (faces if is_face and visible / area >= MIN_VISIBLE_SHARE else ignore).append(box)
    return faces, ignore
