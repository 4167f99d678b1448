from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path

import exifread
import pytest
from PIL import Image, TiffImagePlugin

from audit.decode.metadata import (
    MAX_VALUE_CHARS,
    merge_location,
    offset_from_gps,
    parse_exif_datetime,
    parse_utc_offset,
    parse_xmp,
    parse_xmp_coordinate,
    read_metadata,
)

CORPORA = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"
PHOTOS = CORPORA / "photos"
EXIFTOOL = PHOTOS / "exiftool-t-images"
R = TiffImagePlugin.IFDRational


def _meta(path: Path):
    data = path.read_bytes()
    try:
        img = Image.open(io.BytesIO(data))
    except Exception:
        img = None
    return read_metadata(data, img)


def _jpeg(gps: dict | None = None, exif_ifd: dict | None = None, xmp: bytes | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x0132] = "2019:01:01 00:00:00"  # DateTime
    exif.get_ifd(0x8769).update({0x9003: "2020:01:02 03:04:05", **(exif_ifd or {})})  # DateTimeOriginal
    if gps is not None:
        exif.get_ifd(0x8825).update(gps)
    buf = io.BytesIO()
    kwargs = {"xmp": xmp} if xmp is not None else {}
    Image.new("RGB", (16, 16), (90, 120, 30)).save(buf, "JPEG", exif=exif, **kwargs)
    return buf.getvalue()


# --- GPS -----------------------------------------------------------------------------------------------------------


def test_every_gps_photo_yields_coordinates():
    files = sorted((PHOTOS / "exif-samples" / "jpg" / "gps").glob("*.jpg"))
    assert len(files) >= 5
    for path in files:
        meta = _meta(path)
        assert meta.gps_lat is not None and meta.gps_lon is not None, path.name
        assert -90 <= meta.gps_lat <= 90 and -180 <= meta.gps_lon <= 180
        json.dumps(meta.exif)


@pytest.mark.parametrize("name", ["DSCN0010.jpg", "DSCN0027.jpg"])
def test_gps_matches_hand_conversion_of_exifread_values(name: str):
    data = (PHOTOS / "exif-samples" / "jpg" / "gps" / name).read_bytes()
    tags = exifread.process_file(io.BytesIO(data), details=False)

    def degrees(key: str, ref: str) -> float:
        d, m, s = (r.num / r.den for r in tags[key].values)
        return (d + m / 60 + s / 3600) * (-1 if str(tags[ref]) in ("S", "W") else 1)

    meta = read_metadata(data)
    assert meta.gps_lat == pytest.approx(degrees("GPS GPSLatitude", "GPS GPSLatitudeRef"), abs=1e-9)
    assert meta.gps_lon == pytest.approx(degrees("GPS GPSLongitude", "GPS GPSLongitudeRef"), abs=1e-9)


