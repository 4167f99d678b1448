"""The Scrapy item pipeline: a thin adapter that analyses image bodies off the event loop and hands every item to a
:class:`~audit.store.recorder.Recorder`, which writes in bulk."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from scrapy import signals

from audit import settings as audit_settings
from audit.crawl.context import crawl_context
from audit.crawl.events import flush_rows, policy_failed
from audit.decode.facejob import FaceOutcome, detection_pool, with_faces
from audit.decode.workers import AnalysisPool, Bounds, WorkerPool
from audit.records import POLICY_PATHS, ImageFetch, PolicyFile
from audit.store.db import StoreWriter
from audit.store.paths import recorded_path
from audit.store.recorder import Recorder

logger = logging.getLogger(__name__)

SAME_BYTES_REMEMBERED = 4096  # recent contents whose faces a crawl reuses for the same bytes met again

RECORDED_SETTINGS = (
    "BOT_NAME", "USER_AGENT", "ROBOTSTXT_OBEY", "CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN",
    "DOWNLOAD_DELAY", "AUTOTHROTTLE_ENABLED", "DEPTH_LIMIT", "JOBDIR", "CLOSESPIDER_PAGECOUNT",
)


def recorded_settings(settings: Any) -> dict[str, Any]:
    """The settings a crawl records in its ``crawls`` row: every ``AUDIT_*`` one and Scrapy's that shape a crawl,
    each as a JSON scalar."""
    recorded = {name: settings.get(name) for name in RECORDED_SETTINGS}
    recorded.update({st.name: settings.get(st.name, st.default) for st in audit_settings.SETTINGS})
    return {k: (v if isinstance(v, str | int | float | bool | type(None)) else str(v)) for k, v in recorded.items()}


class AuditPipeline:
    """Reads its settings once, when Scrapy builds it; the crawl id and paths come from the crawl's
    :class:`~audit.crawl.context.CrawlContext`."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.context = crawl_context(crawler)
        s = crawler.settings
        self.db_path = self.context.db_path
        self.batch_size = int(audit_settings.get(s, "AUDIT_BATCH_SIZE"))
        self.spool_rows = int(audit_settings.get(s, "AUDIT_SPOOL_ROWS"))
        self.finish_wait = float(audit_settings.get(s, "AUDIT_STORE_FINISH_WAIT"))
        self.max_pixels = int(audit_settings.get(s, "AUDIT_MAX_IMAGE_PIXELS"))
        self.threads = max(1, int(audit_settings.get(s, "AUDIT_ANALYSIS_THREADS")))
        self.bounds = Bounds(timeout=float(audit_settings.get(s, "AUDIT_ANALYSIS_TIMEOUT")),
                             max_memory=int(audit_settings.get(s, "AUDIT_ANALYSIS_MEMORY")),
                             max_pixels=self.max_pixels)
        self.faces = s.getbool("AUDIT_FACES", audit_settings.DEFAULTS["AUDIT_FACES"])
        # each analysis thread drives one AnalysisPool and, with faces, one detection pool (they are not thread-safe)
        self._local = threading.local()
        self._pools: list[WorkerPool[Any]] = []
        self._pools_lock = threading.Lock()
        self._detected: OrderedDict[bytes, FaceOutcome] = OrderedDict()  # recent contents' faces, by sha256
        self.source = str(audit_settings.get(s, "AUDIT_SOURCE"))
        self.settings_recorded = recorded_settings(s)
        self.store: StoreWriter | None = None
        self.recorder: Recorder | None = None
        self.pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> AuditPipeline:
        pipe = cls(crawler)
        crawler.signals.connect(pipe.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(pipe.response_received, signal=signals.response_received)
        crawler.signals.connect(pipe.policy_failed, signal=policy_failed)
        crawler.signals.connect(pipe.flush, signal=flush_rows)
        return pipe

    def response_received(self, response: Any, request: Any, spider: Any = None) -> None:
        """Keep every robots.txt and tdmrep.json the crawl fetched: the audit reports which collected images their
        rules forbade."""
        kind = POLICY_PATHS.get(urlsplit(response.url).path)
        if self.recorder is None or kind is None:
            return
        body = response.body.decode("utf-8", errors="replace")
        self.recorder.add(PolicyFile(kind=kind, url=response.url, status=response.status, body=body,
                                     fetched_at=dt.datetime.now(dt.UTC)))

    def policy_failed(self, policy: PolicyFile) -> None:
        """A robots.txt or tdmrep.json that failed without a response (sent by
        :class:`audit.crawl.robots.RobotsTxtMiddleware`): recorded with its error, so the audit knows the host's rules
        were unreachable."""
        if self.recorder is not None:
            self.recorder.add(policy)

    def open_spider(self) -> None:
        crawl_id = self.context.crawl_id
        # held only while a batch is written: a notebook or `provaudit report` can open the store in between
        self.store = StoreWriter(self.db_path)
        self.recorder = Recorder(self.store, crawl_id, batch_size=self.batch_size, spool_rows=self.spool_rows,
                                 finish_wait=self.finish_wait)
        warc = recorded_path(self.context.warc_path) if self.context.warc_path is not None else None
        kind = str(getattr(getattr(self.crawler, "spider", None), "run_kind", "crawl"))  # `fetch`: FetchSpider
        self.recorder.begin(source=self.source, kind=kind, settings=self.settings_recorded, warc_path=warc)
        if warc is not None:  # each capture row names the record the WARC writer wrote for its response
            self.recorder.locate = self.context.warc_records.take
        done_with = getattr(getattr(self.crawler.engine, "scheduler", None), "done_with", None)
        if done_with is not None:  # a worker of a shared crawl (audit.crawl.shared)
            self.recorder.on_commit = done_with
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="provaudit-analyse")
        logger.info("recording crawl %s into %s", crawl_id, self.db_path)

    def _analyse(self, item: ImageFetch) -> ImageFetch:
        """Runs in an analysis thread, which hands the bytes to its own worker process and waits: decoding and
        metadata parsing neither hold the crawler's GIL nor can a hostile file hang or crash the crawl (a worker
        over the time or memory bound is killed and replaced; the image is still recorded, with the error). With
        ``AUDIT_FACES`` the thread's own detection worker finds the image's faces at the same time, under the same
        bounds; a detection that fails leaves the analysis as it is (``face_error`` says why)."""
        body = item.body or b""
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = AnalysisPool(1, bounds=self.bounds)
            self._local.pool = pool
            with self._pools_lock:
                self._pools.append(pool)
        detector = getattr(self._local, "detector", None)
        if detector is None and self.faces:
            detector = detection_pool(1, bounds=self.bounds)
            self._local.detector = detector
            with self._pools_lock:
                self._pools.append(detector)
        key = hashlib.sha256(body).digest() if detector is not None else b""
        with self._pools_lock:
            known = self._detected.get(key) if detector is not None else None
        analysis = pool.submit(body)
        # detected alongside the analysis, in the thread's own worker; the same bytes met again reuse the faces
        faces = detector.submit(body) if detector is not None and known is None else None
        record = pool.result(analysis)
        if detector is not None and faces is not None:
            known = detector.result(faces)
            with self._pools_lock:
                self._detected[key] = known
                if len(self._detected) > SAME_BYTES_REMEMBERED:
                    self._detected.popitem(last=False)
        return dataclasses.replace(item, record=with_faces(record, known), body=None)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, ImageFetch) and item.body is not None:
            assert self.pool is not None
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                item = self._analyse(item)
            else:
                item = await loop.run_in_executor(self.pool, self._analyse, item)
        if self.recorder is not None:
            self.recorder.add(item)
        return item

    def flush(self) -> None:
        """Write what is buffered now (a shared crawl's worker asks, with the ``flush_rows`` signal, when it runs out
        of requests)."""
        if self.recorder is not None:
            self.recorder.flush()

    def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        with self._pools_lock:
            pools, self._pools = self._pools, []
        for pool in pools:
            stats = dict(pool.stats)
            pool.close()
            if stats.get("timed_out") or stats.get("crashed"):
                logger.warning("image analysis: %s", stats)

    def spider_closed(self, spider: Any = None, reason: str = "") -> None:
        if self.recorder is None or self.store is None:
            return
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        keep = {k: v for k, v in stats.items() if isinstance(v, int | float | str) and not k.startswith("log_count")}
        keep["finish_reason"] = reason
        # the recorder's last write links every sighting of the crawl still without its image, those an earlier run
        # wrote before their image arrived included (a resumed run records them again: INSERT OR IGNORE keeps them)
        self.recorder.finish(keep)
        counts = dict(self.recorder.counts)
        self.store.close()
        self.store = None
        self.recorder = None
        logger.info("crawl recorded: %s", counts)
