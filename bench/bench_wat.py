"""Common Crawl WAT ingest against a floor that only reads the records and parses their JSON, side by side in one run.

    nice -n 19 .venv/bin/python bench/bench_wat.py [--pages 50000] [--runs 3] [--work /tmp/provaudit-bench-wat]

The WAT (made once, kept in ``--work``): for each page, the real request record of
../shared/corpora/datasets/common-crawl/whirlwind.warc.wat.gz and the response record of the same capture as
ia-web-commons writes it (audit.testbed.watgen, from the twin whirlwind.warc.gz: 13 ``IMG@/src``, 3 ``og:image``
metas, 2 icon links and ~200 other links, 34 KB of JSON), one gzip member each, with the page's URL and host varied
(``https://www.site<i mod 1000>.<one of 10 TLDs>/wiki/Escopete-<i>``: relative image URLs resolve per host), its
server address varied, the protocol-relative image host varied over 100 CDN names and ``<html lang>`` over 5 values.

Timed, alternating, ``--runs`` times each: ``ingest`` (audit.ingest.watrun.ingest_wat into a new store: framing,
JSON, pages, facts, image links, Arrow writes to DuckDB; in worker processes when two or more cores are idle, as
it decides by default) and ``floor`` (audit.ingest.archive.read_archive, the same
framing, and ``json.loads`` of every metadata record, nothing else). Also timed once each run, for reference:
``floor-warcio`` (warcio's own ArchiveIterator and ``json.loads``) and, with ``--other``, ``ingest-other``: the
ingest with the other choice of reading processes (one, or one per core). Prints the medians and ingest / floor
speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.ingest.archive import ArchiveLimits, read_archive  # noqa: E402
from audit.ingest.wat import MAX_RECORD_BYTES  # noqa: E402
from audit.ingest.watrun import ingest_wat  # noqa: E402
from audit.store.db import Store  # noqa: E402
from audit.testbed.watgen import metadata_record, responses  # noqa: E402

CC = ROOT.parent / "shared" / "corpora" / "datasets" / "common-crawl"
TLDS = ("fr", "de", "es", "it", "co.uk", "org", "com", "nl", "be", "ch")
LANGS = ("an", "fr-FR", "de", "es-ES", "it")


def make_wat(path: Path, pages: int) -> None:
    env = next(responses(CC / "whirlwind.warc.gz"))
    request = None
    from warcio.archiveiterator import ArchiveIterator

    with open(CC / "whirlwind.warc.wat.gz", "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "metadata":
                request = json.loads(rec.content_stream().read())
    assert request is not None
    warc = env["Envelope"]["WARC-Header-Metadata"]
    metas = env["Envelope"]["Payload-Metadata"]["HTTP-Response-Metadata"]["HTML-Metadata"]["Head"]["Metas"]
    lang = next(m for m in metas if m.get("name") == "HTML@/lang")
    rwarc = request["Envelope"]["WARC-Header-Metadata"]
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        for i in range(pages):
            url = f"https://www.site{i % 1000}.{TLDS[i % len(TLDS)]}/wiki/Escopete-{i}"
            ip = f"{(i * 7) % 223 + 1}.{i % 256}.{(i // 256) % 256}.{(i * 13) % 256}"
            date = f"2024-05-18T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"
            warc.update({"WARC-Target-URI": url, "WARC-IP-Address": ip, "WARC-Date": date})
            rwarc.update({"WARC-Target-URI": url, "WARC-IP-Address": ip, "WARC-Date": date})
            lang["content"] = LANGS[i % len(LANGS)]
            body = json.dumps(env, ensure_ascii=False, separators=(",", ":"))
            body = body.replace("//upload.wikimedia.org/", f"//upload{i % 100}.cdn-example.net/")
            out.write(metadata_record(request, url, date))
            out.write(metadata_record(None, url, date, body=body.encode()))
    tmp.rename(path)


def floor(path: Path) -> int:
    n = 0
    for item in read_archive(path, limits=ArchiveLimits(max_body=MAX_RECORD_BYTES + 1)):
        rec = item.record
        if rec is not None and rec.rec_type == "metadata":
            json.loads(rec.raw_stream.read(MAX_RECORD_BYTES + 1))
            n += 1
    return n


def floor_warcio(path: Path) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "metadata":
                json.loads(rec.content_stream().read())
                n += 1
    return n


def ingest_once(path: Path, work: Path, workers: int | None = None) -> tuple[int, int, int]:
    with tempfile.TemporaryDirectory(dir=work) as tmp, Store.open(Path(tmp) / "wat.duckdb") as store:
        result = ingest_wat(store, [path], workers=workers)
        return result.records, result.sightings, result.workers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "provaudit-bench-wat")
    ap.add_argument("--other", action="store_true",
                    help="also time the ingest with the other choice of reading processes (1, or one per core)")
    ap.add_argument("--profile", action="store_true", help="profile one ingest (cProfile, top 25 by own time)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / f"bench-{args.pages}.warc.wat.gz"
    if not path.exists():
        started = time.perf_counter()
        make_wat(path, args.pages)
        print(f"made {path} ({path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - started:,.0f} s")
    print(f"{path}: {path.stat().st_size / 1e6:,.0f} MB, {args.pages:,} pages, {2 * args.pages:,} metadata records")
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(ingest_once, path, args.work)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    times: dict[str, list[float]] = {"ingest": [], "floor": [], "floor-warcio": [], "ingest-other": []}
    for run in range(args.runs):
        used = 1
        for name in ("floor", "ingest", "ingest-other", "floor-warcio"):
            if name == "ingest-other" and not args.other:
                continue
            started = time.perf_counter()
            if name.startswith("ingest"):
                other = None if name == "ingest" else (1 if used > 1 else max(2, os.cpu_count() or 1))
                records, sightings, used = ingest_once(path, args.work, other)
                what = f"{records:,} records, {sightings:,} sightings, {used} reading process(es)"
            else:
                records = (floor if name == "floor" else floor_warcio)(path)
                what = f"{records:,} records"
            seconds = time.perf_counter() - started
            times[name].append(seconds)
            print(f"run {run + 1} {name:<13} {seconds:7.1f} s  {what}", flush=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    for name, seconds in med.items():
        print(f"median {name:<13} {seconds:7.1f} s  {args.pages / seconds:8,.0f} pages/s")
    print(f"ingest speed / floor speed: {med['floor'] / med['ingest']:.2f} (target >= 0.80); "
          f"/ warcio floor: {med['floor-warcio'] / med['ingest']:.2f}")
    if "ingest-other" in med:
        print(f"ingest-other speed / floor speed: {med['floor'] / med['ingest-other']:.2f}")


if __name__ == "__main__":
    main()
