"""Hostile and broken files: every file of the bad-images and photos corpora through `provaudit inspect` and
`provaudit ingest` (no crash, no hang, a row per file, a recorded error for each unreadable one); the per-file time
and memory bounds; XML attacks in XMP; malformed EXIF/IPTC recorded per field while the other fields are read."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from audit.decode.imagefacts import analyse_image
from audit.decode.metadata import read_metadata
from audit.decode.workers import AnalysisPool, Bounds, analyse_bounded
from audit.ingest.run import ingest
from audit.store.db import Store
from conftest import CORPORA, ROOT

FOLDERS = (CORPORA / "bad-images", CORPORA / "photos")
DSCN0010 = CORPORA / "photos/exif-samples/jpg/gps/DSCN0010.jpg"  # EXIF GPS (Tuscany), time, XMP
EXIFTOOL_JPG = CORPORA / "photos/exiftool-t-images/ExifTool.jpg"  # EXIF, IPTC and XMP location (Kingston, Canada)


def _corpus_files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in folder.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def slow_png() -> bytes:
    """A valid 8000x8000 RGB PNG of 200 kB: within the pixel bound, ~0.7 s to decode (the stand-in for a hang)."""
    buf = io.BytesIO()
    Image.new("RGB", (8000, 8000), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


# --- every corpus file -------------------------------------------------------------------------------------------


def test_every_corpus_file_through_inspect(corpora):
    files = _corpus_files()
    assert len(files) > 1700
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "inspect", "--json", *map(str, files)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["path"] for o in objs] == [str(p) for p in files]
    unreadable = 0
    for path, obj in zip(files, objs, strict=True):
        assert obj["sha256"] == _sha256(path), path
        if obj["error"] is None:
            assert obj["phash"] is not None and obj["width"] and obj["height"], path
        else:
            unreadable += 1
            assert obj["phash"] is None and len(obj["error"]) <= 300, path
    assert 1000 < unreadable < len(files) - 400  # most fuzz files are rejected, the real photos read
    assert elapsed < 120


def test_every_corpus_file_ingests_with_a_row(corpora, tmp_path):
    files = _corpus_files()
    db = tmp_path / "hostile.duckdb"
    with Store.open(db) as store:
        result = ingest(store, list(FOLDERS), workers=2)
    assert result.errors == [] and result.analysis["timed_out"] == result.analysis["crashed"] == 0
    with Store.open(db, read_only=True) as store:
        rows = store.query("SELECT s.image_url, s.sha256, i.error, i.phash, i.width FROM sightings s "
                           "LEFT JOIN images i USING (sha256)")
        (failed_fetches,) = store.query("SELECT count(*) FROM fetches WHERE error IS NOT NULL")[0]
    by_url = {r[0]: r[1:] for r in rows}
    assert len(by_url) == len(files) and failed_fetches == 0
    errors = 0
    for path in files:
        sha, error, phash, width = by_url[path.resolve().as_uri()]
        assert sha == _sha256(path), path  # recorded by content and URL, readable or not
        if error is None:
            assert phash is not None and width, path
        else:
            errors += 1
    assert errors > 1000


# --- bounds --------------------------------------------------------------------------------------------------------


def test_a_file_over_the_time_bound_is_killed_and_recorded(slow_png, tmp_path):
    slow = tmp_path / "slow.png"
    slow.write_bytes(slow_png)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "inspect", "--json", "--timeout", "0.1", str(slow),
                           str(DSCN0010)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["error"] == "analysis timed out after 0.1 s" and first["sha256"] == _sha256(slow)
    assert second["error"] is None and second["country"] == "IT"  # a fresh worker took the next file
    assert time.perf_counter() - started < 30

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.png").write_bytes(slow_png)
    (folder / "b.jpg").write_bytes(DSCN0010.read_bytes())
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [folder], timeout=0.1, workers=1)
        rows = dict(store.query("SELECT s.image_url, i.error FROM sightings s JOIN images i USING (sha256)"))
    assert result.analysis["timed_out"] == 1
    assert rows[(folder / "a.png").resolve().as_uri()] == "analysis timed out after 0.1 s"
    assert rows[(folder / "b.jpg").resolve().as_uri()] is None


def test_bad_bounds_are_clean_cli_errors():
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "inspect", "--timeout", "0", str(DSCN0010)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--timeout" in proc.stderr


def test_a_crashed_worker_is_replaced(slow_png):
    ok = DSCN0010.read_bytes()
    with AnalysisPool(1, bounds=Bounds(timeout=60), start_method="fork") as pool:
        assert pool.analyse(ok).error is None  # the worker is up
        future = pool.submit(slow_png)
        victim = pool._workers[0].process.pid
        threading.Timer(0.2, lambda: __import__("os").kill(victim, 9)).start()
        record = pool.result(future)
        assert record.error == "analysis crashed: worker killed by SIGKILL"
        assert record.sha256 == hashlib.sha256(slow_png).hexdigest() and record.size == len(slow_png)
        again = pool.analyse(ok)
        assert again.error is None and again.gps_lat is not None
        assert pool.stats["crashed"] == 1 and pool.stats["workers_started"] == 2


def test_memory_bound_gives_out_of_memory_for_that_file_only(slow_png):
    # the default start method (a forkserver): a worker forked from this test process would inherit its freed heap,
    # which counts in the address space the bound starts from and lets the decode fit (after the audit tests it did)
    with AnalysisPool(1, bounds=Bounds(max_memory=60 * 1024**2)) as pool:
        assert pool.analyse(slow_png).error == "not a readable image: out of memory"  # 8000x8000 RGB needs 192 MB
        assert pool.analyse(DSCN0010.read_bytes()).error is None


def test_one_bounded_analysis_holds_its_memory_bound_from_a_process_with_free_heap(slow_png):
    """A process that has freed much of its heap (a notebook after a large query) analyses one hostile file: the
    worker must not be forked from it, or it inherits that free heap, which the bound does not count, and the 192 MB
    decode fits in it under a 60 MB bound (it did with ``fork``, the former default)."""
    import gc

    chunks = [bytearray(64 * 1024) for _ in range(4000)]  # ~250 MB from the C heap, below glibc's mmap threshold
    pin = bytearray(64 * 1024)  # keeps the heap's top in place, so the freed chunks stay mapped
    del chunks
    gc.collect()
    record = analyse_bounded(slow_png, bounds=Bounds(max_memory=60 * 1024**2))
    assert record.error == "not a readable image: out of memory"
    del pin


def test_decompression_bomb_is_not_decoded():
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    png[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR: 100,000 x 100,000 pixels
    import zlib

    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")
    with AnalysisPool(1, start_method="fork") as pool:
        record = pool.analyse(bytes(png))
    assert record.error == "image has 10000000000 pixels, over the limit of 64000000"


# --- XML attacks in XMP ------------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="&lol9;"/>
</rdf:RDF></x:xmpmeta>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"><photoshop:City>&xxe;</photoshop:City>
</rdf:Description></rdf:RDF></x:xmpmeta>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="Lyon"/>
</rdf:RDF></x:xmpmeta>"""


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """``jpeg`` with one more APPn segment right after SOI (before its own APP1: Pillow reads the first XMP)."""
    return jpeg[:2] + bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"


