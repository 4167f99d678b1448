"""The baselines of bench/bench_crawl.py: a spider that crawls the same pages with the same parser and concurrency,
and hands image URLs to Scrapy's own ImagesPipeline (which downloads, re-encodes and stores them), and the bare-crawl
floor (the same requests, images to a no-op callback, no pipeline). Also a Scrapy extension that measures how long
the reactor is blocked, used by every crawl."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.http import Response, TextResponse
from twisted.internet import task

from audit.decode.html import parse_page


class BaselineSpider(scrapy.Spider):
    name = "baseline"

    def __init__(self, start_urls: str = "", allowed_domains: str = "", **kw: Any) -> None:
        super().__init__(**kw)
        self.start_urls = start_urls.split()
        self.allowed = {d for d in allowed_domains.split() if d}

    def parse(self, response: Response, **kwargs: Any) -> Iterable[Any]:
        if not isinstance(response, TextResponse):
            return
        page = parse_page(response.text, response.url)
        yield {"image_urls": [r.image_url for r in page.image_refs], "page_url": response.url}
        for link in page.links:
            if (urlsplit(link).hostname or "") in self.allowed:
                yield scrapy.Request(link, callback=self.parse)


class FloorSpider(BaselineSpider):
    """The bare-crawl floor: the same pages, parser and concurrency, every image fetched with a callback that does
    nothing, no pipeline, no WARC, no store. What Scrapy itself costs for the same exchanges."""

    name = "floor"

    def parse(self, response: Response, **kwargs: Any) -> Iterable[Any]:
        if not isinstance(response, TextResponse) or not response.headers.get(b"Content-Type", b"").startswith(
                b"text/html"):
            return
        page = parse_page(response.text, response.url)
        for ref in page.image_refs:
            yield scrapy.Request(ref.image_url, callback=self.image)
        for link in page.links:
            if (urlsplit(link).hostname or "") in self.allowed:
                yield scrapy.Request(link, callback=self.parse)

    def image(self, response: Response, **kwargs: Any) -> Iterable[Any]:
        return ()


class ReactorLag:
    """Schedules a tick every 10 ms and records how late each one runs: the time the reactor was blocked."""

    INTERVAL = 0.01

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.last = 0.0
        self.blocked = 0.0
        self.ticks = 0
        self.start = 0.0
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> ReactorLag:
        ext = cls(crawler)
        crawler.signals.connect(ext.opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.closed, signal=signals.spider_closed)
        return ext

    def opened(self, spider: Any = None) -> None:
        self.start = self.last = time.perf_counter()
        self.loop = task.LoopingCall(self.tick)
        self.loop.start(self.INTERVAL, now=False)

    def tick(self) -> None:
        now = time.perf_counter()
        late = now - self.last - self.INTERVAL
        if late > 0.005:
            self.blocked += late
        self.ticks += 1
        self.last = now

    def closed(self, spider: Any = None) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        total = time.perf_counter() - self.start
        self.crawler.stats.set_value("bench/reactor_blocked_s", round(self.blocked, 3))
        self.crawler.stats.set_value("bench/reactor_blocked_fraction", round(self.blocked / total, 4) if total else 0)
