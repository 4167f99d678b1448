"""Which image formats the tool decodes, decided by a file's first bytes, and the one way it opens an image.

A crawled file's bytes are hostile and its declared type means nothing. Pillow, left to itself, tries every plugin it
has on whatever it is given: PostScript/EPS goes to Ghostscript (an interpreter that can read and write files and
loop forever), PDF, FITS, ICNS, IPTC (which accepts any bytes at all) and some thirty other decoders nobody audits
for the web. So Pillow here knows only :data:`DECODED`, the formats a web photo crawler meets:

- JPEG (and MPO, the multi-picture JPEG of 3D and phone cameras), PNG, GIF, WebP, AVIF (Pillow's libavif plugin)
  and HEIF/HEIC (pillow-heif): what browsers and phones serve;
- TIFF: camera originals and the raw formats built on it (DNG, NEF, CR2...);
- BMP and ICO: still served by old sites and as favicons; plain parsers, no external library;
- PPM (Netpbm PBM/PGM/PPM): raw pixels behind a text header, common in image data sets the tool ingests.

Left out on purpose: EPS/PostScript and PDF (need an interpreter), JPEG 2000 (openjpeg: not a web format, a long
record of decoder bugs), PSD, ICNS, DDS, FITS, SGI, PCX, TGA, WMF and the rest of Pillow's list.

:func:`install` (run when this module is imported) registers exactly those plugins with Pillow and nothing else:
``Image.OPEN``/``Image.ID`` hold only :data:`DECODED` formats, ``Image.init()`` cannot import the others back
(Pillow's plugin list is cut to ours and it counts as initialised), and a plugin module that anything imports later
(``from PIL import EpsImagePlugin``, Pillow importing a plugin for a file extension, another library) registers no
opener: Pillow's ``register_open`` drops formats outside the list. :func:`open_image` then chooses the format from
the bytes (:func:`identify`) and passes it to ``Image.open(formats=...)``: a file whose bytes are another format is
refused before any decoder sees it, with :class:`FormatNotDecoded` (``format not decoded: PostScript``).
"""

from __future__ import annotations

import importlib
import io
import logging
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

# Pillow format name -> the module that provides it (importing it registers the format).
DECODED: dict[str, str] = {
    "JPEG": "PIL.JpegImagePlugin",
    "MPO": "PIL.MpoImagePlugin",  # opened through the JPEG opener when the file has an MP index
    "PNG": "PIL.PngImagePlugin",
    "GIF": "PIL.GifImagePlugin",
    "WEBP": "PIL.WebPImagePlugin",
    "AVIF": "PIL.AvifImagePlugin",
    "HEIF": "pillow_heif",
    "TIFF": "PIL.TiffImagePlugin",
    "BMP": "PIL.BmpImagePlugin",
    "ICO": "PIL.IcoImagePlugin",
    "PPM": "PIL.PpmImagePlugin",
}
HEAD_BYTES = 64  # what :func:`identify` looks at


