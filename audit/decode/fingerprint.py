"""Perceptual fingerprints of an image: pHash and dHash, and the same of its left-right mirror.

The hashes follow ``imagehash.phash`` / ``imagehash.dhash`` (8x8 bits, first row first, most significant bit first), so
``fingerprint(img).phash == int(str(imagehash.phash(img)), 16)`` up to a few bits. They are computed faster than
imagehash does: JPEGs are decoded at a reduced scale straight to greyscale (``Image.draft``), other formats are
shrunk with ``Image.reduce``, the small greyscale image is resized once per hash size and the DCT and differences are
computed with numpy (the DCT as a product with a precomputed cosine matrix: SciPy's FFT costs more to import than
every hash of a photo). The mirrored hashes come from the already-reduced arrays, at almost no cost.

Speed without changing a bit: for reduced sizes seen repeatedly (a batch of photos from one camera), Pillow's Lanczos
resize is replayed as two float64 matrix products with Pillow's own fixed-point coefficients and rounding (exact: all
intermediate values are integers below 2**53). Each such plan is checked against Pillow on random pixels when it is
built, and is not used when it differs, so ``fingerprint`` returns exactly what Pillow's resize would give.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile

log = logging.getLogger(__name__)

HASH_SIZE = 8
PHASH_SIDE = HASH_SIZE * 4  # imagehash's highfreq_factor=4: the DCT runs on a 32x32 greyscale image
# The reduced image handed to the resizes keeps at least this many pixels a side (when the original has them), so
# the final Lanczos filter still sees several source pixels per output pixel.
MIN_REDUCED_SIDE = 128
# Bytes handed to the decoder per call: a photo in one call rather than Pillow's 64 kB blocks (each block is a
# return to Python and, for JPEG, a suspended and resumed decode; one call decodes a 270 kB photo ~2% faster).
DECODE_BLOCK = 1 << 20
_REDUCE_FIRST_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "I", "F"})
_PHASH_SIZE = (PHASH_SIDE, PHASH_SIDE)
_DHASH_SIZE = (HASH_SIZE + 1, HASH_SIZE)
_LANCZOS = Image.Resampling.LANCZOS
# scipy.fft.dct's unnormalised type II: y[k] = 2 * sum_n x[n] * cos(pi * k * (2n + 1) / (2N)), only its low rows
_DCT_LOW = 2.0 * np.cos(np.pi * np.arange(HASH_SIZE)[:, None] * (2 * np.arange(PHASH_SIDE)[None, :] + 1)
                        / (2 * PHASH_SIDE))
# Coefficients are rounded to this many decimals before the median: values equal in exact arithmetic (every AC
# coefficient of a flat image, mirror-symmetric patterns) then compare equal on every machine and BLAS, instead of by
# their last bits of rounding noise. A real photo's coefficients are far apart, so no bit of its hash moves.
_DCT_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """64-bit unsigned hashes of an image and of its left-right mirror."""

    phash: int
    dhash: int
    phash_mirror: int
    dhash_mirror: int


def bits_to_int(bits: np.ndarray) -> int:
    """Pack a boolean array into an unsigned int, first element as most significant bit (imagehash's hex order)."""
    flat = np.asarray(bits, dtype=bool).ravel()
    if flat.size == 0:
        return 0
    pad = (-flat.size) % 8  # packbits pads the last byte with zeros on the right: shift them out
    return int.from_bytes(np.packbits(flat).tobytes(), "big") >> pad


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
    if isinstance(img, ImageFile.ImageFile):
        img.decodermaxblock = max(img.decodermaxblock, DECODE_BLOCK)
    factor = max(1, min(img.size[0] // min_side, img.size[1] // min_side))
    if img.mode in _REDUCE_FIRST_MODES:
        small = img.reduce(factor) if factor > 1 else img
        return small.convert("L") if small.mode != "L" else small
    grey = img.convert("L")
    return grey.reduce(factor) if factor > 1 else grey


# --- Pillow's Lanczos resize of an "L" image as matrix products --------------------------------------------------
# Pillow (libImaging/Resample.c) computes per output pixel the normalised Lanczos weights in double precision, turns
# them into fixed point with PRECISION_BITS = 22, accumulates pixel*weight in integers starting from 2**21, shifts
# right by 22 and clips to 0..255; one pass per axis, the intermediate image rounded to uint8. Replaying this with
# float64 matrices is exact: |sum| < 255 * 2 * 2**22 * taps, far below 2**53.

_PRECISION_BITS = 22
_HALF = float(1 << (_PRECISION_BITS - 1))
_SCALE = 1.0 / (1 << _PRECISION_BITS)
_PLAN_AFTER = 3  # build a plan for a reduced size once it has been seen this many times
_MAX_PLANS = 512


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


def _pillow_weights(in_size: int, out_size: int) -> np.ndarray:
    """The (in_size, out_size) matrix of Pillow's fixed-point Lanczos weights (same double arithmetic, same order)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    ss = 1.0 / filterscale
    weights = np.zeros((in_size, out_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        ws = [_lanczos((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        ww = 0.0
        for w in ws:
            ww += w
        for x, w in enumerate(ws):
            k = w / ww if ww != 0.0 else w
            weights[x + xmin, xx] = int(-0.5 + k * (1 << _PRECISION_BITS)) if k < 0 else int(
                0.5 + k * (1 << _PRECISION_BITS))
    return weights


# OpenBLAS runs a matrix product on all cores once m*n*k reaches 65536 * 4; for products this small its threads cost
# far more than they save (milliseconds when the cores are busy, e.g. in a process pool), so split the products below.
_SINGLE_THREAD_MNK = 65536 * 4 - 1


def _product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` in blocks small enough for OpenBLAS to run each on the calling thread."""
    m, k = left.shape
    n = right.shape[1]
    if m * n * k <= _SINGLE_THREAD_MNK:
        return left @ right
    out = np.empty((m, n))
    if m >= n:
        step = max(1, _SINGLE_THREAD_MNK // (n * k))
        for i in range(0, m, step):
            np.matmul(left[i:i + step], right, out=out[i:i + step])
    else:
        step = max(1, _SINGLE_THREAD_MNK // (m * k))
        for i in range(0, n, step):
            np.matmul(left, right[:, i:i + step], out=out[:, i:i + step])
    return out


def _round_clip(acc: np.ndarray) -> np.ndarray:
    acc += _HALF
    acc *= _SCALE
    np.floor(acc, out=acc)
    return np.clip(acc, 0.0, 255.0, out=acc)


_GROUP = 8  # output pixels per band: each band's product only reads the input rows/columns its weights touch


def _bands(weights: np.ndarray) -> list[tuple[int, int, int, int, np.ndarray]]:
    """Split an (in, out) weight matrix into bands (out_lo, out_hi, in_lo, in_hi, weights[in_lo:in_hi, out_lo:out_hi])
    holding all its non-zero weights: the Lanczos support is narrow, so the bands skip most of the zeros."""
    bands = []
    for lo in range(0, weights.shape[1], _GROUP):
        hi = min(lo + _GROUP, weights.shape[1])
        rows = np.flatnonzero(weights[:, lo:hi].any(axis=1))
        first, last = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 1)
        bands.append((lo, hi, first, last, np.ascontiguousarray(weights[first:last, lo:hi])))
    return bands


@dataclass(frozen=True, slots=True)
class _Pass:
    """One output size: banded horizontal and vertical weights (None: no pass on that axis), which axis first."""

    width: int
    height: int
    horizontal: list[tuple[int, int, int, int, np.ndarray]] | None
    vertical: list[tuple[int, int, int, int, np.ndarray]] | None
    horizontal_first: bool

    def _horizontal(self, pixels: np.ndarray, bands: list[tuple[int, int, int, int, np.ndarray]]) -> np.ndarray:
        out = np.empty((pixels.shape[0], self.width))
        for lo, hi, first, last, w in bands:
            out[:, lo:hi] = _product(pixels[:, first:last], w)
        return _round_clip(out)

    def _vertical(self, pixels: np.ndarray, bands: list[tuple[int, int, int, int, np.ndarray]]) -> np.ndarray:
        out = np.empty((self.height, pixels.shape[1]))
        for lo, hi, first, last, w in bands:
            out[lo:hi] = _product(w.T, pixels[first:last])
        return _round_clip(out)

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        out = pixels
        if self.horizontal_first:
            if self.horizontal is not None:
                out = self._horizontal(out, self.horizontal)
            if self.vertical is not None:
                out = self._vertical(out, self.vertical)
        else:
            if self.vertical is not None:
                out = self._vertical(out, self.vertical)
            if self.horizontal is not None:
                out = self._horizontal(out, self.horizontal)
        return out


def _build_pass(width: int, height: int, size: tuple[int, int], probes: list[np.ndarray]) -> _Pass | None:
    """The pass resizing ``width`` x ``height`` to ``size`` that matches Pillow on ``probes``; None if none does."""
    horizontal = _bands(_pillow_weights(width, size[0])) if width != size[0] else None
    vertical = _bands(_pillow_weights(height, size[1])) if height != size[1] else None
    expected = [np.asarray(Image.fromarray(p, "L").resize(size, _LANCZOS)) for p in probes]
    for horizontal_first in (True, False):
        candidate = _Pass(size[0], size[1], horizontal, vertical, horizontal_first)
        if all(np.array_equal(candidate.apply(p.astype(np.float64)), e) for p, e in zip(probes, expected, strict=True)):
            return candidate
    return None


_seen: dict[tuple[int, int], int] = {}
_plans: dict[tuple[int, int], tuple[_Pass, _Pass] | None] = {}


def _plan(width: int, height: int) -> tuple[_Pass, _Pass] | None:
    """Matrix plans (pHash size, dHash size) for a reduced image of this size, or None (use Pillow's resize)."""
    key = (width, height)
    if key in _plans:
        return _plans[key]
    if width < PHASH_SIDE or height < PHASH_SIDE:  # upscaling: tiny images are rare and cheap, leave them to Pillow
        return None
    count = _seen.get(key, 0) + 1
    if count < _PLAN_AFTER:
        if len(_seen) >= 4 * _MAX_PLANS:
            _seen.clear()
        _seen[key] = count
        return None
    _seen.pop(key, None)
    rng = np.random.default_rng([width, height])
    gradient = (np.add.outer(np.arange(height) * 255 // max(1, height - 1), np.arange(width) * 255 // max(1, width - 1))
                // 2).astype(np.uint8)
    probes = [rng.integers(0, 256, (height, width), dtype=np.uint8), gradient,
              (rng.random((height, width)) < 0.5).astype(np.uint8) * 255]
    p_pass = _build_pass(width, height, _PHASH_SIZE, probes)
    d_pass = _build_pass(width, height, _DHASH_SIZE, probes)
    plan = (p_pass, d_pass) if p_pass is not None and d_pass is not None else None
    if plan is None:
        log.info("Lanczos matrix plan for %dx%d differs from Pillow: using Pillow's resize", width, height)
    if len(_plans) >= _MAX_PLANS:
        _plans.clear()
    _plans[key] = plan
    return plan


# --- the hashes --------------------------------------------------------------------------------------------------


def _phash_pair(pixels: np.ndarray) -> tuple[int, int]:
    """pHash of the 32x32 ``pixels`` and of their mirror: ``dct(dct(x, axis=0), axis=1)[:8, :8]`` above its median,
    as imagehash computes it. Columns and rows are transformed independently, so the mirror reuses the column
    transforms and only the 8 low rows need the row transform."""
    cols = _DCT_LOW @ pixels
    both = np.concatenate((cols, cols[:, ::-1])) @ _DCT_LOW.T
    low = np.round(both, _DCT_DECIMALS).reshape(2, HASH_SIZE * HASH_SIZE)
    ordered = np.sort(low, axis=1)
    middle = HASH_SIZE * HASH_SIZE // 2
    median = (ordered[:, middle - 1] + ordered[:, middle]) / 2  # what np.median computes for 64 values
    bits = np.packbits(low > median[:, None], axis=1)
    return int.from_bytes(bits[0].tobytes(), "big"), int.from_bytes(bits[1].tobytes(), "big")


def _dhash_pair(pixels: np.ndarray) -> tuple[int, int]:
    """dHash of the 9x8 ``pixels`` (left < right) and of their mirror."""
    right = pixels[:, 1:] > pixels[:, :-1]
    left = pixels[:, :-1] > pixels[:, 1:]  # the mirror compares each pair the other way, in reversed column order
    return (int.from_bytes(np.packbits(right).tobytes(), "big"),
            int.from_bytes(np.packbits(left[:, ::-1]).tobytes(), "big"))


def _hash_reduced(small: Image.Image) -> Fingerprint:
    """The four hashes of a reduced "L" image."""
    width, height = small.size
    plan = _plan(width, height) if small.mode == "L" else None
    if plan is None:
        p = np.asarray(small.resize(_PHASH_SIZE, _LANCZOS), dtype=np.float64)
        d = np.asarray(small.resize(_DHASH_SIZE, _LANCZOS), dtype=np.int16)
    else:
        pixels = np.frombuffer(small.tobytes(), dtype=np.uint8).reshape(height, width).astype(np.float64)
        p = plan[0].apply(pixels)
        d = plan[1].apply(pixels)
    phash, phash_mirror = _phash_pair(p)
    dhash, dhash_mirror = _dhash_pair(d)
    return Fingerprint(phash=phash, dhash=dhash, phash_mirror=phash_mirror, dhash_mirror=dhash_mirror)


def fingerprint(img: Image.Image) -> Fingerprint:
    """pHash, dHash and their mirrored versions of ``img`` (decodes the pixels; may set a JPEG draft mode)."""
    return _hash_reduced(reduced_grey(img))


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
