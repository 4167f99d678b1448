from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import zlib
from pathlib import Path

import imagehash
import pytest
from PIL import Image

from audit.decode.fingerprint import hamming
from audit.decode.imagefacts import analyse_image
from audit.outputs.inspection import inspect_dict
from audit.records import ImageRecord

CORPORA = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"
PHOTOS = CORPORA / "photos"
EXIFTOOL = PHOTOS / "exiftool-t-images"
INSPECT_KEYS = {"path", "sha256", "format", "width", "height", "phash", "dhash", "gps", "taken_at", "utc_offset",
                "location", "error"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".tif", ".tiff", ".png", ".gif", ".bmp", ".webp", ".heic", ".heif", ".ico",
                  ".pcx", ".ppm", ".psd", ".jp2", ".j2c", ".dcm", ".pict", ".xcf", ".jps", ".miff", ".exr", ".hdr",
                  ".dng", ".nef", ".cr2", ".rw2", ".raf", ".mrw", ".raw", ".iiq", ".x3f", ".btf", ".dpx", ".fits",
                  ".pfm", ".pgf", ".psp", ".wpg", ".jxl", ".bpg", ".flif", ".mie", ".czi", ".pcd", ".mrc", ".xisf",
                  ".fpf", ".lfp", ".eip", ".crw", ".cr3", ".dr4", ".vrd", ".djvu", ".icc", ".svg", ".eps"}


def _check(record: ImageRecord, data: bytes) -> None:
    assert record.sha256 == hashlib.sha256(data).hexdigest() and record.size == len(data)
    obj = inspect_dict("x", record)
    assert set(obj) == INSPECT_KEYS
    json.dumps(obj)
    json.dumps([record.exif, record.iptc, record.xmp])
    assert record.error is not None or record.phash is not None


def test_real_photo_record():
    path = PHOTOS / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg"
    data = path.read_bytes()
    record = analyse_image(data)
    _check(record, data)
    assert (record.format, record.width, record.height, record.error) == ("JPEG", 640, 480, None)
    ref = int(str(imagehash.phash(Image.open(path))), 16)
    assert record.phash is not None and hamming(record.phash, ref) <= 4
    obj = inspect_dict(str(path), record)
    assert obj["path"] == str(path) and len(obj["phash"]) == 16 and obj["phash"] == obj["phash"].lower()
    assert int(obj["phash"], 16) == record.phash and int(obj["dhash"], 16) == record.dhash
    assert obj["gps"]["lat"] == pytest.approx(43.4674483) and obj["gps"]["alt"] is None
    assert obj["taken_at"] == "2008-10-22T16:28:39"
    assert obj["error"] is None and obj["location"] is None


def test_location_in_inspect_output():
    obj = inspect_dict("mwg", analyse_image((EXIFTOOL / "MWG.jpg").read_bytes()))
    assert obj["location"]["city"] == "RIGHT-XMP-City" and obj["location"]["source"] == "xmp"
    assert obj["gps"] is None


def test_not_an_image():
    record = analyse_image(b"hello, world")
    assert record.error == "not a readable image: cannot identify image file"
    assert record.format is None and record.phash is None and record.size == 12
    empty = analyse_image(b"")
    assert empty.error is not None and empty.size == 0


def test_truncated_jpeg_keeps_metadata():
    data = (PHOTOS / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg").read_bytes()
    cut = data[: len(data) // 2]
    record = analyse_image(cut)
    assert record.error is not None and record.error.startswith("not a readable image")
    assert record.format == "JPEG" and record.width == 640
    assert record.gps_lat is not None and record.taken_at is not None


def test_over_the_pixel_limit_is_not_decoded():
    data = (PHOTOS / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg").read_bytes()
    record = analyse_image(data, max_pixels=100_000)
    assert record.error == "image has 640×480 pixels, over the limit of 100000"
    assert (record.format, record.width, record.height) == ("JPEG", 640, 480)
    assert record.phash is None and record.gps_lat is not None


def _png_declaring(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    png[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")  # IHDR width, height
    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")
    return bytes(png)


def test_huge_declared_size_is_bounded_quietly(tmp_path):
    # what a user sees: run in a fresh interpreter, as the CLI does (pytest rewrites warning filters per test)
    png = tmp_path / "big.png"
    png.write_bytes(_png_declaring(10_000, 10_000))
    code = ("import sys; from pathlib import Path; from audit.decode.imagefacts import analyse_image; "
            "print(analyse_image(Path(sys.argv[1]).read_bytes(), max_pixels=1_000_000).error)")
    proc = subprocess.run([sys.executable, "-c", code, str(png)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "DecompressionBomb" not in proc.stderr
    assert proc.stdout.strip() == "image has 10000×10000 pixels, over the limit of 1000000"
    record = analyse_image(_png_declaring(10_000, 10_000), max_pixels=1_000_000)
    assert record.error == "image has 10000×10000 pixels, over the limit of 1000000"
    assert (record.format, record.width, record.height, record.phash) == ("PNG", 10_000, 10_000, None)
    # beyond Pillow's own hard limit the header is refused at open; the error still says why
    bomb = analyse_image(_png_declaring(30_000, 30_000), max_pixels=1_000_000)
    assert bomb.error == "image has 900000000 pixels, over the limit of 1000000"


def test_heic_photos():
    files = sorted(p for p in (PHOTOS / "exif-samples" / "heic").rglob("*") if p.suffix.lower() in (".heic", ".heif"))
    assert files
    for path in files[:3]:  # the largest decode in about a second each
        data = path.read_bytes()
        record = analyse_image(data)
        _check(record, data)
        assert record.format == "HEIF" and record.width and record.height and record.error is None
    iphone = analyse_image((PHOTOS / "exif-samples" / "heic" / "IMG_5195.HEIC").read_bytes())
    assert (iphone.width, iphone.height) == (2566, 3313)
    assert iphone.gps_lat == pytest.approx(39.0513444) and iphone.utc_offset == "-05:00"


def _bad_sample(n: int) -> list[Path]:
    files = sorted(p for p in (CORPORA / "bad-images").rglob("*") if p.is_file())
    pillow = [p for p in files if p.parent.name == "pillow"]  # the crash/timeout/oom cases, all of them
    rest = [p for p in files if p.parent.name != "pillow"]
    return pillow + rest[:: max(1, len(rest) // (n - len(pillow)))]


def test_bad_images_never_raise():
    sample = _bad_sample(200)
    assert len(sample) >= 150
    slow = []
    for path in sample:
        data = path.read_bytes()
        start = time.perf_counter()
        record = analyse_image(data)
        if time.perf_counter() - start > 2:
            slow.append(path.name)
        _check(record, data)
    assert not slow


def test_non_image_files_are_rejected_cleanly():
    others = [p for p in sorted(EXIFTOOL.iterdir()) if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES]
    assert len(others) > 60
    for path in others:
        data = path.read_bytes()
        record = analyse_image(data)
        _check(record, data)
        if path.suffix.lower() in (".pdf", ".avi", ".mp3", ".zip", ".txt", ".exe", ".mov", ".ogg"):
            assert record.error is not None and record.phash is None, path.name
