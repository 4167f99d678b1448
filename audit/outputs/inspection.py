"""What ``provaudit inspect`` shows for one file: what the store would record, the signals in the image itself and
the country they point to, and, when asked for, where faces are (``faces``: detection only, see
:mod:`audit.decode.faces`).

Files are analysed in a worker process under :class:`audit.decode.workers.Bounds` (time, memory, pixels), so a file that
hangs or crashes a decoder gives an object whose ``error`` says so, and the next file is still inspected.

The worker is started first: it imports the decoders (NumPy, Pillow's plug-ins, the metadata readers) while this
process imports what turns a record into signals and an attribution, so ``provaudit inspect photo.jpg`` pays for the
two on both cores at once rather than one after the other."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.decode.faces import Face, detect_faces_in
from audit.decode.workers import AnalysisPool, Bounds, Job, WorkerPool
from audit.errors import FaceDetectionError, Refused
from audit.inputs import DEFAULT_MAX_FILE_BYTES as DEFAULT_MAX_READ_BYTES
from audit.inputs import open_regular, sha256_open
from audit.records import ImageRecord
from audit.settings import DEFAULTS

if TYPE_CHECKING:
    from audit.derive.attribution import Attribution

EMPTY_KEYS = ("sha256", "format", "width", "height", "phash", "dhash", "gps", "taken_at", "utc_offset", "location")
DEFAULT_MAX_FILE_BYTES = int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"])  # largest image decoded

log = logging.getLogger(__name__)


def _detect(data: bytes, bounds: Bounds) -> tuple[Face, ...] | None:
    """The faces of an image (within the pixel bound); None when detection cannot run or fails (logged)."""
    from audit.decode.formats import open_image

    try:
        with open_image(data) as img:
            return tuple(detect_faces_in(img, max_pixels=bounds.max_pixels))
    except FaceDetectionError as exc:
        log.info("%s", exc)
    except Exception as exc:  # the analysis opened these bytes, but Pillow raises many kinds on a second look
        log.info("face detection did not run: %s", exc)
    return None


def _not_detected(_data: bytes, error: str) -> None:
    log.info("face detection did not run: %s", error)


# face detection of one file, in its own bounded worker after the analysis (its own time bound: a detection that
# fails or times out leaves the file's record as it was, with faces unknown); both detectors are loaded before the
# clock runs (audit.decode.facemodels)
DETECT: Job[tuple[Face, ...] | None] = Job(run=_detect, failed=_not_detected,
                                           preload=("audit.decode.faces", "audit.decode.facemodels"))


def inspect_files(paths: Iterable[str | Path], *, bounds: Bounds | None = None,
                  max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, workers: int = 1,
                  start_method: str | None = "fork",
                  max_read_bytes: int | None = DEFAULT_MAX_READ_BYTES,
                  faces: bool = False) -> Iterator[dict[str, Any]]:
    """The inspect object of each file, in order; a file that cannot be read gives an object whose ``error`` says
    why. Never raises for a bad file. ``start_method="fork"`` is right from a process without threads (the CLI).

    Only regular files are read (a symlink to one is followed), opened without blocking and checked before a byte
    is read: a FIFO, ``/dev/zero`` or a device gives an error object at once, a file over ``max_read_bytes`` is not
    read, one over ``max_file_bytes`` is hashed but not decoded.

    ``faces``: detect faces (in a second bounded worker, started only then); without it every object's ``faces`` is
    None, as for a file whose detection did not run. Face boxes are opt-in, like everywhere else."""
    bounds = bounds or Bounds()

    def contents() -> Iterator[tuple[tuple[str, ImageRecord | dict[str, Any] | None, bytes], bytes]]:
        for path in paths:
            name = str(path)
            try:
                with open_regular(path, max_read_bytes) as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size > max_file_bytes:
                        record = ImageRecord(sha256=sha256_open(fh, max_read_bytes), size=size,
                                             error=f"file larger than {max_file_bytes} bytes, not decoded")
                        yield (name, record, b""), b""
                        continue
                    data = fh.read(max_file_bytes + 1)
                if len(data) > max_file_bytes:
                    raise Refused(f"file grew past {max_file_bytes} bytes while it was read: not read")
            except Refused as exc:
                yield (name, _unreadable(name, str(exc)), b""), b""
                continue
            except OSError as exc:
                yield (name, _unreadable(name, f"cannot read file: {exc.strerror or exc}"), b""), b""
                continue
            yield (name, None, data), data

    with AnalysisPool(workers, bounds=bounds, start_method=start_method) as pool, \
            (WorkerPool(DETECT, 1, bounds=bounds, start_method=start_method) if faces else nullcontext()) as detector:
        pool.start()  # the workers import the decoders while this process imports the signals
        if detector is not None:
            detector.start()
        import audit.derive.attribution  # noqa: F401
        import audit.signals.image  # noqa: F401
        for (name, known, data), record in pool.map(contents()):
            if isinstance(known, dict):
                yield known
            elif known is not None:
                yield inspect_record(name, known)
            else:
                decoded = record.error is None and record.width is not None
                found = detector.run(data) if decoded and detector is not None else None
                yield inspect_record(name, record, faces=found)


def _unreadable(path: str, error: str) -> dict[str, Any]:
    return {"path": path, **dict.fromkeys(EMPTY_KEYS), "error": error, "signals": [], "country": None,
            "attribution": None, "faces": None}


def inspect_record(path: str, record: ImageRecord, *, faces: Sequence[Face] | None = None) -> dict[str, Any]:
    """The inspect object of an analysed file: the record's fields, its image-level signals and attribution, and
    ``faces``: ``[{"box": [left, top, width, height], "confidence": c}, ...]`` in the stored image's pixels, or None
    when detection did not run (or failed)."""
    from audit.derive.attribution import Evidence, attribute_answers
    from audit.signals.image import image_signals

    obj = inspect_dict(path, record)
    signals = image_signals(record)
    obj["signals"] = [
        {"kind": s.kind, "country": s.country, "strength": str(s.strength), "evidence": s.evidence,
         **({"weight": round(s.weight, 4)} if s.weight != 1 else {}), **({"detail": s.detail} if s.detail else {})}
        for s in signals
    ]
    answers = attribute_answers(Evidence(kind=s.kind, country=s.country, strength=str(s.strength), weight=s.weight,
                                         border_km=_float(s.detail.get("near_border_km"))) for s in signals)
    result = answers.combined
    obj["country"] = result.country
    obj["attribution"] = {"score": result.score, "tier": result.tier, "explanation": result.explanation,
                          "capture": _answer(answers.capture), "residence": _answer(answers.residence)}
    obj["faces"] = None if faces is None else [face.as_json() for face in faces]
    return obj


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:016x}"


def inspect_dict(path: str, record: ImageRecord) -> dict[str, Any]:
    """The JSON object ``provaudit inspect --json`` prints for one file."""
    has_gps = record.gps_lat is not None and record.gps_lon is not None
    return {
        "path": path,
        "sha256": record.sha256,
        "format": record.format,
        "width": record.width,
        "height": record.height,
        "phash": _hex(record.phash),
        "dhash": _hex(record.dhash),
        "gps": {"lat": record.gps_lat, "lon": record.gps_lon, "alt": record.gps_alt} if has_gps else None,
        "taken_at": record.taken_at.isoformat() if record.taken_at else None,
        "utc_offset": record.utc_offset,
        "location": dict(record.location) if record.location else None,
        "error": record.error,
    }


def _answer(a: Attribution) -> dict[str, Any]:
    return {"country": a.country, "score": a.score, "tier": a.tier, "explanation": a.explanation}


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
