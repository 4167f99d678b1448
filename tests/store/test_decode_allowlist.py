"""Only the formats the tool needs are decoded, chosen by the bytes (audit.decode.formats), on every path that opens
an image; workers die with everything they started (audit.decode.workers); lookup and thumbnails are bounded.

No test here needs Ghostscript: Pillow's EPS plugin must not be registered at all, a PostScript payload must be refused
by its bytes, and a stand-in ``gs`` first on PATH (it only notes that it ran) must never run."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from audit.crawl.warc import WarcFile
from audit.decode.formats import DECODED, FormatNotDecoded, identify, open_image
from audit.decode.thumbnails import thumbnails
from audit.decode.workers import Bounds, Job, WorkerPool
from audit.outputs.lookup import lookup
from audit.store.db import Store
from conftest import ROOT

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
       b"(/tmp) (*) { = } 256 string filenameforall\n{ } loop\nshowpage\n%%EOF\n")
PS = b"%!PS-Adobe-3.0\n%%Pages: 1\n/Times-Roman findfont 12 scalefont setfont 72 72 moveto (x) show showpage\n"


def _dos_eps() -> bytes:
    """A DOS EPS binary file: the C5 D0 D3 C6 header, then the PostScript section it points to."""
    header = b"\xc5\xd0\xd3\xc6" + struct.pack("<6IH", 30, len(EPS), 0, 0, 0, 0, 0xFFFF)
    return header + EPS


REFUSED = {
    "eps": (EPS, "format not decoded: PostScript"),
    "dos-eps": (_dos_eps(), "format not decoded: PostScript (DOS EPS binary)"),
    "postscript": (PS, "format not decoded: PostScript"),
    "pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
            "format not decoded: PDF"),
    "jpeg2000": (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(40), "format not decoded: JPEG 2000"),
    "psd": (b"8BPS\x00\x01" + bytes(40), "format not decoded: Photoshop (PSD)"),
}


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 10)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture()
def canary(tmp_path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH starts with a stand-in ``gs`` that only appends its arguments to a file: had
    Pillow's EPS plugin been reached, it would have run it (``gs --version``, then the render)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ran = tmp_path / "gs-ran.txt"
    gs = bin_dir / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" >> {ran}\nexit 0\n')
    gs.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return env, ran


def _provaudit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


# --- what Pillow knows -------------------------------------------------------------------------------------------


def test_only_the_decoded_formats_are_registered_whatever_imports_pillow(tmp_path):
    # a fresh interpreter: other libraries import PIL first, then the tool's modules, then everything that could
    # bring plugins back (Image.init, explicit plugin imports, Pillow importing a plugin for a file extension)
    (tmp_path / "x.eps").write_bytes(EPS)
    code = f"""
import json, sys
import imagehash, scrapy, c2pa, pillow_heif
from PIL import Image
import audit.decode.imagefacts, audit.ingest.run, audit.outputs.inspection, audit.outputs.lookup
import audit.decode.batch, audit.decode.metadata, audit.decode.thumbnails
import audit.outputs.report, spiders.provenance
Image.init()
Image.preinit()
from PIL import EpsImagePlugin, PdfImagePlugin, IptcImagePlugin, FitsImagePlugin, PsdImagePlugin
try:
    Image.open({str(tmp_path / 'x.eps')!r})
except Exception as exc:
    print(type(exc).__name__, file=sys.stderr)
