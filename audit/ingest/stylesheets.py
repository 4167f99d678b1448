"""Image-to-page links through the stylesheets archived pages link: the CSS backgrounds of an archive.

An archive holds a page (whose ``<link rel="stylesheet">`` and ``@import`` rules
:attr:`audit.decode.html.ParsedPage.stylesheets` lists) and, in another record, perhaps another file of the same
ingest, before or after it, the stylesheet (a ``text/css`` response read by
:func:`audit.decode.stylesheets.read_stylesheet`). :class:`StylesheetLinks` collects both over every archive of one
ingest and at the end links each page to the images its stylesheets name, and those of the stylesheets they
``@import`` (one level), as sightings with ``ref_kind`` ``stylesheet`` and ``attributes`` ``{"stylesheet": url}``,
unless the page's HTML already references the image or the archive's ``Referer`` already linked it
(:mod:`audit.ingest.referers`, whose links are noted here first).

Hostile archives are bounded: at most ``max_entries`` pages and stylesheets are remembered (URLs over 8 KiB are
ignored), at most ``max_links`` sightings are made; what is past a bound is counted in ``dropped`` (the links past
``max_links`` once), never an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audit.records import ImageRef, PageItem, StylesheetFetch

MAX_URL = 8192
DEFAULT_MAX_ENTRIES = 200_000  # pages, and stylesheets, remembered
DEFAULT_MAX_LINKS = 2_000_000  # sightings made through stylesheets in one ingest


@dataclass
class StylesheetLinks:
    """The stylesheets each archived page links and what each archived stylesheet names, over one ingest."""

    max_entries: int = DEFAULT_MAX_ENTRIES
    max_links: int = DEFAULT_MAX_LINKS
    pages: dict[str, tuple[dt.datetime, tuple[str, ...]]] = field(default_factory=dict)  # page -> when, its sheets
    sheets: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)  # -> images, imports
    shown: set[tuple[str, str]] = field(default_factory=set)  # (image URL, page URL) a page's HTML references
    read: int = 0  # stylesheets read from the archives (captures, revisits included)
    dropped: int = 0  # pages, stylesheets or links past the bounds
    linked: int = 0  # sightings made: (page, image) pairs through a stylesheet

    def saw(self, items: Iterable[Any]) -> None:
        """Note the pages (with their stylesheets), the stylesheets and the references among the items of one
        record."""
        for item in items:
            if isinstance(item, PageItem):
                if item.stylesheets and item.url not in self.pages:
                    self._remember(self.pages, item.url, (item.fetched_at, item.stylesheets))
            elif isinstance(item, StylesheetFetch):
                self.read += 1
                if item.url not in self.sheets and (item.image_urls or item.imports):
                    self._remember(self.sheets, item.url, (item.image_urls, item.imports))
            elif isinstance(item, ImageRef) and item.page_url is not None and len(self.shown) < self.max_entries:
                self.shown.add((item.image_url, item.page_url))

    def _remember(self, where: dict[str, Any], url: str, value: Any) -> None:
        if len(url) <= MAX_URL and len(where) < self.max_entries:
            where[url] = value
        else:
            self.dropped += 1

    def _named(self, sheet: str) -> Iterator[tuple[str, str]]:
        """(image URL, stylesheet naming it) of ``sheet`` and of the stylesheets it imports, one level."""
        images, imports = self.sheets.get(sheet, ((), ()))
        for image in images:
            yield image, sheet
        for imported in imports:
            for image in self.sheets.get(imported, ((), ()))[0]:
                yield image, imported

    def links(self) -> Iterator[ImageRef]:
        """One ``stylesheet`` sighting per (archived page, image one of its archived stylesheets names) that the
        page's HTML does not reference already (counted in ``linked``)."""
        for page, (when, sheets) in self.pages.items():
            made: set[str] = set()
            for sheet in sheets:
                for image, named_by in self._named(sheet):
                    if image in made or image == page or (image, page) in self.shown:
                        continue
                    if self.linked >= self.max_links:
                        self.dropped += 1  # the bound: no more links are made, at once
                        return
                    made.add(image)
                    self.linked += 1
                    yield ImageRef(page_url=page, image_url=image, ref_kind="stylesheet",
                                   attributes={"stylesheet": named_by}, fetched_at=when)