class FormatNotDecoded(UnidentifiedImageError):
    """The bytes are a known format the tool does not decode; ``str()`` is the one-line error recorded."""

    def __init__(self, name: str) -> None:
        super().__init__(f"format not decoded: {name}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Kind:
    """What a file's first bytes say it is: ``name`` for messages, ``formats`` the Pillow formats to try, in order
    (empty: a format the tool does not decode)."""

    name: str
    formats: tuple[str, ...] = ()

    @property
    def decoded(self) -> bool:
        return bool(self.formats)


# --- identification by the bytes ----------------------------------------------------------------------------------

_TIFF = (b"MM\x00\x2a", b"II\x2a\x00", b"MM\x2a\x00", b"II\x00\x2a", b"MM\x00\x2b", b"II\x2b\x00")  # as Pillow's
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_CONTAINER_BRANDS = frozenset({b"mif1", b"msf1"})  # HEIF containers: HEVC (pillow-heif) or AV1 (Pillow) inside

# Image and document formats recognised only to be refused by name (first match wins; the decoded formats are checked
# before these). Bytes of no image format at all (HTML, archives, media...) stay "cannot identify image file".
_REFUSED: tuple[tuple[bytes, str], ...] = (
    (b"%!PS", "PostScript"),
    (b"\xc5\xd0\xd3\xc6", "PostScript (DOS EPS binary)"),
    (b"%!", "PostScript"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000 codestream"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\xff\x0a", "JPEG XL codestream"),
    (b"II\xbc", "JPEG XR"),
    (b"8BPS", "Photoshop (PSD)"),
    (b"icns", "Apple icon (ICNS)"),
    (b"DDS ", "DirectDraw surface (DDS)"),
    (b"BLP1", "BLP"),
    (b"BLP2", "BLP"),
    (b"qoif", "QOI"),
    (b"SIMPLE  =", "FITS"),
    (b"\x01\xda", "SGI image"),
    (b"\x59\xa6\x6a\x95", "Sun raster"),
    (b"\xd7\xcd\xc6\x9a", "Windows metafile (WMF)"),
    (b"\x00\x00\x02\x00", "Windows cursor (CUR)"),
    (b"\xb1\x68\xde\x3a", "DCX"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE compound file (FlashPix, MIC, Office)"),
    (b"\x89HDF\r\n\x1a\n", "HDF5"),
    (b"GRIB", "GRIB"),
    (b"BUFR", "BUFR"),
    (b"gimp xcf", "GIMP (XCF)"),
    (b"/* XPM */", "XPM"),
    (b"#define", "XBM"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
    (b"#?RADIANCE", "Radiance HDR"),
    (b"#?RGBE", "Radiance HDR"),
    (b"IIRO", "Olympus raw (ORF)"),
    (b"IIU\x00", "Panasonic raw (RW2)"),
    (b"FUJIFILMCCD-RAW", "Fujifilm raw (RAF)"),
    (b"AT&TFORM", "DjVu"),
)


def _iso_media(head: bytes) -> Kind | None:
    """An ISO base media file (``....ftyp``): HEIF or AVIF by its brands, a Canon CR3 (refused), or no image."""
    size = struct.unpack(">I", head[:4])[0]
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major in _AVIF_BRANDS:
        return Kind("AVIF", ("AVIF",))
    if major in _HEIF_BRANDS:
        return Kind("HEIF", ("HEIF",))
    if major in _CONTAINER_BRANDS:
        return Kind("AVIF", ("AVIF", "HEIF")) if brands & _AVIF_BRANDS else Kind("HEIF", ("HEIF", "AVIF"))
    if major == b"crx ":
        return Kind("Canon raw (CR3)")
    return None  # MP4, QuickTime...: no image


def sniff_image(head: bytes) -> bool:
    """Whether ``head`` (a payload's first bytes) starts like an image of a format the tool decodes, whatever the
    ``Content-Type`` said (an icon served as ``application/octet-stream`` is still an icon)."""
    kind = identify(head)
    return kind is not None and kind.decoded


def identify(head: bytes) -> Kind | None:
    """What ``head`` (a file's first bytes, :data:`HEAD_BYTES` of them is enough) is: a :class:`Kind` whose
    ``formats`` say which decoders may open it (empty for a known format the tool does not decode), or None when
    the bytes are no format known here."""
    if head.startswith(b"\xff\xd8\xff"):
        return Kind("JPEG", ("JPEG",))
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind("PNG", ("PNG",))
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Kind("GIF", ("GIF",))
    if head[:4] == b"RIFF" and len(head) >= 12:
        if head[8:12] == b"WEBP":
            return Kind("WebP", ("WEBP",))
        return None  # AVI, WAV...: no image
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(_TIFF):
        return Kind("TIFF", ("TIFF",))
    if head.startswith(b"BM"):
        return Kind("BMP", ("BMP",))
    if head.startswith(b"\x00\x00\x01\x00"):
        return Kind("ICO", ("ICO",))
    if len(head) >= 3 and head[0:1] == b"P" and head[1] in b"123456f" and head[2] in b" \t\r\n":
        return Kind("Netpbm", ("PPM",))
    for magic, name in _REFUSED:
        if head.startswith(magic):
            return Kind(name)
    if len(head) >= 2 and head[0] == 10 and head[1] in (0, 2, 3, 5):
        return Kind("PCX")
    if len(head) >= 16 and struct.unpack("<H", head[4:6])[0] in (0xAF11, 0xAF12):
        return Kind("FLI animation")
    if head[:4] == b"FORM" and head[8:12] in (b"ILBM", b"PBM "):
        return Kind("IFF image")
    if len(head) >= 44 and head[:4] == b"\x01\x00\x00\x00" and head[40:44] == b" EMF":
        return Kind("Windows enhanced metafile (EMF)")
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return Kind("SVG")
    return None


# --- Pillow's registry --------------------------------------------------------------------------------------------

_lock = threading.Lock()
_installed = False
_pillow_register_open: Callable[..., None] | None = None


def _register_open_if_decoded(id: str, factory: Any, accept: Any = None) -> None:  # noqa: A002 - Pillow's name
    """Pillow's ``register_open``, for the formats of :data:`DECODED` only: any other plugin imported later (by
    anything) registers no opener."""
    if id.upper() not in DECODED:
        log.debug("image format %s not registered: not in the decoded formats", id)
        return
    assert _pillow_register_open is not None
    _pillow_register_open(id, factory, accept)


def _purge() -> None:
    """Forget every format outside :data:`DECODED` in Pillow's registries."""
    for name in [n for n in Image.OPEN if n not in DECODED]:
        del Image.OPEN[name]
    Image.ID[:] = [n for n in Image.ID if n in DECODED]
    for registry in (Image.SAVE, Image.SAVE_ALL, Image.MIME):
        for name in [n for n in registry if n not in DECODED]:
            del registry[name]
    for ext in [e for e, n in Image.EXTENSION.items() if n not in DECODED]:
        del Image.EXTENSION[ext]


def install() -> None:
    """Register the :data:`DECODED` formats with Pillow and no other, for good (see the module doc). Idempotent
    and cheap after the first call."""
    global _installed, _pillow_register_open
    if _installed:
        return
    with _lock:
        if _installed:
            return
        if Image.register_open is not _register_open_if_decoded:
            _pillow_register_open = Image.register_open
            Image.register_open = _register_open_if_decoded
        for module in sorted(set(DECODED.values())):
            importlib.import_module(module)
        import pillow_heif

        pillow_heif.register_heif_opener()
        plugins = {m.removeprefix("PIL.") for m in DECODED.values() if m.startswith("PIL.")}
        Image._plugins[:] = [p for p in Image._plugins if p in plugins]  # what Image.init() would import
        Image._initialized = 2  # Image.init() and preinit() do nothing from now on
        _purge()
        _installed = True


def registered() -> frozenset[str]:
    """The formats Pillow can open now (a check for tests and ``provaudit``'s own self-test)."""
    return frozenset(Image.OPEN)


def open_image(source: bytes | IO[bytes]) -> Image.Image:
    """``Image.open`` of ``source`` (bytes, or a binary file positioned anywhere: it is read from its start) with
    the format chosen from its first bytes. Raises :class:`FormatNotDecoded` for a known format the tool does not
    decode, ``UnidentifiedImageError("cannot identify image file")`` for bytes of no known format, and whatever
    Pillow raises for a broken file of a decoded format. Never hands the bytes to a decoder outside
    :data:`DECODED`."""
    install()
    if not DECODED.keys() >= Image.OPEN.keys():  # something wrote to Pillow's registry directly
        _purge()
    fp: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    fp.seek(0)
    head = fp.read(HEAD_BYTES)
    fp.seek(0)
    kind = identify(head)
    if kind is None:
        raise UnidentifiedImageError("cannot identify image file")
    if not kind.decoded:
        raise FormatNotDecoded(kind.name)
    return Image.open(fp, formats=list(kind.formats))


install()
