"""A WAT file read part by part in worker processes (audit.ingest.watpool) gives the store one reading of it in this
process gives: the same rows in every table, the same counts and the same problems, on the real WAT of
../shared/corpora/datasets/common-crawl, on a generated WAT of many pages (URLs captured twice, image links shared
between pages), and on the same WAT with broken records in it. The parts are made as small as they go (one record
each) so that every record start is a part start."""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from audit.ingest import watpool, watrun
from audit.ingest.watpool import part_starts
from audit.ingest.watrun import ingest_wat
from audit.store.db import Store
from audit.testbed.watgen import metadata_record, responses
from conftest import CORPORA

CC = CORPORA / "datasets" / "common-crawl"
WAT = CC / "whirlwind.warc.wat.gz"
WARC = CC / "whirlwind.warc.gz"
TABLES = ("images", "pages", "captures", "sightings")


def _pages(n: int) -> bytes:
    """The real WAT, then ``n`` response records made from the twin WARC's page, one gzip member each: URLs over 7
    hosts, every fifth URL captured again later, image hosts over 3 names."""
    env = next(responses(WARC))
    out = [WAT.read_bytes()]
    for i in range(n):
        page = copy.deepcopy(env)
        n = i - 1 if i % 5 == 4 else i
        url = f"https://www.site{n % 7}.example.fr/wiki/Page-{n}"
        date = f"2024-05-18T01:{i // 60 % 60:02d}:{i % 60:02d}Z"
        page["Envelope"]["WARC-Header-Metadata"].update({"WARC-Target-URI": url, "WARC-Date": date})
        body = json.dumps(page, ensure_ascii=False).replace("//upload.wikimedia.org/", f"//img{i % 3}.example.net/")
        out.append(metadata_record(None, url, date, body=body.encode()))
    return b"".join(out)


