"""Polite bounds of a crawl, so that no site, however endless its links, can keep a crawl running or growing.

Two Scrapy components, both configured by ``AUDIT_*`` settings read in ``from_crawler``:

- :class:`CrawlBounds`, a spider middleware next to the spider, decides which *new page* requests (links the spider
  follows) are crawled: not deeper than ``AUDIT_MAX_DEPTH``, not a URL trap (:mod:`audit.crawl.traps`), at most
  ``AUDIT_MAX_PAGES_PER_HOST`` pages per host and ``AUDIT_MAX_PAGES`` in all. A link is counted once, the first time
  it is admitted; a link already admitted passes on to Scrapy's duplicate filter. Image requests are not cut here:
  they are bounded by the pages admitted (each page references at most 10,000 images).
- :class:`BoundedScheduler`, Scrapy's scheduler holding at most ``AUDIT_MAX_QUEUED_PER_HOST`` requests (pages and
  images) of one host at a time.

Every request cut is counted in the crawl's stats as ``provaudit/cut/<reason>`` (kept in ``crawls.stats`` and
printed by ``provaudit crawl``); reasons are listed in :data:`CUT_REASONS`. Cut requests are counted each time they
are cut (a link found on ten pages counts ten times); they are never remembered, so a trap costs no memory.

A page redirecting to another page is not counted again (a redirect chain is bounded by Scrapy's
``REDIRECT_MAX_TIMES``). In a shared crawl (``AUDIT_REDIS_URL``) each worker applies the page bounds to the links it
finds itself, and the queue lives in Redis (scrapy-redis' scheduler): ``AUDIT_MAX_QUEUED_PER_HOST`` does not apply
there.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from scrapy import Request
from scrapy.core.scheduler import Scheduler
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.httpobj import urlparse_cached

from audit import settings as audit_settings
from audit.crawl.traps import calendar_position, repeated_segment

logger = logging.getLogger(__name__)

PAGE_META = "provaudit_page"  # meta key the spider sets on the requests of pages (links it follows)
STATS_PREFIX = "provaudit/cut/"
CUT_REASONS = {  # reason -> what was cut (a label of provaudit crawl's summary: at most 60 characters)
    "depth": "links deeper than AUDIT_MAX_DEPTH",
    "trap_repeated_segment": "links repeating a path segment (AUDIT_TRAP_SEGMENT_REPEATS)",
    "trap_calendar": "calendar links past AUDIT_TRAP_MAX_DATES dates",
    "pages_per_host": "links past AUDIT_MAX_PAGES_PER_HOST",
    "pages_total": "links past AUDIT_MAX_PAGES",
    "links_per_page": "links of a page past AUDIT_MAX_LINKS_PER_PAGE",
    "queued_per_host": "requests past AUDIT_MAX_QUEUED_PER_HOST for one host",
}


@dataclass(frozen=True, slots=True)
class PageLimits:
    """The bounds of the pages a crawl follows; 0 means no bound."""

    max_pages: int = 0
    max_pages_per_host: int = 0
    max_depth: int = 0
    segment_repeats: int = 0
    max_dates: int = 0

    @classmethod
    def from_settings(cls, settings: Any) -> PageLimits:
        def value(name: str) -> int:
            return max(0, int(audit_settings.get(settings, name)))

        return cls(max_pages=value("AUDIT_MAX_PAGES"), max_pages_per_host=value("AUDIT_MAX_PAGES_PER_HOST"),
                   max_depth=value("AUDIT_MAX_DEPTH"), segment_repeats=value("AUDIT_TRAP_SEGMENT_REPEATS"),
                   max_dates=value("AUDIT_TRAP_MAX_DATES"))


class PageAdmission:
    """Which new pages a crawl follows, within :class:`PageLimits`. Its memory grows with the pages admitted only
    (at most ``max_pages`` of them), never with the links refused."""

    def __init__(self, limits: PageLimits) -> None:
        self.limits = limits
        self.total = 0
        self.per_host: Counter[str] = Counter()
        self.calendars: dict[str, set[str]] = {}

    def refusal(self, url: str, host: str, depth: int) -> str | None:
        """Why the page at ``url`` (on ``host``, ``depth`` links from a start URL) is not followed, as one of
        :data:`CUT_REASONS`, or None (then :meth:`admit` it)."""
        lim = self.limits
        if lim.max_depth and depth > lim.max_depth:
            return "depth"
        if lim.segment_repeats and repeated_segment(url, lim.segment_repeats) is not None:
            return "trap_repeated_segment"
        if lim.max_dates:
            position = calendar_position(url)
            if position is not None:
                seen = self.calendars.get(position[0], ())
                if position[1] not in seen and len(seen) >= lim.max_dates:
                    return "trap_calendar"
        if lim.max_pages_per_host and self.per_host[host] >= lim.max_pages_per_host:
            return "pages_per_host"
        if lim.max_pages and self.total >= lim.max_pages:
            return "pages_total"
        return None

    def admit(self, url: str, host: str) -> None:
        self.total += 1
        self.per_host[host] += 1
        if self.limits.max_dates:
            position = calendar_position(url)
            if position is not None:
                self.calendars.setdefault(position[0], set()).add(position[1])


def count_cut(stats: Any, reason: str, url: str, n: int = 1) -> None:
    """Count ``n`` requests cut for ``reason`` (one of :data:`CUT_REASONS`) in the crawl's stats; the first is
    logged."""
    if stats is None or n <= 0:
        return
    key = STATS_PREFIX + reason
    if not stats.get_value(key):
        logger.info("crawl bound reached: %s (first cut: %s)", CUT_REASONS[reason], url)
    stats.inc_value(key, n)


class CrawlBounds(BaseSpiderMiddleware):
    """The spider middleware that cuts the links (page requests, ``meta[PAGE_META]``) a crawl should not follow.
    Place it next to the spider (a high order), so that a refused link costs nothing further."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self.admission = PageAdmission(PageLimits.from_settings(crawler.settings))
        self.admitted: set[str] = set()  # URLs admitted (at most AUDIT_MAX_PAGES of them)

    def get_processed_request(self, request: Request, response: Any) -> Request | None:
        if not request.meta.get(PAGE_META):
            return request
        key = request.url
        if key in self.admitted:
            return request  # counted already; Scrapy's duplicate filter drops it
        host = urlparse_cached(request).hostname or ""
        if response is None:  # a start URL is always crawled, and counted
            reason = None
        else:
            reason = self.admission.refusal(request.url, host, int(response.meta.get("depth", 0)) + 1)
        if reason is not None:
            count_cut(self.crawler.stats, reason, request.url)
            return None
        self.admission.admit(request.url, host)
        self.admitted.add(key)
        return request


