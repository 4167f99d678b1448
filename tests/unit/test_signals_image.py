from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from audit.decode.imagefacts import analyse_image
from audit.records import ImageRecord
from audit.signals.base import Strength
from audit.signals.countries import country_from_code, country_from_name
from audit.signals.image import (
    camera_signals,
    gps_signals,
    image_signals,
    location_signals,
    parse_offset_minutes,
    utc_offset_signals,
)
from audit.testbed.testweb import build_web

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "photos"
EXIFTOOL = PHOTOS / "exiftool-t-images"


def _record(path: Path) -> ImageRecord:
    return analyse_image(path.read_bytes())


def _kinds(signals, *kinds):
    return [s for s in signals if s.kind in kinds]


# --- GPS ---------------------------------------------------------------------------------------------------------


def test_gps_signal():
    [s] = gps_signals(48.8566, 2.3522, 35.0)
    assert (s.kind, s.country, s.strength, s.weight) == ("exif_gps", "FR", Strength.STRONG, 1.0)
    assert s.evidence == "EXIF GPS 48.856600,2.352200"
    assert s.detail == {"zone": "Europe/Paris", "alt_m": "35"}


def test_gps_near_border_is_still_strong_but_flagged():
    [s] = gps_signals(47.5596, 7.5886, None)  # Basel
    assert s.country == "CH" and s.strength == Strength.STRONG
    assert 0 < float(s.detail["near_border_km"]) <= 5


@pytest.mark.parametrize(("lat", "lon"), [(None, 2.0), (48.0, None), (0.0, 0.0), (0, 0), (math.nan, 2.0),
                                          (48.0, math.inf), (-math.inf, 2.0), (91.0, 2.0), (48.0, 181.0),
                                          (True, 2.0), ("48.8", "2.3"), (45.0, -30.0)])
def test_no_gps_signal_from_invalid_or_sea_positions(lat, lon):
    assert gps_signals(lat, lon, None) == []


# --- UTC offset --------------------------------------------------------------------------------------------------


def _countries(signals):
    return {s.country for s in signals}


def test_offset_is_dst_aware():
    summer = utc_offset_signals("+02:00", dt.datetime(2021, 6, 1, 10, 0))
    assert {"FR", "DE", "BE", "CH", "IT", "ES", "NL", "ZA"} <= _countries(summer)
    assert "GB" not in _countries(summer)
    assert all(s.kind == "utc_offset" and s.strength == Strength.WEAK for s in summer)
    assert sum(s.weight for s in summer) == pytest.approx(1.0)
    assert summer[0].evidence == "OffsetTimeOriginal +02:00 at 2021-06-01T10:00:00"
    assert summer[0].detail == {"candidates": str(len(summer))}
    winter = _countries(utc_offset_signals("+02:00", dt.datetime(2021, 1, 15, 10, 0)))
    assert "FR" not in winter and {"FI", "GR", "ZA"} <= winter
    gb_summer = _countries(utc_offset_signals("+01:00", dt.datetime(2021, 6, 1, 10, 0)))
    assert {"GB", "IE", "PT"} <= gb_summer and "FR" not in gb_summer
    assert "AQ" not in _countries(utc_offset_signals("+00:00", dt.datetime(2021, 6, 1, 10, 0)))


def test_offset_without_time_takes_any_offset_of_the_year():
    plus_one = _countries(utc_offset_signals("+01:00", None))
    assert {"FR", "DE", "GB", "PT"} <= plus_one
    assert _countries(utc_offset_signals("+05:30", None)) == {"IN", "LK"}
    assert _countries(utc_offset_signals("+14:00", None)) == {"KI"}


@pytest.mark.parametrize("text", [None, "", "abc", "+2:00", "02:00", "+02:60", "+14:15", "+15:00", "-14:30",
                                  "+02:00:00", "Z", "+٠٢:٠٠"])
def test_malformed_or_impossible_offsets(text):
    assert utc_offset_signals(text, dt.datetime(2021, 6, 1, 10, 0)) == []


def test_offset_parsing():
    assert parse_offset_minutes("+05:45") == 345
    assert parse_offset_minutes("-0330") == -210
    assert parse_offset_minutes("+14:00") == 840
    assert parse_offset_minutes("-12:00") == -720


# --- IPTC / XMP location -----------------------------------------------------------------------------------------


