"""How a face detection's outcome joins an image's record (audit.decode.facejob): only readable images get faces,
a failure is named, and a pool's own errors (time bound, crash) say they are the detection's."""

from __future__ import annotations

from audit.decode.facejob import FaceOutcome, failed_outcome, with_faces
from audit.records import FaceBox, ImageRecord

READABLE = ImageRecord(sha256="a" * 64, size=10, format="JPEG", width=100, height=80, phash=1)
BOX = FaceBox(10, 20, 30, 40, 1.5)


def test_a_readable_image_gets_its_faces_or_none_found():
    assert with_faces(READABLE, FaceOutcome((BOX,))) == ImageRecord(
        sha256="a" * 64, size=10, format="JPEG", width=100, height=80, phash=1, faces=(BOX,))
    assert with_faces(READABLE, FaceOutcome(())).faces == ()


def test_a_failed_detection_is_named_and_keeps_the_analysis():
    record = with_faces(READABLE, FaceOutcome(None, "face detection failed: RuntimeError: boom"))
    assert record.faces is None and record.face_error == "face detection failed: RuntimeError: boom"
    assert (record.phash, record.width, record.error) == (1, 100, None)


def test_an_unreadable_image_or_no_detection_leaves_faces_unknown():
    broken = ImageRecord(sha256="b" * 64, size=3, error="not a readable image: truncated")
    assert with_faces(broken, FaceOutcome((BOX,))) is broken
    assert with_faces(READABLE, None) is READABLE


def test_the_pool_s_errors_are_named_as_the_detection_s():
    assert failed_outcome(b"x", "analysis timed out after 2 s") == FaceOutcome(
        None, "face detection timed out after 2 s")
    assert failed_outcome(b"x", "analysis crashed: worker killed by SIGSEGV").error == \
        "face detection crashed: worker killed by SIGSEGV"
    assert failed_outcome(b"x", "out of memory: over the analysis memory bound").error == \
        "face detection failed: out of memory: over the analysis memory bound"
