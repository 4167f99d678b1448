"""A crawl shared by several worker processes (on one machine or many) through Redis, on scrapy-redis.

``AUDIT_REDIS_URL`` (``provaudit crawl --redis redis://HOST:PORT/DB``) turns a crawl into one worker of a shared crawl:

* scrapy-redis keeps the request queue and the seen-request fingerprints in Redis, so the workers share one
  frontier and a URL is fetched by one worker only (images are requests like pages here, so they are shared too);
* the first worker to start pushes the start URLs (once), and creates the crawl id that every worker records under,
  so sighting ids agree across workers and ``provaudit merge`` joins the shards without duplicates;
* each worker writes its own store shard and WARC (DuckDB allows one writer per file);
* a request a worker has taken from the queue stays listed under that worker until the rows it produced are in the
  worker's store; a worker that stops sending its heartbeat (killed, machine lost) has its list put back in the
  queue by the others, so its share is fetched again and nothing is lost;
* a worker ends when the queue is empty and no live worker holds a request, twice in a row.

Redis holds pickled requests (scrapy-redis' serializer): use a Redis reachable only by the crawl's machines.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request
from scrapy_redis.scheduler import Scheduler
from twisted.internet import task
from twisted.python.failure import Failure

from audit import settings as audit_settings
from audit.crawl.events import LOCAL_REQUEST, flush_rows
from audit.errors import SharedCrawlError
from audit.ids import new_crawl_id

logger = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
DONE_CHECKS = 2  # consecutive idle checks that must find the crawl done


def redis_key(start_urls: Sequence[str], name: str | None = None) -> str:
    """The Redis key prefix of a shared crawl: ``AUDIT_REDIS_KEY`` if set, else derived from the start URLs, so
    that every worker given the same URLs joins the same crawl."""
    if name:
        return f"provaudit:{name}"
    digest = hashlib.sha256("\n".join(sorted(start_urls)).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"provaudit:{digest}"


def redis_settings(redis_url: str, key: str) -> dict[str, Any]:
    """The Scrapy settings that make a crawl a worker of the shared crawl under ``key``."""
    return {
        "AUDIT_REDIS_URL": redis_url,
        "AUDIT_REDIS_KEY": key,
        "REDIS_URL": redis_url,
        "SCHEDULER": "audit.crawl.shared.SharedScheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": f"{key}:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"{key}:seen",
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
    }


def connect(redis_url: str) -> Any:
    import redis

    return redis.Redis.from_url(redis_url, socket_timeout=30, socket_connect_timeout=10)


def check_redis(redis_url: str) -> None:
    """Fail with a clear message unless ``redis_url`` answers a PING."""
    import redis

    try:
        connect(redis_url).ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        raise SharedCrawlError(f"cannot reach the shared crawl's Redis at {redis_url}: {exc}") from exc


def shared_crawl_id(server: Any, key: str) -> str:
    """The crawl id of the shared crawl: created by the first worker, read by the others."""
    server.set(f"{key}:crawl_id", new_crawl_id(), nx=True)
    value = server.get(f"{key}:crawl_id")
    return value.decode() if isinstance(value, bytes) else str(value)


def claim_seeding(server: Any, key: str, worker: str) -> bool:
    """True for exactly one worker of the shared crawl: the one that pushes the start URLs. The claim names
    ``worker``, so that the others can push them again if it dies before it is done
    (:meth:`SharedCrawl.take_over_seeding`)."""
    return bool(server.set(f"{key}:seeding", worker.encode(), nx=True))


def mark_seeded(server: Any, key: str) -> None:
    """The start URLs are in the queue: from now on an empty queue with no taken request means the end."""
    server.set(f"{key}:seeded", b"1")


# Take the first request of the queue and list it under the worker, in one step: a worker killed in between would
# otherwise lose it (gone from the queue, listed nowhere).
_TAKE = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0)
if #r == 0 then return false end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
redis.call('HSET', KEYS[2], r[1], '1')
return r[1]
"""

