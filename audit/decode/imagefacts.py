"""What the store records about one image's bytes: digest, format, size, fingerprints and embedded metadata.

``analyse_image`` never raises for bad data: a file that is not a readable image keeps its digest and size, ``error``
says why, and whatever metadata could be read is kept. Pixels are decoded only when the image has at most
``max_pixels`` of them (the caller's bound against decompression bombs; Pillow's own warning is silenced).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from typing import Any

from PIL import Image

from audit.decode.fingerprint import fingerprint
from audit.decode.formats import FormatNotDecoded, open_image
from audit.decode.metadata import Metadata, clip, read_metadata
from audit.records import ImageRecord
from audit.settings import DEFAULTS

log = logging.getLogger(__name__)

# Pillow decodes only the formats of audit.decode.formats (its import registers them and no other).
# Pixels are bounded by ``max_pixels`` before decoding, so Pillow's warning is noise. A module-level filter (not
# ``catch_warnings``, which is not thread-safe) keeps it quiet for the analysis threads. Pillow's own hard limit
# stays: its plugins also check the sizes of sub-images (ICNS, ICO) that ``max_pixels`` cannot see.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _message(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", str(exc)).strip()
    return clip(text.splitlines()[0] if text else type(exc).__name__, 300)


def _size(img: Image.Image) -> tuple[int, int]:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid size {width}×{height}")
    return width, height


def analyse_image(data: bytes, *, max_pixels: int = int(DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"])) -> ImageRecord:
    """The ``ImageRecord`` of ``data``: sha256 and size always; format, size, hashes and metadata when readable.
    Only the formats of :mod:`audit.decode.formats` are decoded, chosen by the bytes: any other gives the error
    ``format not decoded: <what the bytes are>``."""
    base: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    img: Image.Image | None = None
    error: str | None = None
    try:
        img = open_image(data)
        base["format"] = img.format
        base["width"], base["height"] = _size(img)
    except FormatNotDecoded as exc:  # another format by its bytes (PostScript, PDF...): no decoder sees it
        error = str(exc)
    except Image.DecompressionBombError as exc:  # over Pillow's own hard limit (twice MAX_IMAGE_PIXELS)
        found = re.search(r"\((\d+) pixels\)", str(exc))
        error = f"image has {found.group(1) if found else 'too many'} pixels, over the limit of {max_pixels}"
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, ValueError, struct.error...)
        error = f"not a readable image: {_message(exc)}"
        img = None if "width" not in base else img

    meta = _metadata(data, img)
    if img is not None and error is None:
        width, height = base["width"], base["height"]
        if width * height > max_pixels:
            error = f"image has {width}×{height} pixels, over the limit of {max_pixels}"
        else:
            try:
                fp = fingerprint(img)
                base.update(phash=fp.phash, dhash=fp.dhash, phash_mirror=fp.phash_mirror,
                            dhash_mirror=fp.dhash_mirror)
            except Exception as exc:  # truncated data, unsupported mode or codec, decoder errors
                error = f"not a readable image: {_message(exc)}"
    if img is not None:
        try:
            img.close()
        except Exception:  # closing a half-read file must not hide the record
            log.debug("closing image failed", exc_info=True)
    return ImageRecord(
        **base, exif=meta.exif, iptc=meta.iptc, xmp=meta.xmp, gps_lat=meta.gps_lat, gps_lon=meta.gps_lon,
        gps_alt=meta.gps_alt, taken_at=meta.taken_at, utc_offset=meta.utc_offset, location=meta.location,
        c2pa=_c2pa(data), error=error, field_errors=meta.field_errors,
    )


C2PA_MARKERS = (b"c2pa", b"jumb")  # a JUMBF box labelled c2pa: nothing to read without one
MAX_C2PA_JSON = 256 * 1024


def _c2pa(data: bytes) -> dict[str, Any] | None:
    """The embedded C2PA manifest store, read offline, when the bytes hold a JUMBF box; None otherwise (or when it
    is larger than we keep)."""
    if not all(marker in data for marker in C2PA_MARKERS):
        return None
    from audit.decode.c2pa import read_manifest

    manifest = read_manifest(data)
    if manifest is not None and len(json.dumps(manifest, default=str)) > MAX_C2PA_JSON:
        log.info("C2PA manifest over %d bytes of JSON: not kept", MAX_C2PA_JSON)
        return None
    return manifest


def _metadata(data: bytes, img: Image.Image | None) -> Metadata:
    try:
        return read_metadata(data, img)
    except Exception as exc:  # read_metadata catches per field; this is a last guard
        log.warning("metadata reading failed: %s", exc)
        return Metadata(field_errors=(f"metadata: {_message(exc)}",))
