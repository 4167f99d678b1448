"""Grow a crawled store into a synthetic one of about N sightings, for benchmarking the audit and the report.

Crawling a million sightings here would take hours, so the large stores of bench/bench_audit.py are grown from a
real crawl of the test web (the demo's store): the seed's recorded rows (crawls, pages, robots.txt and tdmrep.json,
fetches, images, sightings, ground truth) are copied R times, and each copy r > 0 gets its own

- host names (``r<r>-`` in front of every host, in URLs too; the top-level domain, hence ccTLD signals, is kept),
- images: new sha256 (a digest of the old one and r), pHash and dHash XOR-ed with a per-copy mask (distances inside a
  copy are kept, so near-duplicate clusters are as in the crawl; across copies hashes look unrelated), GPS moved
  by up to ~500 m (so per-image geocoding is not a repeat), sighting ids.

What stays the same in every copy: page facts and headers, alt texts, robots.txt bodies. A real crawl repeats
those too (site-wide templates, footers), but less than 190 exact copies do: the audit's per-distinct-value memos
help it more here than they would on a real crawl of this size. The derived tables are left empty (run the audit).

    python bench/make_store.py --seed demo-out/provenance.duckdb --sightings 1000000 --out /tmp/store-1m.duckdb
    python bench/make_store.py --sightings 10000000 --out /var/tmp/store-10m.duckdb   # ~4.6 GB; copies 50 at a time
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.schema import TABLES, TABLES_BY_NAME  # noqa: E402
from audit.store.db import Store  # noqa: E402

# what a crawl records (labels and validations are a person's work on one store, not crawl records)
COPIED = tuple(t.name for t in TABLES if not t.derived and t.name not in ("meta", "labels", "validations"))
URL_COLUMNS = {"url", "final_url", "image_url", "page_url"}
HOST_COLUMNS = {"host", "image_host", "page_host"}
COPIES_PER_INSERT = 50  # 50 copies of the demo's seed: about 725,000 sightings per statement
MEMORY = 2 * 1024**3  # DuckDB's memory while growing (it spills beside the store past it)
HASH_MASKS = {"phash": 1, "phash_mirror": 1, "dhash": 2, "dhash_mirror": 2}


def _url(expr: str) -> str:
    return f"regexp_replace({expr}, '^([A-Za-z][A-Za-z0-9+.-]*://)', '\\1r' || r.i || '-')"


def _expression(table: str, column: str) -> str:
    """How column ``column`` of a copy ``r.i`` is derived from the seed row ``t``."""
    c = f"t.{column}"
    if column in URL_COLUMNS:
        return _url(c)
    if column in HOST_COLUMNS:
        return f"CASE WHEN {c} IS NULL OR {c} = '' THEN {c} ELSE 'r' || r.i || '-' || {c} END"
    if column == "page_urls":
        return f"list_transform({c}, lambda x: {_url('x')})"
    if column == "sha256":
        return f"CASE WHEN {c} IS NULL THEN NULL ELSE sha256({c} || ':' || r.i) END"
    if column in ("sighting_id", "capture_id"):
        return f"{c} || '-r' || r.i"
    if column in HASH_MASKS:
        return f"xor({c}, hash(r.i * 10 + {HASH_MASKS[column]}))"
    if column in ("gps_lat", "gps_lon"):
        limit = 90 if column == "gps_lat" else 180
        jitter = f"((hash(t.sha256, r.i, '{column}') % 1001)::DOUBLE - 500) / 100000"
        return f"CASE WHEN {c} IS NULL THEN NULL ELSE greatest(-{limit}, least({limit}, {c} + {jitter})) END"
    return c


def grow(seed: Path, out: Path, sightings: int) -> dict[str, int]:
    """Write a store at ``out`` holding the seed's rows copied until it has at least ``sightings`` sightings."""
    if out.exists():
        raise SystemExit(f"{out} exists; remove it first")
    # the seed is read through its own (read-only, sealed) store and handed over as Arrow tables: a store's
    # connection reads no other file, so it cannot ATTACH one
    with Store.open(seed, read_only=True) as source:
        seed_tables = {name: source.con.sql(
            f"SELECT {', '.join(c for c in TABLES_BY_NAME[name].column_names if c in source.columns[name])} "
            f"FROM {name}").to_arrow_table() for name in COPIED if name in source.columns}
    store = Store.open(out, memory=MEMORY)
    con = store.con
    for name, data in seed_tables.items():
        con.register(f"_seed_{name}", data)
    seed_sightings = seed_tables["sightings"].num_rows
    if not seed_sightings:
        raise SystemExit(f"{seed} has no sightings")
    copies = max(1, math.ceil(sightings / seed_sightings))
    for name in COPIED:
        if name not in seed_tables:
            continue
        table = TABLES_BY_NAME[name]
        present = set(seed_tables[name].column_names)
        cols = [c for c in table.column_names if c in present]  # a seed from an older schema lacks new columns
        plain = ", ".join(f"t.{c}" for c in cols)
        con.execute(f"INSERT INTO {name} ({', '.join(cols)}) SELECT {plain} FROM _seed_{name} t")
        if name in ("crawls", "runs"):  # crawl ids, and the runs that made the seed, are shared by all copies
            continue
        select = ", ".join(f"{_expression(name, c)} AS {c}" for c in cols)
        for start in range(1, copies, COPIES_PER_INSERT):  # a few copies at a time: bounded memory at any size
            con.execute(f"INSERT INTO {name} ({', '.join(cols)}) SELECT {select} "
                        f"FROM _seed_{name} t, (SELECT range AS i FROM range({start}, "
                        f"{min(copies, start + COPIES_PER_INSERT)})) r")
    counts = {name: con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in COPIED}
    for name in seed_tables:
        con.unregister(f"_seed_{name}")
    con.execute("CHECKPOINT")
    store.close()
    return {"copies": copies, **counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=Path, default=Path("demo-out/provenance.duckdb"))
    ap.add_argument("--sightings", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if not args.seed.exists():
        raise SystemExit(f"no seed store at {args.seed}: run `make demo` first")
    t = time.perf_counter()
    counts = grow(args.seed, args.out, args.sightings)
    print(f"{args.out}: {counts} in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
