"""Speed and agreement of the fast fingerprint against plain imagehash on real JPEG photos.

Run from the project root: ``.venv/bin/python bench/bench_fingerprint.py [folder] [--limit N]``.
Prints images/s of both, their ratio, and histograms of the Hamming distances (fast vs reference) per hash.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections import Counter
from pathlib import Path

from PIL import Image

from audit.fingerprint import fingerprint, hamming, reference_fingerprint

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "photos" / "exif-samples" / "jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args()
    files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[: args.limit]
    readable = []
    for path in files:
        try:
            Image.open(path).verify()
        except Exception as exc:  # corrupt samples (the near-duplicates corpus has some on purpose)
            print(f"skipped {path.name}: {exc}")
            continue
        readable.append(path)
    files = readable
    blobs = [p.read_bytes() for p in files]
    print(f"{len(blobs)} JPEGs from {args.folder.resolve()}")

    t0 = time.perf_counter()
    fast = [fingerprint(Image.open(io.BytesIO(b))) for b in blobs]
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = [reference_fingerprint(Image.open(io.BytesIO(b))) for b in blobs]
    t_ref = time.perf_counter() - t0

    print(f"fast:      {len(blobs) / t_fast:8.1f} images/s ({t_fast:.2f} s, four hashes each)")
    print(f"reference: {len(blobs) / t_ref:8.1f} images/s ({t_ref:.2f} s, four hashes each, imagehash)")
    print(f"speed-up:  {t_ref / t_fast:8.1f}x")
    for name in ("phash", "dhash", "phash_mirror", "dhash_mirror"):
        dists = [hamming(getattr(f, name), getattr(r, name)) for f, r in zip(fast, ref, strict=True)]
        hist = Counter(dists)
        print(f"{name:13s} median {statistics.median(dists):.1f}  max {max(dists):2d}  histogram "
              + " ".join(f"{d}:{hist[d]}" for d in sorted(hist)))
        worst = sorted(zip(dists, files, strict=True), reverse=True)[:3]
        print("              worst: " + ", ".join(f"{p.name}={d}" for d, p in worst))


if __name__ == "__main__":
    main()
