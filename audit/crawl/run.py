"""Run the provenance spider from Python (what ``provaudit crawl`` and ``provaudit demo`` call).

Scrapy's reactor can run once per process, so :func:`run_crawl` is meant to be called once per process (the CLI);
tests run the CLI in a subprocess.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from audit.crawl.context import crawl_context
from audit.crawl.resume import ResumeState, resume_state_for
from audit.crawl.robots import REFUSAL
from audit.crawl.spider import ProvenanceSpider
from audit.records import ImageFetch, PageItem
from audit.store.recorder import PageRefs

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


@dataclass
class CrawlResult:
    """What :func:`run_crawl` returns: the crawl's id, its store and WARC, Scrapy's stats, and how the run started."""

    crawl_id: str
    db_path: Path
    warc_path: Path | None
    stats: dict[str, Any] = field(default_factory=dict)
    resume: ResumeState | None = None  # how the run started: fresh, resumed, or resumed after a kill

    @property
    def finish_reason(self) -> str:
        return str(self.stats.get("finish_reason", ""))


def project_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """The project's Scrapy settings (``spiders.settings``) with ``overrides`` applied, whatever the cwd."""
    settings = Settings()
    settings.setmodule("spiders.settings", priority="project")
    if overrides:
        settings.setdict(dict(overrides), priority="cmdline")
    return settings


#: Scrapy stats that the progress display counts as they grow (failed pages and images are counted from the items)
FAILURE_STATS = (("robotstxt/forbidden", "robots"),)


def _report_failures(crawler: Any, progress: Progress, every: float = 1.0) -> None:
    """Call ``progress`` with the growth of :data:`FAILURE_STATS` once a second while the crawl runs."""
    seen: dict[str, int] = {}
    loops: list[Any] = []

    def poll() -> None:
        if crawler.stats is None:
            return
        for key, kind in FAILURE_STATS:
            value = int(crawler.stats.get_value(key, 0) or 0)
            if value > seen.get(key, 0):
                progress(kind, value - seen.get(key, 0))
                seen[key] = value

    def started(**_: Any) -> None:
        # imported here, once the crawl has installed its reactor: importing it earlier would install the default one
        from twisted.internet import task

        loop = task.LoopingCall(poll)
        loops.append(loop)
        loop.start(every, now=False)

    def stopped(**_: Any) -> None:
        for loop in loops:
            if loop.running:
                loop.stop()
        poll()

    crawler.signals.connect(started, signal=signals.engine_started, weak=False)
    crawler.signals.connect(stopped, signal=signals.spider_closed, weak=False)


def check_start_urls(urls: Sequence[str]) -> None:
    """ValueError naming the first start URL that is not an absolute http(s) URL with a host (``www.example.fr``
    without its scheme: the message suggests ``https://www.example.fr``), before anything is crawled or written."""
    if not urls:
        raise ValueError("no start URL given")
    for url in urls:
        parts = urlsplit(url.strip())
        if parts.scheme in ("http", "https") and parts.hostname:
            continue
        hint = ""
        if not parts.scheme and not url.startswith("/") and "." in url.split("/", 1)[0]:
            hint = f"; did you mean https://{url.strip()} ?"
        raise ValueError(f"start URL {url!r} is not an absolute http:// or https:// URL{hint}")


def run_crawl(
    start_urls: Sequence[str],
    db_path: str | Path,
    *,
    allowed_domains: Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    spider: type[ProvenanceSpider] = ProvenanceSpider,
) -> CrawlResult:
    """Crawl ``start_urls`` into the store at ``db_path`` (created if needed) and return the crawl's id and stats.

    ``settings`` are Scrapy settings (``AUDIT_*`` included) applied over the project's. ``progress`` is called with
    ``("page", 1)``, ``("image", 1)`` and ``("bytes", n)`` as items are recorded. ``spider``: the spider class
    (:class:`audit.crawl.fetch.FetchSpider` for ``provaudit fetch``)."""
    if spider is ProvenanceSpider:  # a fetch's URLs come from a dataset, each checked as it is requested
        check_start_urls(start_urls)
    overrides = dict(settings or {})
    overrides["AUDIT_DB"] = str(db_path)
    if overrides.get("AUDIT_REDIS_URL"):
        from audit.crawl.shared import check_redis, redis_key

        check_redis(str(overrides["AUDIT_REDIS_URL"]))
        overrides.setdefault("AUDIT_REDIS_KEY", redis_key(start_urls))
    # The caller owns logging (the CLI configures the root handler); Scrapy only sets its loggers' levels.
    overrides["LOG_INSTALL_ROOT_HANDLER"] = False
    merged = project_settings(overrides)
    process = CrawlerProcess(merged)
    level = merged.get("LOG_LEVEL", "INFO")
    for name in ("scrapy", "twisted", "py.warnings"):
        logging.getLogger(name).setLevel(level)
    crawler = process.create_crawler(spider)
    context = crawl_context(crawler)
    # with JOBDIR: resumed cleanly, or after a kill (Scrapy's state discarded); here, so that a store locked by
    # another writer is reported before the crawl starts
    resume = resume_state_for(context)

    if progress is not None:
        def on_item(item: Any, **_: Any) -> None:
            if isinstance(item, PageItem | PageRefs):
                progress("page", 1)
                if getattr(item, "error", None):
                    progress("error", 1)
            elif isinstance(item, ImageFetch):
                progress("image", 1)
                if item.error and REFUSAL not in item.error:  # a refusal is counted as such (FAILURE_STATS)
                    progress("error", 1)
                if item.record is not None:
                    progress("bytes", item.record.size)

        crawler.signals.connect(on_item, signal=signals.item_scraped, weak=False)
        _report_failures(crawler, progress)

    process.crawl(crawler, start_urls=list(start_urls), allowed_domains=list(allowed_domains or []))
    process.start()
    stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
    return CrawlResult(crawl_id=context.crawl_id, db_path=Path(db_path), warc_path=context.warc_path, stats=stats,
                       resume=resume)