def test_country_tables():
    assert country_from_code("FRA") == "FR" and country_from_code("fr") == "FR" and country_from_code("COD") == "CD"
    assert country_from_code("UK") == "GB" and country_from_code("XX") is None and country_from_code("FRANCE") is None
    for name, code in (("Frankreich", "FR"), ("FRANCE", "FR"), ("Deutschland", "DE"), ("Allemagne", "DE"),
                       ("Germania", "DE"), ("Alemania", "DE"), ("Italia", "IT"), ("Italie", "IT"), ("España", "ES"),
                       ("Espagne", "ES"), ("Belgique", "BE"), ("België", "BE"), ("Suisse", "CH"), ("Schweiz", "CH"),
                       ("Svizzera", "CH"), ("Nederland", "NL"), ("Royaume-Uni", "GB"), ("UK", "GB"), ("USA", "US"),
                       ("United  Kingdom ", "GB"), ("Canada", "CA"), ("Korea, Republic of", "KR")):
        assert country_from_name(name) == code, name
    for name in ("Atlantis", "Ont", "Fr", "Franc", "Korea", "Congo, Democratic", "", None):
        assert country_from_name(name) is None, name


def test_xmp_code_and_evidence():
    xmp = {"Iptc4xmpCore:CountryCode": "FR", "photoshop:City": "Lyon"}
    [s] = location_signals(None, None, xmp)
    assert (s.kind, s.country, s.strength) == ("xmp_location", "FR", Strength.STRONG)
    assert s.evidence == "XMP Iptc4xmpCore:CountryCode=FR, photoshop:City=Lyon"


def test_iptc_alpha3_and_names():
    [s] = location_signals(None, {"2:100": "DEU", "2:90": "Köln"}, None)
    assert (s.kind, s.country, s.strength) == ("iptc_location", "DE", Strength.STRONG)
    assert s.evidence == "IPTC CountryCode(2:100)=DEU, City(2:90)=Köln"
    [s] = location_signals(None, {"2:101": ["Frankreich", "France"]}, None)
    assert s.country == "FR"
    assert location_signals(None, {"2:101": "Atlantis", "2:100": "ZZZ"}, {"photoshop:Country": "Ont"}) == []


def test_iptc_xmp_conflict_prefers_xmp():
    xmp = {"Iptc4xmpCore:CountryCode": "FR"}
    iptc = {"2:100": "BEL", "2:101": "Belgique"}
    xmp_s, iptc_s = location_signals(None, iptc, xmp)
    assert (xmp_s.kind, xmp_s.country, xmp_s.strength) == ("xmp_location", "FR", Strength.STRONG)
    assert (iptc_s.kind, iptc_s.country, iptc_s.strength) == ("iptc_location", "BE", Strength.MEDIUM)
    assert iptc_s.detail == {"conflicts_with": "xmp"}
    same = location_signals(None, {"2:100": "FRA"}, {"photoshop:Country": "France"})
    assert [(s.country, s.strength, s.detail) for s in same] == [("FR", Strength.STRONG, {})] * 2


def test_code_and_name_of_one_block_disagree():
    [s] = location_signals(None, None, {"Iptc4xmpCore:CountryCode": "FR", "photoshop:Country": "Deutschland"})
    assert (s.country, s.strength, s.detail) == ("FR", Strength.MEDIUM, {"name_country": "DE"})


def test_xmp_extension_structs():
    xmp = {"Iptc4xmpExt:LocationCreated": [{"Iptc4xmpExt:CountryName": "Schweiz", "Iptc4xmpExt:City": "Basel"}],
           "Iptc4xmpExt:LocationShown": [{"Iptc4xmpExt:CountryCode": "DE"}]}
    [s] = location_signals(None, None, xmp)
    assert s.country == "CH"
    assert s.evidence == ("XMP Iptc4xmpExt:LocationCreated/Iptc4xmpExt:CountryName=Schweiz, "
                          "Iptc4xmpExt:LocationCreated/Iptc4xmpExt:City=Basel")


def test_merged_location_only_when_no_raw_metadata():
    [s] = location_signals({"country_code": "ITA", "city": "Roma", "source": "iptc"}, None, None)
    assert (s.kind, s.country) == ("iptc_location", "IT")
    assert location_signals({"country": "Nowhere", "source": "xmp"}, None, None) == []


@pytest.mark.parametrize("value", [None, 3, {"x": 1}, [], [None], "  "])
def test_odd_values_are_ignored(value):
    assert location_signals({"country": value}, {"2:100": value}, {"photoshop:Country": value}) == []


