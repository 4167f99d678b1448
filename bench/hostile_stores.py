"""Figures for docs/reliability.md, "attack -> bound -> measured", for hostile stores and exports: every payload is
generated here, handed to the real ``provaudit`` commands (each in a fresh process under ``/usr/bin/time -v``), and
the exit status, first line of stderr, wall time and peak resident memory are printed, with whether a secret
marker (the content of a local file the payload reads) reached any output.

    .venv/bin/python bench/hostile_stores.py [--huge-mb 300] [--json out.json]

Payloads: a store whose ``sightings`` is a view over ``read_text`` of a local file (every command that opens a
store), a store macro shadowing a built-in, a SQLite file, random bytes, an empty file, a store missing a table, a
hostile merge shard, a Parquet export holding one huge string (default 300 MB, as the red team's), and a sort three
times over DuckDB's memory limit on a sealed store (spilling still works). Exits 1 if any payload got through.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from PIL import Image  # noqa: E402

from audit.schema import TABLES  # noqa: E402
from audit.store.db import Store  # noqa: E402
from audit.testbed.stores import craft_store  # noqa: E402


def run(args: list[str | Path], env: dict[str, str] | None = None) -> dict[str, Any]:
    """One provaudit command in a fresh process: exit status, first stderr line, seconds, peak RSS (MB)."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "audit.cli", *map(str, args)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    seconds = time.perf_counter() - t
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    said = [line for line in proc.stderr.splitlines() if line and not line.startswith("\t")
            and "Command being timed" not in line and "Command exited" not in line]
    return {"status": proc.returncode, "said": said[0] if said else "", "lines": len(said),
            "seconds": round(seconds, 2), "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
            "stdout": proc.stdout}


def make_store(work: Path) -> tuple[Path, Path]:
    """A small real store: a folder of generated photos ingested and audited. Returns (store, one photo)."""
    photos = work / "photos"
    photos.mkdir()
    for i in range(12):
        img = Image.new("RGB", (64, 48), (i * 20 % 256, 90, 200 - i * 10))
        for x in range(0, 64, 8):
            for y in range(0, 48, 8):
                img.putpixel((x, y), ((x * i) % 256, y * 5 % 256, 7))
        img.save(photos / f"p{i}.jpg", quality=85)
    db = work / "store.duckdb"
    for args in (["ingest", photos, "--db", db], ["audit", "--db", db]):
        r = run(list(args))
        if r["status"]:
            raise SystemExit(f"could not build the base store: {r['said']}")
    return db, photos / "p0.jpg"


def leaky_sql(secret: Path) -> tuple[str, ...]:
    cols = [f"(SELECT content FROM read_text('{secret}')) AS {c}" if c in ("alt_text", "caption") else c
            for c in next(t for t in TABLES if t.name == "sightings").column_names]
    return ("ALTER TABLE sightings RENAME TO sightings_real",
            f"CREATE VIEW sightings AS SELECT {', '.join(cols)} FROM sightings_real")


def leaked(marker: str, result: dict[str, Any], out: Path) -> bool:
    if marker in result["said"] or marker in result["stdout"]:
        return True
    for p in out.rglob("*"):
        if p.is_file() and p.suffix != ".duckdb" and marker.encode() in p.read_bytes():
            return True
    for p in out.rglob("*.duckdb"):
        with Store.open(p, read_only=True) as s:
            names = s.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
            if any(marker in str(s.query(f'SELECT * FROM "{t}"')) for (t,) in names):
                return True
    return False


