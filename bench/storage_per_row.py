"""Bytes per image and per sighting in our stores: DuckDB, Parquet (zstd, as `provaudit export` writes) and WARC.

Opens the given stores read-only. For each table it measures what the table alone takes on disk by copying it into a
fresh DuckDB file (``CREATE TABLE AS``, ``CHECKPOINT``, file size; the empty-file overhead of ~0.3 MB subtracted) and
into a zstd Parquet file, and prints bytes per row, per distinct image and per sighting. Tables the audit writes
(signals, opt_outs, clusters, attributions) are empty in the grown benchmark stores (bench/make_store.py), so pass an
audited store too (the demo's) to get their per-sighting share. ``--warc`` adds WARC bytes per image for a crawl's
WARC files and its store.

    python bench/storage_per_row.py /tmp/provaudit-bench-audit/store-100000.duckdb demo-out/provenance.duckdb \\
        --warc demo-out/provenance.duckdb demo-out/*.warc.gz
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.schema import TABLES as SCHEMA_TABLES  # noqa: E402
from audit.store import sealed  # noqa: E402
from audit.store.db import Store  # noqa: E402

TABLES = tuple(t.name for t in SCHEMA_TABLES if t.name != "meta")


def _empty_db_bytes(tmp: Path) -> int:
    p = tmp / "empty.duckdb"
    con = sealed.connect(p)
    con.execute("CREATE TABLE x (a INTEGER)")
    con.execute("CHECKPOINT")
    con.close()
    return p.stat().st_size


def table_bytes(store: Path, tmp: Path) -> dict[str, dict[str, int]]:
    """Rows, DuckDB bytes and Parquet (zstd) bytes of every table of ``store``."""
    empty = _empty_db_bytes(tmp)
    with Store.open(store, read_only=True) as src:  # checked as any store is before it is ATTACHed below
        present = set(src.columns)
    out: dict[str, dict[str, int]] = {}
    for name in TABLES:
        if name not in present:
            continue
        db = tmp / f"{name}.duckdb"
        pq = tmp / f"{name}.parquet"
        con = sealed.connect(db, readable=[store, tmp])  # it may read the store and write the Parquet file
        con.execute(f"ATTACH '{store}' AS src (READ_ONLY)")
        rows = con.execute(f"SELECT count(*) FROM src.{name}").fetchall()[0][0]
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM src.{name}")
        con.execute(f"COPY src.{name} TO '{pq}' (FORMAT parquet, COMPRESSION zstd)")
        con.execute("DETACH src")
        con.execute("CHECKPOINT")
        con.close()
        out[name] = {"rows": rows, "duckdb_bytes": max(0, db.stat().st_size - empty),
                     "parquet_bytes": pq.stat().st_size}
        db.unlink()
        pq.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stores", type=Path, nargs="+")
    ap.add_argument("--warc", type=Path, nargs="+", help="a store, then the WARC files of its crawl")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    results: dict[str, object] = {}
    for store in args.stores:
        with Store.open(store, read_only=True) as src:
            images = src.count("images")
            sightings = src.count("sightings")
        with tempfile.TemporaryDirectory() as d:
            tables = table_bytes(store, Path(d))
        file_bytes = store.stat().st_size
        print(f"\n{store}: {images:,} images, {sightings:,} sightings ({sightings / images:.2f} per image), "
              f"file {file_bytes / 1e6:.1f} MB = {file_bytes / images:,.0f} B/image, {file_bytes / sightings:,.0f} "
              f"B/sighting")
        print(f"{'table':14} {'rows':>10} {'rows/sight':>10} {'DuckDB B/row':>12} {'DuckDB B/sight':>14} "
              f"{'Parquet B/row':>13} {'Parquet B/sight':>15}")
        tot_db = tot_pq = 0
        for name, t in tables.items():
            tot_db += t["duckdb_bytes"]
            tot_pq += t["parquet_bytes"]
            per_row_db = t["duckdb_bytes"] / t["rows"] if t["rows"] else 0.0
            per_row_pq = t["parquet_bytes"] / t["rows"] if t["rows"] else 0.0
            print(f"{name:14} {t['rows']:>10,} {t['rows'] / sightings:>10.2f} {per_row_db:>12,.0f} "
                  f"{t['duckdb_bytes'] / sightings:>14,.0f} {per_row_pq:>13,.0f} "
                  f"{t['parquet_bytes'] / sightings:>15,.0f}")
        print(f"{'all tables':14} {'':>10} {'':>10} {'':>12} {tot_db / sightings:>14,.0f} {'':>13} "
              f"{tot_pq / sightings:>15,.0f}")
        results[str(store)] = {"images": images, "sightings": sightings, "file_bytes": file_bytes, "tables": tables,
                               "duckdb_bytes_per_sighting": tot_db / sightings,
                               "parquet_bytes_per_sighting": tot_pq / sightings}
    if args.warc:
        store, *warcs = args.warc
        with Store.open(store, read_only=True) as src:
            images, image_bytes = src.query("SELECT count(*), sum(bytes) FROM images")[0]
            fetched = src.query("SELECT count(*), sum(bytes) FROM fetches WHERE bytes IS NOT NULL")[0]
        warc_bytes = sum(w.stat().st_size for w in warcs)
        print(f"\nWARC {warc_bytes / 1e6:.1f} MB for {images:,} distinct images ({image_bytes / 1e6:.1f} MB of image "
              f"bytes, {fetched[0]:,} image responses, {fetched[1] / 1e6:.1f} MB): {warc_bytes / images:,.0f} B/image; "
              f"image bytes are {fetched[1] / warc_bytes:.0%} of the WARC")
        results["warc"] = {"store": str(store), "warc_bytes": warc_bytes, "images": images,
                           "image_bytes": image_bytes, "fetched_responses": fetched[0], "fetched_bytes": fetched[1]}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