class BoundedScheduler(Scheduler):
    """Scrapy's scheduler, holding at most ``AUDIT_MAX_QUEUED_PER_HOST`` requests of one host (0: no bound); a
    request past it is cut and counted (``provaudit/cut/queued_per_host``)."""

    max_queued = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> BoundedScheduler:
        scheduler = super().from_crawler(crawler)
        scheduler.max_queued = max(0, int(audit_settings.get(crawler.settings, "AUDIT_MAX_QUEUED_PER_HOST")))
        return scheduler

    @property
    def queued(self) -> Counter[str]:
        """Requests waiting per host (those restored from a JOBDIR are not counted)."""
        counts: Counter[str] | None = self.__dict__.get("_queued")
        if counts is None:
            counts = self.__dict__["_queued"] = Counter()
        return counts

    def enqueue_request(self, request: Request) -> bool:
        host = urlparse_cached(request).hostname or ""
        if self.max_queued and self.queued[host] >= self.max_queued:
            count_cut(self.stats, "queued_per_host", request.url)
            return True  # cut, not a duplicate: False would have the engine report it dropped by the dupefilter
        added = super().enqueue_request(request)
        if added:
            self.queued[host] += 1
        return added

    def next_request(self) -> Request | None:
        request = super().next_request()
        if request is not None:
            host = urlparse_cached(request).hostname or ""
            if self.queued[host] > 1:
                self.queued[host] -= 1
            else:
                self.queued.pop(host, None)
        return request