def test_dscn0010_known_position():
    meta = _meta(PHOTOS / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg")
    # [43, 28, 1407/500] N, [11, 53, 645599999/100000000] E
    assert meta.gps_lat == pytest.approx(43 + 28 / 60 + 2.814 / 3600)
    assert meta.gps_lon == pytest.approx(11 + 53 / 60 + 6.45599999 / 3600)
    assert meta.taken_at == dt.datetime(2008, 10, 22, 16, 28, 39)
    # GPS says 2008-10-23 14:27 UTC: 22 h off the camera clock, beyond ±14 h, so no offset is derived
    assert meta.utc_offset is None


def test_zero_denominator_gps_yields_none():
    zero = (R(0, 0), R(0, 0), R(0, 0))
    meta = read_metadata(_jpeg({1: "N", 2: zero, 3: "E", 4: zero, 5: b"\x00", 6: R(0, 0)}))
    assert (meta.gps_lat, meta.gps_lon, meta.gps_alt) == (None, None, None)
    assert meta.taken_at == dt.datetime(2020, 1, 2, 3, 4, 5)  # the rest is still read


def test_null_island_gps_yields_none():
    meta = read_metadata(_jpeg({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}))
    assert meta.gps_lat is None and meta.gps_lon is None


def test_real_file_with_zeroed_gps_yields_none():
    meta = _meta(EXIFTOOL / "InfiRay.jpg")  # GPS IFD present, every rational 0/0
    assert meta.gps_lat is None and meta.gps_lon is None and meta.gps_alt is None


def test_southern_western_position_and_altitude_below_sea():
    gps = {1: "S", 2: (33.0, 51.0, 54.0), 3: "W", 4: (151.0, 12.0, 36.0), 5: b"\x01", 6: R(125, 2)}
    meta = read_metadata(_jpeg(gps))
    assert meta.gps_lat == pytest.approx(-(33 + 51 / 60 + 54 / 3600))
    assert meta.gps_lon == pytest.approx(-(151 + 12 / 60 + 36 / 3600))
    assert meta.gps_alt == pytest.approx(-62.5)


def test_xmp_coordinates():
    assert parse_xmp_coordinate("48,51.4N") == pytest.approx(48 + 51.4 / 60)
    assert parse_xmp_coordinate("2,21,3W") == pytest.approx(-(2 + 21 / 60 + 3 / 3600))
    assert parse_xmp_coordinate("nanN") is None and parse_xmp_coordinate("inf") is None
    assert parse_xmp_coordinate("1,75N") is None


# --- time ----------------------------------------------------------------------------------------------------------


def test_datetime_parsing():
    assert parse_exif_datetime("2008:10:22 16:28:39") == dt.datetime(2008, 10, 22, 16, 28, 39)
    assert parse_exif_datetime("2008-10-22T16:28:39+02:00") == dt.datetime(2008, 10, 22, 16, 28, 39)
    for bad in ("0000:00:00 00:00:00", "    :  :     :  :  ", "2008:13:40 25:00:00", "", None):
        assert parse_exif_datetime(bad) is None


def test_malformed_original_falls_back_to_datetime():
    meta = read_metadata(_jpeg(exif_ifd={0x9003: "0000:00:00 00:00:00"}))
    assert meta.taken_at == dt.datetime(2019, 1, 1)


def test_offsets():
    assert parse_utc_offset("+02:00") == "+02:00"
    assert parse_utc_offset("-0530") == "-05:30"
    assert parse_utc_offset("+15:00") is None and parse_utc_offset("+01:75") is None
    assert parse_utc_offset("   :  ") is None
    meta = read_metadata(_jpeg(exif_ifd={0x9011: "+09:00"}))
    assert meta.utc_offset == "+09:00"


def test_offset_from_gps_time():
    local = dt.datetime(2020, 1, 2, 3, 4, 5)
    assert offset_from_gps(local, "2020:01:01", [R(19, 1), R(2, 1), R(0, 1)]) == "+08:00"
    assert offset_from_gps(local, "2020:01:02", [R(8, 1), R(38, 1), R(0, 1)]) == "-05:30"
    assert offset_from_gps(local, "2019:12:30", [R(0, 1), R(0, 1), R(0, 1)]) is None  # beyond 14 h
    assert offset_from_gps(local, "2020:01:02", [R(0, 0), R(0, 1), R(0, 1)]) is None
    gps = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0), 7: (1.0, 4.0, 5.0), 29: "2020:01:02"}
    assert read_metadata(_jpeg(gps)).utc_offset == "+02:00"


def test_real_offsets():
    assert _meta(PHOTOS / "exif-samples" / "heic" / "IMG_5195.HEIC").utc_offset == "-05:00"
    assert _meta(PHOTOS / "exif-samples" / "jpg" / "hdr" / "iphone_hdr_YES.jpg").utc_offset == "+02:00"


# --- IPTC / XMP location -------------------------------------------------------------------------------------------


def test_iptc_only_location():
    meta = _meta(EXIFTOOL / "IPTC.jpg")
    assert meta.location == {"city": "Kingston", "province": "Ont", "country": "Canada", "source": "iptc"}
    assert meta.iptc is not None and meta.iptc["2:90"] == "Kingston" and meta.iptc["2:101"] == "Canada"
    assert _meta(EXIFTOOL / "GPS.jpg").location == {"country": "United Kingdom", "source": "iptc"}


def test_tiff_iptc_location():
    meta = _meta(EXIFTOOL / "ExifTool.tif")
    assert meta.location == {"city": "Kingston", "province": "Ontario", "country": "Canada", "source": "iptc"}


def test_xmp_wins_over_iptc_field_by_field():
    meta = _meta(EXIFTOOL / "MWG.jpg")
    assert meta.location == {"city": "RIGHT-XMP-City", "sublocation": "RIGHT-IPTC-Location",
                             "province": "RIGHT-IPTC-State", "country": "RIGHT-IPTC-Country", "source": "xmp"}
    assert meta.iptc is not None and meta.iptc["2:90"] == "WRONG-IPTC-City"  # both kept raw
    assert meta.xmp is not None and meta.xmp["photoshop:City"] == "RIGHT-XMP-City"
    assert meta.iptc["2:25"] == ["WRONG1of2-IPTC-Keywords", "WRONG2of2-IPTC-Keywords"]


def test_photomechanic_country_code():
    meta = _meta(EXIFTOOL / "PhotoMechanic.jpg")
    assert meta.location == {"city": "kingston", "province": "State", "country_code": "COD", "country": "Country",
                             "source": "xmp"}
    assert meta.iptc is not None and meta.iptc["2:100"] == "COD"


def test_utf16_xmp_is_read():
    meta = _meta(EXIFTOOL / "XMP.jpg")
    assert meta.field_errors == ()
    assert meta.xmp is not None and meta.xmp["dc:description"] == ["UTF-16 (big-endian) encoded XMP"]
    assert meta.location == {"city": "Kingston", "province": "Ont", "country": "Canada", "source": "xmp"}


