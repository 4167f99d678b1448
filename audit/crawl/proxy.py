"""Route every request of a crawl through one HTTP proxy (how the crawler reaches the built-in test web)."""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.exceptions import NotConfigured


class ProxyMiddleware:
    """Downloader middleware (order 740, before Scrapy's HttpProxyMiddleware) that sends every request through
    ``AUDIT_PROXY``: how the crawler reaches the built-in test web under its real host names."""

    def __init__(self, proxy: str) -> None:
        self.proxy = proxy

    @classmethod
    def from_crawler(cls, crawler: Any) -> ProxyMiddleware:
        proxy = crawler.settings.get("AUDIT_PROXY")
        if not proxy:
            raise NotConfigured
        return cls(str(proxy))

    def process_request(self, request: Request, spider: Any = None) -> None:
        if "proxy" not in request.meta and request.url.startswith("http://"):
            request.meta["proxy"] = self.proxy
        return None
