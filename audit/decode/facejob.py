"""Face detection of one image's bytes as a job of the bounded worker processes (:mod:`audit.decode.workers`).

Crawl, ingest and ``provaudit audit --faces`` detect faces in a :class:`~audit.decode.workers.WorkerPool` of their
own, next to the analysis pool and under the same :class:`~audit.decode.workers.Bounds` (time per file, memory per
worker, pixels): a detection that fails, hangs or crashes its worker costs only the faces of that image (its
:class:`FaceOutcome` names why), never the image's analysis. The detector (:mod:`audit.decode.faces`) runs on a
reduced decode; its libraries are loaded once per worker (:mod:`audit.decode.facemodels`, single-threaded), before
the time bound runs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from audit.decode.workers import Bounds, Job, WorkerPool
from audit.records import FaceBox, ImageRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FaceOutcome:
    """The faces of one image's bytes (most confident first), or None and ``error`` saying why there are none."""

    faces: tuple[FaceBox, ...] | None
    error: str | None = None


def detect_outcome(data: bytes, bounds: Bounds) -> FaceOutcome:
    """The faces in ``data`` (boxes in the stored image's pixels). Never raises: bytes that cannot be decoded, an
    image over ``bounds.max_pixels`` or a detector failure give ``faces=None`` and the error."""
    from audit.decode.faces import detect_faces_in
    from audit.decode.formats import open_image
    from audit.errors import FaceDetectionError

    try:
        with open_image(data) as img:
            found = detect_faces_in(img, max_pixels=bounds.max_pixels)
    except FaceDetectionError as exc:
        return FaceOutcome(None, str(exc)[:300])
    except Exception as exc:  # Pillow raises many kinds for bytes it cannot open
        return FaceOutcome(None, f"face detection did not run: {type(exc).__name__}: {str(exc)[:200]}")
    return FaceOutcome(tuple(FaceBox(*face.box, confidence=face.confidence) for face in found))


def failed_outcome(_data: bytes, error: str) -> FaceOutcome:
    """The outcome of a detection the pool stopped (timed out, crashed, out of memory): no faces, and why."""
    if error.startswith("analysis "):
        error = "face detection " + error[len("analysis "):]
    elif not error.startswith("face detection"):
        error = f"face detection failed: {error}"
    return FaceOutcome(None, error)


DETECT_FACES: Job[FaceOutcome] = Job(run=detect_outcome, failed=failed_outcome,
                                     preload=("audit.decode.faces", "audit.decode.formats",
                                              "audit.decode.facemodels"))


def detection_pool(workers: int = 1, *, bounds: Bounds | None = None,
                   start_method: str | None = None) -> WorkerPool[FaceOutcome]:
    """A pool of ``workers`` processes detecting faces under ``bounds`` (use it as a context manager)."""
    return WorkerPool(DETECT_FACES, workers, bounds=bounds, start_method=start_method)


def decoded(record: ImageRecord) -> bool:
    """True when the analysis read the image's pixels: only those images get a face detection."""
    return record.error is None and record.width is not None and record.height is not None


def with_faces(record: ImageRecord, outcome: FaceOutcome | None) -> ImageRecord:
    """``record`` with the faces of ``outcome``. An image the analysis could not read keeps ``faces`` and
    ``face_error`` None (``images.error`` says why); ``outcome`` None means detection did not run."""
    if outcome is None or not decoded(record):
        return record
    if outcome.error is not None:
        log.info("%s (sha256 %s)", outcome.error, record.sha256[:16])
    return dataclasses.replace(record, faces=outcome.faces, face_error=None if outcome.faces is not None
                               else outcome.error or "face detection failed")
