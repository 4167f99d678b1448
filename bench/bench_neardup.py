"""Benchmark: exact all-pairs Hamming search among 64-bit hashes (``audit.derive.neardup.pairs_within``).

Compares, on the same hashes, our multi-index hashing against NumPy brute force (timed on a sample of query rows and
extrapolated to all n(n-1)/2 pairs) and faiss' ``IndexBinaryMultiHash`` range search (exact multi-index hashing,
configured with enough flips to be exact), for random hashes and realistic clustered ones (copies of base hashes
with a few flipped bits, some exact duplicates). Every run of ours is checked against brute force on a random sample
of query rows: every pair involving a sampled row is found, and none extra.

Ours runs ``--runs`` times with ``--threads`` worker threads and as often with one, alternating (1, 2, 1, 2, ...), so
both see the same machine load; the table shows the medians side by side, their ratio, and how the CPU seconds of the
multi-threaded runs were shared among the worker threads (the busiest thread's share: 0.50 is an even split of two).

    .venv/bin/python bench/bench_neardup.py --sizes 10000 100000 1000000 10000000 --json neardup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil

from audit.derive.neardup import _plan, cluster_labels, hamming, pairs_within


def random_hashes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, n, dtype=np.uint64, endpoint=False)


def clustered_hashes(n: int, seed: int) -> np.ndarray:
    """Clusters of re-encoded copies: a base hash and 1-8 copies each with 0-6 random flipped bits (~half of the
    copies exact duplicates of the base), shuffled; a fifth of the images are singletons."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, n // 4)
    base = rng.integers(0, 2**64, len(sizes), dtype=np.uint64, endpoint=False)
    h = np.repeat(base, sizes)[: n - n // 5]
    for _ in range(6):
        bit = np.left_shift(np.uint64(1), rng.integers(0, 64, len(h)).astype(np.uint64))
        h ^= np.where(rng.random(len(h)) < 0.25, bit, np.uint64(0))
    h = np.concatenate([h, rng.integers(0, 2**64, n - len(h), dtype=np.uint64, endpoint=False)])
    return h[rng.permutation(n)]


class PeakRSS:
    """Peak resident set size of this process while the block runs (sampled every 10 ms)."""

    def __enter__(self) -> PeakRSS:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
    return out, seconds, mem.peak / 2**20


def brute_rows(h: np.ndarray, rows: np.ndarray, t: int) -> tuple[set[tuple[int, int]], float]:
    """Pairs (row, other) within t for the sampled rows against all n, by NumPy broadcasting; and its time."""
    hits = []
    t0 = time.perf_counter()
    q = h[rows, None]
    for start in range(0, len(h), 4096):  # blocks that stay in cache, like the library's brute force
        ii, jj = np.nonzero(hamming(q, h[None, start:start + 4096]) <= t)
        hits.append((ii, jj + start))
    seconds = time.perf_counter() - t0
    found = {(i, j) for ii, jj in hits for i, j in zip(rows[ii].tolist(), jj.tolist(), strict=True) if i != j}
    return found, seconds


def faiss_pairs(h: np.ndarray, t: int) -> int:
    import faiss

    m = 3 if t <= 8 else 4  # tables; flips = floor(t / m) makes the pigeonhole search exact
    index = faiss.IndexBinaryMultiHash(64, m, 64 // m)
    index.nflip = t // m
    x = h.view(np.uint8).reshape(-1, 8)
    index.add(x)
    lims, _, ids = index.range_search(x, t + 1)  # binary range search keeps distances < radius
    q = np.repeat(np.arange(len(h)), np.diff(lims.astype(np.int64)))
    return int((q < ids).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 10_000_000])
    ap.add_argument("--thresholds", type=int, nargs="+", default=[8, 12])
    ap.add_argument("--kinds", nargs="+", default=["random", "clustered"])
    ap.add_argument("--faiss-max", type=int, default=1_000_000, help="largest n run through faiss")
    ap.add_argument("--faiss-max-t12", type=int, default=10_000, help="largest n run through faiss for t > 8")
    ap.add_argument("--max-t12", type=int, default=1_000_000, help="largest n searched by ours for t > 8")
    ap.add_argument("--sample", type=int, default=300, help="query rows for brute-force timing and exactness")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="runs of ours per thread count (medians reported)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
        faiss_version = faiss.__version__
    except ImportError:
        faiss_version = None
    pairs_within(random_hashes(5000, 0), 8)  # compile / load the Numba kernels outside the timings
    results = []
    meta = {"cpus": os.cpu_count(), "threads": args.threads, "machine": platform.processor() or platform.machine(),
            "numpy": np.__version__, "faiss": faiss_version}
    print(f"# {meta}")
    print(f"{'kind':9} {'n':>10} {'t':>3} {'pairs':>12} {'ours s':>8} {'1 thr s':>8} {'1/' + str(args.threads):>6} "
          f"{'share':>6} {'RSS MiB':>8} {'brute s*':>10} {'faiss s':>8} {'faiss RSS':>9} {'brute/ours':>10} "
          f"{'faiss/ours':>10} {'cluster s':>9} exact")
    for kind in args.kinds:
        for n in args.sizes:
            h = random_hashes(n, 1) if kind == "random" else clustered_hashes(n, 1)
            for t in args.thresholds:
                if t > 8 and n > args.max_t12:
                    continue
                multi: list[float] = []
                single: list[float] = []
                shares: list[float] = []
                cpu: list[float] = []
                ours_rss = 0.0
                for _ in range(args.runs):
                    _, one, rss = timed(lambda h=h, t=t: pairs_within(h, t, workers=1))
                    single.append(one)
                    stats: dict[str, Any] = {}
                    pairs, many, rss2 = timed(lambda h=h, t=t, stats=stats: pairs_within(h, t, workers=args.threads,
                                                                                        stats=stats))
                    multi.append(many)
                    ours_rss = max(ours_rss, rss, rss2)
                    per_thread = sorted(stats.get("thread_cpu_s", {}).values())
                    if per_thread:
                        cpu.append(sum(per_thread))
                        shares.append(per_thread[-1] / sum(per_thread))
                ours, ours_1 = float(np.median(multi)), float(np.median(single))
                share = float(np.median(shares)) if shares else float("nan")
                labels, cl_s, _ = timed(lambda pairs=pairs, n=n: cluster_labels(n, pairs))
                n_clusters = int((labels == np.arange(n)).sum())
                rows = np.random.default_rng(2).choice(n, min(n, args.sample), replace=False)
                want, brute_sample = brute_rows(h, rows, t)
                sampled = set(rows.tolist())
                got = {(int(i), int(j)) for i, j in pairs.tolist() if i in sampled} | {
                    (int(j), int(i)) for i, j in pairs.tolist() if j in sampled}
                exact = got == want
                brute = brute_sample / len(rows) * n / 2  # each row compared with all n; half the rows suffice
                fa = fa_rss = None
                if faiss_version and n <= (args.faiss_max if t <= 8 else args.faiss_max_t12):
                    fa_pairs, fa, fa_rss = timed(lambda h=h, t=t: faiss_pairs(h, t))
                    exact = exact and fa_pairs == len(pairs)
                row = {"kind": kind, "n": n, "t": t, "pairs": len(pairs), "ours_s": ours, "ours_runs_s": multi,
                       "ours_1thread_s": ours_1, "ours_1thread_runs_s": single, "threads_cpu_s": cpu,
                       "busiest_thread_share": share, "ours_peak_rss_mib": ours_rss,
                       "brute_s_extrapolated": brute, "brute_sample_rows": len(rows), "faiss_s": fa,
                       "faiss_peak_rss_mib": fa_rss, "cluster_s": cl_s, "clusters": n_clusters, "exact": exact,
                       "plan": [(b.shift, b.width, b.radius) for b in _plan(n, t) or []]}
                results.append(row)
                print(f"{kind:9} {n:>10} {t:>3} {len(pairs):>12} {ours:>8.2f} {ours_1:>8.2f} {ours_1 / ours:>6.2f} "
                      f"{share:>6.2f} {ours_rss:>8.0f} {brute:>10.1f} "
                      + (f"{fa:>8.2f} {fa_rss:>9.0f} " if fa is not None else f"{'-':>8} {'-':>9} ")
                      + f"{brute / ours:>10.0f} " + (f"{fa / ours:>10.1f} " if fa is not None else f"{'-':>10} ")
                      + f"{cl_s:>9.2f} {exact}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
