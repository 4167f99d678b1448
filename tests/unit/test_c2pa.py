from __future__ import annotations

import http.server
import importlib.util
import io
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from audit.signals.base import OptOut, Strength
from audit.signals.c2pa import (
    MAX_BYTES,
    c2pa_opt_outs,
    c2pa_signals,
    location_signals,
    parse_xmp_coordinate,
    read_manifest,
    training_opt_outs,
)

c2pa = pytest.importorskip("c2pa")

DATA = Path(__file__).resolve().parents[1] / "data" / "c2pa"
PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "photos"
# the JUMBF description-box UUID of a C2PA manifest store ("c2pa" + 0011-0010-8000-00AA00389B71)
C2PA_STORE_UUID = b"c2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x008\x9bq"
SIGNER = "provaudit tests"


def _bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _make() -> ModuleType:
    spec = importlib.util.spec_from_file_location("c2pa_make", DATA / "make.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the committed files -----------------------------------------------------------------------------------------


def test_location_fr_is_a_strong_signed_claim():
    signals = c2pa_signals(_bytes("location_fr.jpg"), "image/jpeg")
    assert len(signals) == 1
    s = signals[0]
    assert (s.kind, s.country, s.strength, s.weight) == ("c2pa_location", "FR", Strength.STRONG, 1.0)
    assert s.evidence == (f"C2PA stds.schema-org.CreativeWork locationCreated.addressCountry=FR (signer: {SIGNER})")
    assert s.detail["validation"] == "untrusted signer"  # our test CA is in no trust list: reported, not judged
    assert s.detail["signer"] == SIGNER
    assert c2pa_opt_outs(_bytes("location_fr.jpg")) == []


def test_metadata_gps_resolves_the_position():
    signals = c2pa_signals(_bytes("metadata_gps.jpg"))
    assert [(s.country, s.strength) for s in signals] == [("IT", Strength.STRONG)]
    assert signals[0].evidence.startswith("C2PA c2pa.metadata exif:GPSLatitude,exif:GPSLongitude=41.890000,12.49")


def test_training_mining_opt_outs():
    data = _bytes("training_notallowed.jpg")
    assert c2pa_signals(data) == []
    opt_outs = c2pa_opt_outs(data, "image/jpeg")
    assert [o.value for o in opt_outs] == ["c2pa.ai_generative_training=notAllowed", "c2pa.data_mining=constrained"]
    assert all(isinstance(o, OptOut) and o.kind == "c2pa_training" and o.applies_to == "*" for o in opt_outs)
    assert "c2pa.ai_inference" not in " ".join(o.value for o in opt_outs)  # allowed: no opt-out
    assert f"signer: {SIGNER}" in opt_outs[0].evidence


def test_tampered_file_is_medium_and_invalid():
    store = read_manifest(_bytes("tampered.jpg"))
    assert store is not None and store["validation_state"] == "Invalid"
    signals = c2pa_signals(_bytes("tampered.jpg"))
    assert [(s.country, s.strength, s.detail["validation"]) for s in signals] == [("FR", Strength.MEDIUM, "invalid")]


@pytest.mark.parametrize("data", [_bytes("plain.jpg"), b"", b"garbage" * 100,
                                  b"\xff\xd8\xff\xeb\x00\x10JP" + b"\x00" * 40, _bytes("location_fr.jpg")[:2000]])
def test_no_manifest_gives_nothing(data):
    assert read_manifest(data) is None
    assert c2pa_signals(data) == []
    assert c2pa_opt_outs(data) == []


def test_wrong_or_odd_mime_is_only_a_hint():
    data = _bytes("location_fr.jpg")
    for mime in ("image/png", "text/html; charset=utf-8", "", None, "IMAGE/JPEG"):
        assert [s.country for s in c2pa_signals(data, mime)] == ["FR"]


def test_too_large_is_not_read(monkeypatch):
    data = _bytes("location_fr.jpg")
    assert read_manifest(data + b"\x00" * (MAX_BYTES - len(data) + 1)) is None


def test_missing_library_gives_none(monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now raises ImportError
    assert read_manifest(_bytes("location_fr.jpg")) is None


# --- pure parsing of a store -------------------------------------------------------------------------------------


def _store(assertions, state="Valid", codes=()):
    elsewhere = {"contentLocation": {"address": {"addressCountry": "JP"}}}
    return {"active_manifest": "m", "validation_state": state,
            "validation_status": [{"code": c} for c in codes],
            "manifests": {"m": {"assertions": assertions, "signature_info": {"issuer": "Example News"}},
                          "other": {"assertions": [{"label": "stds.schema-org.CreativeWork",
                                                    "data": elsewhere}]}}}


def test_store_parsing_variants():
    store = _store([
        {"label": "stds.schema-org.CreativeWork__1", "data": {
            "contentLocation": [{"geo": {"latitude": "52.52", "longitude": 13.405}},
                                {"address": {"addressCountry": {"@type": "Country", "name": "Spain"}}}],
            "locationCreated": {"address": {"addressCountry": "Atlantis"}}}},
        {"label": "stds.exif", "data": {"Iptc4xmpCore:CountryCode": "be", "photoshop:Country": "Portugal",
                                        "exif:GPSLatitude": "91,0N", "exif:GPSLongitude": "0,0E"}},
        {"label": "c2pa.metadata", "data": "not a mapping"},
        "not an assertion",
    ], state="Trusted")
    got = [(s.country, s.evidence.split(" (")[0]) for s in location_signals(store)]
    assert got == [("DE", "C2PA stds.schema-org.CreativeWork contentLocation.geo=52.520000,13.405000"),
                   ("ES", "C2PA stds.schema-org.CreativeWork contentLocation.addressCountry=Spain"),
                   ("BE", "C2PA stds.exif Iptc4xmpCore:CountryCode=be"),
                   ("PT", "C2PA stds.exif photoshop:Country=Portugal")]  # only the active manifest: no JP
    assert {s.detail["validation"] for s in location_signals(store)} == {"trusted"}
    assert all("(signer: Example News)" in s.evidence for s in location_signals(store))


def test_store_parsing_is_robust():
    for bad in ({}, {"active_manifest": "x", "manifests": {}}, {"active_manifest": 3, "manifests": []},
                {"active_manifest": "m", "manifests": {"m": {"assertions": None}}}):
        assert location_signals(bad) == [] and training_opt_outs(bad) == []


def test_training_label_variants():
    store = _store([{"label": "cawg.training-mining", "data": {"entries": {
        "cawg.ai_training": {"use": "notAllowed"}, "cawg.ai_inference": {"use": "constrained"},
        "cawg.data_mining": {"use": "allowed"}, "x": "junk"}}},
        {"label": "c2pa.training-mining__2", "data": {"entries": {"c2pa.ai_training": {"use": "notAllowed"}}}}])
    assert [o.value for o in training_opt_outs(store)] == [
        "cawg.ai_training=notAllowed", "cawg.ai_inference=constrained", "c2pa.ai_training=notAllowed"]


@pytest.mark.parametrize(("text", "want"), [("41,53.4N", 41.89), ("12,29,30W", -12.491667), ("33.5", 33.5),
                                            (-8.25, -8.25), ("north", None), (None, None), (float("nan"), None)])
def test_parse_xmp_coordinate(text, want):
    got = parse_xmp_coordinate(text)
    assert got == pytest.approx(want, abs=1e-6) if want is not None else got is None


# --- no network --------------------------------------------------------------------------------------------------

_NET_EVENTS: list[tuple[str, tuple[object, ...]]] = []
_RECORDING = threading.Event()


def _hook(event: str, args: tuple[object, ...]) -> None:
    if _RECORDING.is_set() and event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        _NET_EVENTS.append((event, args))


sys.addaudithook(_hook)  # audit hooks cannot be removed: this one records only while _RECORDING is set


def test_reading_makes_no_python_network_call():
    _NET_EVENTS.clear()
    _RECORDING.set()
    try:
        for path in sorted(DATA.glob("*.jpg")):
            data = path.read_bytes()
            read_manifest(data)
            c2pa_signals(data)
            c2pa_opt_outs(data)
    finally:
        _RECORDING.clear()
    assert _NET_EVENTS == []


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/manifest.c2pa", hits
    finally:
        server.shutdown()
        server.server_close()


def test_remote_manifest_is_never_fetched(local_server):
    """The SDK's own (Rust) sockets are invisible to Python audit hooks: a local server sees whether it fetched."""
    url, hits = local_server
    make = _make()
    chain, key = make.make_chain()
    data = make.sign_jpeg(make.plain_jpeg(), [make.LOCATION_FR], chain, key, remote_url=url)
    assert url.encode() in data  # the file only references its manifest
    with pytest.raises(c2pa.C2paError):  # control: with default settings the SDK does fetch it
        c2pa.Reader("image/jpeg", io.BytesIO(data))
    assert hits == ["/manifest.c2pa"]
    hits.clear()
    assert read_manifest(data) is None
    assert c2pa_signals(data) == [] and c2pa_opt_outs(data) == []
    assert hits == []


# --- the shared corpus -------------------------------------------------------------------------------------------


def _corpus_files() -> list[Path]:
    if not PHOTOS.is_dir():
        return []
    return [p for p in sorted(PHOTOS.rglob("*")) if p.is_file() and p.stat().st_size <= MAX_BYTES]


def test_corpus_stores_are_read_or_rejected_cleanly():
    """Every corpus file that carries a C2PA store UUID is read; the pre-C2PA CAI prototypes (label "cai", e.g.
    ExifTool.jpg, XMP.svg) read as no manifest, without raising."""
    files = _corpus_files()
    assert files, "the shared photo corpus is missing"
    with_store = [p for p in files if C2PA_STORE_UUID in p.read_bytes()]
    for path in with_store:
        assert read_manifest(path.read_bytes()) is not None, path
    jumbf = [p for p in files if b"jumb" in p.read_bytes() or b"c2pa" in p.read_bytes().lower()]
    assert jumbf  # the corpus does hold JUMBF-bearing files
    for path in jumbf:
        data = path.read_bytes()
        assert isinstance(c2pa_signals(data), list) and isinstance(c2pa_opt_outs(data), list)
