"""``<a href>`` links to image-looking URLs in archived pages, kept as sightings only when the archive holds an image
there.

The page parser reports an ``<a href>`` whose path ends in an image extension as a ``link`` reference: it cannot
know what the URL serves. A live crawl fetches it and keeps the sighting only for an image response; an archive
answers the same question with its records. A MediaWiki ``File:Photo.jpg`` description page is HTML: a link to it is
no image sighting. :class:`ImageLinks` holds back the ``link`` references of every archive of one ingest, notes the
URLs the archives hold an image response for (in any file, before or after the page), and at the end releases the
links whose URL is one of them; the others are counted in ``not_images`` (the archive holds no image there: an
HTML page, or nothing at all).

Hostile archives are bounded: at most ``max_held`` links are held (a few hundred bytes each) and ``max_images`` image
URLs remembered; links past the bound are passed through at once, as before this check (counted in ``unchecked``),
never an error of the archive; an image URL past its bound is not remembered, so a held link to it is dropped as if
no image were archived there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audit.records import ImageFetch, ImageRef

MAX_URL = 8192
DEFAULT_MAX_HELD = 200_000  # links held back: with their alt text, caption and attributes, well under 1 GB
DEFAULT_MAX_IMAGES = 500_000  # image URLs remembered, as audit.ingest.referers does


@dataclass
class ImageLinks:
    """The ``link`` references held back over the archives of one ingest, and the image URLs archived."""

    max_held: int = DEFAULT_MAX_HELD
    max_images: int = DEFAULT_MAX_IMAGES
    held: list[ImageRef] = field(default_factory=list)
    images: set[str] = field(default_factory=set)  # URLs the archives hold an image response for
    kept: int = 0  # links released: the archive holds an image at their URL
    not_images: int = 0  # links dropped: the archive holds no image at their URL
    unchecked: int = 0  # links passed through unchecked: past max_held

    def hold(self, items: Iterable[Any]) -> Iterator[Any]:
        """``items`` without their ``link`` image references, which are held until :meth:`release`; every image
        response among them is noted."""
        for item in items:
            if isinstance(item, ImageRef) and item.ref_kind == "link":
                if len(self.held) < self.max_held:
                    self.held.append(item)
                    continue
                self.unchecked += 1
            elif isinstance(item, ImageFetch) and len(item.url) <= MAX_URL and len(self.images) < self.max_images:
                self.images.add(item.url)
            yield item

    def release(self) -> Iterator[ImageRef]:
        """The held links whose URL the archives hold an image for (counted in ``kept``; the others in
        ``not_images``). Nothing stays held afterwards."""
        held, self.held = self.held, []
        for ref in held:
            if ref.image_url in self.images:
                self.kept += 1
                yield ref
            else:
                self.not_images += 1
