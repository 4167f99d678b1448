"""The provenance spider as Scrapy's own commands find it (``scrapy list``, ``scrapy crawl provenance``): a thin entry
point over the library's spider, :class:`audit.crawl.spider.ProvenanceSpider`, where all of its behaviour is.

    scrapy crawl provenance -a start_urls=https://example.org/ -s AUDIT_DB=store.duckdb
"""

from __future__ import annotations

from audit.crawl.spider import ProvenanceSpider as _LibrarySpider

__all__ = ["ProvenanceSpider"]


class ProvenanceSpider(_LibrarySpider):
    """Arguments: ``start_urls`` (space or comma separated) and ``allowed_domains`` (default: the start URLs' hosts).
    Scrapy lists the spiders defined in ``SPIDER_MODULES``, hence this subclass, which adds nothing."""

    name = "provenance"
