"""The crawl's downloader middleware for ``Content-Encoding``: Scrapy's ``HttpCompressionMiddleware`` replaced by one
that decodes with :mod:`audit.decode.contentcoding`, the module archive ingest and report thumbnails use.

It sits where Scrapy's did (590), so :class:`audit.crawl.warc.WarcMiddleware` (950, next to the downloader) has already
written the response to the WARC as served, still encoded. Each request asks for every encoding we can undo
(``Accept-Encoding``); each response body is decoded under the request's size limit (``download_maxsize``: the
spider sets ``AUDIT_MAX_PAGE_BYTES`` for pages and ``AUDIT_MAX_IMAGE_BYTES`` for images; other requests get
``DOWNLOAD_MAXSIZE``). A body over the limit once decoded, or with an unknown or broken encoding, fails the request
with ``IgnoreRequest`` and a one-line reason, which the spider's errback records on the page or image row.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response, TextResponse
from scrapy.responsetypes import responsetypes

from audit.decode.contentcoding import ACCEPT_ENCODING, decode, parse
from audit.errors import ContentEncodingError

logger = logging.getLogger(__name__)


class HttpDecompressionMiddleware:
    """Decode response bodies with :func:`audit.decode.contentcoding.decode`, bounded by the request's size limit."""

    def __init__(self, crawler: Any, max_size: int) -> None:
        self.crawler = crawler
        self.max_size = max_size

    @classmethod
    def from_crawler(cls, crawler: Any) -> HttpDecompressionMiddleware:
        if not crawler.settings.getbool("COMPRESSION_ENABLED", True):
            raise NotConfigured
        return cls(crawler, crawler.settings.getint("DOWNLOAD_MAXSIZE"))

    def process_request(self, request: Request, spider: Any = None) -> None:
        request.headers.setdefault("Accept-Encoding", ACCEPT_ENCODING)

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        encodings = parse(response.headers.getlist("Content-Encoding"))
        if request.method == "HEAD" or not encodings:
            return response
        limit = int(request.meta.get("download_maxsize") or self.max_size)
        try:
            body = decode(response.body, encodings, limit=limit)
        except ContentEncodingError as exc:
            logger.info("%s: %s", response.url, exc)
            raise IgnoreRequest(str(exc)) from None
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("httpcompression/response_bytes", len(body))
            stats.inc_value("httpcompression/response_count")
        headers = response.headers.copy()
        del headers["Content-Encoding"]
        cls = responsetypes.from_args(headers=headers, url=response.url, body=body)
        kwargs: dict[str, Any] = {"body": body, "headers": headers}
        if issubclass(cls, TextResponse):
            kwargs["encoding"] = None  # the text encoding is found again from the decoded body, as Scrapy does
        return response.replace(cls=cls, **kwargs)
