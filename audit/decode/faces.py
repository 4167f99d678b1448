"""Where faces are in an image: face *detection* only (boxes and a confidence), never recognition.

Nothing here says whose face it is, compares faces or keeps a crop: the toolkit counts images showing people, it
does not identify them. The detector is dlib's HOG frontal-face detector from the pinned ``dlib-bin`` wheel (no
model file; nothing is downloaded), chosen by measurement in docs/accuracy.md ("Face detection: choosing the
detector", ``bench/face_detectors.py``). dlib is imported on first use only, so ``import audit`` stays light.

Bounds: an image over ``max_pixels`` (default ``AUDIT_MAX_IMAGE_PIXELS``) is refused before its pixels are decoded;
an image is detected on a copy reduced to at most :data:`MAX_SIDE` pixels on its long side (JPEG bytes are
decoded reduced by :func:`detect_faces_in`), and at most :data:`MAX_FACES` faces are returned, most confident first.
Errors: :func:`detect_faces` and :func:`detect_faces_in` raise :class:`audit.errors.FaceDetectionError` (one line
saying why) for pixels that cannot be read or a detector failure, and nothing else; an image without a face gives
``[]``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from PIL import Image

from audit.errors import FaceDetectionError
from audit.settings import DEFAULTS

log = logging.getLogger(__name__)

DETECTOR = "dlib-hog-frontal"
DETECTOR_VERSION = "dlib-bin 20.0.1.post1"  # the pin in pyproject.toml (a unit test keeps them equal)
MAX_SIDE = 640  # long side of the reduced copy a detection runs on (pixels)
UPSAMPLE = 1  # dlib's pyramid upsampling: 1 finds faces of about 40 px in the reduced copy, 0 only about 80 px
THRESHOLD = 0.0  # dlib's adjust_threshold: its default, not tuned on the test set
MAX_FACES = 64
DEFAULT_MAX_PIXELS = int(DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"])


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: ``box`` is (left, top, width, height) in the pixels of the image it was detected in,
    within that image; ``confidence`` is the detector's score (dlib: the HOG SVM margin, > 0 above its threshold)."""

    box: tuple[int, int, int, int]
    confidence: float

    def as_json(self) -> dict[str, Any]:
        """``{"box": [left, top, width, height], "confidence": c}`` (confidence rounded to 4 places)."""
        return {"box": list(self.box), "confidence": round(self.confidence, 4)}


@functools.cache
def _detector() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


def _reduced(image: Image.Image, max_side: int) -> Image.Image:
    """An RGB copy of ``image`` at most ``max_side`` pixels on its long side (``image`` itself is not changed)."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image.copy()
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return rgb


def _run(small: Image.Image) -> list[tuple[tuple[float, float, float, float], float]]:
    import numpy as np

    rects, scores, _ = _detector().run(np.asarray(small), UPSAMPLE, THRESHOLD)
    found = [((float(r.left()), float(r.top()), float(r.width()), float(r.height())), float(s))
             for r, s in zip(rects, scores, strict=True)]
    found.sort(key=lambda f: -f[1])
    return found[:MAX_FACES]


def _scaled(found: list[tuple[tuple[float, float, float, float], float]], small: tuple[int, int],
            size: tuple[int, int]) -> list[Face]:
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
        return _scaled(_run(small), small.size, (width, height))
    except FaceDetectionError:
        raise
    except Exception as exc:  # truncated data, decoder errors, odd modes, out of memory, the detector itself
        raise FaceDetectionError(f"face detection failed: {type(exc).__name__}: {_line(exc)}") from exc


def detect_faces_in(image: Image.Image, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Face]:
    """:func:`detect_faces` of an image not yet loaded, decoded reduced: a JPEG is decoded straight at a smaller
    scale (Pillow's ``draft``), which is most of the time saved. ``image`` is used up (draft changes its size):
    boxes are in the pixels of the image as stored (its size when it was opened). Same errors as
    :func:`detect_faces`."""
    try:
        size = image.size
        _check_size(size, max_pixels)
        if image.format == "JPEG" and max(size) > MAX_SIDE:
            scale = MAX_SIDE / max(size)
            image.draft("RGB", (max(1, int(size[0] * scale)), max(1, int(size[1] * scale))))
        small = _reduced(image, MAX_SIDE)
        return _scaled(_run(small), small.size, size)
    except FaceDetectionError:
        raise
    except Exception as exc:  # as in detect_faces
        raise FaceDetectionError(f"face detection failed: {type(exc).__name__}: {_line(exc)}") from exc


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no message"
