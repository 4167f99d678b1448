"""Simulate the near-duplicate search partitioned across machines (audit/derive/partition.py) on P worker processes
here, and check the union of the partitions' pairs against the single-process search
(audit.derive.neardup.pairs_within).

For each kind of hashes (random, or clustered as bench/bench_neardup.py makes them), threshold t and partition count
P: the single-process search on 1 thread (its CPU time is the reference cost), then the shuffle (one file per
partition) and the P partitions in P processes; prints one line per partition (entries received, buckets, pairs
sharing a bucket, pairs within t found locally, pairs emitted, CPU seconds) and a summary (exact or not, shuffle
volume, load balance, total CPU against the single process).

    python bench/bench_partition.py --n 200000 --thresholds 8 12 --partitions 2 4 8 --json partition.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_neardup import clustered_hashes, random_hashes  # noqa: E402

from audit.derive.neardup import pairs_within  # noqa: E402
from audit.derive.partition import partitioned_pairs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--thresholds", type=int, nargs="+", default=[8, 12])
    ap.add_argument("--partitions", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--kinds", nargs="+", default=["random", "clustered"])
    ap.add_argument("--processes", type=int, help="worker processes (default: one per partition)")
    ap.add_argument("--quiet", action="store_true", help="summary lines only")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    pairs_within(random_hashes(5000, 0), 8)  # load the compiled kernels outside the timings
    results = []
    for kind in args.kinds:
        h = random_hashes(args.n, 1) if kind == "random" else clustered_hashes(args.n, 1)
        for t in args.thresholds:
            c0, w0 = time.process_time(), time.perf_counter()
            want = pairs_within(h, t, workers=1)
            single_cpu, single_wall = time.process_time() - c0, time.perf_counter() - w0
            print(f"\n{kind} n={args.n:,} t={t}: single process {len(want):,} pairs, {single_cpu:.2f} s CPU "
                  f"(1 thread); shuffle (t+1)*N*8 = {(t + 1) * args.n * 8 / 1e6:.1f} MB of hashes")
            for p in args.partitions:
                w0 = time.perf_counter()
                got, stats, shuffled = partitioned_pairs(h, t, p, processes=args.processes)
                wall = time.perf_counter() - w0
                exact = bool(np.array_equal(got, want))
                recv = np.array([s.received for s in stats])
                cpu = np.array([s.cpu_seconds for s in stats])
                if not args.quiet:
                    print(f"  {'part':>4} {'received':>9} {'buckets':>7} {'bucket pairs':>13} {'within t':>9} "
                          f"{'emitted':>9} {'CPU s':>6}")
                    for s in stats:
                        print(f"  {s.partition:>4} {s.received:>9,} {s.buckets:>7,} {s.bucket_pairs:>13,} "
                              f"{s.within_t:>9,} {s.emitted:>9,} {s.cpu_seconds:>6.2f}")
                print(f"  P={p}: exact={exact} ({len(got):,} pairs); shuffle files {shuffled / 1e6:.1f} MB "
                      f"(hash + id: {(t + 1) * args.n * 16 / 1e6:.1f} MB + npz headers); received max/mean "
                      f"{recv.max() / recv.mean():.2f}; CPU max/mean {cpu.max() / cpu.mean():.2f}; CPU sum "
                      f"{cpu.sum():.2f} s = {cpu.sum() / single_cpu:.1f}x the single process; wall {wall:.1f} s "
                      f"(incl. shuffle and process start)")
                results.append({"kind": kind, "n": args.n, "t": t, "partitions": p, "exact": exact,
                                "pairs": len(got), "single_cpu_s": single_cpu, "single_wall_s": single_wall,
                                "shuffle_file_bytes": shuffled, "wall_s": wall,
                                "stats": [s.__dict__ if hasattr(s, "__dict__") else {
                                    f: getattr(s, f) for f in s.__slots__} for s in stats]})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not all(r["exact"] for r in results):
        raise SystemExit("the partitioned search differs from the single-process search")


if __name__ == "__main__":
    main()
