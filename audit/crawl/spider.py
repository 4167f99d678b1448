"""The provenance spider: crawl pages within the allowed domains and collect every image they reference, with the
page it was seen on, the element's alt text, caption and attributes, and the image's exact bytes.

This is the library's spider: :func:`audit.crawl.run.run_crawl` runs it, and ``spiders/provenance.py`` is the thin
entry point through which Scrapy's own commands find it::

    scrapy crawl provenance -a start_urls=https://example.org/ -s AUDIT_DB=store.duckdb

Its settings are read once, in :meth:`ProvenanceSpider.from_crawler` (:class:`SpiderOptions`); what it shares with
the crawl's other components is in the crawl's :class:`~audit.crawl.context.CrawlContext`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import StopDownload
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from audit import settings as audit_settings
from audit.crawl.bounds import PAGE_META, count_cut
from audit.crawl.context import crawl_context
from audit.crawl.events import LOCAL_REQUEST
from audit.crawl.failures import describe_failure
from audit.crawl.render import RAW_REFS_META, Renderer, RenderOptions
from audit.crawl.resume import ResumeState, resume_state_for, stats_of
from audit.crawl.stylesheets import StylesheetCache
from audit.decode.formats import HEAD_BYTES, sniff_image
from audit.decode.html import ParsedPage, parse_page
from audit.decode.htmltree import read_html
from audit.decode.pagefacts import page_facts
from audit.decode.stylesheets import read_stylesheet
from audit.httputil import content_type, headers_dict, is_html, is_image_type
from audit.records import ImageFetch, ImageRef, PageItem, StylesheetFetch
from audit.store.recorder import PageRefs

logger = logging.getLogger(__name__)

T = TypeVar("T")
PARSE_THREADS = 2  # large pages parsed at once, off the event loop
STYLESHEET_LIMIT = "provaudit_stylesheet_limit"  # request meta: a stylesheet's byte bound (its download stops there)
_STYLESHEET_READ = "provaudit_stylesheet_bytes"  # request meta: bytes of a stylesheet received so far
STYLESHEET_STATE = "provaudit_stylesheets"  # the key of the StylesheetCache in the JOBDIR spider state
STYLESHEET_PAGES = "provaudit_stylesheet_pages"  # request meta: the pages waiting for a stylesheet when requested


def _split(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [v for v in value if v]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_DEFAULTS = audit_settings.DEFAULTS


@dataclass(frozen=True, slots=True)
class SpiderOptions:
    """The settings the spider uses, read once (:meth:`from_settings`); the defaults are those of
    :mod:`audit.settings`."""

    follow_links: bool = bool(_DEFAULTS["AUDIT_FOLLOW_LINKS"])
    tdmrep: bool = bool(_DEFAULTS["AUDIT_TDMREP"])
    max_page_bytes: int = int(_DEFAULTS["AUDIT_MAX_PAGE_BYTES"])
    max_image_bytes: int = int(_DEFAULTS["AUDIT_MAX_IMAGE_BYTES"])
    max_page_nodes: int = int(_DEFAULTS["AUDIT_MAX_PAGE_NODES"])
    max_links_per_page: int = int(_DEFAULTS["AUDIT_MAX_LINKS_PER_PAGE"])  # 0: no bound
    page_thread_bytes: int = int(_DEFAULTS["AUDIT_PAGE_THREAD_BYTES"])
    max_stylesheet_bytes: int = int(_DEFAULTS["AUDIT_MAX_STYLESHEET_BYTES"])
    max_stylesheets_per_page: int = int(_DEFAULTS["AUDIT_MAX_STYLESHEETS_PER_PAGE"])
    redis_url: str = ""  # a worker of a shared crawl: the start URLs go into this Redis
    redis_key: str = ""

    @classmethod
    def from_settings(cls, settings: Any) -> SpiderOptions:
        """The options of a Scrapy ``Settings``."""

        def number(name: str) -> int:
            return int(audit_settings.get(settings, name))

        return cls(
            follow_links=settings.getbool("AUDIT_FOLLOW_LINKS", _DEFAULTS["AUDIT_FOLLOW_LINKS"]),
            tdmrep=settings.getbool("AUDIT_TDMREP", _DEFAULTS["AUDIT_TDMREP"]),
            max_page_bytes=number("AUDIT_MAX_PAGE_BYTES"),
            max_image_bytes=number("AUDIT_MAX_IMAGE_BYTES"),
            max_page_nodes=number("AUDIT_MAX_PAGE_NODES"),
            max_links_per_page=number("AUDIT_MAX_LINKS_PER_PAGE"),
            page_thread_bytes=number("AUDIT_PAGE_THREAD_BYTES"),
            max_stylesheet_bytes=number("AUDIT_MAX_STYLESHEET_BYTES"),
            max_stylesheets_per_page=number("AUDIT_MAX_STYLESHEETS_PER_PAGE"),
            redis_url=str(settings.get("AUDIT_REDIS_URL") or ""),
            redis_key=str(settings.get("AUDIT_REDIS_KEY") or ""),
        )


class ProvenanceSpider(scrapy.Spider):
    """Arguments: ``start_urls`` (space or comma separated) and ``allowed_domains`` (default: the start URLs'
    hosts).

    With ``JOBDIR``, a run that follows a killed one starts again from the start URLs with Scrapy's request state
    discarded, and does not download again the images the store already holds (:mod:`audit.crawl.resume`,
    :meth:`already_fetched`)."""

    name = "provenance"
    run_kind = "crawl"  # crawls.kind of its runs

    def __init__(
        self, start_urls: str | list[str] | None = None, allowed_domains: str | list[str] | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.start_urls = _split(start_urls)
        if not self.start_urls:
            raise ValueError("give at least one start URL: -a start_urls=https://example.org/")
        domains = _split(allowed_domains) or [urlsplit(u).hostname or "" for u in self.start_urls]
        self.allowed_domains = sorted({d.lower() for d in domains if d})
        self._policy_origins: set[str] = set()
        self.options = SpiderOptions()  # from_crawler reads the crawl's
        self.resume = ResumeState(crawl_id="")
        self._parse_pool: ThreadPoolExecutor | None = None
        self._stylesheets: StylesheetCache | None = None
        self.renderer: Renderer | None = None  # a rendered crawl (AUDIT_RENDER): from_crawler makes it

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        """With ``AUDIT_REDIS_URL``, this crawl is one worker of a shared crawl: scrapy-redis' queue and duplicate
        filter in Redis, and the :mod:`audit.crawl.shared` extension (heartbeat, dead workers' requests, end)."""
        super().update_settings(settings)
        url = settings.get("AUDIT_REDIS_URL")
        if url:
            from audit.crawl.shared import redis_settings

            if settings.get("JOBDIR"):
                raise ValueError("a shared crawl (AUDIT_REDIS_URL) keeps its state in Redis: drop JOBDIR")
            for name, value in redis_settings(url, settings.get("AUDIT_REDIS_KEY") or "provaudit:provenance").items():
                settings.set(name, value, priority="spider")  # a user's own -s NAME=VALUE still wins
            extensions = {**settings.getdict("EXTENSIONS"), "audit.crawl.shared.SharedCrawl": 500}
            settings.set("EXTENSIONS", extensions, priority=max(settings.getpriority("EXTENSIONS") or 0, 30))
        if settings.getbool("AUDIT_RENDER"):
            from audit.crawl.render import configure_render

            configure_render(settings)  # page renders through scrapy-playwright and the system's Chromium

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> ProvenanceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.options = SpiderOptions.from_settings(crawler.settings)
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider.headers_received, signal=signals.headers_received)
        crawler.signals.connect(spider.bytes_received, signal=signals.bytes_received)
        # before the engine opens the spider: the scheduler reads JOBDIR then, and after a kill it must not
        spider.resume = resume_state_for(crawl_context(crawler))
        if crawler.settings.getbool("AUDIT_RENDER"):
            spider.renderer = Renderer(RenderOptions.from_settings(crawler.settings), lambda: crawler.stats)
        return spider

    @property
    def stylesheets(self) -> StylesheetCache:
        """The crawl's linked stylesheets (:mod:`audit.crawl.stylesheets`). With ``JOBDIR`` it lives in the spider
        state Scrapy keeps across a clean pause, so pages waiting for a stylesheet still in the request queue get
        its images on resume; after a kill, whose request state is discarded, it starts afresh."""
        if self._stylesheets is None:
            state = getattr(self, "state", None)  # set by Scrapy's SpiderState extension, with JOBDIR only
            kept = state.get(STYLESHEET_STATE) if isinstance(state, dict) and not self.resume.unclean else None
            self._stylesheets = kept if isinstance(kept, StylesheetCache) else StylesheetCache()
            if isinstance(state, dict):
                state[STYLESHEET_STATE] = self._stylesheets
        return self._stylesheets

    def already_fetched(self, request: scrapy.Request) -> bool:
        """Whether an image request need not be sent: a run of this crawl that was killed already committed its
        ``fetches`` row (and wrote its response to the WARC). Only set after a kill (Scrapy's own ``JOBDIR`` state
        covers a clean resume); override to fetch anyway or to skip more."""
        return request.url in self.resume.fetched

    def request_dropped(self, request: scrapy.Request, spider: Any = None) -> None:
        """Scrapy's duplicate filter drops a redirect whose target was already requested, and calls no errback: a
        redirect loop (a -> b -> a), or an image URL redirecting to an image already fetched under another URL.
        Neither may vanish from the store. A loop is requested once more with no redirects left, so that it fails
        through :meth:`image_failed`/:meth:`page_failed` as a redirect loop; an image redirecting to a known target
        is fetched again (its ``fetches`` row is keyed by the URL the page referenced)."""
        if self.renderer is not None and RAW_REFS_META in request.meta:
            self.renderer.dropped(request.meta)
            return
        redirects = request.meta.get("redirect_urls")
        if not redirects or self.crawler.engine is None:
            return
        is_image = request.errback == self.image_failed
        if request.url in redirects:
            retry = request.replace(dont_filter=True, meta={**request.meta, "redirect_ttl": 0})
        elif is_image:
            retry = request.replace(dont_filter=True)
        else:
            return  # a page redirecting to a page already crawled: that page is recorded under its own URL
        logger.debug("redirect target already requested, %s again: %s", "failing" if request.url in redirects
                     else "fetching", request.url)
        self.crawler.engine.crawl(retry)

    def is_allowed(self, url: str) -> bool:
        """Whether a page URL lies within the allowed domains (images are fetched wherever they are)."""
        host = (urlsplit(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)

    @property
    def follow_links(self) -> bool:
        return self.options.follow_links

    def _page_meta(self) -> dict[str, Any]:
        # PAGE_META: a link followed, which audit.crawl.bounds.CrawlBounds may cut
        return {"download_maxsize": self.options.max_page_bytes, PAGE_META: True}

    def _image_meta(self) -> dict[str, Any]:
        # Images are fetched wherever they are hosted (CDNs), not only within the allowed domains.
        return {"download_maxsize": self.options.max_image_bytes, "allow_offsite": True}

    def seed_requests(self) -> list[scrapy.Request]:
        """The requests of the start URLs (a shared crawl's workers push them again if their seeder dies)."""
        return [scrapy.Request(url, callback=self.parse, errback=self.page_failed, meta=self._page_meta())
                for url in self.start_urls]

    async def start(self) -> AsyncIterator[Any]:
        if self.crawler.stats is not None:
            for key, value in stats_of(self.resume):
                self.crawler.stats.set_value(key, value)
        shared = self.options.redis_url
        if shared:
            from audit.crawl.shared import claim_seeding, connect, mark_seeded, worker_id

            # a shared crawl: the first worker pushes the start URLs into the shared queue, the others take from it
            server, key = connect(shared), self.options.redis_key
            if not claim_seeding(server, key, worker_id()):
                return
        for request in self.seed_requests():
            yield request
        if shared:
            mark_seeded(server, key)

    def read_page(self, response: TextResponse, now: dt.datetime) -> tuple[ParsedPage, dict[str, Any]]:
        """The image references and links of an HTML response, and its facts: one tree, read in one bounded pass
        each (``AUDIT_MAX_PAGE_NODES``). Thread-safe: it only reads the response."""
        max_nodes = self.options.max_page_nodes
        max_links = self.options.max_links_per_page or 10**9
        tree = read_html(response.text)
        parsed = parse_page(tree, response.url, fetched_at=now, max_nodes=max_nodes, max_links=max_links,
                            max_stylesheets=self.options.max_stylesheets_per_page)
        return parsed, page_facts(tree, response.url, max_nodes=max_nodes)

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in one of :data:`PARSE_THREADS` threads while the event loop serves other responses (in
        line when the reactor runs no asyncio loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args)
        if self._parse_pool is None:
            self._parse_pool = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="provaudit-parse")
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("provaudit/pages_parsed_in_thread")
        return await loop.run_in_executor(self._parse_pool, fn, *args)

    def closed(self, reason: str) -> None:
        if self._parse_pool is not None:
            self._parse_pool.shutdown(wait=True)
            self._parse_pool = None

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[Any]:
        ctype = content_type(response.headers)
        now = _now()
        if not isinstance(response, TextResponse) or not (is_html(ctype) or ctype is None):
            # a link without an image extension led to an image: by its type, or by its bytes whatever the type said
            if is_image_type(ctype) or sniff_image(response.body[:HEAD_BYTES]):
                referer = response.request.headers.get("Referer") if response.request else None
                page_url = referer.decode("latin-1") if referer else None
                yield ImageRef(page_url=page_url, image_url=response.url, ref_kind="link", fetched_at=now)
                yield self._fetch_item(response, now)
            return
        if len(response.body) > self.options.page_thread_bytes:
            parsed, facts = await self._off_loop(self.read_page, response, now)
        else:  # a small page: parsing it costs less than handing it to a thread
            parsed, facts = self.read_page(response, now)
        if parsed.error and self.crawler.stats is not None:
            self.crawler.stats.inc_value("provaudit/pages_parsed_with_error")
        if self.follow_links:
            count_cut(self.crawler.stats, "links_per_page", response.url, parsed.links_cut)
        page = PageItem(
            url=response.url,
            status=response.status,
            fetched_at=now,
            server_ip=str(response.ip_address) if response.ip_address else None,
            lang=parsed.lang,
            title=parsed.title,
            content_type=ctype,
            headers=headers_dict(response.headers),
            error=parsed.error,
            facts=facts,
        )
        # one item per page, its sightings included: Scrapy's per-item cost is paid once, not once per sighting
        yield PageRefs(page=page, refs=tuple(parsed.image_refs))
        for request in self.page_requests(response, parsed):
            yield request
        for sheet in parsed.stylesheets:
            for item in self._stylesheet_outcome(*self.stylesheets.link(sheet, response.url, now), response.url,
                                                 fetch_images=False):
                yield item
        if self.renderer is not None:
            yield self.renderer.request(response.url, frozenset(r.image_url for r in parsed.image_refs),
                                        self.parse_rendered, self.render_failed, self.options.max_page_bytes)

    async def parse_rendered(self, response: Response) -> AsyncIterator[Any]:
        """A page's rendered DOM (a rendered crawl, :mod:`audit.crawl.render`), read by the same parser as its raw
        HTML: the image references the raw HTML did not hold are recorded with ``rendered`` true, and their images
        (and the links only the DOM holds) requested like any page's."""
        assert self.renderer is not None
        await self.renderer.release(response.meta)
        if not isinstance(response, TextResponse):
            return
        raw = response.meta.get(RAW_REFS_META) or frozenset()
        if len(response.body) > self.options.max_page_bytes:  # the browser does not bound what a script builds
            logger.info("rendered DOM of %s cut at AUDIT_MAX_PAGE_BYTES (%d of %d bytes read)", response.url,
                        self.options.max_page_bytes, len(response.body))
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("provaudit/render/dom_cut")
            response = response.replace(body=response.body[: self.options.max_page_bytes])
        parsed, _ = self.read_page(response, _now())
        only = [dataclasses.replace(r, rendered=True) for r in parsed.image_refs if r.image_url not in raw]
        if self.crawler.stats is not None and only:
            self.crawler.stats.inc_value("provaudit/render/refs_only_rendered", len(only))
        for ref in only:
            yield ref
        for request in self.page_requests(response, dataclasses.replace(parsed, image_refs=only)):
            yield request

    def render_failed(self, failure: Failure) -> Iterable[Any]:
        """The browser could not render a page: its raw HTML's references are recorded all the same."""
        request = failure.request  # type: ignore[attr-defined]
        logger.info("page not rendered: %s (%s)", request.url, describe_failure(failure)[1])
        if self.renderer is not None:
            self.renderer.release_soon(request.meta, failed=True)
        return ()

    def page_requests(self, response: Response, parsed: ParsedPage) -> Iterable[scrapy.Request]:
        """The requests a parsed page leads to: policy files, its images, and its links within the allowed
        domains."""
        yield from self.policy_requests(response.url)
        for ref in parsed.image_refs:
            yield from self.image_requests(ref.image_url, response.url)
        if self.follow_links:
            for link in parsed.links:
                if not self.is_allowed(link):
                    continue
                yield scrapy.Request(link, callback=self.parse, errback=self.page_failed, meta=self._page_meta())

    def image_requests(self, image_url: str, referer: str) -> Iterable[scrapy.Request]:
        """The policy files of an image's origin and the image itself, asked for by ``referer`` (a page, or the
        stylesheet naming it); none when a killed run of this crawl already fetched the image."""
        yield from self.policy_requests(image_url)
        request = scrapy.Request(
            image_url, callback=self.parse_image, errback=self.image_failed, meta=self._image_meta(),
            priority=10, headers={"Referer": referer},
        )
        if self.already_fetched(request):
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("provaudit/image_fetches_already_recorded")
            return
        yield request

    # -- linked stylesheets: each fetched once per crawl (audit.crawl.stylesheets), its images sightings of the pages
    def _stylesheet_outcome(self, requests: list[str], refs: list[ImageRef], referer: str, *,
                            fetch_images: bool) -> Iterable[Any]:
        """The items and requests of what :class:`StylesheetCache` answered: the sightings it made, the images they
        name when ``fetch_images`` (a stylesheet just fetched: a page linking one fetched before needs no request,
        its images were requested then), and the stylesheets to fetch, asked for by ``referer``."""
        yield from refs
        named_by: dict[str, str] = {}
        for ref in refs if fetch_images else ():
            named_by.setdefault(ref.image_url, ref.attributes["stylesheet"])
        for image, sheet in named_by.items():  # the stylesheet is the Referer, as a browser sends it
            yield from self.image_requests(image, sheet)
        for sheet in requests:
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("provaudit/stylesheets_requested")
            yield scrapy.Request(
                sheet, callback=self.parse_stylesheet, errback=self.stylesheet_failed, priority=8, dont_filter=True,
                headers={"Referer": referer},
                # LOCAL_REQUEST: in a shared crawl this worker fetches it, since only its cache knows the pages
                # that wait for it (another worker's answer would never reach them)
                meta={"allow_offsite": True, LOCAL_REQUEST: True, STYLESHEET_LIMIT: self.options.max_stylesheet_bytes,
                      STYLESHEET_PAGES: self.stylesheets.waiting(sheet),
                      # the byte bound stops the download (bytes_received); this bounds a compressed body, decoded
                      "download_maxsize": 16 * self.options.max_stylesheet_bytes},
            )

    def headers_received(self, headers: Any, body_length: int, request: scrapy.Request, spider: Any = None) -> None:
        """A response starts: a stylesheet's byte count starts again (a retry, a redirect's target)."""
        if STYLESHEET_LIMIT in request.meta:
            request.meta[_STYLESHEET_READ] = 0

    def bytes_received(self, data: bytes, request: scrapy.Request, spider: Any = None) -> None:
        """Stop a stylesheet's download once more than its byte bound arrived: the response keeps what arrived
        (flagged ``download_stopped``) and is read to the bound, the cut recorded."""
        limit = request.meta.get(STYLESHEET_LIMIT)
        if limit is None:
            return
        got = request.meta.get(_STYLESHEET_READ, 0) + len(data)
        request.meta[_STYLESHEET_READ] = got
        if got > limit:
            raise StopDownload(fail=False)

    def parse_stylesheet(self, response: Response) -> Iterable[Any]:
        """A stylesheet's response: recorded in ``stylesheets`` with what it names (read to
        ``AUDIT_MAX_STYLESHEET_BYTES``, relative URLs resolved against the URL that answered), its images recorded
        as sightings of every page that links it and requested, its ``@import`` rules followed one level."""
        now = _now()
        redirects = response.request.meta.get("redirect_urls") if response.request else None
        url = redirects[0] if redirects else response.url
        ctype = content_type(response.headers)
        limit = self.options.max_stylesheet_bytes
        body = response.body[:limit]
        fetch = StylesheetFetch(url=url, final_url=response.url, fetched_at=now, status=response.status,
                                content_type=ctype, bytes=len(body))
        carried = response.request.meta.get(STYLESHEET_PAGES, []) if response.request else []
        if is_html(ctype):
            yield dataclasses.replace(fetch, error=f"not a stylesheet: an HTML page answered ({ctype})")
            yield from self._stylesheet_outcome(*self.stylesheets.fetched(url, carried=carried), url,
                                                fetch_images=True)
            return
        cut = "download_stopped" in response.flags or len(response.body) > limit
        refs = read_stylesheet(body, response.url, content_type=ctype, max_bytes=limit, cut=cut)
        yield dataclasses.replace(fetch, image_urls=refs.image_urls, imports=refs.imports, skipped=refs.skipped,
                                  error=refs.error)
        yield from self._stylesheet_outcome(*self.stylesheets.fetched(url, refs.image_urls, refs.imports, carried),
                                            url, fetch_images=True)

    def stylesheet_failed(self, failure: Failure) -> Iterable[Any]:
        """A stylesheet that could not be fetched (an HTTP error, robots.txt, the network): recorded with why; the
        pages waiting for it get no sightings from it."""
        request = failure.request  # type: ignore[attr-defined]
        status, reason = describe_failure(failure)
        response = getattr(failure.value, "response", None)
        redirects = request.meta.get("redirect_urls")
        url = redirects[0] if redirects else request.url
        logger.info("stylesheet not fetched: %s (%s)", url, reason)
        yield StylesheetFetch(url=url, final_url=response.url if response is not None else None, fetched_at=_now(),
                              status=status, content_type=content_type(response.headers) if response is not None
                              else None, error=reason)
        carried = request.meta.get(STYLESHEET_PAGES, [])
        yield from self._stylesheet_outcome(*self.stylesheets.fetched(url, carried=carried), url, fetch_images=True)

    def policy_requests(self, url: str) -> Iterable[scrapy.Request]:
        """Once per origin: its ``/.well-known/tdmrep.json`` (robots.txt is fetched by Scrapy's RobotsTxtMiddleware).
        Both are recorded by the pipeline, whatever their status."""
        if not self.options.tdmrep:
            return
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin in self._policy_origins:
            return
        self._policy_origins.add(origin)
        yield scrapy.Request(
            origin + "/.well-known/tdmrep.json", callback=self.parse_policy, errback=self.policy_failed,
            meta={"handle_httpstatus_all": True, "download_maxsize": 512 * 1024, "allow_offsite": True},
            priority=5,
        )

    def parse_policy(self, response: Response) -> Iterable[Any]:
        return ()

    def policy_failed(self, failure: Failure) -> Iterable[Any]:
        logger.debug("policy file not fetched: %s", failure.value)
        return ()

    def _fetch_item(self, response: Response, now: dt.datetime) -> ImageFetch:
        redirects = response.request.meta.get("redirect_urls") if response.request else None
        url = redirects[0] if redirects else response.url
        return ImageFetch(
            url=url,
            final_url=response.url,
            fetched_at=now,
            status=response.status,
            content_type=content_type(response.headers),
            server_ip=str(response.ip_address) if response.ip_address else None,
            headers=headers_dict(response.headers),
            body=response.body,
        )

    async def parse_image(self, response: Response) -> AsyncIterator[Any]:
        """An image request's response. An HTML page that answered it (a wiki's ``File:…jpg`` description page
        behind a link, a soft 404 behind an ``<img>``) is no image: the fetch is recorded with that error and no
        bytes, so the sighting holds no image; within the allowed domains the page is read as a page, so the
        images it shows are found."""
        now = _now()
        ctype = content_type(response.headers)
        if is_html(ctype) and not sniff_image(response.body[:HEAD_BYTES]):
            fetch = self._fetch_item(response, now)
            yield dataclasses.replace(fetch, body=None, error=f"not an image: an HTML page answered ({ctype})")
            if self.follow_links and self.is_allowed(response.url) and isinstance(response, TextResponse):
                async for item in self.parse(response):
                    yield item
            return
        yield self._fetch_item(response, now)

    def image_failed(self, failure: Failure) -> Iterable[Any]:
        request = failure.request  # type: ignore[attr-defined]
        status, reason = describe_failure(failure)
        response = getattr(failure.value, "response", None)
        redirects = request.meta.get("redirect_urls")
        yield ImageFetch(
            url=redirects[0] if redirects else request.url,
            final_url=response.url if response is not None else None,
            fetched_at=_now(),
            status=status,
            content_type=content_type(response.headers) if response is not None else None,
            headers=headers_dict(response.headers) if response is not None else {},
            error=reason,
        )

    def page_failed(self, failure: Failure) -> Iterable[Any]:
        request = failure.request  # type: ignore[attr-defined]
        status, reason = describe_failure(failure)
        response = getattr(failure.value, "response", None)
        redirects = request.meta.get("redirect_urls")
        url = redirects[0] if redirects and response is None else request.url  # the URL the link named
        logger.info("page failed: %s (%s)", url, reason)
        yield PageItem(
            url=url,
            status=status or 0,
            fetched_at=_now(),
            content_type=content_type(response.headers) if response is not None else None,
            headers=headers_dict(response.headers) if response is not None else {},
            error=reason,
        )
