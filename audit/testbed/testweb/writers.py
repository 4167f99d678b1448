"""Writers for the embedded metadata of test-web images: EXIF (through Pillow), XMP packets and IPTC IIM (APP13).

The IPTC writer is small on purpose: one Photoshop "8BIM" resource 0x0404 holding IIM records 1:90 (UTF-8),
2:00 (record version), 2:90 city, 2:95 province/state, 2:100 country code (ISO alpha-3) and 2:101 country name.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from xml.sax.saxutils import quoteattr

from PIL import Image, TiffImagePlugin

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
TAG_MAKE, TAG_MODEL, TAG_SOFTWARE, TAG_DATETIME = 0x010F, 0x0110, 0x0131, 0x0132
TAG_DATETIME_ORIGINAL, TAG_OFFSET_TIME_ORIGINAL = 0x9003, 0x9011


def _dms(value: float) -> tuple[TiffImagePlugin.IFDRational, ...]:
    value = abs(value)
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = Fraction(round((value - deg - minutes / 60) * 3600 * 10_000), 10_000)
    return (TiffImagePlugin.IFDRational(deg, 1), TiffImagePlugin.IFDRational(minutes, 1),
            TiffImagePlugin.IFDRational(seconds.numerator, seconds.denominator))


def build_exif(*, make: str | None, model: str | None, taken_at: str | None, offset: str | None,
               gps: tuple[float, float] | None) -> Image.Exif:
    """An EXIF block with IFD0 Make/Model, Exif IFD DateTimeOriginal/OffsetTimeOriginal and a GPS IFD."""
    exif = Image.Exif()
    if make and model:
        exif[TAG_MAKE] = make
        exif[TAG_MODEL] = model
    if taken_at:
        exif[TAG_DATETIME] = taken_at
        sub = exif.get_ifd(EXIF_IFD)
        sub[TAG_DATETIME_ORIGINAL] = taken_at
        if offset:
            sub[TAG_OFFSET_TIME_ORIGINAL] = offset
    if gps is not None:
        lat, lon = gps
        g = exif.get_ifd(GPS_IFD)
        g[0] = b"\x02\x02\x00\x00"
        g[1] = "N" if lat >= 0 else "S"
        g[2] = _dms(lat)
        g[3] = "E" if lon >= 0 else "W"
        g[4] = _dms(lon)
    return exif


def xmp_packet(*, city: str, state: str, country: str, country_code: str) -> bytes:
    """An XMP packet with the photoshop/Iptc4xmpCore location properties."""
    attrs = " ".join(
        f"{k}={quoteattr(v)}"
        for k, v in (("photoshop:City", city), ("photoshop:State", state), ("photoshop:Country", country),
                     ("Iptc4xmpCore:CountryCode", country_code))
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"\n'
        '    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"\n'
        f"    {attrs}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def _dataset(record: int, number: int, value: bytes) -> bytes:
    return struct.pack(">BBBH", 0x1C, record, number, len(value)) + value


def iptc_app13(*, city: str, province: str, country_code3: str, country: str) -> bytes:
    """A complete JPEG APP13 segment ("Photoshop 3.0", 8BIM 0x0404) carrying IPTC IIM location datasets."""
    iim = (
        _dataset(1, 90, b"\x1b%G")  # coded character set: UTF-8
        + _dataset(2, 0, b"\x00\x04")
        + _dataset(2, 90, city.encode("utf-8"))
        + _dataset(2, 95, province.encode("utf-8"))
        + _dataset(2, 100, country_code3.encode("ascii"))
        + _dataset(2, 101, country.encode("utf-8"))
    )
    if len(iim) % 2:
        iim += b"\x00"  # resource data is padded to an even length
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def insert_app_segment(jpeg: bytes, segment: bytes) -> bytes:
    """Insert a complete APPn segment after the existing APPn segments of a JPEG stream."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream")
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        pos += 2 + length
    return jpeg[:pos] + segment + jpeg[pos:]
