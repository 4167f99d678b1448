"""What an audit of 1 billion and 30 billion images costs, from our measured per-image costs (docs/scaling.md).

Every input is a constant below with the command and file it comes from; nothing is measured here. Prints the table
pasted in docs/scaling.md:

    python bench/scale_arithmetic.py [--images 1e9 3e10] [--t 8] [--partitions 1000]
"""

from __future__ import annotations

import argparse
import math

# ---- measured inputs -------------------------------------------------------------------------------------------
# fingerprinting 1600x1200 JPEGs (sha256, pHash, dHash, mirrors): 248.1 images/s on 1 core, 473.9 on 2 cores, idle
# machine, 2026-11-27: `python bench/bench_fingerprint.py --n 300 --png 40 --repeat 5` (docs/benchmarks-fingerprint.md)
FP_IMAGES_PER_S_2CORES = 473.9
# PNG 1600x1200: 43.2 images/s on 2 cores (same run): a PNG costs ~11x a JPEG
FP_PNG_IMAGES_PER_S_2CORES = 43.2
# crawl of the 38,000-photo test web over loopback, whole pipeline (WARC, fingerprints, metadata, DuckDB): 86.5
# images/s on 2 cores, CPU-bound (`python bench/bench_crawl.py --photos 38000 ...`, docs/benchmarks.md, run 4)
CRAWL_IMAGES_PER_S_2CORES = 86.5
# `provaudit audit` of the 1,003,580-sighting store (593,180 images), 2 cores: 96.7 s, idle machine, 2026-11-27
# (`python bench/bench_audit.py --sizes 10000 100000 1000000`, docs/benchmarks.md, bench/results-audit.json)
AUDIT_SECONDS_1M = 96.7
AUDIT_SIGHTINGS = 1_003_580
AUDIT_IMAGES = 593_180
SIGHTINGS_PER_IMAGE = AUDIT_SIGHTINGS / AUDIT_IMAGES  # 1.69, the demo crawl's ratio (the 1M store copies it)
# exact near-duplicate search (audit.derive.neardup.pairs_within), clustered hashes, t = 8, 2 threads, wall seconds and
# peak RSS (`python bench/bench_neardup.py --sizes 10000 100000 1000000 10000000`, bench/results-neardup.json)
NEARDUP_T8 = {1_000_000: 2.80, 10_000_000: 82.41}  # clustered; random: 3.44 and 50.43 s
NEARDUP_T8_RANDOM = {1_000_000: 3.44, 10_000_000: 50.43}
NEARDUP_T12_OVER_T8_1M = 25.89 / 2.80  # clustered, 1M: t = 12 costs 9.2x t = 8
NEARDUP_RSS_10M_MIB = 2107 - 572  # clustered 10M peak minus the process's RSS at 10k: 1,535 MiB for 10M hashes
# storage (`python bench/storage_per_row.py /tmp/provaudit-bench-audit/store-100000.duckdb
# demo-out/provenance.duckdb --warc demo-out/provenance.duckdb demo-out/*.warc.gz`, and file sizes):
STORE_DUCKDB_B_PER_SIGHTING = 585_904_128 / 1_003_580  # the 1M store's file: crawl tables with their key indexes
DERIVED_DUCKDB_B_PER_SIGHTING = 596 + 99 + 99 + 99  # demo store, signals + opt_outs + clusters + attributions
PARQUET_B_PER_SIGHTING = 21 + 1 + 48 + 46 + 88  # demo store, zstd: pages, host_policies, fetches, images, sightings
PARQUET_DERIVED_B_PER_SIGHTING = 266 + 57 + 38 + 30  # demo store, zstd: the four audit tables
WARC_B_PER_IMAGE = 92_441  # demo crawl: 288.6 MB of WARC for 3,122 images (98% image bytes); bench crawl ~90 kB
HASH_ENTRY_BYTES = 16  # one shuffled entry: the 64-bit hash and a 64-bit image id


def neardup_core_s(n: float, points: dict[int, float]) -> float:
    """Core-seconds (2 threads x wall) of one exact search among n hashes: the power law through the two measured
    points (1M and 10M); beyond 10M an extrapolation."""
    (n1, s1), (n2, s2) = sorted(points.items())
    k = math.log(s2 / s1) / math.log(n2 / n1)
    return 2 * s2 * (n / n2) ** k