def _without_xmp(jpeg: bytes) -> bytes:
    """``jpeg`` without its XMP APP1 segments (the segments before the start of scan, walked by their lengths)."""
    out, pos = bytearray(jpeg[:2]), 2
    while jpeg[pos] == 0xFF and jpeg[pos + 1] not in (0xDA, 0xD9):
        end = pos + 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        if not (jpeg[pos + 1] == 0xE1 and jpeg[pos + 4 : pos + 4 + len(XMP_ID)] == XMP_ID):
            out += jpeg[pos:end]
        pos = end
    return bytes(out + jpeg[pos:])


def _xmp_jpeg(packet: bytes) -> bytes:
    """The real photo with its XMP packet replaced by ``packet``."""
    photo = _without_xmp(DSCN0010.read_bytes())
    assert read_metadata(photo).xmp is None
    return _with_segment(photo, 0xE1, XMP_ID + packet)


@pytest.mark.parametrize("packet", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD],
                         ids=["billion-laughs", "external-entity", "external-dtd"])
def test_xml_attacks_in_xmp_are_refused_and_the_rest_is_read(packet):
    data = _xmp_jpeg(packet)
    started = time.perf_counter()
    record = analyse_image(data)
    assert time.perf_counter() - started < 5
    assert record.error is None and record.phash is not None
    assert record.xmp is None and record.location is None
    assert any(e.startswith("xmp: DTDForbidden") for e in record.field_errors), record.field_errors
    text = json.dumps([record.exif, record.iptc, record.xmp, record.location, list(record.field_errors)])
    assert "root:" not in text and "lollol" not in text
    # the EXIF fields are still read
    assert record.gps_lat == pytest.approx(43.4674, abs=1e-3) and record.taken_at == dt.datetime(2008, 10, 22, 16,
                                                                                                    28, 39)


# --- malformed EXIF and IPTC -------------------------------------------------------------------------------------


