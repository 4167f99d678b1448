"""Benchmark: this tree's ``pairs_within`` against an earlier version's, side by side in one process.

The earlier version's ``audit/derive/neardup.py`` (a copy of the file, from ``git show``) is loaded as a module of its
own, with its Numba cache beside that copy, and both run on the same hashes, alternating
(before with 1 thread, ours with 1, before with N, ours with N, repeated ``--runs`` times) so that both see the same
machine load; medians of wall-clock seconds are reported, and every result of ours is compared with the earlier one's
(the same pair set). On a shared machine the process CPU seconds (``#`` lines) say what the wall clock cannot: how
much work each version does, and over how many threads it was spread.

    mkdir -p /tmp/neardup-before && git show f91b6df:audit/derive/neardup.py > /tmp/neardup-before/neardup_before.py
    python bench/bench_neardup_before.py /tmp/neardup-before/neardup_before.py --sizes 1000000 --runs 5
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_neardup import clustered_hashes, random_hashes  # noqa: E402

from audit.derive import neardup  # noqa: E402


def load_before(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("neardup_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["neardup_before"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path, help="a copy of the earlier version's audit/derive/neardup.py")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--kinds", nargs="+", default=["random", "clustered"])
    ap.add_argument("--t", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    before = load_before(args.before)
    warm = random_hashes(5000, 0)
    for mod in (before, neardup):  # compile or load both versions' kernels outside the timings
        mod.pairs_within(warm, args.t, workers=1)
        mod.pairs_within(warm, args.t, workers=2)
    n_thr = args.threads
    print(f"{'kind':9} {'n':>10} {'t':>3} {'pairs':>10} {'before 1':>9} {'ours 1':>8} {f'before {n_thr}':>9} "
          f"{f'ours {n_thr}':>8} {'before/ours':>11} {f'ours 1/{n_thr}':>9} {f'bef. 1/{n_thr}':>9} share same")
    for kind in args.kinds:
        for n in args.sizes:
            h = random_hashes(n, 1) if kind == "random" else clustered_hashes(n, 1)
            times: dict[tuple[str, int], list[float]] = {}
            cpus: dict[tuple[str, int], list[float]] = {}
            shares = []
            same = True
            n_pairs = 0
            for _ in range(args.runs):
                for workers in (1, n_thr):
                    results = {}
                    for name, mod in (("before", before), ("ours", neardup)):
                        stats: dict[str, Any] = {}
                        kwargs: dict[str, Any] = {"workers": workers}
                        if name == "ours":
                            kwargs["stats"] = stats
                        c0, t0 = time.process_time(), time.perf_counter()
                        results[name] = mod.pairs_within(h, args.t, **kwargs)
                        times.setdefault((name, workers), []).append(time.perf_counter() - t0)
                        cpus.setdefault((name, workers), []).append(time.process_time() - c0)
                        if name == "ours" and workers > 1:
                            cpu = sorted(stats["thread_cpu_s"].values())
                            shares.append(cpu[-1] / sum(cpu))
                    same = same and np.array_equal(results["before"], results["ours"])
                    n_pairs = len(results["ours"])
                    del results
            med = {k: float(np.median(v)) for k, v in times.items()}
            print(f"{kind:9} {n:>10} {args.t:>3} {n_pairs:>10} {med['before', 1]:>9.2f} {med['ours', 1]:>8.2f} "
                  f"{med['before', n_thr]:>9.2f} {med['ours', n_thr]:>8.2f} "
                  f"{med['before', n_thr] / med['ours', n_thr]:>11.2f} {med['ours', 1] / med['ours', n_thr]:>9.2f} "
                  f"{med['before', 1] / med['before', n_thr]:>9.2f} {float(np.median(shares)):>5.2f} {same}",
                  flush=True)
            for (name, workers), v in sorted(times.items()):
                print(f"#   {kind} {n} {name} {workers} thread(s): wall " + " ".join(f"{x:.2f}" for x in v)
                      + f"; CPU median {float(np.median(cpus[name, workers])):.2f} s")


if __name__ == "__main__":
    main()
