"""Cheap, deterministic synthesis of test-web photos and their served copies (one file per :class:`Variant`).

A photo is a low-frequency colour field with a few shapes and some grain, drawn from its own seed at whatever size a
copy needs, so every copy of a photo looks alike (perceptual hashes match) while its bytes differ. A real photo
(:mod:`audit.testbed.testweb.realphotos`) is its file's pixels instead, resized the same way; its own metadata is
never copied (the copy carries only what the test web writes). Graphics are drawn by
:mod:`audit.testbed.testweb.graphics`.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

from audit.testbed.testweb import writers as metadata
from audit.testbed.testweb.graphics import Graphic, write_graphic
from audit.testbed.testweb.world import COUNTRIES, Photo, Variant

GRAIN = 12  # amplitude of the grain: ~100 kB per megapixel at JPEG quality 85, like real photos of the web


def render(seed: int, width: int, height: int) -> Image.Image:
    """Draw photo ``seed`` at ``width`` x ``height``: the scene depends on the seed only, the grain on the size."""
    rng = np.random.default_rng(seed)
    field = rng.integers(20, 236, (4 + int(rng.integers(0, 3)), 5 + int(rng.integers(0, 3)), 3), dtype=np.uint8)
    im = Image.fromarray(field, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 8))):
        cx, cy, r = rng.random(3)
        box = ((cx - r / 4) * width, (cy - r / 4) * height, (cx + r / 4) * width, (cy + r / 4) * height)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    grain_rng = np.random.default_rng([seed, width, height])
    grain = grain_rng.integers(0, GRAIN, (height // 3 + 1, width // 3 + 1, 3), dtype=np.uint8)
    noise = Image.fromarray(grain, "RGB").resize((width, height), Image.Resampling.NEAREST)
    return ImageChops.add(im, noise, scale=1.0, offset=-GRAIN // 2)


def _pixels(photo: Photo, width: int, height: int) -> Image.Image:
    """Photo ``photo`` at ``width`` x ``height``: a real photo's file resized (pixels only), or the synthetic one."""
    if photo.real is None:
        return render(photo.img_seed, width, height)
    with Image.open(photo.real.path) as src:
        im = src.convert("RGB")
    im.info = {}  # pixels only: the original's EXIF, ICC profile, XMP... stay behind
    if im.size != (width, height):
        im = im.resize((width, height), Image.Resampling.LANCZOS)
    return im


def encode(v: Variant) -> bytes:
    """The exact bytes served for ``v``."""
    photo = v.photo
    im = _pixels(photo, v.base_width, v.base_height)
    if v.crop is not None:
        im = im.crop(v.crop)
    if v.mirror:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if v.watermark:
        font = ImageFont.load_default(size=max(12, v.width // 30))
        draw = ImageDraw.Draw(im)
        draw.text((v.width * 0.62, v.height * 0.9), v.watermark, fill=(255, 255, 255), font=font,
                  stroke_width=2, stroke_fill=(0, 0, 0))
    buf = io.BytesIO()
    if v.format == "PNG":
        im.save(buf, "PNG", compress_level=3)
        return buf.getvalue()
    if v.format == "WEBP":
        im.save(buf, "WEBP", quality=v.quality, method=3)
        return buf.getvalue()
    kept = set(v.kept)
    country = COUNTRIES[photo.city.country]
    args: dict[str, object] = {"quality": v.quality}
    if "exif" in kept:
        args["exif"] = metadata.build_exif(
            make=photo.make if "make_model" in kept else None,
            model=photo.model if "make_model" in kept else None,
            taken_at=photo.taken_at,
            offset=photo.offset if "offset_time" in kept else None,
            gps=photo.gps if "gps" in kept else None,
        )
    if "xmp_location" in kept:
        args["xmp"] = metadata.xmp_packet(city=photo.city.name, state=photo.city.region, country=country.name,
                                          country_code=country.code)
    im.save(buf, "JPEG", **args)
    data = buf.getvalue()
    if "iptc_location" in kept:
        data = metadata.insert_app_segment(data, metadata.iptc_app13(
            city=photo.city.name, province=photo.city.region, country_code3=country.alpha3, country=country.name))
    return data


def write_variant(v: Variant | Graphic, www: str) -> tuple[str, str, int]:
    """Encode ``v`` and write it under ``www/<host>/<path>``; return (url, sha256, size). Runs in pool workers."""
    if isinstance(v, Graphic):
        return write_graphic(v, www)
    data = encode(v)
    path = Path(www) / v.host / v.path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return v.url, hashlib.sha256(data).hexdigest(), len(data)
