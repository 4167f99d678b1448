"""Figures for docs/reliability.md, "Hostile and broken files": every file of ../shared/corpora/bad-images and
../shared/corpora/photos ingested into a fresh DuckDB store (through the bounded analysis workers), and every archive
of ../shared/corpora/warc ingested on its own.

    .venv/bin/python bench/hostile_files.py [--workers 2] [--timeout 30]

Prints, per corpus folder: files tried, read (decoded and fingerprinted), rejected cleanly by error class, files
with per-field metadata errors, time bound hits and worker crashes; then, per broken archive, the errors and the
pages/images kept. Exits 1 if any file has no row.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.ingest.run import ingest, is_archive  # noqa: E402
from audit.store.db import Store  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
FOLDERS = ("bad-images/go-fuzz-corpus", "bad-images/libheif", "bad-images/pillow", "photos/exif-samples",
           "photos/exiftool-t-images")


def error_class(error: str) -> str:
    """A coarse class of an ``images.error``."""
    if error.startswith("analysis timed out"):
        return "over the time bound"
    if error.startswith("analysis crashed"):
        return "decoder crashed the worker"
    if "out of memory" in error:
        return "over the memory bound"
    if re.match(r"image has .* pixels, over the limit", error):
        return "over the pixel bound (decompression bomb)"
    if error.startswith("file larger than"):
        return "over the size bound"
    if "cannot identify image file" in error or "empty file" in error:
        return "not an image format (unidentified)"
    if re.search(r"truncated|Truncated|not enough image data|buffer overrun|broken data stream|"
                 r"failed to read next|unrecognized data stream", error):
        return "truncated or corrupt data"
    if re.search(r"decoder error|could not create decoder|Decoder plugin|cannot load this|Unsupported|"
                 r"unknown|Invalid|tile cannot extend|not supported", error):
        return "unsupported or invalid encoding"
    return "other decoder error"


def folder_of(url: str) -> str:
    for folder in FOLDERS:
        if f"/corpora/{folder}/" in url:
            return folder
    return "?"


def images_table(workers: int, timeout: float) -> int:
    files = [p for f in FOLDERS for p in (CORPORA / f).rglob("*") if p.is_file()]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hostile.duckdb"
        started = time.perf_counter()
        with Store.open(db) as store:
            result = ingest(store, [CORPORA / "bad-images", CORPORA / "photos"], workers=workers, timeout=timeout)
            rows = store.query("SELECT s.image_url, i.sha256, i.error, len(coalesce(i.field_errors, [])) "
                               "FROM sightings s LEFT JOIN images i USING (sha256)")
        elapsed = time.perf_counter() - started
    per: dict[str, Counter[str]] = defaultdict(Counter)
    missing = len(files) - len(rows)
    for url, sha, error, field_errors in rows:
        c = per[folder_of(url)]
        c["tried"] += 1
        if sha is None:
            c["no row"] += 1
            missing += 1
        elif error is None:
            c["read"] += 1
        else:
            c["rejected"] += 1
            c["class: " + error_class(error)] += 1
        if field_errors:
            c["with field errors"] += 1
    print(f"## Images: {len(files)} files, {len(rows)} rows, ingest {elapsed:.1f} s with {workers} workers, "
          f"time bound {timeout:g} s; analysis {result.analysis}\n")
    classes = sorted({k for c in per.values() for k in c if k.startswith("class: ")})
    header = ["folder", "tried", "read", "rejected", *[k[7:] for k in classes], "with field errors"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    total: Counter[str] = Counter()
    for folder in FOLDERS:
        c = per[folder]
        total.update(c)
        print("| " + " | ".join([f"`{folder}`", *(str(c[k]) for k in ("tried", "read", "rejected", *classes,
                                                                      "with field errors"))]) + " |")
    print("| " + " | ".join(["**all**", *(str(total[k]) for k in ("tried", "read", "rejected", *classes,
                                                                 "with field errors"))]) + " |")
    print()
    return missing


def archives_table() -> None:
    archives = sorted(p for p in (CORPORA / "warc").rglob("*") if p.is_file() and is_archive(p))
    print(f"## Archives: {len(archives)} files\n")
    print("| archive | pages | images | errors (file: offset: what) |")
    print("|---|---|---|---|")
    clean = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, path in enumerate(archives):
            with Store.open(Path(tmp) / f"{n}.duckdb") as store:
                result = ingest(store, [path])
                images = store.count("images")
            if not result.errors:
                clean += 1
                continue
            errors = "<br>".join(e.replace(str(CORPORA) + "/", "").replace("|", "\\|") for e in result.errors)
            print(f"| `{path.relative_to(CORPORA)}` | {result.pages} | {images} | {errors} |")
    print(f"\n{clean} other archives ingest with no error.\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    missing = images_table(args.workers, args.timeout)
    archives_table()
    if missing:
        print(f"{missing} files have no row")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
