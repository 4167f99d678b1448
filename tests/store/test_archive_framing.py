"""Hostile archives: lying Content-Lengths, huge header lines and blocks, endless chunks -- built here as bytes,
ingested for real (DuckDB store, analysis workers) or iterated in a subprocess under a memory ceiling."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from audit.ingest.run import ingest
from audit.store.db import Store
from audit.testbed.archives import (
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

GOOD = "http://good.example/"
LIE = http_response([b"<html><body><p>lie</p>"], "text/html")  # a small page with no image of its own
LEGIT = {(GOOD + "before.html", GOOD + "before.png"), (GOOD + "after.html", GOOD + "after.png")}


def before() -> list[list[Piece]]:
    return [page(GOOD + "before.html", [GOOD + "before.png"]), image(GOOD + "before.png", 1)]


def after() -> list[list[Piece]]:
    return [page(GOOD + "after.html", [GOOD + "after.png"]), image(GOOD + "after.png", 2)]


def lie(length: int) -> list[Piece]:
    return warc_record("response", "http://evil.example/lie.html", LIE, content_length=length)


def layout(kind: str, records: list[list[Piece]], hostile: int) -> tuple[bytes, str]:
    """The archive's bytes, and the offset an error about record ``hostile`` names."""
    if kind == "plain":
        return flat([p for r in records for p in r]), str(sum(size_of(r) for r in records[:hostile]))
    if kind == "members":
        members = [gzip_member(r) for r in records]
        return b"".join(members), str(sum(len(m) for m in members[:hostile]))
    assert kind == "stream"
    return (gzip_member([p for r in records for p in r]),
            f"0 (+{sum(size_of(r) for r in records[:hostile])} decompressed)")


def stored(db: Path) -> tuple[set[str], set[str], set[tuple[str, str]]]:
    with Store.open(db, read_only=True) as store:
        pages = {r[0] for r in store.query("SELECT url FROM pages")}
        images = {r[0] for r in store.query("SELECT url FROM fetches WHERE sha256 IS NOT NULL")}
        sightings = {(r[0], r[1]) for r in store.query("SELECT page_url, image_url FROM sightings")}
    return pages, images, sightings


def assert_good_records_kept(db: Path) -> None:
    pages, images, sightings = stored(db)
    assert {GOOD + "before.html", GOOD + "after.html"} <= pages, pages
    assert {GOOD + "before.png", GOOD + "after.png"} <= images, images
    assert sightings == LEGIT, sightings - LEGIT  # no page made of another record's bytes, no sighting from it


# --- lying lengths ---


@pytest.mark.parametrize("kind", ["plain", "members", "stream"])
def test_a_length_past_the_end_of_the_file_loses_only_that_record(tmp_path, kind):
    data, offset = layout(kind, [*before(), lie(10**12), *after()], 2)
    path = tmp_path / ("lie.warc" if kind == "plain" else "lie.warc.gz")
    path.write_bytes(data)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [path], workers=1)
    assert any(e.startswith(f"{path}: offset {offset}: record declares Content-Length 1,000,000,000,000, past the "
                            "end of the file") and "not read; resumed at the next record, offset " in e
               for e in result.errors), result.errors
    assert_good_records_kept(tmp_path / "s.duckdb")
    pages, _, _ = stored(tmp_path / "s.duckdb")
    assert "http://evil.example/lie.html" not in pages


@pytest.mark.parametrize("kind", ["plain", "members", "stream"])
def test_a_length_that_runs_into_the_next_records_loses_only_that_record(tmp_path, kind):
    # too long, but not past the end: it covers the next page (whose <img> it would claim) and part of an image
    overrun = size_of(after()[0]) + 100
    data, offset = layout(kind, [*before(), lie(size_of(LIE) + overrun), *after()], 2)
    path = tmp_path / ("lie.warc" if kind == "plain" else "lie.warc.gz")
    path.write_bytes(data)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [path], workers=1)
    assert any(e.startswith(f"{path}: offset {offset}: record runs over the record at offset ") and
               "not read; resumed at the next record" in e for e in result.errors), result.errors
    assert_good_records_kept(tmp_path / "s.duckdb")


