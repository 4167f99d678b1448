"""The opt-in rendered crawl (``AUDIT_RENDER``, ``provaudit crawl --render``): pages built by JavaScript.

Every HTML page is fetched and parsed as in a plain crawl (its raw HTML is the WARC ``response`` record and the
source of its sightings). With rendering on, the spider then asks for the same URL once more through
scrapy-playwright: a headless Chromium from the system's package manager (``AUDIT_RENDER_BROWSER``; no browser is
ever downloaded) loads the page, scrolls it ``AUDIT_RENDER_SCROLLS`` times so infinite scroll and lazy loaders
insert their images, and returns its DOM. That DOM is read by the same parser as the raw HTML; the image references
found only there become sightings with ``rendered`` true, and their images are fetched by Scrapy's own downloader
like every other image (so hashing and the WARC stay one path). The rendered DOM is kept in the WARC as a
``conversion`` record that refers to the page's ``response`` record (:mod:`audit.crawl.warc`).

The browser never fetches images, fonts or media (their requests are aborted: Scrapy fetches the images the DOM
names), and it goes through the crawl's proxy (``AUDIT_PROXY``, else ``http_proxy``). Browser contexts are recycled
every ``AUDIT_RENDER_PAGES_PER_CONTEXT`` pages (:class:`Renderer`), which bounds the browser's memory.

Nothing here imports Playwright at module level: a plain crawl never loads it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from audit import settings as audit_settings
from audit.errors import RenderError

logger = logging.getLogger(__name__)

RENDER_META = "provaudit_render"  # request meta: this request renders a page in the browser
RAW_REFS_META = "provaudit_raw_refs"  # request meta: the image URLs the page's raw HTML already references
STATS_PREFIX = "provaudit/render/"
HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"

# Debian's Chromium, headless, quiet: without the background-networking flags it keeps calling home, which on a
# closed network means a stream of failing connections.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# what the browser does not fetch: Scrapy fetches the images a rendered DOM names
ABORTED_RESOURCES = frozenset({"image", "media", "font"})
SCROLL_PAUSE_MS = 250
SETTLE_PAUSES = 24  # at most this many pauses waiting for a page to settle, after load and after each scroll

# Before the page's own scripts run (PageMethod init callback): count the page's fetch() and XMLHttpRequest calls in
# flight, so that the scroll script knows when the requests a script started (a JSON API, the next batch of an
# infinite scroll) have been answered.
TRACK_JS = """(() => {
  let pending = 0;
  Object.defineProperty(window, '__provauditPending', {value: () => pending});
  const f = window.fetch;
  if (f) {
    window.fetch = function (...args) {
      pending++;
      return f.apply(this, args).finally(() => { setTimeout(() => { pending--; }, 0); });
    };
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    pending++;
    this.addEventListener('loadend', () => { setTimeout(() => { pending--; }, 0); });
    return send.apply(this, args);
  };
})();"""

# Wait for the page to settle (no request of its scripts in flight and the DOM unchanged for one pause), then
# ``times`` times: scroll to the bottom and settle again, so that scroll handlers and lazy loaders have run and
# what they fetched is in the DOM when it is read. Each wait is bounded (SETTLE_PAUSES pauses).
SCROLL_JS = """async ([times, pause, most]) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const pending = () => (window.__provauditPending ? window.__provauditPending() : 0);
  const shape = () => document.getElementsByTagName('*').length + ':' + document.documentElement.scrollHeight;
  const settle = async () => {
    let last = shape();
    for (let k = 0; k < most; k++) {
      await sleep(pause);
      const now = shape();
      if (pending() === 0 && now === last) return;
      last = now;
    }
  };
  await settle();
  for (let i = 0; i < times; i++) {
    window.scrollTo(0, document.documentElement.scrollHeight);
    window.dispatchEvent(new Event('scroll'));
    await settle();
  }
}"""


async def track_requests(page: Any, request: Any) -> None:
    """``playwright_page_init_callback``: install :data:`TRACK_JS` in the page before it loads."""
    await page.add_init_script(TRACK_JS)


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """The settings of a rendered crawl, read once (:meth:`from_settings`)."""

    browser: str = str(audit_settings.DEFAULTS["AUDIT_RENDER_BROWSER"])
    timeout: float = float(audit_settings.DEFAULTS["AUDIT_RENDER_TIMEOUT"])  # seconds
    scrolls: int = int(audit_settings.DEFAULTS["AUDIT_RENDER_SCROLLS"])
    pages_per_context: int = int(audit_settings.DEFAULTS["AUDIT_RENDER_PAGES_PER_CONTEXT"])
    proxy: str | None = None
    proxy_bypass: str | None = None  # no_proxy, when the proxy comes from the environment

    @classmethod
    def from_settings(cls, settings: Any, environ: Mapping[str, str] | None = None) -> RenderOptions:
        """The options of a Scrapy ``Settings``; the proxy is ``AUDIT_PROXY``, else the environment's
        ``http_proxy`` and its ``no_proxy`` (as Scrapy's own HttpProxyMiddleware reads them for the plain crawl)."""
        env = os.environ if environ is None else environ
        proxy = settings.get("AUDIT_PROXY")
        bypass = None
        if not proxy:
            proxy = env.get("http_proxy") or env.get("HTTP_PROXY") or None
            bypass = env.get("no_proxy") or env.get("NO_PROXY") or None
        return cls(
            browser=str(audit_settings.get(settings, "AUDIT_RENDER_BROWSER")),
            timeout=float(audit_settings.get(settings, "AUDIT_RENDER_TIMEOUT")),
            scrolls=max(0, int(audit_settings.get(settings, "AUDIT_RENDER_SCROLLS"))),
            pages_per_context=max(1, int(audit_settings.get(settings, "AUDIT_RENDER_PAGES_PER_CONTEXT"))),
            proxy=str(proxy) if proxy else None,
            proxy_bypass=str(bypass) if proxy and bypass else None,
        )


def check_browser(path: str) -> str:
    """``path`` if it names an executable file; else :class:`RenderError` saying what to install."""
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise RenderError(
            f"the rendered crawl needs Chromium at {path} (AUDIT_RENDER_BROWSER), and there is none: install "
            "Debian's package (`apt-get install chromium`, or `make browser`) or point AUDIT_RENDER_BROWSER at one"
        )
    return path


def check_playwright() -> None:
    """:class:`RenderError` unless scrapy-playwright (and Playwright's driver, which its wheel ships) import."""
    try:
        import playwright  # noqa: F401
        import scrapy_playwright  # noqa: F401
    except ImportError as exc:
        raise RenderError(f"the rendered crawl needs scrapy-playwright: pip install 'provenance-audit[render]' "
                          f"({exc})") from exc


def abort_request(request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: the browser fetches no images, media or fonts."""
    return str(request.resource_type) in ABORTED_RESOURCES


def launch_options(options: RenderOptions) -> dict[str, Any]:
    """Playwright's launch options: the system Chromium, headless, with :data:`CHROMIUM_ARGS` and the crawl's
    proxy."""
    launch: dict[str, Any] = {
        "executable_path": options.browser,
        "headless": True,
        "args": list(CHROMIUM_ARGS),
        "timeout": options.timeout * 1000,
    }
    if options.proxy:
        launch["proxy"] = {"server": options.proxy}
        if options.proxy_bypass:
            launch["proxy"]["bypass"] = options.proxy_bypass
    return launch


def render_settings(options: RenderOptions) -> dict[str, Any]:
    """The Scrapy settings that route render requests through scrapy-playwright (other requests keep Scrapy's
    own download handler: scrapy-playwright hands them back to it)."""
    return {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch_options(options),
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": options.timeout * 1000,
        "PLAYWRIGHT_ABORT_REQUEST": "audit.crawl.render.abort_request",
    }


def configure_render(settings: Any) -> RenderOptions:
    """Set up a Scrapy ``Settings`` for a rendered crawl (from the spider's ``update_settings``): check that
    scrapy-playwright imports and that the browser exists (:class:`RenderError` saying what is missing), then route
    render requests through scrapy-playwright. A user's own ``PLAYWRIGHT_*`` settings win."""
    check_playwright()
    options = RenderOptions.from_settings(settings)
    check_browser(options.browser)
    for name, value in render_settings(options).items():
        if name == "DOWNLOAD_HANDLERS":
            value = {**settings.getdict("DOWNLOAD_HANDLERS"), **value}
        elif settings.get(name) is not None:
            continue
        settings.set(name, value, priority="spider")
    return options


class Renderer:
    """Makes the render request of each page and recycles browser contexts: the pages are numbered as their
    requests are made, page ``n`` renders in context ``render-{n // pages_per_context}``, and a context is closed
    once all its pages are done (rendered or failed). At most a few contexts are open at a time, whatever the
    crawl's length."""

    def __init__(self, options: RenderOptions, stats: Callable[[], Any] | None = None) -> None:
        self.options = options
        self.stats = stats  # returns the crawl's stats collector (which Scrapy makes after the spider)
        self._issued = 0
        self._done: dict[int, int] = {}  # context number -> pages done
        self._contexts: dict[int, Any] = {}  # context number -> its Playwright BrowserContext, once a page showed it
        self._page_methods: list[Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # releases started from synchronous code

    def _inc(self, key: str, count: int = 1) -> None:
        stats = self.stats() if self.stats is not None else None
        if stats is not None:
            stats.inc_value(STATS_PREFIX + key, count)

    def _methods(self) -> list[Any]:
        if self._page_methods is None:
            from scrapy_playwright.page import PageMethod

            # with no scrolls, the page still settles once (a JSON API answered after the load event)
            self._page_methods = [PageMethod("evaluate", SCROLL_JS,
                                             [self.options.scrolls, SCROLL_PAUSE_MS, SETTLE_PAUSES])]
        return self._page_methods

    def request(self, url: str, raw_image_urls: frozenset[str], callback: Callable[..., Any],
                errback: Callable[..., Any], max_bytes: int) -> Any:
        """The request that renders ``url`` in the browser (``dont_filter``: the raw page was requested already)."""
        import scrapy

        number = self._issued // self.options.pages_per_context
        self._issued += 1
        meta = {
            "playwright": True,
            "playwright_context": f"render-{number}",
            "playwright_include_page": True,
            "playwright_page_methods": self._methods(),
            "playwright_page_goto_kwargs": {"wait_until": "load"},
            "playwright_page_init_callback": "audit.crawl.render.track_requests",
            "download_maxsize": max_bytes,
            RENDER_META: number,
            RAW_REFS_META: raw_image_urls,
        }
        return scrapy.Request(url, callback=callback, errback=errback, meta=meta, dont_filter=True)

    def _count_done(self, number: int) -> Any:
        """Count one page of context ``number`` done; the context to close if that was its last page."""
        self._done[number] = self._done.get(number, 0) + 1
        if self._done[number] < self.options.pages_per_context:
            return None
        del self._done[number]
        return self._contexts.pop(number, None)

    async def _close_context(self, number: int, context: Any) -> None:
        try:
            await context.close()
        except Exception as exc:  # noqa: BLE001 - the handler may have closed it already
            logger.debug("closing browser context render-%d: %s", number, exc)
        self._inc("contexts_closed")

    async def release(self, meta: dict[str, Any], *, failed: bool = False) -> None:
        """A render request is done (its response arrived, or it failed): close its page, and its context once all
        that context's pages are done."""
        page = meta.pop("playwright_page", None)
        number = int(meta.get(RENDER_META, 0))
        self._inc("failed" if failed else "pages")
        if page is not None:
            self._contexts.setdefault(number, page.context)
            try:
                await page.close()
            except Exception as exc:  # noqa: BLE001 - a page that is already gone is closed
                logger.debug("closing a rendered page: %s", exc)
        context = self._count_done(number)
        if context is not None:
            await self._close_context(number, context)

    def release_soon(self, meta: dict[str, Any], *, failed: bool = False) -> None:
        """:meth:`release` from synchronous code (an errback) running in the crawl's event loop."""
        task = asyncio.get_running_loop().create_task(self.release(meta, failed=failed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def dropped(self, meta: dict[str, Any]) -> None:
        """A render request was dropped before it reached the browser (the scheduler's bounds): it counts as done,
        so its context is still closed once its other pages are."""
        number = int(meta.get(RENDER_META, 0))
        self._inc("dropped")
        context = self._count_done(number)
        if context is not None:
            task = asyncio.get_running_loop().create_task(self._close_context(number, context))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
