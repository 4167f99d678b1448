"""What a failed request of the crawl says about itself: an HTTP status if a response arrived, and one line saying
what failed and why (a redirect loop, a body cut short, the size limit, the network errors Twisted wraps), never a
bare exception name. Pages, images and policy files that fail are recorded with it."""

from __future__ import annotations

from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, ResponseDataLossError
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure


def _cause(exc: BaseException) -> str:
    """Names and messages of what a Scrapy download exception wraps (Twisted's ``ResponseFailed`` reasons)."""
    cause = exc.__cause__
    if cause is None:
        return ""
    reasons = getattr(cause, "reasons", None) or [cause]
    parts = []
    for r in reasons:
        value = getattr(r, "value", r)
        text = str(value).strip()
        parts.append(f"{type(value).__name__}: {text}" if text else type(value).__name__)
    return "; ".join(parts)[:300]


def describe_failure(failure: Failure) -> tuple[int | None, str]:
    """HTTP status (if a response arrived) and a one-line reason for a failed request: what failed and why, never
    a bare exception name."""
    exc = failure.value
    if isinstance(exc, HttpError):
        status = exc.response.status
        return status, f"HTTP {status}"
    name = type(exc).__name__
    text = str(exc).strip()
    request = getattr(failure, "request", None)
    meta = request.meta if request is not None else {}
    if not text:
        # Scrapy raises these two without a message
        if isinstance(exc, ResponseDataLossError):
            text = "the connection closed before the whole body arrived (fewer bytes than its Content-Length)"
        elif isinstance(exc, DownloadCancelledError) and meta.get("download_maxsize"):
            text = f"body larger than the size limit ({meta['download_maxsize']} bytes), download cancelled"
        cause = _cause(exc) if exc is not None else ""
        if cause:
            text = f"{text} ({cause})" if text else cause
    if isinstance(exc, IgnoreRequest) and request is not None and meta.get("redirect_urls"):
        hops = [*meta["redirect_urls"], request.url]
        if len(set(hops)) < len(hops):
            text = "redirect loop: " + " -> ".join(hops[:5]) + (" ..." if len(hops) > 5 else "")
        else:
            text = f"{text or 'stopped'} after {len(hops) - 1} redirects (last: {request.url})"
    text = text or name
    return None, text if text.startswith(name) else f"{name}: {text}"
