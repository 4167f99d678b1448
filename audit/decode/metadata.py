"""Embedded metadata of an image file: EXIF (exifread), IPTC IIM (APP13/8BIM) and XMP (defusedxml only).

``read_metadata(data, img)`` returns the raw tags of each kind, JSON-safe and bounded, and the decoded signals of
origin: GPS position, capture time and UTC offset, IPTC/XMP location. Every problem becomes a short message in
``field_errors``; the other fields are still read and no exception escapes. The helpers are pure functions.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import exifread
from defusedxml import ElementTree as SafeET
from PIL import Image, ImageFile

from audit.decode import formats as imageformats

log = logging.getLogger(__name__)
imageformats.install()  # IptcImagePlugin, imported below for TIFFs, then registers no opener
# exifread logs a WARNING for every file without EXIF ("Webp file does not have exif data", "File format not
# recognized"): normal on the web, where most images carry none. What matters is reported in ``field_errors``, so
# only its errors are let through.
logging.getLogger("exifread").setLevel(logging.ERROR)

MAX_VALUE_CHARS = 1000  # any string value is cut to this length
MAX_ENTRIES = 500  # any dict or list keeps at most this many entries
MAX_DEPTH = 8  # nesting kept when flattening XMP structures
MAX_XMP_BYTES = 4 * 1024 * 1024  # larger XMP packets are not parsed
MAX_JPEG_SEGMENTS = 4096
MAX_OFFSET_MINUTES = 14 * 60

LOCATION_KEYS = ("city", "sublocation", "province", "country_code", "country")
IPTC_LOCATION = {(2, 90): "city", (2, 92): "sublocation", (2, 95): "province", (2, 100): "country_code",
                 (2, 101): "country"}
_SKIPPED_EXIF = ("JPEGThumbnail", "TIFFThumbnail", "MakerNote", "Thumbnail ")

NS_PREFIXES = {
    "adobe:ns:meta/": "x",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://www.w3.org/XML/1998/namespace": "xml",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/aux/": "aux",
    "http://ns.adobe.com/camera-raw-settings/1.0/": "crs",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://ns.useplus.org/ldf/xmp/1.0/": "plus",
}
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_CORE = "{http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/}"
_EXT = "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}"
_PS = "{http://ns.adobe.com/photoshop/1.0/}"
_EXIF_NS = "{http://ns.adobe.com/exif/1.0/}"


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the embedded metadata says; see ``ImageRecord`` for the meaning of each field."""

    exif: dict[str, Any] | None = None
    iptc: dict[str, Any] | None = None
    xmp: dict[str, Any] | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    taken_at: dt.datetime | None = None
    utc_offset: str | None = None
    location: dict[str, str] | None = None
    field_errors: tuple[str, ...] = ()


# --- bounded, JSON-safe values -----------------------------------------------------------------------------------


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON-serialisable, bounded copy of ``value``: bytes become text or hex, numbers stay finite."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, bytes | bytearray):
        return clip(decode_text(bytes(value[:MAX_VALUE_CHARS])) if _looks_textual(bytes(value)) else value.hex())
    if depth >= MAX_DEPTH:
        return clip(repr(value))
    if isinstance(value, dict):
        return {clip(str(k), 200): json_safe(v, depth + 1) for k, v in list(value.items())[:MAX_ENTRIES]}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in list(value)[:MAX_ENTRIES]]
    return clip(str(value))


def _looks_textual(raw: bytes) -> bool:
    sample = raw[:MAX_VALUE_CHARS].rstrip(b"\x00")
    return all(b >= 0x20 or b in (9, 10, 13) for b in sample)


def decode_text(raw: bytes) -> str:
    """UTF-8, else Latin-1 (both common in IPTC/EXIF strings), trailing NULs and blanks removed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.rstrip("\x00").strip()


# --- EXIF --------------------------------------------------------------------------------------------------------


def exif_tags(data: bytes) -> dict[str, Any]:
    """exifread's tags of ``data`` (no MakerNote, no thumbnail); raises what exifread raises."""
    tags = exifread.process_file(io.BytesIO(data), details=False, extract_thumbnail=False)
    return {k: v for k, v in tags.items() if not any(s in k for s in _SKIPPED_EXIF)}


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_SUB_IFDS = {0x8769: "Exif IFD", 0x8825: "GPS IFD", 0xA005: "Interop IFD"}
MAX_IFDS = 64
MAX_EXIF_PROBLEMS = 8


