"""Content encodings undone in one place of our own (audit.decode.contentcoding), bounded, for the crawl (its downloader
middleware), archive ingest and report thumbnails: brotli (which warcio's own decoding fails on), gzip, deflate, zstd
and chains of them; compression bombs stop at the size limit with a recorded error; unknown and broken encodings are
recorded errors. The crawl's WARC keeps the bytes as served (still encoded)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import brotli
import pytest
from PIL import Image
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from audit.crawl.warc import WarcFile
from audit.decode.contentcoding import SUPPORTED, decode, decode_prefix
from audit.errors import BodyTooLarge, ContentEncodingError
from audit.ingest.run import ingest
from audit.store.db import Store
from audit.testbed.testweb.writers import build_exif
from conftest import ROOT, provaudit

PAGE = b"""<!doctype html><html lang="fr"><head><title>Atelier photo</title></head><body>
<h1>Photos de Paris</h1>
<figure><img src="/photo.jpg" alt="Quai de la Seine"><figcaption>Paris, juin</figcaption></figure>
<img src="/gz.jpg" alt="Montmartre"><img src="/eps.jpg" alt="affiche"><img src="/bomb.jpg" alt="x">
<img src="/unknown.jpg" alt="y"></body></html>"""
EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
       b"(/tmp) (*) { = } 256 string filenameforall\nshowpage\n%%EOF\n")
LIMIT = 1_000_000  # AUDIT_MAX_IMAGE_BYTES of the tests


def _jpeg(colour: tuple[int, int, int], gps: tuple[float, float] | None = None) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (160, 120), colour)
    for x in range(0, 160, 8):  # some structure, so the perceptual hashes are not degenerate
        img.paste((255 - colour[0], colour[1], 40), (x, (x * 3) % 120, x + 4, (x * 3) % 120 + 10))
    exif = build_exif(make="Canon", model="EOS", taken_at="2024:06:01 12:00:00", offset="+02:00", gps=gps)
    img.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


PHOTO = _jpeg((30, 90, 160), gps=(48.8566, 2.3522))  # EXIF GPS in Paris
PHOTO_GZ = _jpeg((160, 40, 30), gps=(48.8867, 2.3431))


def _br_bomb(size: int) -> bytes:
    """``size`` zero bytes, brotli-compressed a megabyte at a time (the bomb is small, and so is making it)."""
    c = brotli.Compressor(quality=5)
    chunk = bytes(1 << 20)
    out = [c.process(chunk) for _ in range(size >> 20)]
    return b"".join(out) + c.finish()


def _gzip_bomb(size: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    return b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()


# --- the decoder itself ------------------------------------------------------------------------------------------


def _zstd(data: bytes) -> bytes:
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return __import__(name, fromlist=["compress"]).compress(data)  # type: ignore[no-any-return]
        except ImportError:
            continue
    pytest.fail("no zstd module, although audit.decode.contentcoding lists zstd")


DATA = b"<p>bonjour</p>" * 500
ENCODED = {
    "gzip": gzip.compress(DATA),
    "x-gzip": gzip.compress(DATA),
    "deflate": zlib.compress(DATA),  # zlib-wrapped, as RFC 9110 says
    "Deflate": zlib.compress(DATA)[2:-4],  # raw deflate, as some servers send
    "br": brotli.compress(DATA),
    "gzip, br": brotli.compress(gzip.compress(DATA)),  # applied in this order: undone br first
    "br, identity, gzip": gzip.compress(brotli.compress(DATA)),
    "identity": DATA,
    "": DATA,
}


@pytest.mark.parametrize("encoding", sorted(ENCODED))
def test_each_encoding_and_chain_decodes(encoding):
    assert decode(ENCODED[encoding], encoding, limit=len(DATA)) == DATA
    assert decode_prefix(ENCODED[encoding], encoding, 16) == DATA[:16]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_body_of_many_decoder_steps_decodes_whole_at_exactly_the_limit(encoding):
    big = (bytes(range(256)) * 4096 + b"\x00" * (1 << 20)) * 3  # 6 MiB: several megabyte steps, long zero runs
    body = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress, "zstd": _zstd}[encoding](big)
    assert decode(body, encoding, limit=len(big)) == big
    with pytest.raises(BodyTooLarge):
        decode(body, encoding, limit=len(big) - 1)


def test_zstd_and_gzip_members():
    assert "zstd" in SUPPORTED  # Scrapy depends on a zstd module; we use it when it is there
    assert decode(_zstd(DATA[:100]) + _zstd(DATA[100:]), "zstd", limit=len(DATA)) == DATA  # two frames
    assert decode(gzip.compress(DATA[:100]) + gzip.compress(DATA[100:]), "gzip", limit=len(DATA)) == DATA


@pytest.mark.parametrize(("encoding", "body", "error"), [
    ("gzip", gzip.compress(DATA), f"content encoding gzip: decoded body larger than {len(DATA) - 1} bytes"),
    ("br", brotli.compress(DATA), f"content encoding br: decoded body larger than {len(DATA) - 1} bytes"),
    ("zstd", None, f"content encoding zstd: decoded body larger than {len(DATA) - 1} bytes"),
    ("deflate", zlib.compress(DATA), f"content encoding deflate: decoded body larger than {len(DATA) - 1} bytes"),
    ("gzip", gzip.compress(DATA)[:60], "content encoding gzip: data ends before the end of its stream"),
    ("br", brotli.compress(DATA)[:10], "content encoding br: data ends before the end of its stream"),
    ("br", b"not brotli at all", "content encoding br: broken data (brotli: decoder failed)"),
    ("gzip", gzip.compress(DATA)[:12] + b"\xff" * 20 + gzip.compress(DATA)[32:], "content encoding gzip: broken data"),
    ("compress", b"x", "unknown content encoding 'compress'"),
    ("sdch, gzip", b"x", "unknown content encoding 'sdch'"),
    ("gzip, gzip, gzip, gzip, gzip", b"x", "5 content encodings (gzip, gzip, gzip, gzip, gzip): more than 4"),
], ids=["gzip-large", "br-large", "zstd-large", "deflate-large", "gzip-cut", "br-cut", "br-broken", "gzip-broken",
        "unknown", "unknown-in-chain", "too-many"])
def test_broken_unknown_and_oversized_bodies_are_named(encoding, body, error):
    body = _zstd(DATA) if body is None else body
    with pytest.raises(ContentEncodingError) as caught:
        decode(body, encoding, limit=len(DATA) - 1 if "larger than" in error else 10 * len(DATA))
    assert str(caught.value).startswith(error)
    assert isinstance(caught.value, BodyTooLarge) == ("larger than" in error)


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd", "deflate"])
def test_a_bomb_stops_at_the_limit_without_the_memory(tmp_path, encoding):
    """A 1 GiB bomb (about 1 MB of gzip, 1 kB of brotli) decoded with an 8 MiB limit: the clear error, and the peak
    memory of the process that decoded it far below what the bomb inflates to."""
    size = 1 << 30
    if encoding == "gzip":
        bomb = _gzip_bomb(size)
    elif encoding == "br":
        bomb = _br_bomb(size)
    elif encoding == "deflate":
        c = zlib.compressobj(9)
        bomb = b"".join(c.compress(bytes(1 << 20)) for _ in range(size >> 20)) + c.flush()
    else:
        c = __import__("backports.zstd", fromlist=["ZstdCompressor"]).ZstdCompressor()
        bomb = b"".join(c.compress(bytes(1 << 20)) for _ in range(size >> 20)) + c.flush()
    path = tmp_path / "bomb"
    path.write_bytes(bomb)
    code = f"""
