"""Ingest and audit of LAION-style tables of 1M and 10M rows: time, rows per second and peak memory.

The rows are synthetic, made from the test web's LAION export (``provaudit testweb export --format laion``: its alt
texts and image URLs, 11,121 rows for the default web) repeated with variation: repetition ``k`` puts ``/v<k>`` in
the URL's path and, on two repetitions of three, a word and a number after the caption (``"... tote bag 5517"``).
The export has a row per image and page, so an image shown on several pages with the same alt text gives identical
rows: 10M rows are 7.77M distinct (URL, caption) sightings, 3.29M distinct image URLs and 3.39M distinct texts (the
bench prints these counts). The caption's places, language and the URL's host are those of the test web, so the
audit does its real work per sighting (places read in every distinct text).

Each command runs in a fresh process, as a user runs it; its peak resident memory (with its worker processes) is
sampled every 50 ms (``bench_audit.measure``).

    python bench/bench_datasets.py --sizes 1000000 10000000 --json bench/results-datasets.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_audit import measure  # noqa: E402

WORDS = ("tote bag", "phone case", "poster", "t-shirt", "canvas print", "mug", "sticker", "wallpaper", "photo",
         "greeting card", "pillow", "hoodie")


def make_rows(base: Path, n: int, out: Path, shard_rows: int = 1_000_000) -> int:
    """Write ``n`` varied rows built from the export in ``base`` as Parquet shards in ``out``; returns the shards."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pa.concat_tables(pq.read_table(p) for p in sorted(base.glob("*.parquet")))
    urls, texts = table.column("URL").combine_chunks(), table.column("TEXT").combine_chunks()
    m = len(urls)
    out.mkdir(parents=True, exist_ok=True)
    written = shards = 0
    k = 0
    batch_urls: list[pa.Array] = []
    batch_texts: list[pa.Array] = []
    held = 0
    while written < n:
        take = min(m, n - written)
        u, t = urls.slice(0, take), texts.slice(0, take)
        # http://host/path -> http://host/v<k>/path
        u = pc.replace_substring_regex(u, r"^(https?://[^/]+)/", rf"\1/v{k}/")
        if k % 3:
            suffix = pa.array([f" {WORDS[(k + i) % len(WORDS)]} {(k * 7919 + i) % 10000}" for i in range(take)])
            t = pc.binary_join_element_wise(t, suffix, "")
        batch_urls.append(u)
        batch_texts.append(t)
        held += take
        written += take
        k += 1
        if held >= shard_rows or written >= n:
            pq.write_table(pa.table({"URL": pa.concat_arrays(batch_urls), "TEXT": pa.concat_arrays(batch_texts)}),
                           out / f"part-{shards:05d}.parquet", row_group_size=100_000)
            shards += 1
            batch_urls, batch_texts, held = [], [], 0
    return shards


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--web", type=Path, default=ROOT / "demo-out" / "testweb", help="built test web (built if missing)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path, help="keep the tables and stores in this folder")
    args = ap.parse_args()
    from audit.testbed.exports import export_laion
    from audit.testbed.testweb import build_web

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-datasets-"))
    work.mkdir(parents=True, exist_ok=True)
    base = work / "export"
    if not any(base.glob("*.parquet")):
        export_laion(build_web(args.web), base)
    python = sys.executable
    results = []
    for n in args.sizes:
        rows = work / f"rows-{n}"
        if not (rows / "part-00000.parquet").exists():
            make_rows(base, n, rows)
        db = work / f"store-{n}.duckdb"
        db.unlink(missing_ok=True)
        ingest = measure([python, "-m", "audit.cli", "ingest", str(rows), "--db", str(db)])
        audit = measure([python, "-m", "audit.cli", "audit", "--db", str(db)])
        total = ingest["seconds"] + audit["seconds"]
        con = duckdb.connect(str(db), read_only=True)
        sightings, images, texts = con.execute(
            "SELECT count(*), count(DISTINCT sha256), count(DISTINCT coalesce(alt_text, caption)) FROM sightings"
        ).fetchone() or (0, 0, 0)
        con.close()
        result = {"rows": n, "sightings": sightings, "image_urls": images, "texts": texts,
                  "ingest_s": ingest["seconds"], "audit_s": audit["seconds"], "total_s": round(total, 1),
                  "rows_per_s": round(n / total), "us_per_row": round(total / n * 1e6, 2),
                  "ingest_peak_mb": ingest["peak_rss_mb"], "audit_peak_mb": audit["peak_rss_mb"],
                  "store_mb": round(db.stat().st_size / 2**20)}
        results.append(result)
        print(json.dumps(result), flush=True)
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(f"time per row, {b['rows']:,} vs {a['rows']:,} rows: {b['us_per_row'] / a['us_per_row']:.2f}x "
              "(1.00x = linear)")
    if args.json:
        args.json.write_text(json.dumps({"cpus": psutil.cpu_count(), "results": results}, indent=1))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
