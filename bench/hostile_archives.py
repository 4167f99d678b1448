"""Figures for docs/reliability.md, "attack -> bound -> measured" (archives): hostile WARC/ARC files of at most
about a megabyte each, each ingested by ``provaudit ingest`` in a fresh subprocess; prints per file its size, the
peak RSS and wall time of the ingest (``/usr/bin/time -v``), what was kept and the errors recorded.

    .venv/bin/python bench/hostile_archives.py                  # every case (about two minutes)
    .venv/bin/python bench/hostile_archives.py -k lying         # the cases whose name holds "lying"
    .venv/bin/python bench/hostile_archives.py --code /tmp/old  # the same files through another checkout
    .venv/bin/python bench/hostile_archives.py --keep out/      # also keep the archives

Every archive holds good records around the hostile one: a page (``before.html``) with its image before it, a page
(``after.html``) with its image after it. "kept" counts those four that reached the store; "false" counts
sightings of a page that holds no such image (a page built from another record's bytes). The ingest runs under
``RLIMIT_AS`` (``--max-memory``, default 8 GiB) and a ``--timeout`` so that an unbounded reader cannot take the
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.store.db import Store  # noqa: E402
from audit.testbed.archives import (  # noqa: E402
    ARC_FILEDESC,
    Piece,
    Run,
    arc_record,
    flat,
    gzip_member,
    http_response,
    image,
    page,
    size_of,
    warc_record,
)

GiB = 1 << 30
MiB = 1 << 20
GOOD = "http://good.example/"


def before() -> list[list[Piece]]:
    return [page(GOOD + "before.html", [GOOD + "before.png"]), image(GOOD + "before.png", 1)]


def after() -> list[list[Piece]]:
    return [page(GOOD + "after.html", [GOOD + "after.png"]), image(GOOD + "after.png", 2)]


def members(records: list[list[Piece]]) -> bytes:
    """One gzip member per record."""
    return b"".join(gzip_member(r) for r in records)


def one_stream(records: list[list[Piece]]) -> bytes:
    """All records in one gzip member."""
    return gzip_member([p for r in records for p in r])


def plain(records: list[list[Piece]]) -> bytes:
    return flat([p for r in records for p in r])


LIE = http_response([b"<html><body><p>lie</p>"], "text/html")  # a small page with no image


def lying_page(length: int) -> list[Piece]:
    """A page record whose Content-Length is ``length``."""
    return warc_record("response", "http://evil.example/lie.html", LIE, content_length=length)


def warc_line(n: int) -> list[Piece]:
    return [b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://evil.example/x\r\nWARC-Foo: ", Run(b"a", n)]


def http_line(n: int) -> list[Piece]:
    block: list[Piece] = [b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Foo: ", Run(b"a", n),
                          b"\r\n\r\n<html></html>"]
    return warc_record("response", "http://evil.example/h.html", block)


def warc_many_lines(n: int) -> list[Piece]:
    return warc_record("response", "http://evil.example/m.html", http_response([b"<html></html>"], "text/html"),
                       headers=[Run(b"X-H: v\r\n", n // 8)])


def http_many_lines(n: int) -> list[Piece]:
    return warc_record("response", "http://evil.example/m.html",
                       http_response([b"<html></html>"], "text/html", headers=[Run(b"X-H: v\r\n", n // 8)]))


def chunked_bomb(n: int) -> list[Piece]:
    block: list[Piece] = [b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"7fffffff\r\n", Run(b"a", n)]
    return warc_record("response", "http://evil.example/bomb.png", block)


def nested_lies(records: int, body: int, prefix: int) -> list[list[Piece]]:
    """``records`` small page records in a row (the first at stream position ``prefix``), each declaring a length
    that ends deep inside a ``body``-byte record after them, at a different place each (so each must be checked
    there), then that record."""

    def lie(length: int) -> list[Piece]:
        return warc_record("response", "http://evil.example/lie.html",
                           http_response([b"<html><body><p>lie</p>"], "text/html"), content_length=f"{length:012d}")

    size = size_of(lie(0))
    header = len(lie(0)[0]) + 2  # the WARC header block and its blank line
    big = warc_record("resource", "http://evil.example/zeros.bin", [Run(b"\x00", body)], content_type="x/y")
    zeros = prefix + records * size + len(big[0]) + 2
    return [*(lie(zeros + body // 2 + 7 * i - (prefix + i * size + header)) for i in range(records)), big]


def nested_case() -> bytes:
    good = before()
    return one_stream([*good, *nested_lies(1000, 512 * MiB, size_of([p for r in good for p in r])), *after()])


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {  # file name: (what is wrong, its bytes)
    "warc-line-1g.warc.gz": ("a 1 GiB WARC header line without newline in one gzip member",
                             lambda: members([*before(), warc_line(GiB), *after()])),
    "warc-line-256m.warc.gz": ("a 256 MiB WARC header line",
                               lambda: members([*before(), warc_line(256 * MiB), *after()])),
    "http-line-1g.warc.gz": ("a 1 GiB HTTP header line", lambda: members([*before(), http_line(GiB), *after()])),
    "warc-many-lines.warc.gz": ("67 million WARC header lines (512 MiB)",
                                lambda: members([*before(), warc_many_lines(512 * MiB), *after()])),
    "http-many-lines.warc.gz": ("67 million HTTP header lines (512 MiB)",
                                lambda: members([*before(), http_many_lines(512 * MiB), *after()])),
    "blank-lines.warc.gz": ("512 MiB of blank lines between two records",
                            lambda: members([*before(), [b"\r\n", Run(b"\r\n", 256 * MiB)], *after()])),
    "garbage-line.warc.gz": ("a 1 GiB line where a record should start",
                             lambda: members([*before(), [Run(b"g", GiB)], *after()])),
    "chunked-bomb.warc.gz": ("a 1 GiB chunk of a chunked image response",
                             lambda: members([*before(), chunked_bomb(GiB), *after()])),
    "lying-length.warc": ("a page declaring Content-Length 10^12 (uncompressed)",
                          lambda: plain([*before(), lying_page(10**12), *after()])),
    "lying-length-members.warc.gz": ("the same, one gzip member per record",
                                     lambda: members([*before(), lying_page(10**12), *after()])),
    "lying-length-stream.warc.gz": ("the same, all records in one gzip member",
                                    lambda: one_stream([*before(), lying_page(10**12), *after()])),
    "lying-length-short.warc": ("a page declaring 300 bytes more than it has (swallows the next record's start)",
                                lambda: plain([*before(), lying_page(size_of(LIE) + 300), *after()])),
    "lying-length.arc": ("an ARC record declaring length 10^12",
                         lambda: plain([[ARC_FILEDESC],
                                        arc_record(GOOD + "before.html",
                                                   http_response([b'<img src="before.png">'], "text/html")),
                                        arc_record("http://evil.example/lie.html",
                                                   http_response([b"<p>lie</p>"], "text/html"), length=10**12),
                                        arc_record(GOOD + "after.html",
                                                   http_response([b'<img src="after.png">'], "text/html"))])),
    "nested-lies-stream.warc.gz": ("1,000 records in one gzip member, each declaring a length that ends inside a "
                                   "512 MiB record after them",
                                   nested_case),
}


def measure(archive: Path, db: Path, code: Path, timeout: float, max_memory: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(code)}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))

    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "audit.cli", "ingest", str(archive), "--db", str(db),
           "--workers", "1"]
    with subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=limit, start_new_session=True) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # /usr/bin/time and the ingest under it
            child.communicate()
            return {"status": f"killed after {timeout:.0f} s"}
    proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr)
    seconds = 0.0
    if wall:
        for part in wall.group(1).split(":"):
            seconds = seconds * 60 + float(part)
    out: dict[str, object] = {"status": f"exit {proc.returncode}", "rss_mb": int(rss.group(1)) / 1024 if rss else None,
                              "seconds": seconds}
    if proc.returncode != 0:
        out["stderr"] = proc.stderr.strip().splitlines()[-3:]
        return out
    with Store.open(db, read_only=True) as store:
        pages = {r[0] for r in store.query("SELECT url FROM pages")}
        images = {r[0] for r in store.query("SELECT url FROM fetches WHERE sha256 IS NOT NULL")}
        sightings = store.query("SELECT page_url, image_url FROM sightings")
        stats = next(iter(store.query("SELECT stats FROM crawls")), (None,))[0]
    good = {GOOD + n for n in ("before.html", "after.html")} & pages
    good |= {GOOD + n for n in ("before.png", "after.png")} & images
    out["expected"] = 2 if archive.suffix == ".arc" else 4  # the ARC case has no image records
    legit = {(GOOD + "before.html", GOOD + "before.png"), (GOOD + "after.html", GOOD + "after.png")}
    out["kept"] = len(good)
    out["false"] = sum(1 for s in sightings if s[0] is not None and tuple(s) not in legit)
    errors = json.loads(stats).get("errors", []) if stats else []
    out["errors"] = [e.split(": ", 1)[1] if ": " in e else e for e in errors]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", dest="only", default="", help="only the cases whose name contains this")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose provaudit to run")
    parser.add_argument("--keep", type=Path, help="folder to keep the archives in")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--max-memory", type=int, default=8 * GiB, help="RLIMIT_AS of the ingest, bytes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name, (what, build) in CASES.items():
            if args.only not in name:
                continue
            path = folder / name
            path.write_bytes(build())
            result = measure(path, Path(tmp) / f"{name}.duckdb", args.code.resolve(), args.timeout, args.max_memory)
            rss = result.get("rss_mb")
            print(f"{name}: {what}; {path.stat().st_size / 1e6:.2f} MB on disk")
            if rss is None:
                print(f"    {result['status']}")
            else:
                print(f"    {result['status']}, peak RSS {rss:.0f} MiB, {result.get('seconds', 0):.1f} s, good records "
                      f"kept {result.get('kept', '-')}/{result.get('expected', '-')}, "
                      f"false sightings {result.get('false', '-')}")
            lines = result.get("errors") or result.get("stderr") or []
            assert isinstance(lines, list)
            for line in lines[:4]:
                print(f"    error: {line[:200]}")
            if len(lines) > 4:
                print(f"    ... {len(lines) - 4} more errors (the store lists at most 100 per archive)")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