def test_an_arc_record_with_a_lying_length_loses_only_that_record(tmp_path):
    records = [[ARC_FILEDESC],
               arc_record(GOOD + "before.html", http_response([b'<img src="before.png">'], "text/html")),
               arc_record("http://evil.example/lie.html", LIE, length=10**12),
               arc_record(GOOD + "after.html", http_response([b'<img src="after.png">'], "text/html"))]
    path = tmp_path / "lie.arc"
    path.write_bytes(flat([p for r in records for p in r]))
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [path], workers=1)
    offset = sum(size_of(r) for r in records[:2])
    assert any(e.startswith(f"{path}: offset {offset}: record declares Content-Length 1,000,000,000,000") and
               "resumed at the next record" in e for e in result.errors), result.errors
    pages, _, sightings = stored(tmp_path / "s.duckdb")
    assert pages == {GOOD + "before.html", GOOD + "after.html"}
    assert {s[0] for s in sightings} == {GOOD + "before.html", GOOD + "after.html"}


def test_a_gzip_member_spanning_record_start_is_not_swallowed(tmp_path):
    # one record per member, the lying one declaring exactly the bytes of the two records after it: the length
    # frames (blank lines and a record follow where it ends), but it covers gzip members that begin with records
    exact = size_of(LIE) + 4 + size_of(after()[0]) + size_of(after()[1]) - 4
    records = [*before(), lie(exact), *after(), page("http://good.example/last.html", [])]
    data, offset = layout("members", records, 2)
    path = tmp_path / "exact.warc.gz"
    path.write_bytes(data)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [path], workers=1)
    assert any(e.startswith(f"{path}: offset {offset}: record runs over the record at offset ") for e in
               result.errors), result.errors
    assert_good_records_kept(tmp_path / "s.duckdb")


# --- bounded header lines and blocks ---

MiB = 1 << 20


def warc_line(n: int) -> list[Piece]:
    return [b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://evil.example/x\r\nWARC-Foo: ", Run(b"a", n),
            b"\r\nContent-Length: 0\r\n\r\n\r\n\r\n"]


def http_line(n: int) -> list[Piece]:
    return warc_record("response", "http://evil.example/h.html",
                       [b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Foo: ", Run(b"a", n),
                        b"\r\n\r\n<html><img src='x.png'></html>"])