def _tiff(data: bytes) -> tuple[int, str, dict[int, int], int, int]:
    """(offset of the TIFF header in the file, endianness, IFD0 tag -> entry offset, IFD0 offset, offset of IFD0's
    next-IFD pointer) of a JPEG's EXIF."""
    base = data.index(b"Exif\x00\x00") + 6
    e = "<" if data[base : base + 2] == b"II" else ">"
    ifd0 = struct.unpack(e + "I", data[base + 4 : base + 8])[0]
    (count,) = struct.unpack(e + "H", data[base + ifd0 : base + ifd0 + 2])
    entries = {}
    for k in range(count):
        at = base + ifd0 + 2 + 12 * k
        entries[struct.unpack(e + "H", data[at : at + 2])[0]] = at
    return base, e, entries, ifd0, base + ifd0 + 2 + 12 * count


def _patch(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    out[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(out)


def _exif_cases(data: bytes) -> dict[str, bytes]:
    _, e, tags, ifd0, next_ptr = _tiff(data)
    return {
        "wrong type (DateTime)": _patch(data, tags[0x0132] + 2, e + "H", 99),
        "huge count (Make)": _patch(data, tags[0x010F] + 4, e + "I", 0x7FFFFFFF),
        "IFD0 chain loops to itself": _patch(data, next_ptr, e + "I", ifd0),
        "Exif IFD points to IFD0": _patch(data, tags[0x8769] + 8, e + "I", ifd0),
        "huge entry count (IFD0)": _patch(data, next_ptr - 2 - 12 * len(tags), e + "H", 0xFFFF),
    }


EXPECTED = {
    "wrong type (DateTime)": "exif: IFD0 tag 0x0132 has unknown type 99",
    "huge count (Make)": "exif: IFD0 tag 0x010F declares 2147483647 values",
    "IFD0 chain loops to itself": "exif: IFD loop: IFD1",
    "Exif IFD points to IFD0": "exif: IFD loop: Exif IFD",
    "huge entry count (IFD0)": "exif: IFD0 declares 65535 entries",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_malformed_exif_is_recorded_and_gps_time_and_xmp_still_read(case):
    data = _exif_cases(DSCN0010.read_bytes())[case]
    started = time.perf_counter()
    record = analyse_image(data)
    assert time.perf_counter() - started < 5
    assert any(e.startswith(EXPECTED[case]) for e in record.field_errors), record.field_errors
    assert record.error is None and record.phash is not None
    assert record.xmp is not None  # the other field
    assert record.gps_lat == pytest.approx(43.4674, abs=1e-3) and record.gps_lon == pytest.approx(11.8851, abs=1e-3)
    if case != "Exif IFD points to IFD0":  # that one hides the Exif IFD and its DateTimeOriginal; DateTime is kept
        assert record.taken_at == dt.datetime(2008, 10, 22, 16, 28, 39)


@pytest.mark.parametrize("case", list(EXPECTED))
def test_malformed_exif_keeps_iptc_and_xmp_location(case):
    clean = read_metadata(EXIFTOOL_JPG.read_bytes())
    assert clean.iptc and clean.location and clean.location["city"] == "Kingston"
    meta = read_metadata(_exif_cases(EXIFTOOL_JPG.read_bytes())[case])
    assert any(e.startswith(EXPECTED[case]) for e in meta.field_errors), meta.field_errors
    assert meta.iptc == clean.iptc and meta.xmp == clean.xmp and meta.location == clean.location


def _iptc_jpeg(iim: bytes) -> bytes:
    resource = b"8BIM\x04\x04\x00\x00" + len(iim).to_bytes(4, "big") + iim
    return _with_segment(DSCN0010.read_bytes(), 0xED, b"Photoshop 3.0\x00" + resource)


@pytest.mark.parametrize("iim", [
    b"\x1c\x02\x5a\xff\xf0Lyon",  # dataset says 65,520 bytes, has 4
    b"\x1c\x02\x5a\x80\x04\xff\xff\xff\xffLyon",  # extended dataset: 4 GB
    b"\x1c\x02\x5a\x80\x09" + b"\xff" * 9,  # extended length of 9 bytes
], ids=["count-past-end", "extended-4GB", "extended-length-too-long"])
def test_malformed_iptc_is_recorded_and_exif_still_read(iim):
    record = analyse_image(_iptc_jpeg(iim))
    assert any(e.startswith("iptc:") for e in record.field_errors), record.field_errors
    assert record.iptc is None and record.error is None
    assert record.gps_lat == pytest.approx(43.4674, abs=1e-3) and record.xmp is not None
