"""Perceptual fingerprints of an image: pHash and dHash, and the same of its left-right mirror.

The hashes follow ``imagehash.phash`` / ``imagehash.dhash`` (8x8 bits, first row first, most significant bit first), so
``fingerprint(img).phash == int(str(imagehash.phash(img)), 16)`` up to a few bits. They are computed faster than
imagehash does: JPEGs are decoded at a reduced scale straight to greyscale (``Image.draft``), other formats are
shrunk with ``Image.reduce``, the small greyscale image is resized once per hash size and the DCT and differences are
computed with numpy/scipy. The mirrored hashes come from the already-reduced arrays, at almost no cost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.fft
from PIL import Image

log = logging.getLogger(__name__)

HASH_SIZE = 8
PHASH_SIDE = HASH_SIZE * 4  # imagehash's highfreq_factor=4: the DCT runs on a 32x32 greyscale image
# The reduced image handed to the resizes keeps at least this many pixels a side (when the original has them), so
# the final Lanczos filter still sees several source pixels per output pixel.
MIN_REDUCED_SIDE = 128
_REDUCE_FIRST_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "I", "F"})


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """64-bit unsigned hashes of an image and of its left-right mirror."""

    phash: int
    dhash: int
    phash_mirror: int
    dhash_mirror: int


def bits_to_int(bits: np.ndarray) -> int:
    """Pack a boolean array into an unsigned int, first element as most significant bit (imagehash's hex order)."""
    value = 0
    for bit in bits.ravel():
        value = (value << 1) | int(bool(bit))
    return value


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


def reduced_grey(img: Image.Image, min_side: int = MIN_REDUCED_SIDE) -> Image.Image:
    """A small greyscale ("L") version of ``img``, at least ``min_side`` pixels a side when the image has them.

    JPEG: reduced decoding by the DCT scale (1/2 .. 1/8) set with ``draft`` (call it on a freshly opened image: once
    pixels are loaded draft has no effect). Other formats: full decode, then ``Image.reduce`` by an integer factor.
    """
    width, height = img.size
    if img.format in ("JPEG", "MPO"):
        wanted = (max(width // 8, min(width, min_side)), max(height // 8, min(height, min_side)))
        img.draft("L", wanted)
    factor = max(1, min(img.size[0] // min_side, img.size[1] // min_side))
    if img.mode in _REDUCE_FIRST_MODES:
        small = img.reduce(factor) if factor > 1 else img
        return small.convert("L") if small.mode != "L" else small
    grey = img.convert("L")
    return grey.reduce(factor) if factor > 1 else grey


def _phash_bits(pixels: np.ndarray) -> int:
    dct = scipy.fft.dct(scipy.fft.dct(pixels, axis=0), axis=1)
    low = dct[:HASH_SIZE, :HASH_SIZE]
    return bits_to_int(low > np.median(low))


def _dhash_bits(pixels: np.ndarray) -> int:
    return bits_to_int(pixels[:, 1:] > pixels[:, :-1])


def fingerprint(img: Image.Image) -> Fingerprint:
    """pHash, dHash and their mirrored versions of ``img`` (decodes the pixels; may set a JPEG draft mode)."""
    small = reduced_grey(img)
    p = np.asarray(small.resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    d = np.asarray(small.resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.LANCZOS), dtype=np.int16)
    return Fingerprint(
        phash=_phash_bits(p),
        dhash=_dhash_bits(d),
        phash_mirror=_phash_bits(p[:, ::-1]),
        dhash_mirror=_dhash_bits(d[:, ::-1]),
    )


def reference_fingerprint(img: Image.Image) -> Fingerprint:
    """The same four hashes computed by plain ``imagehash`` on the full image (slow; for checks and benchmarks)."""
    import imagehash
    from PIL import ImageOps

    mirrored = ImageOps.mirror(img)
    return Fingerprint(
        phash=int(str(imagehash.phash(img)), 16),
        dhash=int(str(imagehash.dhash(img)), 16),
        phash_mirror=int(str(imagehash.phash(mirrored)), 16),
        dhash_mirror=int(str(imagehash.dhash(mirrored)), 16),
    )
