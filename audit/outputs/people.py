"""Images showing people: the subset every output can be limited to (``--faces-only``) and the report's people view.

An image *shows a person* when face detection ran on it and found at least one face at least ``min_face_height``
pixels high in the stored image (``AUDIT_MIN_FACE_HEIGHT``, by default 40: the face size for which the detector's
recall is measured in docs/accuracy.md). Detection only: nothing here says whose face it is.

Images on which detection did not run, or failed (``images.face_count`` NULL), are neither people nor not: every
figure limited to people says how many images were left out that way (:func:`detection_coverage`), and asking for
people in a store where detection never ran is an error (:class:`audit.errors.NoFaceDetection`), never an empty
answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from audit.errors import NoFaceDetection
from audit.settings import DEFAULTS
from audit.store.db import Store

log = logging.getLogger(__name__)

DEFAULT_MIN_FACE_HEIGHT = int(DEFAULTS["AUDIT_MIN_FACE_HEIGHT"])


@dataclass(frozen=True, slots=True)
class People:
    """Which images count as showing a person: at least one detected face ``min_face_height`` pixels high or more."""

    min_face_height: int = DEFAULT_MIN_FACE_HEIGHT

    def __post_init__(self) -> None:
        if not isinstance(self.min_face_height, int) or self.min_face_height < 1:
            raise ValueError(f"the minimum face height must be a whole number of pixels >= 1, not "
                             f"{self.min_face_height!r}")

    def images_sql(self) -> str:
        """A subquery of the sha256s of the images showing a person (the height is an int: safe to inline)."""
        return f"SELECT DISTINCT sha256 FROM faces WHERE box_height >= {int(self.min_face_height)}"

    def where(self, column: str = "sha256") -> str:
        """A condition on ``column`` (a sha256) that holds for images showing a person."""
        return f"{column} IN ({self.images_sql()})"

    def describe(self) -> str:
        return f"images with at least one detected face {self.min_face_height} px high or more"


def detection_coverage(store: Store, people: People) -> dict[str, Any]:
    """How far detection went on the audited images (those of ``attributions``): how many were looked at
    (``detected``), found to show a person at ``people``'s face size (``showing_people``) or any face; and of the
    ``not_detected``, those whose detection failed, those that could not be decoded at all, those known by
    reference only (``reference_only``: a dataset row's URL, no bytes to look at) and those never looked at
    (``not_run``: detection off, or recorded before it existed). Also the detectors and versions the store's faces
    come from. A store written before face detection existed (no ``faces`` table or ``face_count`` column, opened
    read-only) counts every image as ``not_run``."""
    if not has_detection_columns(store):
        audited = int(store.query("SELECT count(*) FROM attributions")[0][0])
        return {"images": audited, "detected": 0, "not_detected": audited, "failed": 0, "undecoded": 0,
                "not_run": audited, "reference_only": 0, "with_any_face": 0, "showing_people": 0,
                "min_face_height": people.min_face_height, "detectors": []}
    ref = ("coalesce(i.reference_only, false)" if "reference_only" in store.columns.get("images", frozenset())
           else "false")
    audited, ran, failed, undecoded, any_face, shown, references = store.query(f"""
        SELECT count(*), count(i.face_count), count(i.face_error),
               count(*) FILTER (WHERE i.face_count IS NULL AND i.face_error IS NULL AND i.error IS NOT NULL),
               count(*) FILTER (WHERE i.face_count > 0), count(*) FILTER (WHERE a.{people.where()}),
               count(*) FILTER (WHERE {ref} AND i.face_count IS NULL)
        FROM attributions a LEFT JOIN images i USING (sha256)""")[0]
    detectors = [f"{d} ({v})" for d, v in store.query(
        "SELECT DISTINCT detector, detector_version FROM faces ORDER BY 1, 2")]
    return {
        "images": int(audited), "detected": int(ran), "not_detected": int(audited) - int(ran),
        "failed": int(failed), "undecoded": int(undecoded),
        "not_run": int(audited) - int(ran) - int(failed) - int(undecoded) - int(references),
        "reference_only": int(references),
        "with_any_face": int(any_face), "showing_people": int(shown),
        "min_face_height": people.min_face_height, "detectors": detectors,
    }


def has_detection_columns(store: Store) -> bool:
    """Whether ``store`` has the ``faces`` table and ``images.face_count`` (a store written before face detection
    existed, opened read-only, has neither)."""
    return "faces" in store.columns and "face_count" in store.columns.get("images", frozenset())


def require_detection(store: Store) -> None:
    """Raise :class:`NoFaceDetection` when no image of ``store`` went through face detection: limiting an output to
    images of people would otherwise silently give nothing."""
    if (not has_detection_columns(store)
            or not store.query("SELECT count(*) FROM images WHERE face_count IS NOT NULL")[0][0]):
        path = store.path if store.path is not None else "this store"
        raise NoFaceDetection(f"no image of {path} went through face detection, so none can be limited to images "
                              f"of people: run `provaudit audit --faces --db {path}` first (or crawl/ingest with "
                              "--faces)")


def people_or_none(store: Store, faces_only: bool, min_face_height: int = DEFAULT_MIN_FACE_HEIGHT) -> People | None:
    """The :class:`People` scope an output asked for with ``faces_only`` (checked with :func:`require_detection`,
    and a warning when some images were not looked at), or ``None`` for every image."""
    if not faces_only:
        return None
    people = People(min_face_height)
    require_detection(store)
    missing = int(store.query("SELECT count(*) FROM images WHERE face_count IS NULL AND error IS NULL")[0][0])
    if missing:
        log.warning("%d image(s) of the store were not looked at by face detection (off, failed or added before "
                    "it ran) and are left out of the images of people", missing)
    return people
