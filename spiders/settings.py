"""Scrapy settings of the provenance-audit project (``scrapy.cfg`` points here).

The ``AUDIT_*`` settings and their defaults live in :mod:`audit.settings`; this module only wires the components and
sets polite crawling defaults.
"""

from audit.settings import DEFAULTS as _AUDIT_DEFAULTS

BOT_NAME = "provaudit"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# An honest user agent: who we are and why.
USER_AGENT = "provaudit/0.1 (provenance-audit research crawler; collects public images to audit their origin)"
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
# Items of one response processed in parallel. Scrapy starts this many asyncio tasks for every response's callback
# output (its default, 100, costs more reactor time per image response than the image's own item).
CONCURRENT_ITEMS = 16
# Scrapy re-reads and parses a callback's source on every response to warn about `return value` in a generator (its
# cache is keyed by the bound method, a new object each time): 3.9% of the crawl's main thread. Our callbacks are
# checked once, by a test (tests/crawl/test_settings.py).
WARN_ON_GENERATOR_RETURN_VALUE = False
DOWNLOAD_TIMEOUT = 60
RETRY_TIMES = 2
DOWNLOAD_MAXSIZE = _AUDIT_DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]
DOWNLOAD_WARNSIZE = 16 * 1024 * 1024
TELNETCONSOLE_ENABLED = False
COOKIES_ENABLED = False
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    # robots.txt as RFC 9309 says (an unreachable file means "disallow everything"; AUDIT_ROBOTS_UNREACHABLE), and
    # robots.txt / tdmrep.json fetches that failed without a response recorded in host_policies
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "audit.crawl.robots.RobotsTxtMiddleware": 100,
    # Content-Encoding undone by our own bounded decoder (audit.decode.contentcoding), the one ingest and thumbnails
    # use; at Scrapy's slot (590), so the WARC middleware (950) records the bytes as served
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "audit.crawl.httpcompression.HttpDecompressionMiddleware": 590,
    "audit.crawl.proxy.ProxyMiddleware": 740,
    "audit.crawl.warc.WarcMiddleware": 950,
}
# Polite bounds (audit/crawl/bounds.py): links cut past AUDIT_MAX_DEPTH, AUDIT_MAX_PAGES(_PER_HOST) or as URL traps,
# next to the spider; at most AUDIT_MAX_QUEUED_PER_HOST requests of a host waiting in the scheduler
SPIDER_MIDDLEWARES = {"audit.crawl.bounds.CrawlBounds": 950}
SCHEDULER = "audit.crawl.bounds.BoundedScheduler"
ITEM_PIPELINES = {
    "audit.crawl.pipeline.AuditPipeline": 300,
}

globals().update(_AUDIT_DEFAULTS)
