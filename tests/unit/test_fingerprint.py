from __future__ import annotations

import io
import statistics
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from audit.decode.fingerprint import Fingerprint, bits_to_int, fingerprint, hamming, reference_fingerprint

PHOTOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora" / "photos" / "exif-samples" / "jpg"


def _jpegs(limit: int) -> list[Path]:
    files = sorted(p for p in PHOTOS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    assert len(files) >= limit, f"expected real photos under {PHOTOS}"
    return files[:: max(1, len(files) // limit)][:limit]


def test_bit_order_matches_imagehash_hex():
    bits = np.zeros((8, 8), dtype=bool)
    bits[0, 0] = bits[7, 7] = True
    assert bits_to_int(bits) == int(str(imagehash.ImageHash(bits)), 16) == (1 << 63) | 1


def test_fast_hashes_agree_with_imagehash_on_real_photos():
    dists: dict[str, list[int]] = {"phash": [], "dhash": [], "phash_mirror": [], "dhash_mirror": []}
    for path in _jpegs(20):
        fast = fingerprint(Image.open(path))
        ref = reference_fingerprint(Image.open(path))
        for name, values in dists.items():
            value = getattr(fast, name)
            assert 0 <= value < 2**64
            values.append(hamming(value, getattr(ref, name)))
    for name, values in dists.items():
        assert max(values) <= 6, (name, values)
        assert statistics.median(values) <= 2, (name, values)
    # the reference really is imagehash's
    path = _jpegs(1)[0]
    assert reference_fingerprint(Image.open(path)).phash == int(str(imagehash.phash(Image.open(path))), 16)


def test_mirror_hash_matches_hash_of_mirrored_image():
    for path in _jpegs(10):
        original = fingerprint(Image.open(path))
        img = Image.open(path)
        img.load()
        mirrored = fingerprint(ImageOps.mirror(img))
        assert hamming(mirrored.phash, original.phash_mirror) <= 2, path.name
        assert hamming(mirrored.dhash, original.dhash_mirror) <= 4, path.name
        assert hamming(mirrored.phash_mirror, original.phash) <= 2, path.name


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "1", "I;16", "CMYK"])
def test_other_modes_and_formats_go_through_reduce(mode: str):
    path = _jpegs(1)[0]
    src = Image.open(path).convert("RGB").resize((640, 480))
    img = src.convert(mode) if mode != "I;16" else src.convert("L").convert("I").convert("I;16")
    buf = io.BytesIO()
    img.save(buf, format="TIFF" if mode in ("CMYK", "I;16") else "PNG")
    reopened = Image.open(io.BytesIO(buf.getvalue()))
    fast = fingerprint(reopened)
    assert isinstance(fast, Fingerprint)
    if mode in ("RGB", "RGBA", "L"):
        ref = reference_fingerprint(Image.open(io.BytesIO(buf.getvalue())))
        assert hamming(fast.phash, ref.phash) <= 4 and hamming(fast.dhash, ref.dhash) <= 4


def test_tiny_images_hash_without_error():
    for size in ((1, 1), (3, 50), (50, 3), (9, 8)):
        fp = fingerprint(Image.new("RGB", size, (200, 10, 10)))
        assert all(0 <= v < 2**64 for v in (fp.phash, fp.dhash, fp.phash_mirror, fp.dhash_mirror))


def test_decoding_in_one_large_block_gives_the_same_outcome_on_real_and_broken_files(monkeypatch):
    """``fingerprint`` hands the decoder up to ``DECODE_BLOCK`` bytes a call; Pillow's own 64 kB blocks must give the
    same hashes, and the same failure, on every real and broken JPEG and PNG of the corpora (truncated ones
    included)."""
    from audit.decode import fingerprint as fp_module
    from audit.decode.batch import fingerprint_bytes

    corpora = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"
    files = sorted(p for p in (corpora / "photos").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    files += sorted(p for p in (corpora / "bad-images").rglob("*") if p.is_file())
    assert len(files) >= 100, f"expected real and broken images under {corpora}"
    datas = [p.read_bytes() for p in files]
    large = [fingerprint_bytes(d) for d in datas]
    monkeypatch.setattr(fp_module, "DECODE_BLOCK", 0)  # Pillow's default block size
    small = [fingerprint_bytes(d) for d in datas]
    assert sum(fp is not None for fp, _ in large) >= 50
    assert sum(err is not None for _, err in large) >= 5  # the broken ones are in the comparison too
    assert large == small
