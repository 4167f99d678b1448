"""Face detection's cost in the project's real per-image path (issue 16): images per CPU-second on one core with
detection off and on, side by side in one run, and the ratio.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_faces.py [--images 24] [--rounds 5] [--seconds 3]
    .venv/bin/python bench/bench_faces.py --demo 3 [--photos 2000] [--out /tmp/faces-demo]

*Off* is what an analysis worker does with each image's bytes (``audit.decode.workers``' job:
:func:`audit.decode.imagefacts.analyse_image`: decode, fingerprints, metadata); *on* is that plus what a detection
worker does with the same bytes (:func:`audit.decode.facejob.detect_outcome`: a reduced decode and the detector of
:mod:`audit.decode.faces`). The inputs are 1600x1200 JPEGs (quality 90) made from the photos of
``../shared/corpora/faces/images`` (the photos only; their labels are not read). The process is pinned to one core
and the rate is images per CPU-second (CPU time, not wall time: the machine is shared), the two configurations
alternating over ``--rounds`` rounds of ``--seconds`` each; the medians and their ratio are printed, with the
detection's own rate (on's time minus off's) and the issue's target (>= 40 images/s per core with detection on).

``--demo N`` instead times ``provaudit demo``'s work (:func:`audit.testbed.demo.run_demo`: test web served on
loopback, crawl, audit, report, verify) with ``AUDIT_FACES`` False and True, N pairs alternating which goes first,
each run in a fresh interpreter on the same cached test web (built once before the first run), wall time; prints
each run, the medians, and the growth with detection on (the issue's target: at most 30%).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.decode.facejob import detect_outcome  # noqa: E402
from audit.decode.faces import DETECTOR, DETECTOR_VERSION, MAX_SIDE, load  # noqa: E402
from audit.decode.imagefacts import analyse_image  # noqa: E402
from audit.decode.workers import Bounds  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from face_detectors import rate, speed_jpegs  # noqa: E402  (the same inputs and clock as the detector comparison)

PHOTOS = ROOT / ".." / "shared" / "corpora" / "faces" / "images"
TARGET = 40.0


DEMO_RUN = """
import json, sys, time
from audit.testbed.demo import run_demo
t = time.perf_counter()
result = run_demo(sys.argv[1], photos=int(sys.argv[2]), settings={"AUDIT_FACES": sys.argv[3] == "on"})
print(json.dumps({"wall": time.perf_counter() - t, "seconds": result.seconds}))
"""


def demo(pairs: int, photos: int, out: Path) -> int:
    """Time the demo with detection off and on, ``pairs`` alternating pairs; print the runs and medians."""
    subprocess.run([sys.executable, "-c", "import sys; from audit.testbed.testweb import build_web; "
                    "build_web(sys.argv[1], photos=int(sys.argv[2]), seed=2022, workers=2)",
                    str(out / "testweb"), str(photos)], check=True, cwd=ROOT)
    walls: dict[str, list[float]] = {"off": [], "on": []}
    for i in range(pairs):
        for name in (("off", "on") if i % 2 == 0 else ("on", "off")):
            proc = subprocess.run([sys.executable, "-c", DEMO_RUN, str(out), str(photos), name], check=True,
                                  capture_output=True, text=True, cwd=ROOT)
            timing = json.loads(proc.stdout.strip().splitlines()[-1])
            walls[name].append(timing["wall"])
            phases = ", ".join(f"{k} {v:.1f}" for k, v in timing["seconds"].items())
            print(f"pair {i + 1} faces {name}: {timing['wall']:.1f} s ({phases})", flush=True)
    off, on = statistics.median(walls["off"]), statistics.median(walls["on"])
    print(f"demo ({photos} photos), median of {pairs}: faces off {off:.1f} s, faces on {on:.1f} s; "
          f"growth {100 * (on / off - 1):+.1f}% (target <= +30%: {'met' if on <= 1.3 * off else 'not met'})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--demo", type=int, default=0, help="time the demo instead: this many off/on pairs")
    parser.add_argument("--photos", type=int, default=2000, help="--demo: photos in the test web (demo default)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/faces-demo"), help="--demo: the demo's folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.demo:
        return demo(args.demo, args.photos, args.out)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core: the rates are per core
    load()
    bounds = Bounds()
    files = speed_jpegs(PHOTOS, args.images)
    off = lambda data: analyse_image(data, max_pixels=bounds.max_pixels)  # noqa: E731
    on = lambda data: (analyse_image(data, max_pixels=bounds.max_pixels), detect_outcome(data, bounds))  # noqa: E731
    found = [detect_outcome(data, bounds) for data in files]
    assert all(o.faces is not None for o in found), [o.error for o in found if o.faces is None]
    for data in files[:2]:  # warm-up
        on(data)
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for i in range(args.rounds):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")
        for name in order:
            rates[name].append(rate(off if name == "off" else on, files, args.seconds))
    r_off, r_on = statistics.median(rates["off"]), statistics.median(rates["on"])
    detect_only = 1.0 / (1.0 / r_on - 1.0 / r_off)
    print(f"python {sys.version.split()[0]}; detector {DETECTOR} ({DETECTOR_VERSION}), decode <= {MAX_SIDE} px; "
          f"{len(files)} JPEGs 1600x1200 q90, {sum(len(o.faces or ()) for o in found)} faces found in them; one core, "
          f"images per CPU-second, {args.rounds} alternating rounds of {args.seconds:g} s")
    print("rounds off: " + ", ".join(f"{r:.1f}" for r in rates["off"]))
    print("rounds on:  " + ", ".join(f"{r:.1f}" for r in rates["on"]))
    print(f"detection off: {r_off:.1f} images/s per core (median)")
    print(f"detection on:  {r_on:.1f} images/s per core (median); target >= {TARGET:g}: "
          f"{'met' if r_on >= TARGET else 'not met'}")
    print(f"ratio on/off: {r_on / r_off:.3f} (time per image x{r_off / r_on:.2f}); detection alone "
          f"{detect_only:.1f} images/s per core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
