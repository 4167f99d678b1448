"""Small JPEG thumbnails of image bytes, made in the bounded worker pool (:mod:`audit.decode.workers`) like every other
decode: only the formats of :mod:`audit.decode.formats`, at most ``max_pixels`` decoded, the time and memory bounds of
the analysis, and a worker that runs over them killed with everything it started."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from audit.decode.workers import Bounds, Job, WorkerPool

log = logging.getLogger(__name__)

K = TypeVar("K")

DEFAULT_SIZE = 96  # pixels, the longer side


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """The thumbnail of one image's bytes: ``jpeg`` (None when none could be made, ``error`` says why)."""

    sha256: str
    jpeg: bytes | None = None
    error: str | None = None

    @property
    def data_uri(self) -> str | None:
        if self.jpeg is None:
            return None
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


def failed_thumbnail(data: bytes, error: str) -> Thumbnail:
    return Thumbnail(sha256=hashlib.sha256(data).hexdigest(), error=error)


def make_thumbnail(data: bytes, bounds: Bounds, size: int = DEFAULT_SIZE) -> Thumbnail:
    """A JPEG of at most ``size``×``size`` pixels of ``data``; a thumbnail with ``error`` for a file of a format not
    decoded, over ``bounds.max_pixels``, or broken. Never raises for bad data. Meant to run in a worker."""
    from audit.decode.formats import FormatNotDecoded, open_image
    from audit.decode.imagefacts import _message

    sha = hashlib.sha256(data).hexdigest()
    try:
        with open_image(data) as img:
            width, height = img.size
            if width * height > bounds.max_pixels:
                return Thumbnail(sha, error=f"image has {width}×{height} pixels, over the limit of {bounds.max_pixels}")
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG", quality=70)
    except FormatNotDecoded as exc:
        return Thumbnail(sha, error=str(exc))
    except Exception as exc:  # Pillow raises many kinds for broken files
        return Thumbnail(sha, error=f"not a readable image: {_message(exc)}")
    return Thumbnail(sha, jpeg=buf.getvalue())


def thumbnail_job(size: int = DEFAULT_SIZE) -> Job[Thumbnail]:
    """The pool job making thumbnails of at most ``size`` pixels a side."""
    return Job(run=partial(make_thumbnail, size=size), failed=failed_thumbnail,
               preload=("audit.decode.imagefacts", "audit.decode.thumbnails"))


def thumbnails(items: Iterable[tuple[K, bytes]], *, bounds: Bounds, size: int = DEFAULT_SIZE, workers: int = 1,
               start_method: str | None = None) -> Iterator[tuple[K, Thumbnail]]:
    """``(key, thumbnail)`` for each ``(key, image bytes)``, in order, each made in a worker process under
    ``bounds``: a file over a bound gets a thumbnail with ``error`` (``analysis timed out after N s``...)."""
    with WorkerPool(thumbnail_job(size), workers, bounds=bounds, start_method=start_method) as pool:
        yield from pool.map(items)