def _store(tmp: Path, name: str, path: Path, **options: Any) -> tuple[dict[str, Any], Any]:
    with Store.open(tmp / f"{name}.duckdb") as store:
        result = ingest_wat(store, [path], **options)
        rows = {t: store.query(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}
        rows["stats"] = store.query("SELECT crawl_id, kind, stats FROM crawls")
        again = ingest_wat(store, [path], **options)
        assert {t: store.count(t) for t in TABLES} == {t: len(rows[t]) for t in TABLES}  # re-ingest adds nothing
        assert again.errors == result.errors
    return rows, result


def _same(tmp: Path, path: Path) -> tuple[Any, Any]:
    serial, one = _store(tmp, f"{path.stem}-serial", path, workers=1)
    parallel, two = _store(tmp, f"{path.stem}-parallel", path, workers=2, parallel_from_bytes=0, part_bytes=1)
    for name in serial:
        assert parallel[name] == serial[name], name
    for field in ("records", "pages", "sightings", "image_links", "refs_cut", "bad_records", "skipped", "errors"):
        assert getattr(two, field) == getattr(one, field), field
    return one, serial


def test_the_real_wat_read_in_parts_gives_the_same_store(tmp_path: Path) -> None:
    path = tmp_path / "whirlwind-pages.warc.wat.gz"
    path.write_bytes(_pages(1))
    assert len(part_starts(path, 1)) == 3  # warcinfo, request, response: a part each
    result, rows = _same(tmp_path, path)
    assert result.pages == 1 and len(rows["sightings"]) > 10
    real = tmp_path / "whirlwind.warc.wat.gz"
    real.write_bytes(WAT.read_bytes())
    result, _ = _same(tmp_path, real)
    assert result.records == 1 and result.pages == 0


def test_a_generated_wat_of_many_pages_read_in_parts_gives_the_same_store(tmp_path: Path) -> None:
    path = tmp_path / "pages.warc.wat.gz"
    path.write_bytes(_pages(60))
    assert len(part_starts(path, 1)) == 62
    assert len(part_starts(path, 100_000)) > 2
    result, rows = _same(tmp_path, path)
    assert result.pages == 60 and len(rows["pages"]) == 48 and len(rows["captures"]) == 60
    big = tmp_path / "big.duckdb"
    with Store.open(big) as store:  # parts of ~100 KB, as a large file is cut
        parted = ingest_wat(store, [path], workers=2, parallel_from_bytes=0, part_bytes=100_000)
        assert store.query("SELECT * FROM sightings ORDER BY ALL") == rows["sightings"]
        assert parted.pages == 60 and not parted.errors


@pytest.mark.parametrize("damage", ["not-json", "corrupt-gzip", "long-length", "truncated", "many-bad"])
def test_broken_records_are_named_alike_when_read_in_parts(tmp_path: Path, damage: str) -> None:
    data = bytearray(_pages(12))
    starts = part_starts(_write(tmp_path / "whole.warc.wat.gz", bytes(data)), 1)
    if damage == "not-json":
        bad = metadata_record(None, "https://x.example.fr/", "2024-01-01T00:00:00Z", body=b'{"Envelope": [1, 2')
        data[starts[6]:starts[6]] = bad
    elif damage == "corrupt-gzip":
        middle = (starts[5] + starts[6]) // 2
        data[middle:middle + 64] = bytes(b ^ 0x5A for b in data[middle:middle + 64])
    elif damage == "long-length":  # a record whose Content-Length runs over the records after it
        import gzip

        member = gzip.decompress(bytes(data[starts[4]:starts[5]]))
        length = member.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0]
        member = member.replace(b"Content-Length: " + length, b"Content-Length: " + str(int(length) * 3).encode())
        data[starts[4]:starts[5]] = gzip.compress(member, mtime=0)
    elif damage == "truncated":
        data = data[: (starts[-2] + starts[-1]) // 2]
    else:  # more problems than are listed
        bad = metadata_record(None, "https://x.example.fr/", "2024-01-01T00:00:00Z", body=b"[")
        for at in reversed(starts[3:9]):
            data[at:at] = bad * 30
    path = _write(tmp_path / f"{damage}.warc.wat.gz", bytes(data))
    result, _ = _same(tmp_path, path)
    said = {"not-json": "metadata record is not JSON", "corrupt-gzip": "corrupt gzip data",
            "long-length": "record runs over the record at offset", "truncated": "is cut short by the end of the file",
            "many-bad": "more problems, not listed"}[damage]
    assert any(said in e for e in result.errors), result.errors
    assert result.pages >= 10 and result.bad_records == (180 if damage == "many-bad" else 1)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_small_files_and_single_cores_are_read_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "small.warc.wat.gz", _pages(3))
    with Store.open(tmp_path / "small.duckdb") as store:
        assert ingest_wat(store, [path]).workers == 1  # under PARALLEL_FROM_BYTES: no worker started
    with Store.open(tmp_path / "forced.duckdb") as store:
        assert ingest_wat(store, [path], workers=2, parallel_from_bytes=0, part_bytes=1).workers == 2
    assert 1 <= watpool.default_workers(0.01) <= (os.cpu_count() or 1)
    monkeypatch.setattr(watpool.os, "cpu_count", lambda: 1)
    assert watpool.default_workers(0.01) == 1
    with Store.open(tmp_path / "one-core.duckdb") as store:
        assert ingest_wat(store, [path], parallel_from_bytes=0, part_bytes=1).workers == 1


def test_a_part_start_that_is_no_record_start_is_read_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Should a part start be bytes that only looked like a gzip member beginning a record, the part before it reads
    on to the next part start it meets and the part between is dropped (its reading of garbage with it)."""
    path = _write(tmp_path / "pages.warc.wat.gz", _pages(8))
    real = part_starts(path, 1)
    bogus = sorted({*real, real[4] + 10})
    monkeypatch.setattr(watrun, "part_starts", lambda *args, **kwargs: bogus)
    serial, one = _store(tmp_path, "serial", path, workers=1)
    with caplog.at_level(logging.INFO, logger="audit.ingest.watpool"):
        parted, two = _store(tmp_path, "parted", path, workers=2, parallel_from_bytes=0, part_bytes=1)
    assert "part 4 read on to part 6" in caplog.text
    assert parted == serial and two.errors == one.errors == [] and two.pages == 8