def test_camera_model_is_never_a_signal():
    assert camera_signals({"Image Model": "SM-G991B", "Image Make": "samsung"}) == []
    assert camera_signals(None) == []


# --- whole records -----------------------------------------------------------------------------------------------


def test_record_without_metadata():
    assert image_signals(ImageRecord(sha256="x", size=0)) == []
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buf, "JPEG")
    assert image_signals(analyse_image(buf.getvalue())) == []


def test_gps_samples():
    paths = sorted((PHOTOS / "exif-samples" / "jpg" / "gps").glob("*.jpg"))
    assert len(paths) == 9
    for path in paths:  # DSCN00xx: a walk near Arezzo, Tuscany (43.46 N, 11.88 E)
        gps = _kinds(image_signals(_record(path)), "exif_gps")
        assert [(s.country, s.detail["zone"]) for s in gps] == [("IT", "Europe/Rome")], path.name


@pytest.mark.parametrize(("name", "country"), [("GPS.jpg", "GB"), ("Apple.jpg", "GB"), ("GoPro.jpg", "US"),
                                               ("Google.jpg", "ES"), ("Ricoh2.jpg", "ES")])
def test_gps_of_exiftool_samples(name, country):
    [s] = _kinds(image_signals(_record(EXIFTOOL / name)), "exif_gps")
    assert s.country == country


def test_iptc_sample():
    signals = image_signals(_record(EXIFTOOL / "IPTC.jpg"))  # Kingston / Ont / Canada, IIM only
    assert [(s.kind, s.country, s.strength) for s in signals] == [("iptc_location", "CA", Strength.STRONG)]
    assert signals[0].evidence == "IPTC Country(2:101)=Canada, City(2:90)=Kingston, Province(2:95)=Ont"


def test_mwg_sample_has_no_country():
    # IPTC and XMP disagree on the city only (WRONG-IPTC-City vs RIGHT-XMP-City); the country is
    # "RIGHT-IPTC-Country", a test string that names no country: no signal rather than a guess
    record = _record(EXIFTOOL / "MWG.jpg")
    assert record.location is not None and record.location["city"] == "RIGHT-XMP-City"
    assert record.iptc is not None and record.iptc["2:90"] == "WRONG-IPTC-City"
    assert _kinds(image_signals(record), "iptc_location", "xmp_location", "exif_gps") == []


def test_photomechanic_alpha3_code():
    signals = _kinds(image_signals(_record(EXIFTOOL / "PhotoMechanic.jpg")), "iptc_location", "xmp_location")
    assert sorted((s.kind, s.country, s.strength) for s in signals) == [
        ("iptc_location", "CD", Strength.STRONG), ("xmp_location", "CD", Strength.STRONG)]


def test_offset_from_gps_time_disagrees_with_the_place():
    # Ricoh2.jpg: GPS in Aragón in May 2006 (CEST, +02:00) but the camera clock vs GPS time gives +01:00 (a clock
    # left on winter time): mainland Spain and France are not candidates; ES still is, only through the Canaries
    signals = image_signals(_record(EXIFTOOL / "Ricoh2.jpg"))
    offsets = _kinds(signals, "utc_offset")
    assert offsets and offsets[0].evidence == "GPS time vs DateTimeOriginal +01:00 at 2006-05-26T11:48:48"
    assert "FR" not in _countries(offsets) and {"ES", "GB", "PT"} <= _countries(offsets)


def test_test_web_signals_agree_with_ground_truth(tmp_path_factory):
    web = build_web(tmp_path_factory.mktemp("signals-web"), photos=200, seed=3)
    checked = {"exif_gps": 0, "iptc_location": 0, "xmp_location": 0, "utc_offset": 0}
    for row in web.ground_truth():
        path = web.www / str(row["host"]) / urlsplit(str(row["image_url"])).path.lstrip("/")
        record = analyse_image(path.read_bytes())
        if record.error:
            continue
        signals = image_signals(record)
        for s in _kinds(signals, "exif_gps", "iptc_location", "xmp_location"):
            assert s.country == row["capture_country"], (row["image_url"], s)
            assert s.strength == Strength.STRONG
            checked[s.kind] += 1
        offsets = _countries(_kinds(signals, "utc_offset"))
        if offsets:
            assert row["capture_country"] in offsets, row["image_url"]
            checked["utc_offset"] += 1
        if "gps" in row["kept_metadata"] and row["gps"] is not None:
            assert len(_kinds(signals, "exif_gps")) == 1
    assert all(checked.values()), checked
