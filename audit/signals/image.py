"""Signals of origin carried by an image's own bytes: EXIF GPS, UTC offset, IPTC/XMP location (and camera model).

``image_signals(record)`` composes small public extractors, each a pure function returning ``list[Signal]``. What
each kind means, its strength and its failure modes are in docs/signals-image.md. Nothing here raises for odd
metadata: values of the wrong type or out of range yield no signal.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import numbers
import re
import zoneinfo
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeGuard

from audit.decode.metadata import offset_minutes
from audit.records import ImageRecord
from audit.signals.base import Signal, Strength
from audit.signals.countries import country_from_code, country_from_name
from audit.signals.geo import country_at, valid_position, zone_countries

log = logging.getLogger(__name__)

MAX_OFFSET_MINUTES = 14 * 60
EXCLUDED_OFFSET_COUNTRIES = frozenset({"AQ"})  # research stations: nobody's country of residence
MAX_EVIDENCE_VALUE = 80

# --- EXIF GPS ----------------------------------------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def gps_signals(lat: float | None, lon: float | None, alt: float | None = None) -> list[Signal]:
    """One STRONG ``exif_gps`` signal for the country holding the position; nothing for a missing or invalid
    position (None, NaN, out of range, the 0/0 placeholder) or one at sea. Near a border the detail carries
    ``near_border_km`` (what the attribution uses to soften it)."""
    if not (_is_number(lat) and _is_number(lon)) or not valid_position(float(lat), float(lon)):
        return []
    hit = country_at(float(lat), float(lon))
    if hit is None:
        return []
    detail = {"zone": hit.zone}
    if hit.border_km is not None:
        km = hit.border_km
        detail["near_border_km"] = f"{km:.1f}" if km >= 1 else f"{km:.2f}"  # never "0.0" for a border 40 m away
    if _is_number(alt) and math.isfinite(alt):
        detail["alt_m"] = f"{alt:.0f}"
    return [Signal(kind="exif_gps", country=hit.country, strength=Strength.STRONG,
                   evidence=f"EXIF GPS {float(lat):.6f},{float(lon):.6f}", detail=detail)]


# --- UTC offset --------------------------------------------------------------------------------------------------

def parse_offset_minutes(text: str | None) -> int | None:
    """Minutes east of UTC from "+HH:MM" (or "+HHMM"); None when malformed, minutes >= 60 or beyond ±14 h."""
    return offset_minutes(text)


@lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _offsets_at(zone: zoneinfo.ZoneInfo, local: dt.datetime) -> set[int]:
    """UTC offsets (minutes) of the naive local time in ``zone``: both readings of an ambiguous or skipped time."""
    out: set[int] = set()
    for fold in (0, 1):
        delta = zone.utcoffset(local.replace(tzinfo=None, fold=fold))
        if delta is not None:
            out.add(int(delta.total_seconds() // 60))
    return out


@lru_cache(maxsize=1)
def _zones() -> tuple[tuple[str, zoneinfo.ZoneInfo, str], ...]:
    """``(name, zone, country)`` of every zone.tab zone tzdata can load, Antarctica left out."""
    out = []
    for name, country in sorted(zone_countries().items()):
        zone = _zone(name)
        if zone is not None and country not in EXCLUDED_OFFSET_COUNTRIES:
            out.append((name, zone, country))
    return tuple(out)


@lru_cache(maxsize=4)
def _year_offsets(year: int) -> dict[int, frozenset[str]]:
    """``{offset minutes: countries}`` for every offset some zone uses in ``year`` (sampled weekly at noon)."""
    found: dict[int, set[str]] = {}
    days = [dt.datetime(year, 1, 1, 12) + dt.timedelta(days=7 * i) for i in range(53)]
    for _name, zone, country in _zones():
        for offset in {o for day in days for o in _offsets_at(zone, day)}:
            found.setdefault(offset, set()).add(country)
    return {k: frozenset(v) for k, v in found.items()}


def offset_countries(offset_minutes: int, taken_at: dt.datetime | None) -> set[str]:
    """Countries having a zone (tzdata zone.tab) whose UTC offset was ``offset_minutes`` at the local time
    ``taken_at`` (DST-aware), or, when ``taken_at`` is None, at any time of the current year."""
    if taken_at is None:
        return set(_year_offsets(dt.date.today().year).get(offset_minutes, frozenset()))
    # offsets change only on quarter hours: one computation per (offset, quarter hour)
    local = taken_at.replace(tzinfo=None, minute=taken_at.minute - taken_at.minute % 15, second=0, microsecond=0)
    return set(_offset_countries_at(offset_minutes, local))


@lru_cache(maxsize=65536)
def _offset_countries_at(offset_minutes: int, local: dt.datetime) -> frozenset[str]:
    out: set[str] = set()
    for _name, zone, country in _zones():
        if country not in out:
            try:
                if offset_minutes in _offsets_at(zone, local):
                    out.add(country)
            except (OverflowError, ValueError):
                return frozenset()
    return frozenset(out)


def utc_offset_signals(utc_offset: str | None, taken_at: dt.datetime | None,
                       source: str = "OffsetTimeOriginal") -> list[Signal]:
    """One WEAK ``utc_offset`` signal per country where the offset was in use, each with ``weight = 1/n``."""
    minutes = parse_offset_minutes(utc_offset)
    if minutes is None or (taken_at is not None and not isinstance(taken_at, dt.datetime)):
        return []
    countries = sorted(offset_countries(minutes, taken_at))
    if not countries:
        return []
    when = f" at {taken_at.replace(tzinfo=None).isoformat()}" if taken_at is not None else ""
    evidence = f"{source} {str(utc_offset).strip()}{when}"
    n = len(countries)
    return [Signal(kind="utc_offset", country=c, strength=Strength.WEAK, evidence=evidence, weight=1 / n,
                   detail={"candidates": str(n)}) for c in countries]


# --- IPTC / XMP location -----------------------------------------------------------------------------------------

# (field, property name as shown in the evidence); the country code and name are what resolve a country
IPTC_FIELDS = {"country_code": "2:100", "country": "2:101", "province": "2:95", "city": "2:90",
               "sublocation": "2:92"}
IPTC_NAMES = {"2:100": "CountryCode", "2:101": "Country", "2:95": "Province", "2:90": "City", "2:92": "Sublocation"}
XMP_LEGACY = {"country_code": "Iptc4xmpCore:CountryCode", "country": "photoshop:Country",
              "province": "photoshop:State", "city": "photoshop:City", "sublocation": "Iptc4xmpCore:Location"}
XMP_EXT = {"country_code": "Iptc4xmpExt:CountryCode", "country": "Iptc4xmpExt:CountryName",
           "province": "Iptc4xmpExt:ProvinceState", "city": "Iptc4xmpExt:City",
           "sublocation": "Iptc4xmpExt:Sublocation"}
XMP_EXT_STRUCTS = ("Iptc4xmpExt:LocationCreated", "Iptc4xmpExt:LocationShown")  # in order of preference
_ORDER = ("country_code", "country", "city", "province", "sublocation")


def _first_text(value: Any) -> str:
    while isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):  # an XMP lang-alt read as a struct: take any text in it
        value = next((v for v in value.values() if isinstance(v, str)), "")
    return value.strip() if isinstance(value, str) else ""


def _block(source: Mapping[str, Any] | None, names: Mapping[str, str], prefix: str = "") -> dict[str, tuple[str, str]]:
    """``{field: (property label, value)}`` of the non-blank fields of one location block."""
    if not isinstance(source, Mapping):
        return {}
    out: dict[str, tuple[str, str]] = {}
    for field_name, prop in names.items():
        text = _first_text(source.get(prop))
        if text:
            out[field_name] = (prefix + prop, text)
    return out


def iptc_location_fields(iptc: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    """IPTC IIM location datasets, labelled like ``CountryCode(2:100)``."""
    block = _block(iptc, IPTC_FIELDS)
    return {k: (f"{IPTC_NAMES[label]}({label})", v) for k, (label, v) in block.items()}


def xmp_location_blocks(xmp: Mapping[str, Any] | None) -> list[dict[str, tuple[str, str]]]:
    """XMP location blocks, most trusted first: photoshop/Iptc4xmpCore, then LocationCreated, then LocationShown."""
    if not isinstance(xmp, Mapping):
        return []
    blocks = [_block(xmp, XMP_LEGACY)]
    for struct_name in XMP_EXT_STRUCTS:
        value = xmp.get(struct_name)
        while isinstance(value, list) and value:
            value = value[0]
        blocks.append(_block(value if isinstance(value, Mapping) else None, XMP_EXT, struct_name + "/"))
    return [b for b in blocks if b]


def resolve_block(block: Mapping[str, tuple[str, str]]) -> tuple[str, str, str | None] | None:
    """``(country, label=value that gave it, country the name gives when it disagrees with the code)``.

    The code wins (it is the field meant for machines); the name is used when the code is absent or unknown."""
    code = block.get("country_code")
    name = block.get("country")
    by_code = country_from_code(code[1]) if code else None
    by_name = country_from_name(name[1]) if name else None
    if by_code is not None and code is not None:
        return by_code, f"{code[0]}={code[1]}", by_name if by_name not in (None, by_code) else None
    if by_name is not None and name is not None:
        return by_name, f"{name[0]}={name[1]}", None
    return None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_EVIDENCE_VALUE else text[: MAX_EVIDENCE_VALUE - 1] + "…"


def _location_signal(kind: str, tag: str, block: Mapping[str, tuple[str, str]]) -> Signal | None:
    resolved = resolve_block(block)
    if resolved is None:
        return None
    country, used, name_country = resolved
    parts = [_clip(used)] + [_clip(f"{block[f][0]}={block[f][1]}") for f in ("city", "province") if f in block]
    detail: dict[str, str] = {}
    strength = Strength.STRONG
    if name_country is not None:  # code and name of the same block disagree: keep the code, but soften it
        detail["name_country"] = name_country
        strength = Strength.MEDIUM
    return Signal(kind=kind, country=country, strength=strength, evidence=f"{tag} {', '.join(parts)}", detail=detail)


def _from_merged(location: Mapping[str, Any]) -> tuple[str, dict[str, tuple[str, str]]]:
    source = str(location.get("source") or "xmp").lower()
    block = {k: (k, v.strip()) for k, v in location.items()
             if k in _ORDER and isinstance(v, str) and v.strip()}
    return ("iptc" if source == "iptc" else "xmp"), block


def location_signals(location: Mapping[str, Any] | None, iptc: Mapping[str, Any] | None,
                     xmp: Mapping[str, Any] | None) -> list[Signal]:
    """STRONG ``xmp_location`` / ``iptc_location`` signals from the country code (alpha-2/alpha-3) or an exact
    country name. When IPTC and XMP name different countries both are kept, the IPTC one MEDIUM with
    ``{"conflicts_with": "xmp"}`` (Metadata Working Group: XMP is preferred). The raw ``iptc``/``xmp`` dicts are
    read when present; the merged ``location`` dict only when neither is."""
    xmp_signal: Signal | None = None
    iptc_signal: Signal | None = None
    if iptc is None and xmp is None:
        if not isinstance(location, Mapping):
            return []
        source, block = _from_merged(location)
        signal = _location_signal("iptc_location" if source == "iptc" else "xmp_location", source.upper(), block)
        return [signal] if signal is not None else []
    for block in xmp_location_blocks(xmp):
        xmp_signal = _location_signal("xmp_location", "XMP", block)
        if xmp_signal is not None:
            break
    iptc_signal = _location_signal("iptc_location", "IPTC", iptc_location_fields(iptc))
    if xmp_signal is not None and iptc_signal is not None and iptc_signal.country != xmp_signal.country:
        iptc_signal = Signal(kind=iptc_signal.kind, country=iptc_signal.country, strength=Strength.MEDIUM,
                             evidence=iptc_signal.evidence, detail={**iptc_signal.detail, "conflicts_with": "xmp"})
    return [s for s in (xmp_signal, iptc_signal) if s is not None]


# --- camera model ------------------------------------------------------------------------------------------------


def camera_signals(exif: Mapping[str, Any] | None) -> list[Signal]:
    """Always empty, deliberately: no camera or phone model string is tied to one country surely enough.

    Regional variants (e.g. phone model suffixes for one market) are sold abroad, imported, and carried by
    travellers; a wrong country is worse than none (see docs/signals-image.md)."""
    return []


# --- EXIF a dataset recorded of the original (img2dataset's .json) ---------------------------------------------

_RATIONAL = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*$")


def exifread_number(text: str) -> float | None:
    """One number as exifread prints it (``48``, ``2339/100``, ``48.5``); None when malformed or a division by 0."""
    m = _RATIONAL.match(text)
    if m is None:
        return None
    value = float(m.group(1))
    if m.group(2) is not None:
        denominator = float(m.group(2))
        if denominator == 0:
            return None
        value /= denominator
    return value if math.isfinite(value) else None


def exifread_degrees(value: Any, ref: Any, positive: str, negative: str) -> float | None:
    """A GPS coordinate as exifread prints it (``[48, 51, 2339/100]`` -- degrees, minutes, seconds; fewer parts
    allowed) with its reference letter, in signed decimal degrees; None when malformed, out of range, or without a
    reference (the hemisphere is then unknown: no guess)."""
    if not isinstance(value, str) or not isinstance(ref, str) or len(value) > 200:
        return None
    letter = ref.strip().upper()[:1]
    if letter not in (positive, negative):
        return None
    parts = [p for p in value.strip().strip("[]").split(",") if p.strip()]
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [exifread_number(p) for p in parts]
    if any(n is None or n < 0 for n in numbers):
        return None
    degrees = sum(float(n) / 60 ** i for i, n in enumerate(numbers))  # type: ignore[arg-type]
    return -degrees if letter == negative else degrees


def dataset_exif_signals(exif: Mapping[str, Any] | None, *, bytes_have_exif: bool) -> list[Signal]:
    """A STRONG ``dataset_exif_gps`` signal for the GPS position in the EXIF a dataset recorded of an image's original
    (img2dataset's ``.json`` ``exif``: exifread's tag names, string values), to be used only when the bytes the
    dataset holds carry no GPS of their own (img2dataset re-encodes what it downloads, which drops the EXIF). The
    position is read and checked as ``exif_gps`` reads one (:func:`gps_signals`: no signal for 0/0, a position at
    sea or out of range; ``near_border_km``); the evidence says it came from the dataset's record, and whether the
    bytes carry no EXIF at all (``bytes_have_exif`` False) or only no GPS."""
    if not isinstance(exif, Mapping):
        return []
    lat = exifread_degrees(exif.get("GPS GPSLatitude"), exif.get("GPS GPSLatitudeRef"), "N", "S")
    lon = exifread_degrees(exif.get("GPS GPSLongitude"), exif.get("GPS GPSLongitudeRef"), "E", "W")
    if lat is None or lon is None:
        return []
    alt = exifread_number(exif["GPS GPSAltitude"]) if isinstance(exif.get("GPS GPSAltitude"), str) else None
    if alt is not None and str(exif.get("GPS GPSAltitudeRef", "")).strip() == "1":
        alt = -alt
    why = "the bytes were re-encoded without it" if not bytes_have_exif else "the bytes carry no GPS"
    return [Signal(kind="dataset_exif_gps", country=s.country, strength=Strength.STRONG,
                   evidence=f"img2dataset .json EXIF GPS {lat:.6f},{lon:.6f} ({why})", detail=s.detail)
            for s in gps_signals(lat, lon, alt)]


# --- everything --------------------------------------------------------------------------------------------------


def _offset_source(exif: Mapping[str, Any] | None, utc_offset: str | None) -> str:
    """The EXIF tag the offset was read from (as metadata.time_from_exif picks it), for the evidence."""
    wanted = parse_offset_minutes(utc_offset)
    if isinstance(exif, Mapping) and wanted is not None:
        for name in ("EXIF OffsetTimeOriginal", "EXIF OffsetTime"):
            value = exif.get(name)
            if isinstance(value, str) and parse_offset_minutes(value) == wanted:
                return name.split()[-1]
        if exif.get("GPS GPSTimeStamp"):
            return "GPS time vs DateTimeOriginal"
    return "UTC offset"


def image_signals(record: ImageRecord) -> list[Signal]:
    """Every country signal of one image's metadata: GPS, UTC offset, IPTC/XMP location, C2PA content credentials,
    camera model."""
    from audit.signals.c2pa import location_signals as c2pa_location_signals

    signals = gps_signals(record.gps_lat, record.gps_lon, record.gps_alt)
    signals += utc_offset_signals(record.utc_offset, record.taken_at, _offset_source(record.exif, record.utc_offset))
    signals += location_signals(record.location, record.iptc, record.xmp)
    if record.c2pa:
        signals += c2pa_location_signals(record.c2pa)
    signals += camera_signals(record.exif)
    return signals