def test_location_created_and_shown_structs():
    created = parse_xmp((EXIFTOOL / "XMP4.xmp").read_bytes())
    assert created["Iptc4xmpExt:LocationCreated"][1] == {"Iptc4xmpExt:City": "two", "Iptc4xmpExt:CountryCode": "2"}
    shown = _meta(EXIFTOOL / "XMP7.xmp")
    assert shown.location == {"city": "London", "country_code": "GB", "source": "xmp"}
    assert [s["Iptc4xmpExt:CountryCode"] for s in shown.xmp["Iptc4xmpExt:LocationShown"]] == ["GB", "FR", "DE"]
    # a non-standard prefix bound to the IPTC Core namespace is still recognised
    assert _meta(EXIFTOOL / "XMP3.xmp").location == {"country_code": "CA", "source": "xmp"}


def test_merge_location():
    assert merge_location({}, {}) is None
    assert merge_location({"city": "Lyon", "country": "France"}, {"city": "Paris"}) == {
        "city": "Paris", "country": "France", "source": "xmp"}


XMP_WITH_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY boom "boom">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="&boom;"/>
</rdf:RDF></x:xmpmeta>"""

XMP_LOCATION = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
 xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/" xmlns:exif="http://ns.adobe.com/exif/1.0/"
 photoshop:City="Lyon" photoshop:State="Auvergne-Rh\xc3\xb4ne-Alpes" Iptc4xmpCore:CountryCode="FR"
 exif:GPSLatitude="45,45.6N" exif:GPSLongitude="4,50.4E"/>
</rdf:RDF></x:xmpmeta>"""


def test_xmp_with_dtd_is_refused_and_the_rest_is_read():
    meta = read_metadata(_jpeg(xmp=XMP_WITH_ENTITY))
    assert meta.xmp is None and meta.location is None
    assert any(e.startswith("xmp:") for e in meta.field_errors)
    assert meta.taken_at == dt.datetime(2020, 1, 2, 3, 4, 5)


def test_xmp_that_is_not_xml():
    meta = read_metadata(_jpeg(xmp=b"<x:xmpmeta><rdf:RDF><unclosed"))
    assert meta.xmp is None and any(e.startswith("xmp:") for e in meta.field_errors)


def test_xmp_attributes_location_and_gps():
    meta = read_metadata(_jpeg(xmp=XMP_LOCATION))
    assert meta.location == {"city": "Lyon", "province": "Auvergne-Rhône-Alpes", "country_code": "FR",
                             "source": "xmp"}
    assert meta.gps_lat == pytest.approx(45.76) and meta.gps_lon == pytest.approx(4.84)


def test_bad_iptc_is_reported():
    block = b"\x1c\x02\x5a\x00\x08Lyon"  # says 8 bytes, has 4
    resource = b"8BIM\x04\x04\x00\x00" + len(block).to_bytes(4, "big") + block
    app13 = b"Photoshop 3.0\x00" + resource
    good = _jpeg()
    data = good[:2] + b"\xff\xed" + (len(app13) + 2).to_bytes(2, "big") + app13 + good[2:]
    meta = read_metadata(data)
    assert any(e.startswith("iptc:") for e in meta.field_errors)
    assert meta.taken_at == dt.datetime(2020, 1, 2, 3, 4, 5)


# --- bounds --------------------------------------------------------------------------------------------------------


def test_raw_dicts_are_json_safe_and_bounded_on_all_photos():
    files = [p for p in sorted(PHOTOS.rglob("*")) if p.is_file()]
    assert len(files) > 250
    for path in files:
        meta = _meta(path)
        text = json.dumps({"exif": meta.exif, "iptc": meta.iptc, "xmp": meta.xmp, "loc": meta.location})
        assert "JPEGThumbnail" not in text
        assert not any("MakerNote" in k for k in (meta.exif or {}))
        assert not any(k.endswith(":MakerNote") for k in (meta.xmp or {}))
        for raw in (meta.exif, meta.iptc, meta.xmp):
            assert raw is None or len(raw) <= 500
        for value in (meta.exif or {}).values():
            assert len(value) <= MAX_VALUE_CHARS
        for value in (meta.gps_lat, meta.gps_lon, meta.gps_alt):
            assert value is None or math.isfinite(value)


def test_garbage_never_raises():
    for data in (b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*\x00\x00\x00\x08", b"II*\x00" * 50,
                 b"<x:xmpmeta" * 1000, b"\xff\xd8\xff\xed\xff\xff" + b"Photoshop 3.0\x00" + b"8BIM" * 100):
        meta = read_metadata(data)
        json.dumps({"exif": meta.exif, "iptc": meta.iptc, "xmp": meta.xmp})