def warc_lines(n: int) -> list[Piece]:
    return warc_record("response", "http://evil.example/m.html", http_response([b"<html></html>"], "text/html"),
                       headers=[Run(b"X-H: v\r\n", n // 8)])


def http_lines(n: int) -> list[Piece]:
    return warc_record("response", "http://evil.example/m.html",
                       http_response([b"<html><img src='x.png'></html>"], "text/html",
                                     headers=[Run(b"X-H: v\r\n", n // 8)]))


HEADER_CASES = {  # name: (hostile record, what its error says)
    "warc-line": (warc_line(8 * MiB), "record unreadable (HeaderTooLarge: a header line longer than 65,536 bytes); "
                                      "resumed at the next record"),
    "http-line": (http_line(8 * MiB), "record unreadable (HTTP headers: HeaderTooLarge: a header line longer than "
                                      "65,536 bytes); the next record is read"),
    "warc-block": (warc_lines(2 * MiB), "record unreadable (HeaderTooLarge: a header block over 1,048,576 bytes); "
                                        "resumed at the next record"),
    "http-block": (http_lines(2 * MiB), "record unreadable (HTTP headers: HeaderTooLarge: a header block over "
                                        "1,048,576 bytes); the next record is read"),
}


@pytest.mark.parametrize("kind", ["plain", "members"])
@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_header_lines_and_blocks_are_bounded_and_the_record_named(tmp_path, case, kind):
    hostile, message = HEADER_CASES[case]
    data, offset = layout(kind, [*before(), hostile, *after()], 2)
    path = tmp_path / ("h.warc" if kind == "plain" else "h.warc.gz")
    path.write_bytes(data)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [path], workers=1)
    assert f"{path}: offset {offset}: {message}" in "\n".join(result.errors), result.errors
    assert_good_records_kept(tmp_path / "s.duckdb")


def test_garbage_and_blank_lines_between_records_are_skipped_and_the_gap_named(tmp_path):
    blank = [b"\r\n", Run(b"\r\n", 4 * MiB)]
    garbage = [Run(b"g", 4 * MiB)]  # a 4 MiB line with no newline where a record should start
    records = [*before(), blank, garbage, *after()]
    data, _ = layout("members", records, 0)
    path = tmp_path / "g.warc.gz"
    path.write_bytes(data)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [path], workers=1)
    image_offset = len(gzip_member(before()[0]))
    assert any(e.startswith(f"{path}: offset {image_offset}: record length does not match its Content-Length "
                            "(found b'gggg") and "resumed at the next record, offset " in e for e in result.errors), \
        result.errors
    assert_good_records_kept(tmp_path / "s.duckdb")


# --- a memory ceiling: a hostile megabyte never takes more than 512 MiB ---

CEILING = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    from audit.ingest.run import iter_archive

    def address_space():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * resource.getpagesize()

    limit = address_space() + 512 * 1024 * 1024  # what reading the archive may add
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    errors, items = [], []
    for item in iter_archive(Path(sys.argv[1]), max_image_bytes=32 * 1024 * 1024, max_page_bytes=8 * 1024 * 1024,
                             errors=errors):
        items.append([type(item).__name__, getattr(item, "url", None) or getattr(item, "image_url", None),
                      getattr(item, "error", None)])
    print(json.dumps({"items": items, "errors": errors}))
""")


def chunked_bomb(n: int) -> list[Piece]:
    block: list[Piece] = [b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"7fffffff\r\n", Run(b"a", n)]
    return warc_record("response", "http://evil.example/bomb.png", block)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", ["warc-line", "http-line", "chunked"])
def test_a_hostile_megabyte_stays_under_512_mib(tmp_path, case):
    hostile = {"warc-line": warc_line(256 * MiB), "http-line": http_line(256 * MiB),
               "chunked": chunked_bomb(512 * MiB)}[case]
    data, offset = layout("members", [*before(), hostile, *after()], 2)
    assert len(data) < 1_000_000
    path = tmp_path / "big.warc.gz"
    path.write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", CEILING, str(path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert not any("MemoryError" in e for e in out["errors"]), out["errors"]
    urls = [i[1] for i in out["items"]]
    for url in ("before.html", "before.png", "after.html", "after.png"):
        assert GOOD + url in urls
    if case == "chunked":  # the image is recorded as too large, from at most a bounded part of its body
        assert ["ImageFetch", "http://evil.example/bomb.png", "image larger than 33554432 bytes"] in out["items"]
    else:
        assert any(e.startswith(f"{path}: offset {offset}: record unreadable (") and "HeaderTooLarge" in e
                   for e in out["errors"]), out["errors"]


# --- the gzip stream under the framing: random layouts read and seek like the bytes they hold ---


def test_gzip_stream_reads_and_seeks_like_its_bytes(tmp_path):
    import random

    from audit.ingest.bytestream import GzipStream

    rng = random.Random(5)
    plain = bytes(rng.randrange(256) for _ in range(300_000)) + b"a" * 9_000_000
    cuts = sorted(rng.sample(range(1, len(plain)), 40))
    pieces = [plain[a:b] for a, b in zip([0, *cuts], [*cuts, len(plain)], strict=True)]
    path = tmp_path / "g.gz"
    path.write_bytes(b"".join(zlib.compress(p, wbits=31) for p in pieces) + zlib.compress(b"", wbits=31))
    with open(path, "rb") as fh:
        stream = GzipStream(fh)
        assert stream.read(len(plain) + 10) == plain and stream.size() == len(plain)
        for _ in range(200):
            at = rng.randrange(len(plain) + 5)
            stream.seek(at)
            assert stream.tell() == min(at, len(plain))
            assert stream.read(100) == plain[at : at + 100]
            window = plain[at + 100 : at + 150]
            newline = window.find(b"\n")
            assert stream.readline(50) == (window if newline < 0 else window[: newline + 1])
        assert stream.error is None


def test_corrupt_gzip_data_ends_the_stream_with_its_member_offset(tmp_path):
    from audit.ingest.bytestream import GzipStream

    members = [zlib.compress(b"x" * 1000 + bytes([i]) * 100_000, wbits=31) for i in range(3)]
    broken = bytearray(members[1])
    broken[-8] ^= 0xFF  # its CRC no longer matches what it holds
    path = tmp_path / "c.gz"
    path.write_bytes(members[0] + bytes(broken) + members[2])
    with open(path, "rb") as fh:
        stream = GzipStream(fh)
        data = stream.read(10**6)
        assert data.startswith(b"x" * 1000 + b"\0" * 100_000) and len(data) < 202_000  # nothing of member 3
        assert stream.error is not None and stream.error.member_offset == len(members[0])
        assert stream.error.message.startswith(f"corrupt gzip data in the member at offset {len(members[0])} (")