def exif_block(data: bytes) -> bytes | None:
    """The TIFF structure holding the EXIF of a JPEG (APP1 "Exif") or a TIFF file; None for other formats."""
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return data
    for segment in jpeg_app_segments(data, 0xE1):
        if segment.startswith(b"Exif\x00\x00"):
            return segment[6:]
    return None


def exif_problems(data: bytes) -> list[str]:
    """What is structurally wrong with the EXIF of ``data``: IFD offsets outside the block or read twice (loops),
    entry counts running past the end, unknown value types, value counts whose bytes lie past the end. exifread
    skips such entries silently; these messages say which, so the store records them. Bounded work."""
    block = exif_block(data)
    if block is None or len(block) < 8:
        return []
    little = block[:2] == b"II"

    def number(at: int, size: int) -> int:
        return int.from_bytes(block[at : at + size], "little" if little else "big")

    problems: list[str] = []
    seen: set[int] = set()
    todo: list[tuple[str, int]] = [("IFD0", number(4, 4))]
    while todo and len(seen) < MAX_IFDS and len(problems) < MAX_EXIF_PROBLEMS:
        name, offset = todo.pop(0)
        if offset in seen:
            problems.append(f"exif: IFD loop: {name} points to offset {offset}, already read")
            continue
        if not 8 <= offset <= len(block) - 2:
            problems.append(f"exif: {name} at offset {offset} is outside the EXIF block ({len(block)} bytes)")
            continue
        seen.add(offset)
        entries = number(offset, 2)
        if offset + 2 + 12 * entries > len(block):
            problems.append(f"exif: {name} declares {entries} entries, running past the end of the EXIF block")
            entries = (len(block) - offset - 2) // 12
        for k in range(min(entries, MAX_ENTRIES)):
            at = offset + 2 + 12 * k
            tag, kind, count = number(at, 2), number(at + 2, 2), number(at + 4, 4)
            if kind not in _TIFF_TYPE_SIZES:
                problems.append(f"exif: {name} tag 0x{tag:04X} has unknown type {kind}: skipped")
                continue
            length = count * _TIFF_TYPE_SIZES[kind]
            if length > 4 and number(at + 8, 4) + length > len(block):
                problems.append(f"exif: {name} tag 0x{tag:04X} declares {count} values ({length} bytes) past the "
                                "end of the EXIF block")
            elif tag in _SUB_IFDS and kind in (4, 13) and name in ("IFD0", "Exif IFD"):
                todo.append((_SUB_IFDS[tag], number(at + 8, 4)))
        if name.startswith("IFD"):  # the chain of main IFDs (IFD1: the thumbnail)
            next_at = offset + 2 + 12 * entries
            following = number(next_at, 4) if next_at + 4 <= len(block) else 0
            if following:
                todo.append((f"IFD{int(name[3:]) + 1}", following))
    return problems[:MAX_EXIF_PROBLEMS]


def exif_json(tags: dict[str, Any]) -> dict[str, Any]:
    """The printable value of each EXIF tag, bounded and JSON-safe (binary blobs left out)."""
    out: dict[str, Any] = {}
    for name, tag in tags.items():
        if len(out) >= MAX_ENTRIES:
            break
        values = getattr(tag, "values", None)
        if isinstance(values, bytes | bytearray) and not _looks_textual(bytes(values)):
            continue  # undefined-type blob (maker data, binary tables)
        out[clip(str(name), 200)] = clip(str(getattr(tag, "printable", tag)))
    return out


def _values(tags: dict[str, Any], name: str) -> list[Any]:
    tag = tags.get(name)
    values = getattr(tag, "values", None)
    if values is None:
        return []
    return list(values) if isinstance(values, list | tuple) else [values]


def _text(tags: dict[str, Any], name: str) -> str | None:
    tag = tags.get(name)
    if tag is None:
        return None
    values = getattr(tag, "values", tag)
    if isinstance(values, bytes | bytearray):
        return decode_text(bytes(values))
    if isinstance(values, list | tuple):
        values = values[0] if len(values) == 1 else "".join(str(v) for v in values)
    return str(values).rstrip("\x00").strip()