import resource, sys
from pathlib import Path
from audit.decode.contentcoding import decode
from audit.errors import BodyTooLarge
body = Path({str(path)!r}).read_bytes()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    decode(body, {encoding!r}, limit=8 << 20)
except BodyTooLarge as exc:
    print(exc)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    message, grown = proc.stdout.splitlines()
    assert message == f"content encoding {encoding}: decoded body larger than {8 << 20} bytes"
    assert int(grown) < 64, f"decoding grew the process by {grown} MB"


# --- archives: a WARC as our crawl writes it, and one as others write them (chunked) -----------------------------


def _chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _write_archive(path: Path) -> None:
    """The crawl's own writer for the br and gzip exchanges (bytes as served, Content-Encoding kept), then warcio's
    writer for a record kept chunked on the wire (Transfer-Encoding: chunked over gzip), as other crawlers keep
    them."""
    out = WarcFile(path)
    site = "http://atelier.example.fr"
    for url, ctype, enc, body in (
            (f"{site}/", "text/html; charset=utf-8", "br", brotli.compress(PAGE)),
            (f"{site}/photo.jpg", "image/jpeg", "br", brotli.compress(PHOTO)),
            (f"{site}/bomb.jpg", "image/jpeg", "br", _br_bomb(8 << 20)),
            (f"{site}/unknown.jpg", "image/jpeg", "compress", b"\x1f\x9d\x90" + bytes(40))):
        out.write_exchange(url=url, method="GET", request_headers=[], request_body=b"", status=200,
                           response_headers=[("Content-Type", ctype), ("Content-Encoding", enc)], body=body)
    out.close()
    with open(path, "ab") as fh:
        writer = WARCWriter(fh, gzip=True)
        payload = _chunked(gzip.compress(PHOTO_GZ))
        headers = StatusAndHeaders("200 OK", [("Content-Type", "image/jpeg"), ("Content-Encoding", "gzip"),
                                              ("Transfer-Encoding", "chunked")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(f"{site}/gz.jpg", "response", payload=io.BytesIO(payload),
                                                      length=len(payload), http_headers=headers))


def _fetches(store: Store) -> dict[str, dict[str, Any]]:
    cur = store.con.execute("SELECT f.url, f.error, f.sha256, i.phash, i.error AS image_error FROM fetches f "
                            "LEFT JOIN images i USING (sha256)")
    names = [d[0] for d in cur.description]
    return {urlsplit(r[0]).path: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def test_ingest_decodes_br_pages_and_images_and_records_bombs(tmp_path):
    warc = tmp_path / "site.warc.gz"
    _write_archive(warc)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], max_image_bytes=LIMIT, workers=1)
        pages = store.query("SELECT url, error FROM pages")
        sightings = sorted(urlsplit(u).path for (u,) in store.query("SELECT image_url FROM sightings"))
        fetches = _fetches(store)
    assert result.errors == []
    assert pages == [("http://atelier.example.fr/", None)]  # the br page parsed: its images are its sightings
    assert sightings == ["/bomb.jpg", "/eps.jpg", "/gz.jpg", "/photo.jpg", "/unknown.jpg"]
    assert fetches["/photo.jpg"]["sha256"] == hashlib.sha256(PHOTO).hexdigest()
    assert fetches["/photo.jpg"]["phash"] is not None and fetches["/photo.jpg"]["image_error"] is None
    assert fetches["/gz.jpg"]["sha256"] == hashlib.sha256(PHOTO_GZ).hexdigest()  # de-chunked, decoded once
    assert fetches["/gz.jpg"]["phash"] is not None
    assert fetches["/bomb.jpg"]["error"] == f"content encoding br: decoded body larger than {LIMIT} bytes"
    assert fetches["/unknown.jpg"]["error"] == "unknown content encoding 'compress'"


