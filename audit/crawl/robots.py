"""robots.txt as RFC 9309 says, and a record of every policy file that failed without a response.

:class:`RobotsTxtMiddleware` replaces Scrapy's (``spiders/settings.py``). It differs in what an unreachable robots.txt
means. RFC 9309, section 2.3.1.4: if the file cannot be fetched because of a server error (5xx) or a network error
(connection refused or reset, timeout, DNS failure), the crawler MUST assume a complete disallow; Scrapy allows
everything instead. Here ``AUDIT_ROBOTS_UNREACHABLE = "disallow"`` (the default) follows the RFC and ``"allow"`` keeps
Scrapy's behaviour. A 4xx still means "no rules" (section 2.3.1.3), and a 2xx is parsed as before.

Every robots.txt and ``/.well-known/tdmrep.json`` that failed without a response (after the crawl's retries) is sent
to the :data:`audit.crawl.events.policy_failed` signal as a :class:`~audit.records.PolicyFile` with its ``error``; the
pipeline records it in ``host_policies`` (responses, whatever their status, are recorded from ``response_received``).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from audit import settings as audit_settings
from audit.crawl.events import policy_failed
from audit.crawl.failures import describe_failure
from audit.records import POLICY_PATHS, PolicyFile
from audit.signals.consent import deciding_rule

logger = logging.getLogger(__name__)

#: how every refusal by robots.txt begins (the IgnoreRequest message, kept in `fetches.error`)
REFUSAL = "Forbidden by robots.txt"

UNREACHABLE_MODES = ("disallow", "allow")


class UnreachableRobots(RobotParser):
    """The rules of a host whose robots.txt could not be fetched (5xx or no response): nothing is allowed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    @classmethod
    def from_crawler(cls, crawler: Any, robotstxt_body: bytes) -> Self:
        return cls("unreachable")

    def allowed(self, url: str | bytes, user_agent: str | bytes) -> bool:
        return False


def describe(exc: BaseException) -> str:
    """What failed, in the words the crawl uses for pages and images (:func:`audit.crawl.failures.describe_failure`)."""
    return describe_failure(Failure(exc))[1]


def unreachable_reason(status: int) -> str | None:
    """Why a robots.txt response makes the file unreachable (RFC 9309: a 5xx), or None."""
    return f"HTTP {status}" if status >= 500 else None


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, following RFC 9309 on unreachable files and recording failed policy files.

    Stats, besides Scrapy's ``robotstxt/*``: ``robotstxt/unreachable`` (hosts whose file answered 5xx or nothing)."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        mode = str(audit_settings.get(crawler.settings, "AUDIT_ROBOTS_UNREACHABLE")).strip().lower()
        if mode not in UNREACHABLE_MODES:
            raise ValueError(f"AUDIT_ROBOTS_UNREACHABLE must be one of {', '.join(UNREACHABLE_MODES)}, not {mode!r}")
        self.disallow_unreachable = mode == "disallow"

    async def robot_parser(self, request: Request) -> RobotParser | None:
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robots_url = f"{url.scheme}://{url.netloc}/robots.txt"
            # allow_offsite: a host is asked for its rules because the crawl is about to fetch from it (an image CDN
            # outside the allowed domains included), so its robots.txt is never filtered as off-site
            robots_request = Request(robots_url, priority=self.DOWNLOAD_PRIORITY,
                                     meta={"dont_obey_robotstxt": True, "allow_offsite": True}, callback=NO_CALLBACK)
            parser: RobotParser | None = None
            try:
                assert self.crawler.engine is not None
                response = await self.crawler.engine.download_async(robots_request)
            except IgnoreRequest:
                pass  # not fetched on purpose (an offsite host, a filtered request): no rules known
            except Exception as exc:  # noqa: BLE001 - every network failure is an unreachable robots.txt
                self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
                reason = describe(exc)
                self._record_failure("robots.txt", robots_url, reason)
                parser = self._unreachable(netloc, reason)
            else:
                parser = await self._parse(response, netloc, request)
            finally:
                # every request waiting for this host's rules gets an answer, whatever happened
                self._stats.inc_value("robotstxt/request_count")
                waiting = self._parsers[netloc]
                self._parsers[netloc] = parser
                if isinstance(waiting, Deferred):
                    waiting.callback(parser)
        parser_or_waiting = self._parsers[netloc]
        if isinstance(parser_or_waiting, Deferred):
            # every waiting request reads the rules from the cache once they are there (set before the Deferred
            # fires): the value a Deferred shared by several waiters passes along its callback chain is not theirs to
            # trust (under the asyncio reactor, the first waiter's adapter hands None to the next: those requests
            # were fetched with no rules)
            await maybe_deferred_to_future(parser_or_waiting)
            settled = self._parsers[netloc]
            assert not isinstance(settled, Deferred)
            return settled
        return parser_or_waiting

    async def _parse(self, response: Response, netloc: str, request: Request) -> RobotParser | None:
        self._stats.inc_value("robotstxt/response_count")
        self._stats.inc_value(f"robotstxt/response_status_count/{response.status}")
        reason = unreachable_reason(response.status)
        if reason is not None:
            return self._unreachable(netloc, reason)
        # 2xx: the file's rules; anything else that arrived (4xx: "unavailable") means no rules (RFC 9309 2.3.1.3)
        body = response.body if 200 <= response.status < 300 else b""
        parser = build_from_crawler(self._parserimpl, self.crawler, body)
        await self.crawler.signals.send_catch_log_async(signal=signals.robots_parsed, robotparser=parser,
                                                        request=request)
        return parser

    def _unreachable(self, netloc: str, reason: str) -> RobotParser | None:
        self._stats.inc_value("robotstxt/unreachable")
        if self.disallow_unreachable:
            logger.warning("robots.txt of %s unreachable (%s): nothing on that host is fetched (RFC 9309: complete "
                           "disallow; AUDIT_ROBOTS_UNREACHABLE=allow crawls it anyway)", netloc, reason)
            return UnreachableRobots(reason)
        logger.warning("robots.txt of %s unreachable (%s): crawling that host as if it had no rules "
                       "(AUDIT_ROBOTS_UNREACHABLE=allow)", netloc, reason)
        return None

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        if isinstance(rp, UnreachableRobots):
            self._stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest(f"{REFUSAL}: it is unreachable ({rp.reason}), so nothing on "
                                f"{urlparse_cached(request).netloc} may be fetched (RFC 9309)")
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest:
            # say which rule forbade it: the fetch's error then carries it into the store
            agent = self._robotstxt_useragent or request.headers.get(b"User-Agent", self._default_useragent)
            name = agent.decode("latin-1") if isinstance(agent, bytes) else str(agent or "")
            rule = deciding_rule(getattr(rp, "rp", None), request.url, name)
            if rule is None:
                raise
            raise IgnoreRequest(f"{REFUSAL} of {urlparse_cached(request).netloc}: {rule}") from None

    def process_exception(self, request: Request, exception: BaseException) -> None:
        """A tdmrep.json that failed without a response, once the retry middleware has given up on it."""
        if POLICY_PATHS.get(urlsplit(request.url).path) == "tdmrep.json" and not isinstance(exception, IgnoreRequest):
            self._record_failure("tdmrep.json", request.url, describe(exception))

    def _record_failure(self, kind: str, url: str, reason: str) -> None:
        logger.info("%s not fetched: %s (%s)", kind, url, reason)
        self.crawler.signals.send_catch_log(
            signal=policy_failed,
            policy=PolicyFile(kind=kind, url=url, status=None, body="", fetched_at=dt.datetime.now(dt.UTC),
                              error=reason),
        )
