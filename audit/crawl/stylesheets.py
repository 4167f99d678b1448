"""Which stylesheets a crawl has fetched, what each names, and which pages wait for one: each linked stylesheet is
fetched once per crawl however many pages link it.

The spider tells :class:`StylesheetCache` each (page, stylesheet) link it parses (:meth:`StylesheetCache.link`) and
each stylesheet it fetched or failed to fetch (:meth:`StylesheetCache.fetched`); both answer with the stylesheets to
request now and the sightings (``ref_kind`` ``stylesheet``, ``attributes`` ``{"stylesheet": url}``) of the pages
whose stylesheets are known. A page linking a stylesheet still in flight waits for it; a page linking one already
fetched gets its images at once, without a second request. ``@import`` rules are followed one level deep: the
stylesheets a page's stylesheet imports are the page's too, theirs are not (an ``@import`` loop ends there).

A stylesheet's request carries the pages that waited for it when it was made (:meth:`StylesheetCache.waiting`),
and in a shared crawl it stays with the worker that made it (``LOCAL_REQUEST``, :mod:`audit.crawl.events`): only
that worker's cache knows the pages that link it while it is in flight. Each worker of a shared crawl thus fetches
a stylesheet at most once.

Plain state, no Scrapy: bounded in the stylesheets remembered (``max_entries``) and the pages waiting for one
(``max_waiting``); what is past a bound is counted in ``dropped`` and not linked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from audit.records import ImageRef

DEFAULT_MAX_ENTRIES = 50_000  # stylesheets remembered per crawl
DEFAULT_MAX_WAITING = 10_000  # pages waiting for one stylesheet in flight
Waiting = tuple[str, dt.datetime | None, int]  # a page waiting for a stylesheet: its URL, when fetched, link depth


@dataclass(slots=True)
class _Sheet:
    done: bool = False
    images: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    waiting: list[Waiting] = field(default_factory=list)


@dataclass
class StylesheetCache:
    """The stylesheets of one crawl: each requested once, its images given to every page that links it."""

    max_entries: int = DEFAULT_MAX_ENTRIES
    max_waiting: int = DEFAULT_MAX_WAITING
    sheets: dict[str, _Sheet] = field(default_factory=dict)
    dropped: int = 0  # links not made: past max_entries or max_waiting
    linked: int = 0  # sightings made

    def link(self, sheet: str, page: str, fetched_at: dt.datetime | None,
             depth: int = 0) -> tuple[list[str], list[ImageRef]]:
        """Page ``page`` (fetched at ``fetched_at``) links ``sheet`` (``depth`` 1: through an ``@import`` of one of
        its stylesheets). Returns the stylesheets to request now (``sheet``, the first time) and the sightings known
        at once (those of a stylesheet already fetched, and of what it imports)."""
        entry = self.sheets.get(sheet)
        if entry is None:
            if len(self.sheets) >= self.max_entries:
                self.dropped += 1
                return [], []
            self.sheets[sheet] = _Sheet(waiting=[(page, fetched_at, depth)])
            return [sheet], []
        if not entry.done:
            if len(entry.waiting) < self.max_waiting:
                entry.waiting.append((page, fetched_at, depth))
            else:
                self.dropped += 1
            return [], []
        return self._resolve(sheet, entry, page, fetched_at, depth)

    def waiting(self, sheet: str) -> list[Waiting]:
        """The pages waiting for ``sheet`` (page URL, when fetched, depth), for its request to carry."""
        entry = self.sheets.get(sheet)
        return list(entry.waiting) if entry is not None else []

    def fetched(self, sheet: str, images: tuple[str, ...] = (), imports: tuple[str, ...] = (),
                carried: Sequence[Waiting] = ()) -> tuple[list[str], list[ImageRef]]:
        """``sheet`` was fetched and names ``images`` and ``imports`` (both empty when it failed); ``carried`` are
        the pages its request carried (:meth:`waiting`). Returns the stylesheets to request now (what it imports,
        for the pages that wait for it) and the sightings of every page that waited for it."""
        entry = self.sheets.get(sheet)
        if entry is None:
            entry = self.sheets[sheet] = _Sheet()
        entry.done, entry.images, entry.imports = True, images, imports
        waiting, entry.waiting = entry.waiting, []
        known = {page for page, _, _ in waiting}
        waiting += [w for w in carried if w[0] not in known][:max(0, self.max_waiting - len(waiting))]
        requests: list[str] = []
        refs: list[ImageRef] = []
        for page, when, depth in waiting:
            more, found = self._resolve(sheet, entry, page, when, depth)
            requests += more
            refs += found
        return requests, refs

    def _resolve(self, sheet: str, entry: _Sheet, page: str, fetched_at: dt.datetime | None,
                 depth: int) -> tuple[list[str], list[ImageRef]]:
        refs = [ImageRef(page_url=page, image_url=image, ref_kind="stylesheet", attributes={"stylesheet": sheet},
                         fetched_at=fetched_at) for image in entry.images if image != page]
        self.linked += len(refs)
        requests: list[str] = []
        if depth == 0:
            for imported in entry.imports:
                more, found = self.link(imported, page, fetched_at, depth=1)
                requests += more
                refs += found
        return requests, refs