def huge_export(db: Path, work: Path, size: int) -> Path:
    from audit.store.export import export_store

    out = work / f"export-{size}"
    with Store.open(db, read_only=True) as store:
        export_store(store, out)
    f = out / "images" / "all.parquet"
    table = pq.read_table(f)
    formats = table.column("format").to_pylist()
    formats[0] = "J" * size
    table = table.set_column(table.schema.get_field_index("format"), "format", pa.array(formats, pa.string()))
    del formats
    pq.write_table(table, f, compression="zstd")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--huge-mb", type=int, default=300, help="size of the string hidden in a Parquet export")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        db, photo = make_store(work)
        marker = f"PROVAUDIT-SECRET-{uuid.uuid4().hex}"
        secret = work / "passwd"
        secret.write_text(f"root:x:0:0:{marker}:/root:/bin/bash\n")
        leaky = craft_store(db, work / "leaky.duckdb", *leaky_sql(secret))

        def attack(name: str, argv: list[str | Path], out: Path, expect: str,
                   env: dict[str, str] | None = None) -> None:
            nonlocal bad
            r = run(argv, env)
            got_through = leaked(marker, r, out) or r["status"] != 1 or r["lines"] != 1 or expect not in r["said"]
            bad += got_through
            rows.append({"attack": name, "status": r["status"], "seconds": r["seconds"],
                         "peak_rss_mb": r["peak_rss_mb"], "said": r["said"][:160], "ok": not got_through})

        for command in ("report", "lookup", "sweep", "evaluate", "export", "verify", "merge", "audit", "ingest"):
            out = work / f"out-{command}"
            out.mkdir()
            target = work / f"leaky-{command}.duckdb"
            shutil.copy(leaky, target)
            argv: list[str | Path] = {
                "report": ["report", "--db", target, "--country", "FR", "--out", out / "report.html"],
                "lookup": ["lookup", photo, "--db", target, "--json"],
                "sweep": ["sweep", "--db", target, "--country", "FR", "--out", out / "sweep.csv"],
                "evaluate": ["evaluate", "--db", target],
                "export": ["export", "--db", target, "--out", out / "export"],
                "verify": ["verify", "--before", db, "--after", target, "--country", "FR", "--out", out / "v.html"],
                "merge": ["merge", target, "--db", out / "merged.duckdb"],
                "audit": ["audit", "--db", target],
                "ingest": ["ingest", photo, "--db", target],
            }[command]
            attack(f"sightings a view over read_text(local file): {command}", argv, out, "sightings is a view")
        macro = craft_store(db, work / "macro.duckdb", "CREATE MACRO coalesce(a, b) AS 'pwned'")
        attack("store macro shadowing coalesce(): report", ["report", "--db", macro, "--country", "FR", "--out",
                                                            work / "m.html"], work / "none", "macro")
        lite = work / "lite.duckdb"
        con = sqlite3.connect(lite)
        con.execute("CREATE TABLE sightings (x TEXT)")
        con.commit()
        con.close()
        home = work / "home"
        home.mkdir()
        attack("SQLite file as a store: report (HOME empty)", ["report", "--db", lite, "--country", "FR", "--out",
               work / "l.html"], work / "none", "a SQLite database", env=dict(os.environ, HOME=str(home)))
        rows[-1]["extension_files"] = sum(1 for _ in home.rglob("*"))
        bad += rows[-1]["extension_files"] > 0
        rnd = work / "random.duckdb"
        rnd.write_bytes(os.urandom(1 << 20))
        attack("1 MiB of random bytes as a store: evaluate", ["evaluate", "--db", rnd], work / "none",
               "without a DuckDB header")
        empty = work / "empty.duckdb"
        empty.write_bytes(b"")
        attack("empty file as a store: evaluate", ["evaluate", "--db", empty], work / "none", "an empty file")
        for table in ("sightings", "attributions"):
            missing = craft_store(db, work / f"no-{table}.duckdb", f"DROP TABLE {table}")
            attack(f"store missing {table}: report", ["report", "--db", missing, "--country", "FR", "--out",
                   work / "x.html"], work / "none", table)
        target = work / "merge-target.duckdb"
        attack("hostile merge shard (view over read_text)", ["merge", db, leaky, "--db", target], work / "none",
               "sightings is a view")
        with Store.open(target, read_only=True) as s:
            rows[-1]["target_rows_with_marker"] = sum(
                marker in str(s.query(f"SELECT * FROM {t.name}")) for t in TABLES if t.name in s.columns)
            rows[-1]["target_sightings"] = s.count("sightings")
        bad += rows[-1]["target_rows_with_marker"] > 0
        for size_mb in sorted({args.huge_mb, 200}):
            export = huge_export(db, work, size_mb * 1024 * 1024)
            file_kb = (export / "images" / "all.parquet").stat().st_size / 1024
            out = work / f"imported-{size_mb}.duckdb"
            attack(f"Parquet export: one {size_mb} MB string in a {file_kb:.1f} KB file: ingest",
                   ["ingest", export, "--db", out], work / "none", "nothing was imported")
            with Store.open(out, read_only=True) as s:
                rows[-1]["rows_imported"] = sum(s.count(t.name) for t in TABLES if t.name != "meta")
            bad += rows[-1]["rows_imported"] > 0
            shutil.rmtree(export)
        # the cost of the check: opening a store read-only, sealed and checked, against a plain DuckDB connect
        n = 30
        t = time.perf_counter()
        for _ in range(n):
            Store.open(db, read_only=True).close()
        checked = (time.perf_counter() - t) / n * 1000
        t = time.perf_counter()
        for _ in range(n):
            duckdb.connect(str(db), read_only=True).close()
        plain = (time.perf_counter() - t) / n * 1000
        rows.append({"attack": "(cost) Store.open read-only, sealed and checked vs duckdb.connect",
                     "ms": round(checked, 1), "plain_ms": round(plain, 1), "ok": True})
        big = work / "spill.duckdb"
        t = time.perf_counter()
        with Store.open(big, options={"memory_limit": "64MB", "threads": 1}) as s:
            s.con.execute("CREATE TABLE big AS SELECT i, md5(i::VARCHAR) || md5((i * 7)::VARCHAR) AS s "
                          "FROM range(3000000) t(i)")
            n_sorted = s.query("SELECT count(*) FROM (SELECT s || 'x' FROM big ORDER BY s DESC)")[0][0]
        rows.append({"attack": "(spill) sort of ~200 MB under memory_limit 64MB on a sealed store",
                     "seconds": round(time.perf_counter() - t, 1), "rows": n_sorted, "ok": n_sorted == 3_000_000})
        bad += n_sorted != 3_000_000
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