# Mark a request seen and queue it, in one step (a kill in between would leave it seen and never fetched).
_PUT = """
if ARGV[1] ~= '' then
  if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


class SharedScheduler(Scheduler):
    """scrapy-redis' scheduler, which also lists each request a worker takes from the shared queue under that
    worker (``<key>:taken:<worker>``) until :meth:`done_with` says the rows it produced are stored. Taking and
    listing are one Redis script, as are marking a request seen and queueing it."""

    worker_id: str = ""
    taken_key: str = ""
    key: str = ""
    ttl: float = float(audit_settings.DEFAULTS["AUDIT_REDIS_WORKER_TTL"])
    _taken: dict[str, bytes]
    _local: deque[Request]

    @classmethod
    def from_crawler(cls, crawler: Any) -> SharedScheduler:
        scheduler: SharedScheduler = super().from_crawler(crawler)
        key = crawler.settings.get("AUDIT_REDIS_KEY")
        scheduler.worker_id = worker_id()
        scheduler.taken_key = f"{key}:taken:{scheduler.worker_id}"
        scheduler.key = key
        scheduler.ttl = float(audit_settings.get(crawler.settings, "AUDIT_REDIS_WORKER_TTL"))
        # URL -> the request as queued, for done_with (the pipeline may report stored rows before open())
        scheduler._taken = {}
        # requests this worker handles itself (LOCAL_REQUEST): never in the shared queue
        scheduler._local = deque()
        return scheduler

    def open(self, spider: Any) -> Any:
        # alive before the first request is taken, so that no other worker takes this one for dead
        result = super().open(spider)
        self.server.set(f"{self.key}:alive:{self.worker_id}", b"1", px=int(self.ttl * 1000))
        self._take = self.server.register_script(_TAKE)
        self._put = self.server.register_script(_PUT)
        return result

    def enqueue_request(self, request: Request) -> bool:
        if request.meta.get(LOCAL_REQUEST):
            self._local.append(request)
            if self.stats:
                self.stats.inc_value("scheduler/enqueued/local")
            return True
        fingerprint = "" if request.dont_filter else self.df.request_fingerprint(request)
        added = self._put(keys=[self.df.key, self.queue.key],
                          args=[fingerprint, -request.priority, self.queue._encode_request(request)])
        if not added:
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def taken_lists(self) -> list[tuple[str, str]]:
        """(worker, Redis key) of every worker's list of taken requests, this worker's included."""
        prefix = f"{self.key}:taken:"
        out = []
        for raw in self.server.scan_iter(match=f"{prefix}*", count=1000):
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            out.append((name[len(prefix):], name))
        return out

    def next_request(self) -> Request | None:
        if self._local:
            if self.stats:
                self.stats.inc_value("scheduler/dequeued/local")
            return self._local.popleft()
        data = self._take(keys=[self.queue.key, self.taken_key])
        if not data:
            return None
        request: Request = self.queue._decode_request(data)
        self._taken[request.url] = data
        if self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def __len__(self) -> int:
        return len(self._local) + super().__len__()

    def has_pending_requests(self) -> bool:
        return bool(self._local) or super().has_pending_requests()

    def done_with(self, urls: Iterable[str]) -> None:
        """Forget the taken requests for ``urls``: their rows are in this worker's store."""
        fields = [self._taken.pop(url) for url in urls if url in self._taken]
        if fields:
            self.server.hdel(self.taken_key, *fields)

    def forget_taken(self) -> None:
        self._taken.clear()
        self.server.delete(self.taken_key)

    def give_back(self, worker: str) -> int:
        """Put the requests a dead ``worker`` had taken back in the queue (past the duplicate filter); returns how
        many. Atomic: if two workers notice the same death, one of them gets the requests."""
        pipe = self.server.pipeline(transaction=True)
        pipe.hkeys(f"{self.key}:taken:{worker}")
        pipe.delete(f"{self.key}:taken:{worker}")
        taken, _ = pipe.execute()
        for data in taken:
            request = self.queue._decode_request(data)
            self.queue.push(request.replace(dont_filter=True))
        return len(taken)


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class SharedCrawl:
    """The extension that runs a worker's part of a shared crawl: heartbeat, taking over dead workers' requests,
    and deciding when the whole crawl is done (it keeps the worker open while others may still add requests)."""

    def __init__(self, crawler: Any, *, redis_url: str, key: str, ttl: float) -> None:
        self.crawler = crawler
        self.key = key
        self.server = connect(redis_url)
        self.ttl = ttl
        self.done_checks = 0
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> SharedCrawl:
        settings = crawler.settings
        ext = cls(crawler, redis_url=settings.get("AUDIT_REDIS_URL"), key=settings.get("AUDIT_REDIS_KEY"),
                  ttl=float(audit_settings.get(settings, "AUDIT_REDIS_WORKER_TTL")))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    @property
    def scheduler(self) -> SharedScheduler:
        scheduler: SharedScheduler = self.crawler.engine.scheduler
        return scheduler

    def spider_opened(self, spider: Any = None) -> None:
        self.beat()
        self.loop = task.LoopingCall(self.beat)
        self.loop.start(HEARTBEAT_S, now=False)

    def beat(self) -> None:
        # a worker whose beats were late (a long stall) and that others took for dead is alive again as soon as it
        # is back; the requests it had taken were fetched twice, which the stores' keys absorb
        self.server.set(f"{self.key}:alive:{worker_id()}", b"1", px=int(self.ttl * 1000))
        self.take_over_dead()
        # Scrapy looks at an idle worker's scheduler only every few seconds; other workers add requests to the
        # shared queue meanwhile, so wake the engine when there are some (Scrapy has no public call for this)
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None and len(self.scheduler.queue):
            slot.nextcall.schedule()

    def take_over_seeding(self) -> int:
        """Push the start URLs again when the worker that claimed the seeding died before it had pushed them all
        (Scrapy reads start requests lazily, so a seeder can be killed halfway): without this the crawl would lose
        the URLs it had not pushed and never be found done. The duplicate filter drops those already pushed, so
        two workers doing it at once, or a seeder that was only late, push nothing twice. Returns how many were
        pushed."""
        if self.server.exists(f"{self.key}:seeded"):
            return 0
        raw = self.server.get(f"{self.key}:seeding")
        if raw is None:  # nobody has claimed it yet: the first worker is starting
            return 0
        holder = raw.decode() if isinstance(raw, bytes) else str(raw)
        if holder == worker_id() or self.server.exists(f"{self.key}:alive:{holder}"):
            return 0
        seed = getattr(self.crawler.spider, "seed_requests", None)
        if seed is None:
            return 0
        pushed = sum(bool(self.scheduler.enqueue_request(request)) for request in seed())
        self.server.set(f"{self.key}:seeding", worker_id().encode())
        mark_seeded(self.server, self.key)
        logger.warning("worker %s stopped before it had pushed every start URL: %d pushed again", holder, pushed)
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("provaudit/start_urls_pushed_again", pushed)
        return pushed

    def take_over_dead(self) -> int:
        """Put back in the queue the requests taken by workers whose heartbeat stopped (and the start URLs a dead
        seeder had not pushed)."""
        self.take_over_seeding()
        moved = 0
        for worker, _ in self.scheduler.taken_lists():
            if worker == worker_id() or self.server.exists(f"{self.key}:alive:{worker}"):
                continue
            n = self.scheduler.give_back(worker)
            if n:
                logger.warning("worker %s stopped without finishing: %d of its requests put back in the queue",
                               worker, n)
                if self.crawler.stats is not None:
                    self.crawler.stats.inc_value("provaudit/requests_taken_over", n)
            moved += n
        return moved

    def crawl_done(self) -> bool:
        """The start URLs were pushed, the shared queue is empty and no live worker holds a request."""
        if not self.server.exists(f"{self.key}:seeded") or len(self.scheduler.queue):
            return False
        return not any(worker != worker_id() and self.server.hlen(name)
                       for worker, name in self.scheduler.taken_lists())

    def spider_idle(self, spider: Any = None) -> None:
        # Idle: nothing of ours is in flight. Store what is buffered, then nothing we took is unfinished.
        for _, result in self.crawler.signals.send_catch_log(signal=flush_rows):
            if isinstance(result, Failure):  # rows not stored: the requests they came from stay taken
                result.raiseException()
        self.scheduler.forget_taken()
        self.take_over_dead()
        done = self.crawl_done()
        logger.debug("idle: queue %d, done %s (check %d)", len(self.scheduler.queue), done, self.done_checks)
        if done:
            self.done_checks += 1
            if self.done_checks >= DONE_CHECKS:
                return
        else:
            self.done_checks = 0
        raise DontCloseSpider

    def spider_closed(self, spider: Any = None, reason: str = "") -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if reason == "finished":
            self.scheduler.forget_taken()
            self.server.delete(f"{self.key}:alive:{worker_id()}")