def block_widths(t: int) -> list[int]:
    m = t + 1
    return [64 // m + (1 if k < 64 % m else 0) for k in range(m)]


def fmt(x: float, unit: str) -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:,.1f} {prefix}{unit}"
    return f"{x:,.0f} {unit}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=float, nargs="+", default=[1e9, 3e10])
    ap.add_argument("--t", type=int, default=8, help="near-duplicate threshold (measured: 8 and 12)")
    ap.add_argument("--partitions", type=int, default=1000, help="machines for the search (at most the buckets)")
    args = ap.parse_args()
    widths = block_widths(args.t)
    buckets = sum(2 ** w for w in widths)
    t_factor = 1.0 if args.t == 8 else NEARDUP_T12_OVER_T8_1M if args.t == 12 else float("nan")
    print(f"sightings per image {SIGHTINGS_PER_IMAGE:.2f}; near-duplicate threshold t = {args.t}: {args.t + 1} "
          f"blocks of {min(widths)}-{max(widths)} bits, {buckets:,} buckets; {args.partitions:,} partitions")
    rows: list[tuple[str, list[str]]] = []
    cols = []
    for n in args.images:
        s = n * SIGHTINGS_PER_IMAGE
        fp = n / FP_IMAGES_PER_S_2CORES * 2 / 3600
        fp_png = n / FP_PNG_IMAGES_PER_S_2CORES * 2 / 3600
        crawl = n / CRAWL_IMAGES_PER_S_2CORES * 2 / 3600
        audit = s / AUDIT_SIGHTINGS * AUDIT_SECONDS_1M * 2 / 3600
        single = 2 * t_factor * neardup_core_s(n, NEARDUP_T8) / 3600  # x2: the mirror search (pairs_between)
        single_r = 2 * t_factor * neardup_core_s(n, NEARDUP_T8_RANDOM) / 3600
        part = 2 * t_factor * sum(2 ** w * neardup_core_s(n / 2 ** w, NEARDUP_T8) for w in widths) / 3600
        part_r = 2 * t_factor * sum(2 ** w * neardup_core_s(n / 2 ** w, NEARDUP_T8_RANDOM) for w in widths) / 3600
        biggest_bucket = n / 2 ** min(widths)
        bucket_mem = biggest_bucket * NEARDUP_RSS_10M_MIB * 2**20 / 10_000_000
        share = (args.t + 1) * n * HASH_ENTRY_BYTES / args.partitions
        cols.append(f"{n:,.0f} images")
        values = [
            f"{s:,.3g}",
            f"{fp:,.0f} core-h (PNG only: {fp_png:,.0f})",
            f"{crawl:,.0f} core-h",
            f"{audit:,.0f} core-h",
            f"{single_r:,.0f}-{single:,.0f} core-h, {fmt(n * NEARDUP_RSS_10M_MIB * 2**20 / 1e7, 'B')} RAM",
            f"{part_r:,.0f}-{part:,.0f} core-h",
            f"{fmt((args.t + 1) * n * HASH_ENTRY_BYTES, 'B')}",
            f"{fmt(share, 'B')} on disk; {biggest_bucket:,.3g} hashes, ~{fmt(bucket_mem, 'B')} RAM per bucket",
            f"{fmt(s * STORE_DUCKDB_B_PER_SIGHTING, 'B')} + {fmt(s * DERIVED_DUCKDB_B_PER_SIGHTING, 'B')} audit",
            f"{fmt(s * PARQUET_B_PER_SIGHTING, 'B')} + {fmt(s * PARQUET_DERIVED_B_PER_SIGHTING, 'B')} audit",
            f"{fmt(n * WARC_B_PER_IMAGE, 'B')}",
        ]
        rows.append((f"{n:g}", values))
    labels = [
        "sightings",
        "fingerprinting (JPEG 1600x1200)",
        "crawl process CPU (loopback rate)",
        "audit: signals, attribution",
        "near-dup search, one machine",
        "near-dup search, partitioned (all machines)",
        "shuffle volume",
        "per partition",
        "stores, DuckDB",
        "stores, Parquet (zstd)",
        "WARC (images as served)",
    ]
    print(f"\n| | {' | '.join(cols)} |")
    print("|---|" + "---|" * len(cols))
    for i, label in enumerate(labels):
        print(f"| {label} | {' | '.join(v[i] for _, v in rows)} |")


if __name__ == "__main__":
    main()
