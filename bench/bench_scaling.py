"""The scaling law: time and peak memory against size, for fingerprinting, near-duplicate search and the audit.

Draws ``docs/scaling.png`` from three sets of measurements:

* fingerprinting, measured here: ``audit.decode.batch.fingerprint_bytes`` (sha256, pHash, dHash and both mirrors) on N
  distinct 1600x1200 JPEGs in 2 worker processes. Writing 100,000 such files would take ~40 GB, so each worker
  holds 32 rendered photos and makes every item distinct by appending its number after the JPEG's end marker
  (decoders ignore it; sha256 differs, so no work is skipped as a duplicate). Sizes above ``--fingerprint-max``
  are drawn as a dashed extrapolation of the largest measured rate, and said so in the legend;
* near-duplicate search: the JSON written by ``bench/bench_neardup.py --json`` (clustered hashes, t = 8);
* the audit and the report: the JSON written by ``bench/bench_audit.py --json``.

    python bench/bench_scaling.py --neardup neardup.json --audit bench-audit.json --out docs/scaling.png
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POOL_SIZE = 32
CHUNK = 64
_photos: list[bytes] = []


def _init() -> None:
    from audit.testbed.testweb.images import render

    for seed in range(POOL_SIZE):
        buf = io.BytesIO()
        render(seed, 1600, 1200).save(buf, "JPEG", quality=90)
        _photos.append(buf.getvalue())


def _hash_range(bounds: tuple[int, int]) -> int:
    from audit.decode.batch import fingerprint_bytes

    done = 0
    for i in range(*bounds):
        fp, error = fingerprint_bytes(_photos[i % POOL_SIZE] + i.to_bytes(8, "big"))
        if fp is None:
            raise RuntimeError(error)
        done += 1
    return done


def _peak_rss(stop: threading.Event, out: list[int]) -> None:
    me = psutil.Process()
    while not stop.is_set():
        try:
            out[0] = max(out[0], sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.05)


def fingerprint_scaling(sizes: list[int], workers: int) -> list[dict[str, Any]]:
    rows = []
    with ProcessPoolExecutor(workers, initializer=_init) as pool:
        list(pool.map(_hash_range, [(0, 1)] * workers))  # start the workers and render their photos first
        for n in sizes:
            peak = [0]
            stop = threading.Event()
            watcher = threading.Thread(target=_peak_rss, args=(stop, peak), daemon=True)
            watcher.start()
            t = time.perf_counter()
            done = sum(pool.map(_hash_range, [(i, min(n, i + CHUNK)) for i in range(0, n, CHUNK)]))
            seconds = time.perf_counter() - t
            stop.set()
            watcher.join()
            assert done == n
            rows.append({"n": n, "seconds": round(seconds, 2), "images_per_s": round(n / seconds, 1),
                         "peak_rss_mb": round(peak[0] / 2**20, 1)})
            print(f"fingerprint {n:>9,}: {seconds:8.1f} s, {n / seconds:6.1f} images/s, "
                  f"{peak[0] / 2**20:6.0f} MB", flush=True)
    return rows


def plot(fp: list[dict[str, Any]], extrapolate_to: list[int], neardup: list[dict[str, Any]],
         audit: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 5), dpi=120)
    series: list[tuple[str, str, list[float], list[float], list[float], str]] = []
    series.append(("fingerprint (2 processes)", "C0", [r["n"] for r in fp], [r["seconds"] for r in fp],
                   [r["peak_rss_mb"] for r in fp], "o-"))
    if neardup:
        series.append(("near-duplicate search, t = 8 (2 threads)", "C1", [r["n"] for r in neardup],
                       [r["seconds"] for r in neardup], [r["peak_rss_mb"] for r in neardup], "s-"))
    if audit:
        series.append(("provaudit audit (sightings)", "C2", [r["size"] for r in audit],
                       [r["audit"]["seconds"] for r in audit], [r["audit"]["peak_rss_mb"] for r in audit], "^-"))
        series.append(("provaudit report (sightings)", "C3", [r["size"] for r in audit],
                       [r["report"]["seconds"] for r in audit], [r["report"]["peak_rss_mb"] for r in audit], "v-"))
    for label, color, xs, ts, ms, style in series:
        ax_t.plot(xs, ts, style, color=color, label=label)
        ax_m.plot(xs, ms, style, color=color, label=label)
    if fp and extrapolate_to:
        rate = fp[-1]["n"] / fp[-1]["seconds"]
        xs = [fp[-1]["n"], *extrapolate_to]
        ax_t.plot(xs, [x / rate for x in xs], "o--", color="C0", mfc="none",
                  label=f"fingerprint, extrapolated at {rate:.0f} images/s")
    for ax, ylabel in ((ax_t, "wall-clock seconds"), (ax_m, "peak resident memory, MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items (images, hashes or sightings)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.axhline(120, color="grey", lw=0.8, ls=":")
    ax_t.text(1.2e4, 130, "2 minutes", color="grey", fontsize=8)
    ax_t.legend(fontsize=8, loc="upper left")
    ax_m.legend(fontsize=8, loc="upper left")
    fig.suptitle("How cost grows with size (2 cores, 24 GiB; log-log)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fingerprint-sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--extrapolate", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--neardup", type=Path, help="JSON from bench/bench_neardup.py --json")
    ap.add_argument("--audit", type=Path, help="JSON from bench/bench_audit.py --json")
    ap.add_argument("--fingerprint-json", type=Path, help="reuse (if it exists) or write fingerprint figures here")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "scaling.png")
    args = ap.parse_args()
    if args.fingerprint_json and args.fingerprint_json.exists():
        fp = json.loads(args.fingerprint_json.read_text())
    else:
        fp = fingerprint_scaling(args.fingerprint_sizes, args.workers)
        if args.fingerprint_json:
            args.fingerprint_json.write_text(json.dumps(fp, indent=1))
    neardup: list[dict[str, Any]] = []
    if args.neardup:
        data = json.loads(args.neardup.read_text())
        for r in data["results"]:
            if r.get("kind") == "clustered" and r.get("t") == 8:
                neardup.append({"n": r["n"], "seconds": r["ours_s"] + r.get("cluster_s", 0.0),
                                "peak_rss_mb": r["ours_peak_rss_mib"] * 1.048576})
        neardup.sort(key=lambda r: r["n"])
    audit: list[dict[str, Any]] = json.loads(args.audit.read_text())["results"] if args.audit else []
    plot(fp, [x for x in args.extrapolate if x > max(r["n"] for r in fp)], neardup, audit, args.out)


if __name__ == "__main__":
    main()