# --- a crawl of a loopback server serving encoded content, then report --thumbnails from its WARC -----------------


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.accept_encodings: Counter[str] = Counter()
        self.served: dict[str, bytes] = {}


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urlsplit(self.path).path  # the crawl reaches us as a proxy: absolute URLs
        self.server.accept_encodings[self.headers.get("Accept-Encoding", "")] += 1
        body, ctype, enc = {
            "/": (brotli.compress(PAGE), "text/html; charset=utf-8", "br"),
            "/photo.jpg": (brotli.compress(PHOTO), "image/jpeg", "br"),
            "/gz.jpg": (gzip.compress(PHOTO_GZ), "image/jpeg", "gzip"),
            "/eps.jpg": (EPS, "image/jpeg", None),
            "/bomb.jpg": (self.server.served.get("bomb", b""), "image/jpeg", "br"),
            "/unknown.jpg": (b"\x1f\x9d\x90" + bytes(40), "image/jpeg", "compress"),
        }.get(path, (b"not found", "text/plain", None))
        self.send_response(200 if body != b"not found" else 404)
        self.send_header("Content-Type", ctype)
        if enc:
            self.send_header("Content-Encoding", enc)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[_Site]:
    server = _Site()
    server.served["bomb"] = _br_bomb(8 << 20)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def crawled_site(site, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("encoded") / "store.duckdb"
    provaudit("crawl", "http://atelier.example.fr/", "--db", str(db), "--proxy",
              f"http://127.0.0.1:{site.server_address[1]}", "--allowed-domain", "atelier.example.fr", "--no-throttle",
              "-s", f"AUDIT_MAX_IMAGE_BYTES={LIMIT}", "-s", "AUDIT_TDMREP=False")
    return db


def test_crawl_decodes_encoded_responses_and_keeps_them_as_served(site, crawled_site):
    assert site.accept_encodings and all("br" in a and "gzip" in a for a in site.accept_encodings)
    with Store.open(crawled_site, read_only=True) as store:
        fetches = _fetches(store)
        (pages,) = store.query("SELECT count(*) FROM pages WHERE error IS NULL")[0]
        sightings = {urlsplit(u).path for (u,) in store.query("SELECT image_url FROM sightings")}
        (warc,) = store.query("SELECT warc_path FROM crawls")[0]
    assert pages == 1 and sightings >= {"/photo.jpg", "/gz.jpg", "/eps.jpg", "/bomb.jpg", "/unknown.jpg"}
    assert fetches["/photo.jpg"]["sha256"] == hashlib.sha256(PHOTO).hexdigest() and fetches["/photo.jpg"]["phash"]
    assert fetches["/gz.jpg"]["sha256"] == hashlib.sha256(PHOTO_GZ).hexdigest() and fetches["/gz.jpg"]["phash"]
    assert fetches["/eps.jpg"]["image_error"] == "format not decoded: PostScript"  # the crawl path refuses it too
    assert re.search(rf"content encoding br: decoded body larger than {LIMIT} bytes$", fetches["/bomb.jpg"]["error"])
    assert re.search(r"unknown content encoding 'compress'$", fetches["/unknown.jpg"]["error"])
    # the WARC holds the responses as served: still brotli-encoded, with their Content-Encoding
    with open(warc, "rb") as fh:
        served = {urlsplit(r.rec_headers.get_header("WARC-Target-URI")).path:
                  (r.http_headers.get_header("Content-Encoding"), r.raw_stream.read())
                  for r in ArchiveIterator(fh) if r.rec_type == "response"}
    assert served["/photo.jpg"] == ("br", brotli.compress(PHOTO))
    assert served["/"] == ("br", brotli.compress(PAGE))


def test_report_thumbnails_from_encoded_records_and_none_for_postscript(crawled_site, tmp_path):
    provaudit("audit", "--db", str(crawled_site))
    out = tmp_path / "report.html"
    proc = provaudit("report", "--db", str(crawled_site), "--country", "FR", "--thumbnails", "--sample", "1000",
                     "--out", str(out))
    assert "Traceback" not in proc.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    thumbs = {item["sha256"]: item.get("thumbnail") for item in data["sample"]}
    photo, eps = hashlib.sha256(PHOTO).hexdigest(), hashlib.sha256(EPS).hexdigest()
    assert str(thumbs[photo]).startswith("data:image/jpeg;base64,")  # from the brotli-encoded WARC record
    assert str(thumbs[hashlib.sha256(PHOTO_GZ).hexdigest()]).startswith("data:image/jpeg;base64,")
    assert eps in thumbs and thumbs[eps] is None  # in the sample, refused by its bytes: no thumbnail
    assert data["thumbnails"]["found"] == 2