print(json.dumps({{"open": sorted(Image.OPEN), "id": sorted(Image.ID)}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    expected = sorted({"JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF", "TIFF", "BMP", "ICO", "PPM"})
    assert got == {"open": expected, "id": expected}
    assert "UnidentifiedImageError" in proc.stderr  # the .eps file was not opened by any plugin

    # and in this process (pytest imported the test modules and Pillow in its own order)
    Image.init()
    assert "EPS" not in Image.OPEN and set(Image.OPEN) <= set(DECODED) and set(Image.ID) <= set(DECODED)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_other_formats_are_refused_by_their_bytes(name):
    from audit.decode.imagefacts import analyse_image

    data, error = REFUSED[name]
    kind = identify(data[:64])
    assert kind is not None and not kind.decoded
    with pytest.raises(FormatNotDecoded, match="^format not decoded: "):
        open_image(data)
    record = analyse_image(data)
    assert record.error == error
    assert (record.sha256, record.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert record.format is None and record.width is None and record.phash is None


def test_decoded_formats_are_chosen_by_their_bytes_not_their_name(tmp_path):
    jpeg = _jpeg()
    assert identify(jpeg[:64]) is not None and identify(jpeg[:64]).formats == ("JPEG",)  # type: ignore[union-attr]
    path = tmp_path / "photo.eps"  # a JPEG under a PostScript name is still a JPEG
    path.write_bytes(jpeg)
    with open(path, "rb") as fh, open_image(fh) as img:
        assert (img.format, img.size) == ("JPEG", (64, 48))
    assert identify(b"hello, world") is None


# --- every path that opens an image ---------------------------------------------------------------------------------


def test_no_path_runs_ghostscript(tmp_path, canary):
    """inspect, ingest of a folder and of a WARC (a PostScript file served as image/jpeg), and lookup: the
    PostScript payloads are recorded with their error, sha256 and size, and the stand-in gs never runs."""
    env, ran = canary
    folder = tmp_path / "files"
    folder.mkdir()
    for name, (data, _) in REFUSED.items():
        (folder / f"{name}.jpg").write_bytes(data)
    (folder / "photo.jpg").write_bytes(_jpeg())

    proc = _provaudit(env, "inspect", "--json", *(str(folder / f"{n}.jpg") for n in sorted(REFUSED)))
    assert not ran.exists(), f"inspect ran gs: {ran.read_text()}"
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    objs = {Path(o["path"]).stem: o for o in map(json.loads, proc.stdout.splitlines())}
    for name, (data, error) in REFUSED.items():
        assert objs[name]["error"] == error and objs[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert objs[name]["format"] is None

    warc = tmp_path / "served.warc.gz"
    out = WarcFile(warc)
    page = b'<html><body><img src="/eps.jpg"><img src="/photo.jpg"></body></html>'
    for url, ctype, body in (("http://site.example/", "text/html", page),
                             ("http://site.example/eps.jpg", "image/jpeg", EPS),
                             ("http://site.example/photo.jpg", "image/jpeg", _jpeg())):
        out.write_exchange(url=url, method="GET", request_headers=[], request_body=b"", status=200,
                           response_headers=[("Content-Type", ctype)], body=body)
    out.close()
    db = tmp_path / "store.duckdb"
    for source in (folder, warc):
        proc = _provaudit(env, "ingest", str(source), "--db", str(db))
        assert not ran.exists(), f"ingest ran gs: {ran.read_text()}"
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    with Store.open(db, read_only=True) as store:
        rows = {url: (sha, size, error) for url, sha, size, error in store.query(
            "SELECT s.image_url, i.sha256, i.bytes, i.error FROM sightings s JOIN images i USING (sha256)")}
    eps_sha = hashlib.sha256(EPS).hexdigest()
    assert rows["http://site.example/eps.jpg"] == (eps_sha, len(EPS), "format not decoded: PostScript")
    assert rows["http://site.example/photo.jpg"][2] is None
    for name, (data, error) in REFUSED.items():
        assert rows[(folder / f"{name}.jpg").resolve().as_uri()] == (hashlib.sha256(data).hexdigest(), len(data),
                                                                     error)

    proc = _provaudit(env, "audit", "--db", str(db))  # lookup reads an audited store
    assert not ran.exists(), f"audit ran gs: {ran.read_text()}"
    assert proc.returncode == 0, proc.stderr
    proc = _provaudit(env, "lookup", str(folder / "eps.jpg"), str(folder / "dos-eps.jpg"), "--db", str(db), "--json")
    assert not ran.exists(), f"lookup ran gs: {ran.read_text()}"
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    found = json.loads(proc.stdout)
    assert [r["error"] for r in found] == ["format not decoded: PostScript",
                                           "format not decoded: PostScript (DOS EPS binary)"]
    assert [m["kind"] for m in found[0]["matches"]] == ["exact"]  # still found by its bytes


# --- bounds: process groups, lookup, thumbnails ----------------------------------------------------------------------


def _spawn_and_hang(data: bytes, bounds: Bounds) -> str:
    """A test job: start a grandchild (``sleep 600``), note its pid in the file named by ``data``, then hang."""
    child = subprocess.Popen(["sleep", "600"])
    Path(data.decode()).write_text(str(child.pid))
    time.sleep(600)
    return "finished"


def _failed_text(data: bytes, error: str) -> str:
    return error


def _gone(pid: int) -> bool:
    """No process ``pid``, or only its zombie (killed, waiting for whoever reaps orphans)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_worker_killed_on_timeout_takes_its_grandchildren(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    job = Job(run=_spawn_and_hang, failed=_failed_text)
    with WorkerPool(job, 1, bounds=Bounds(timeout=5), start_method="fork") as pool:
        assert pool.run(str(pid_file).encode()) == "analysis timed out after 5 s"
        assert pool.stats["timed_out"] == 1
    pid = int(pid_file.read_text())
    try:
        deadline = time.monotonic() + 30  # SIGKILL is delivered at once; this only waits for the kernel
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), f"the worker's grandchild {pid} survived it"
    finally:
        if not _gone(pid):
            os.kill(pid, 9)  # the test's own process, left by a failing run


@pytest.fixture(scope="module")
def slow_png() -> bytes:
    """A valid 8000x8000 PNG of 200 kB: ~0.7 s to decode (the stand-in for a decoder that hangs)."""
    buf = io.BytesIO()
    Image.new("RGB", (8000, 8000), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def test_lookup_analyses_in_a_bounded_worker(tmp_path, slow_png):
    slow = tmp_path / "slow.png"
    slow.write_bytes(slow_png)
    with Store.open(tmp_path / "empty.duckdb") as store:
        result, = lookup(store, [slow], bounds=Bounds(timeout=0.1))
    assert result.error == "analysis timed out after 0.1 s"
    assert result.record is not None and result.record.sha256 == hashlib.sha256(slow_png).hexdigest()


def test_thumbnails_are_made_in_bounded_workers(slow_png):
    jpeg = _jpeg()
    got = dict(thumbnails([("slow", slow_png), ("eps", EPS), ("photo", jpeg)], bounds=Bounds(timeout=0.1)))
    assert got["slow"].jpeg is None and got["slow"].error == "analysis timed out after 0.1 s"
    assert got["eps"].jpeg is None and got["eps"].error == "format not decoded: PostScript"
    assert got["photo"].error is None and got["photo"].jpeg is not None
    with Image.open(io.BytesIO(got["photo"].jpeg)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) <= 96
    small = dict(thumbnails([("photo", jpeg)], bounds=Bounds(max_pixels=100)))
    assert small["photo"].error == "image has 64×48 pixels, over the limit of 100"
