"""Image-to-page links an archive states through its request records: the ``Referer`` an image was requested with.

A crawler that archived a page and then the images it loaded wrote, for each image, a ``request`` record whose
``Referer`` names the page. When no parsed reference of the page leads to that image (a CSS background, an image
inserted by script, a lazy-loading attribute the page parser does not know), the request record is the archive's
own evidence that the page showed it. :class:`RefererLinks` collects, over every archive of one ingest, the
``Referer`` of each requested URL, the archived pages and the archived images, and at the end links each image to
the page its request names, when that page is archived too and its HTML did not already reference the image
(``ref_kind`` ``referer``).

Hostile archives are bounded: at most ``max_entries`` URLs of each kind are remembered (URLs over 8 KiB are
ignored); what is past the bound is counted in ``dropped``, never an error of the archive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audit.records import ImageFetch, ImageRef, PageItem

MAX_URL = 8192
DEFAULT_MAX_ENTRIES = 500_000  # of each kind: a few hundred MB at most for the longest URLs, far less in practice


@dataclass
class RefererLinks:
    """The ``Referer`` of each requested URL, and the pages and images archived, over the archives of one ingest."""

    max_entries: int = DEFAULT_MAX_ENTRIES
    referers: dict[str, str] = field(default_factory=dict)  # requested URL -> its Referer
    pages: set[str] = field(default_factory=set)  # URLs of archived HTML pages
    images: dict[str, dt.datetime] = field(default_factory=dict)  # archived image URL -> when captured
    shown: set[tuple[str, str]] = field(default_factory=set)  # (image URL, page URL) a page's HTML references
    dropped: int = 0  # URLs not remembered: past max_entries
    linked: int = 0  # images linked to a page by their request's Referer

    def request(self, record: Any) -> None:
        """Remember the ``Referer`` of a WARC ``request`` record (HTTP request headers), if it has one."""
        http = getattr(record, "http_headers", None)
        if http is None:
            return
        url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>")
        referer = (http.get_header("Referer") or "").strip()
        if not url or not referer or len(url) > MAX_URL or len(referer) > MAX_URL:
            return
        if url in self.referers or len(self.referers) < self.max_entries:
            self.referers.setdefault(url, referer)
        else:
            self.dropped += 1

    def saw(self, items: Iterable[Any]) -> None:
        """Note the archived pages and images among the items of one record."""
        for item in items:
            if isinstance(item, PageItem):
                self._add_page(item.url)
            elif isinstance(item, ImageRef) and item.page_url is not None:
                if len(self.shown) < self.max_entries:
                    self.shown.add((item.image_url, item.page_url))
            elif isinstance(item, ImageFetch) and item.error is None and item.url not in self.images:
                if len(item.url) <= MAX_URL and len(self.images) < self.max_entries:
                    self.images[item.url] = item.fetched_at
                else:
                    self.dropped += 1

    def _add_page(self, url: str) -> None:
        if len(url) > MAX_URL:
            return
        if url in self.pages or len(self.pages) < self.max_entries:
            self.pages.add(url)
        else:
            self.dropped += 1

    def links(self) -> Iterator[ImageRef]:
        """One ``referer`` sighting per archived image whose request names an archived page (counted in
        ``linked``)."""
        for url, when in self.images.items():
            page = self.referers.get(url)
            if page is not None and page != url and page in self.pages and (url, page) not in self.shown:
                self.linked += 1
                yield ImageRef(page_url=page, image_url=url, ref_kind="referer", fetched_at=when)