def rational(value: Any) -> float | None:
    """A finite float from an EXIF rational/number; None for zero denominators, NaN and infinities."""
    # exifread's Ratio keeps a zero denominator in the private fields; Fractions and ints have the public names
    num: Any = getattr(value, "_numerator", None)
    den: Any = getattr(value, "_denominator", None)
    if num is None or den is None:
        num, den = getattr(value, "numerator", value), getattr(value, "denominator", 1)
    try:
        if num is None or den is None or den == 0:
            return None
        result = float(num) / float(den)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def dms_to_degrees(values: list[Any], ref: str | None) -> float | None:
    """Degrees from EXIF [degrees, minutes, seconds] rationals and an N/S/E/W reference; None if invalid."""
    if not 1 <= len(values) <= 3:
        return None
    parts = [rational(v) for v in values]
    if any(p is None or p < 0 for p in parts):
        return None
    degrees = sum(p / 60**i for i, p in enumerate(parts) if p is not None)
    return -degrees if (ref or "").upper().startswith(("S", "W")) else degrees


def valid_position(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    """``(lat, lon)`` when both are finite, in range and not the 0/0 placeholder; else ``(None, None)``."""
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return None, None
    if abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):
        return None, None
    return lat, lon


def gps_from_exif(tags: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """``(lat, lon, alt)`` from the EXIF GPS IFD; None for what is absent or invalid."""
    lat = dms_to_degrees(_values(tags, "GPS GPSLatitude"), _text(tags, "GPS GPSLatitudeRef"))
    lon = dms_to_degrees(_values(tags, "GPS GPSLongitude"), _text(tags, "GPS GPSLongitudeRef"))
    lat, lon = valid_position(lat, lon)
    alt_values = _values(tags, "GPS GPSAltitude")
    alt = rational(alt_values[0]) if len(alt_values) == 1 else None
    if alt is not None:
        below = _values(tags, "GPS GPSAltitudeRef")
        if below and below[0] in (1, b"\x01", "1"):
            alt = -alt
        if abs(alt) > 100_000:  # beyond any camera; a corrupt value
            alt = None
    return lat, lon, alt


_DATETIME = re.compile(r"^\s*(\d{4})[:\-/](\d{1,2})[:\-/](\d{1,2})[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?")


def parse_exif_datetime(text: str | None) -> dt.datetime | None:
    """A naive datetime from "YYYY:MM:DD HH:MM:SS" (also with - or / and T); None when malformed or placeholder."""
    match = _DATETIME.match(text or "")
    if not match:
        return None
    year, month, day, hour, minute = (int(g) for g in match.groups()[:5])
    second = int(match.group(6) or 0)
    try:
        return dt.datetime(year, month, day, hour, minute, min(second, 59))  # camera local time, naive
    except ValueError:
        return None


_OFFSET = re.compile(r"^\s*([+-])([0-9]{2}):?([0-9]{2})\s*$")  # ASCII digits: \d also matches other scripts


def offset_minutes(text: str | None) -> int | None:
    """Minutes east of UTC from "+HH:MM" / "+HHMM"; None when malformed, minutes >= 60 or beyond ±14 h."""
    match = _OFFSET.match(text) if isinstance(text, str) else None
    if not match:
        return None
    hours, minutes = int(match.group(2)), int(match.group(3))
    total = hours * 60 + minutes
    if minutes >= 60 or total > MAX_OFFSET_MINUTES:
        return None
    return -total if match.group(1) == "-" else total


def format_offset(minutes: int) -> str | None:
    """"+HH:MM" for an offset in minutes; None beyond ±14 h."""
    if abs(minutes) > MAX_OFFSET_MINUTES:
        return None
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_utc_offset(text: str | None) -> str | None:
    """Normalise an EXIF OffsetTime* value ("+02:00", "-0530") to "+HH:MM"; None when malformed or out of range."""
    minutes = offset_minutes(text)
    return None if minutes is None else format_offset(minutes)


def offset_from_gps(taken_at: dt.datetime | None, date_stamp: str | None, time_values: list[Any]) -> str | None:
    """UTC offset of ``taken_at`` (local time) against the GPS UTC date and time, rounded to 15 minutes."""
    if taken_at is None or not date_stamp or len(time_values) != 3:
        return None
    match = re.match(r"^\s*(\d{4})[:\-](\d{1,2})[:\-](\d{1,2})", date_stamp)
    hms = [rational(v) for v in time_values]
    if not match or any(v is None or v < 0 for v in hms):
        return None
    try:
        year, month, mday = (int(g) for g in match.groups())
        day = dt.datetime(year, month, mday)  # UTC, compared with the naive local time
        utc = day + dt.timedelta(hours=hms[0] or 0, minutes=hms[1] or 0, seconds=hms[2] or 0)
    except (ValueError, OverflowError):
        return None
    minutes = (taken_at - utc).total_seconds() / 60
    return format_offset(int(round(minutes / 15) * 15))


def time_from_exif(tags: dict[str, Any]) -> tuple[dt.datetime | None, str | None, list[str]]:
    """``(taken_at, utc_offset, problems)`` from the EXIF date/time and offset tags."""
    problems: list[str] = []
    taken_at = None
    original = None
    for name in ("EXIF DateTimeOriginal", "EXIF DateTimeDigitized", "Image DateTime"):
        text = _text(tags, name)
        if not text:
            continue
        value = parse_exif_datetime(text)
        if name == "EXIF DateTimeOriginal":
            original = value
        if value is not None:
            taken_at = value
            break
        if text.strip("0: ") and len(problems) < 3:
            problems.append(f"exif: malformed {name.split()[-1]} {clip(text, 40)!r}")
    offset = None
    for name in ("EXIF OffsetTimeOriginal", "EXIF OffsetTime"):
        text = _text(tags, name)
        if text:
            offset = parse_utc_offset(text)
            if offset is not None:
                break
            problems.append(f"exif: malformed {name.split()[-1]} {clip(text, 40)!r}")
    if offset is None:
        offset = offset_from_gps(original, _text(tags, "GPS GPSDate"), _values(tags, "GPS GPSTimeStamp"))
    return taken_at, offset, problems


# --- IPTC IIM ----------------------------------------------------------------------------------------------------


def jpeg_app_segments(data: bytes, marker: int) -> list[bytes]:
    """Payloads of the JPEG APPn segments with ``marker`` (0xE0..0xEF), read up to the start of scan."""
    if not data.startswith(b"\xff\xd8"):
        return []
    out: list[bytes] = []
    pos = 2
    for _ in range(MAX_JPEG_SEGMENTS):
        if pos + 4 > len(data) or data[pos] != 0xFF:
            break
        kind = data[pos + 1]
        if kind == 0xFF:  # fill byte
            pos += 1
            continue
        if kind in (0xD9, 0xDA):  # end of image, start of scan
            break
        if 0xD0 <= kind <= 0xD7 or kind == 0x01:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            break
        if kind == marker:
            out.append(data[pos + 4 : pos + 2 + length])
        pos += 2 + length
    return out


def photoshop_resources(block: bytes) -> dict[int, bytes]:
    """Photoshop image resources ("8BIM" blocks) by id, from an APP13 payload or a Photoshop TIFF tag."""
    if block.startswith(b"Photoshop 3.0\x00"):
        block = block[14:]
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 12 <= len(block) and len(out) < MAX_ENTRIES:
        if block[pos : pos + 4] not in (b"8BIM", b"MeSa", b"PHUT", b"AgHg", b"DCSR"):
            break
        rid = int.from_bytes(block[pos + 4 : pos + 6], "big")
        name_len = block[pos + 6]
        pos += 6 + ((name_len + 2) & ~1)  # Pascal name padded to even size
        if pos + 4 > len(block):
            break
        size = int.from_bytes(block[pos : pos + 4], "big")
        pos += 4
        out.setdefault(rid, block[pos : pos + size])
        pos += size + (size & 1)
    return out


def iim_datasets(raw: bytes) -> dict[tuple[int, int], list[bytes]]:
    """IPTC IIM datasets ``(record, dataset) -> [values]`` from raw IIM bytes; stops at the first bad marker."""
    out: dict[tuple[int, int], list[bytes]] = {}
    pos = 0
    count = 0
    while pos + 5 <= len(raw) and raw[pos] == 0x1C and count < 4 * MAX_ENTRIES:
        record, dataset = raw[pos + 1], raw[pos + 2]
        size = int.from_bytes(raw[pos + 3 : pos + 5], "big")
        pos += 5
        if size & 0x8000:  # extended dataset: the next n bytes hold the length
            n = size & 0x7FFF
            if n > 4:
                raise ValueError("IPTC extended dataset length too large")
            size = int.from_bytes(raw[pos : pos + n], "big")
            pos += n
        if pos + size > len(raw):
            raise ValueError(f"IPTC dataset {record}:{dataset} runs past the end of the block")
        out.setdefault((record, dataset), []).append(raw[pos : pos + size])
        pos += size
        count += 1
    return out


def iptc_raw(data: bytes, img: Image.Image | None = None) -> dict[tuple[int, int], list[bytes]]:
    """IPTC IIM datasets of a JPEG (APP13) or, through Pillow, of a TIFF; raises ValueError on broken blocks."""
    segments = [s for s in jpeg_app_segments(data, 0xED) if s.startswith(b"Photoshop 3.0\x00")]
    if segments:
        resources = photoshop_resources(segments[0] + b"".join(s[14:] for s in segments[1:]))
        block = resources.get(0x0404)
        return iim_datasets(block) if block else {}
    if isinstance(img, ImageFile.ImageFile) and img.format in ("TIFF", "PSD"):
        from PIL import IptcImagePlugin

        info = IptcImagePlugin.getiptcinfo(img) or {}
        return {k: list(v) if isinstance(v, list) else [v] for k, v in info.items() if isinstance(k, tuple)}
    return {}


def iptc_json(datasets: dict[tuple[int, int], list[bytes]]) -> dict[str, Any]:
    """Datasets keyed "record:dataset", text decoded (UTF-8 or Latin-1), repeated datasets as lists."""
    out: dict[str, Any] = {}
    for (record, dataset), values in list(datasets.items())[:MAX_ENTRIES]:
        decoded = [json_safe(v) if record != 2 or dataset == 0 else clip(decode_text(v)) for v in values]
        out[f"{record}:{dataset}"] = decoded[0] if len(decoded) == 1 else decoded[:MAX_ENTRIES]
    return out


def iptc_location(datasets: dict[tuple[int, int], list[bytes]]) -> dict[str, str]:
    """The IPTC location fields present (non-blank), keyed city, sublocation, province, country_code, country."""
    out: dict[str, str] = {}
    for key, name in IPTC_LOCATION.items():
        values = datasets.get(key)
        text = clip(decode_text(values[0]), 200) if values else ""
        if text:
            out[name] = text
    return out


# --- XMP ---------------------------------------------------------------------------------------------------------

_SKIPPED_XMP = frozenset({"MakerNote", "Thumbnails", "Thumbnail", "JPEGThumbnail", "ImageData"})  # binary blobs
_XMP_STARTS = (b"<x:xmpmeta", b"<x:xapmeta", b"<rdf:RDF")


def xmp_packet(data: bytes, img: Image.Image | None = None) -> bytes | None:
    """The first XMP packet: the one Pillow found (JPEG APP1, PNG iTXt, WebP, TIFF), else scanned from the bytes."""
    info = getattr(img, "info", None) or {}
    found = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(found, str):
        found = found.encode("utf-8")
    if isinstance(found, bytes) and found.strip(b"\x00 \t\r\n"):
        return normalise_packet(found)
    for start_tag in _XMP_STARTS:
        start = data.find(start_tag)
        if start < 0:
            continue
        end_tag = b"</" + start_tag[1:] + b">"
        end = data.find(end_tag, start)
        if end < 0:
            return data[start : start + MAX_XMP_BYTES + 1]  # unterminated: parsed, and reported, as such
        return data[start : end + len(end_tag)]
    return None


def normalise_packet(raw: bytes) -> bytes:
    """UTF-8 XMP bytes from a packet that may be UTF-16 (with or without BOM) and padded with NULs."""
    for marks, codec in (((b"\xfe\xff", b"\x00<"), "utf-16-be"), ((b"\xff\xfe", b"<\x00"), "utf-16-le")):
        if raw.startswith(marks):
            raw = raw[: MAX_XMP_BYTES * 2].decode(codec, "replace").lstrip("\ufeff").encode("utf-8")
            break
    return raw.strip(b"\x00 \t\r\n")


def _namespace_prefixes(packet: bytes) -> dict[str, str]:
    found = re.findall(rb"""xmlns:([A-Za-z_][\w.\-]*)\s*=\s*["']([^"']{1,300})["']""", packet[:MAX_XMP_BYTES])
    prefixes = {uri.decode("utf-8", "replace"): p.decode("ascii", "replace") for p, uri in found[:MAX_ENTRIES]}
    prefixes.update(NS_PREFIXES)
    return prefixes


def _qname(tag: str, prefixes: dict[str, str]) -> str:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return f"{prefixes.get(uri, uri)}:{local}"
    return tag


def _xmp_value(elem: Any, prefixes: dict[str, str], depth: int) -> Any:
    """The value of one XMP property element: text, list (Seq/Bag/Alt) or dict (struct)."""
    if depth > MAX_DEPTH:
        return None
    resource = elem.get(f"{_RDF}resource")
    if resource is not None:
        return clip(resource)
    children = list(elem)
    if not children:
        attrs = _xmp_attributes(elem, prefixes)
        if attrs:  # struct written as attributes on an empty property element
            return attrs
        return clip((elem.text or "").strip())
    first = children[0]
    if first.tag in (f"{_RDF}Seq", f"{_RDF}Bag", f"{_RDF}Alt"):
        return [_xmp_value(li, prefixes, depth + 1) for li in list(first)[:MAX_ENTRIES]]
    if first.tag == f"{_RDF}Description":
        return _xmp_struct(first, prefixes, depth + 1)
    return _xmp_struct(elem, prefixes, depth + 1)  # rdf:parseType="Resource"


def _xmp_attributes(elem: Any, prefixes: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in list(elem.attrib.items())[:MAX_ENTRIES]:
        if key.rpartition("}")[2] in _SKIPPED_XMP:
            continue
        if key.startswith(_RDF) or key.startswith("{http://www.w3.org/XML/1998/namespace}"):
            continue
        out[_qname(key, prefixes)] = clip(value)
    return out


def _xmp_struct(elem: Any, prefixes: dict[str, str], depth: int) -> dict[str, Any]:
    out = _xmp_attributes(elem, prefixes)
    for child in list(elem)[:MAX_ENTRIES]:
        if len(out) >= MAX_ENTRIES:
            break
        name = _qname(child.tag, prefixes)
        if name.rpartition(":")[2] in _SKIPPED_XMP:
            continue
        out[name] = _xmp_value(child, prefixes, depth + 1)
    return out


def parse_xmp(packet: bytes) -> dict[str, Any]:
    """XMP properties flattened to ``{"prefix:Name": value}`` (nested structs as dicts, arrays as lists).

    Parsed with defusedxml only: DTDs, entities and external references raise (``defusedxml`` errors or
    ``ValueError``), as does text that is not XML.
    """
    if len(packet) > MAX_XMP_BYTES:
        raise ValueError(f"XMP packet of {len(packet)} bytes, over the limit of {MAX_XMP_BYTES}")
    prefixes = _namespace_prefixes(packet)
    root = SafeET.fromstring(packet, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    out: dict[str, Any] = {}
    descriptions = [root] if root.tag == f"{_RDF}Description" else list(root.iter(f"{_RDF}Description"))
    seen: set[int] = set()
    for desc in descriptions:
        if id(desc) in seen:
            continue
        for nested in desc.iter(f"{_RDF}Description"):  # nested ones are struct values, read with their parent
            seen.add(id(nested))
        for key, value in _xmp_struct(desc, prefixes, 0).items():
            if len(out) >= MAX_ENTRIES:
                return out
            out.setdefault(key, value)
    return out


def _first(value: Any) -> Any:
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _struct_text(struct: Any, *names: str) -> str:
    if not isinstance(struct, dict):
        return ""
    for name in names:
        value = _first(struct.get(name))
        if isinstance(value, str) and value.strip():
            return clip(value.strip(), 200)
    return ""


def xmp_location(xmp: dict[str, Any]) -> dict[str, str]:
    """Location fields of XMP: photoshop/Iptc4xmpCore first, then the first LocationCreated, then LocationShown."""
    legacy = {
        "city": _struct_text(xmp, "photoshop:City"),
        "sublocation": _struct_text(xmp, "Iptc4xmpCore:Location"),
        "province": _struct_text(xmp, "photoshop:State"),
        "country_code": _struct_text(xmp, "Iptc4xmpCore:CountryCode"),
        "country": _struct_text(xmp, "photoshop:Country"),
    }
    out = {k: v for k, v in legacy.items() if v}
    for prop in ("Iptc4xmpExt:LocationCreated", "Iptc4xmpExt:LocationShown"):
        struct = _first(xmp.get(prop))
        ext = {
            "city": _struct_text(struct, "Iptc4xmpExt:City"),
            "sublocation": _struct_text(struct, "Iptc4xmpExt:Sublocation"),
            "province": _struct_text(struct, "Iptc4xmpExt:ProvinceState"),
            "country_code": _struct_text(struct, "Iptc4xmpExt:CountryCode"),
            "country": _struct_text(struct, "Iptc4xmpExt:CountryName"),
        }
        for key, value in ext.items():
            if value:
                out.setdefault(key, value)
    return out


_XMP_COORD = re.compile(r"^\s*(\d{1,3})(?:,(\d{1,2}(?:\.\d+)?))?(?:,(\d{1,2}(?:\.\d+)?))?\s*([NSEWnsew])\s*$")


def parse_xmp_coordinate(text: str | None) -> float | None:
    """Degrees from an XMP GPS coordinate "DDD,MM,SSk" or "DDD,MM.mmk" (k = N/S/E/W), or a signed decimal."""
    if not text:
        return None
    match = _XMP_COORD.match(text)
    if match:
        deg, minutes, seconds, ref = match.groups()
        if float(minutes or 0) >= 60 or float(seconds or 0) >= 60:
            return None
        value = int(deg) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
        return -value if ref.upper() in ("S", "W") else value
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def merge_location(iptc: dict[str, str], xmp: dict[str, str]) -> dict[str, str] | None:
    """IPTC fields overridden by XMP ones (MWG: XMP wins when both are there); ``source`` names the leading one."""
    if not iptc and not xmp:
        return None
    merged = {k: v for k, v in {**iptc, **xmp}.items() if k in LOCATION_KEYS}
    merged["source"] = "xmp" if xmp else "iptc"
    return merged


# --- everything --------------------------------------------------------------------------------------------------


def _problem(kind: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return clip(f"{kind}: {type(exc).__name__}{': ' + text if text else ''}", 200)


def read_metadata(data: bytes, img: Image.Image | None = None) -> Metadata:
    """EXIF, IPTC and XMP of ``data`` (``img``, when given, is the same bytes opened by Pillow). Never raises."""
    errors: list[str] = []
    exif_raw: dict[str, Any] = {}
    exif = iptc = xmp = None
    lat = lon = alt = None
    taken_at = utc_offset = None
    try:
        exif_raw = exif_tags(data)
        exif = exif_json(exif_raw) or None
        lat, lon, alt = gps_from_exif(exif_raw)
        taken_at, utc_offset, problems = time_from_exif(exif_raw)
        errors.extend(problems)
        if exif_raw.get("GPS GPSLatitude") and lat is None:
            errors.append("exif: invalid GPS position")
    except Exception as exc:  # exifread raises many kinds on malformed files
        log.debug("EXIF not readable", exc_info=True)
        errors.append(_problem("exif", exc))
    try:
        errors.extend(exif_problems(data))
    except Exception as exc:  # a guard: the checks index a bytes object only
        errors.append(_problem("exif", exc))

    iptc_loc: dict[str, str] = {}
    try:
        datasets = iptc_raw(data, img)
        iptc = iptc_json(datasets) or None
        iptc_loc = iptc_location(datasets)
    except Exception as exc:
        errors.append(_problem("iptc", exc))

    xmp_loc: dict[str, str] = {}
    try:
        packet = xmp_packet(data, img)
        if packet is not None:
            xmp = json_safe(parse_xmp(packet)) or None
    except Exception as exc:  # defusedxml's DTDForbidden/EntitiesForbidden, ParseError, ValueError
        errors.append(_problem("xmp", exc))
    if xmp:
        xmp_loc = xmp_location(xmp)
        if lat is None and lon is None and "exif:GPSLatitude" in xmp:
            lat, lon = valid_position(parse_xmp_coordinate(_first(xmp.get("exif:GPSLatitude"))),
                                      parse_xmp_coordinate(_first(xmp.get("exif:GPSLongitude"))))
            if lat is None:
                errors.append("xmp: invalid GPS position")

    return Metadata(
        exif=exif, iptc=iptc, xmp=xmp, gps_lat=lat, gps_lon=lon, gps_alt=alt, taken_at=taken_at,
        utc_offset=utc_offset, location=merge_location(iptc_loc, xmp_loc), field_errors=tuple(errors),
    )
