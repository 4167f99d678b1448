"""What the components of one crawl share: its crawl id, its store and WARC paths, its ``JOBDIR``, how its run
started, and the scan of its WARC.

Scrapy builds the spider, the scheduler, the middlewares, the pipeline and the extensions separately, each from the
crawler. Rather than attributes stuck onto the crawler, they share one :class:`CrawlContext`, made once per crawler by
:func:`crawl_context` (the spider's ``from_crawler``, or :func:`audit.crawl.run.run_crawl` before the crawl starts)
from the crawler's settings, read there once; every later call for the same crawler returns the same object.
Everything else a component needs it reads from the settings in its own ``from_crawler`` and keeps as plain values.

The one piece of hidden work is the crawl id (:func:`resolve_crawl_id`): a shared crawl's id comes from Redis, and a
``JOBDIR`` crawl keeps its id in a file there, so that a resumed crawl records under the same id.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit import settings as audit_settings
from audit.ids import JOBDIR_FILE, new_crawl_id
from audit.records import ArchivedAt

if TYPE_CHECKING:
    from audit.crawl.resume import ResumeState
    from audit.crawl.warc import WarcScan

def default_warc_path(db_path: str | Path, crawl_id: str) -> Path:
    """Where a crawl's WARC goes unless ``AUDIT_WARC_PATH`` says: ``<store folder>/<store name>-<crawl id>.warc.gz``."""
    db = Path(db_path)
    return db.with_name(f"{db.stem}-{crawl_id}.warc.gz")


def resolve_crawl_id(
    *, explicit: str | None = None, redis_url: str | None = None, redis_key: str | None = None,
    jobdir: Path | None = None,
) -> str:
    """The crawl id a crawl records under: ``explicit`` if given; else, in a shared crawl (``redis_url``), the id the
    first worker put in Redis under ``redis_key`` (so that every worker's shard has the same id); else, with a
    ``jobdir``, the id kept there (written there first if missing, so that a resumed crawl keeps its id); else a new
    one."""
    if explicit:
        return str(explicit)
    if redis_url:
        from audit.crawl.shared import connect, shared_crawl_id

        return shared_crawl_id(connect(redis_url), redis_key or "")
    if jobdir is not None:
        path = jobdir / JOBDIR_FILE
        kept = path.read_text(encoding="utf-8").strip() if path.exists() else ""
        if kept:
            return kept
        crawl_id = new_crawl_id()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(crawl_id, encoding="utf-8")
        return crawl_id
    return new_crawl_id()


class WarcRecords:
    """Where the crawl's WARC writer put the response record of each URL, for the rows of the same response: the
    writer (:class:`audit.crawl.warc.WarcMiddleware`) registers, by the response's URL, the future of its write (which
    resolves to the record's :class:`~audit.records.ArchivedAt`, or None when it failed); the pipeline's recorder
    takes it when it buffers the capture row of that URL, and fills the row in before writing it
    (:meth:`audit.store.recorder.Recorder.locate`). Bounded: past ``limit`` URLs not taken
    (responses no row is made of: redirects, robots.txt, stylesheets) the oldest are forgotten."""

    def __init__(self, limit: int = 65_536) -> None:
        self.limit = limit
        self._futures: OrderedDict[str, Future[ArchivedAt | None]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, url: str, future: Future[ArchivedAt | None]) -> None:
        with self._lock:
            self._futures[url] = future
            self._futures.move_to_end(url)
            while len(self._futures) > self.limit:
                self._futures.popitem(last=False)

    def take(self, url: str) -> Future[ArchivedAt | None] | None:
        with self._lock:
            return self._futures.pop(url, None)


@dataclass(slots=True)
class CrawlContext:
    """The shared state of one crawl. The first five fields are fixed when it is made; ``resume`` and ``warc_scan``
    are filled once, by :func:`audit.crawl.resume.resume_state_for` and :func:`audit.crawl.warc.repair_warc_once`."""

    crawl_id: str
    db_path: Path
    warc_path: Path | None  # None: AUDIT_WARC is off
    jobdir: Path | None = None
    lock_wait: float = float(audit_settings.DEFAULTS["AUDIT_STORE_LOCK_WAIT"])
    resume: ResumeState | None = None
    warc_scan: WarcScan | None = None
    warc_records: WarcRecords = field(default_factory=WarcRecords, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Any) -> CrawlContext:
        """Read the crawl's settings (a Scrapy ``Settings``) once and resolve its crawl id (:func:`resolve_crawl_id`:
        this may ask the shared crawl's Redis, or write the id into ``JOBDIR``)."""
        jobdir_setting = settings.get("JOBDIR")
        jobdir = Path(jobdir_setting) if jobdir_setting else None
        db_path = Path(audit_settings.get(settings, "AUDIT_DB"))
        crawl_id = resolve_crawl_id(explicit=settings.get("AUDIT_CRAWL_ID"), redis_url=settings.get("AUDIT_REDIS_URL"),
                                    redis_key=settings.get("AUDIT_REDIS_KEY"), jobdir=jobdir)
        warc_path: Path | None = None
        if settings.getbool("AUDIT_WARC", audit_settings.DEFAULTS["AUDIT_WARC"]):
            explicit = settings.get("AUDIT_WARC_PATH")
            warc_path = Path(explicit) if explicit else default_warc_path(db_path, crawl_id)
        return cls(crawl_id=crawl_id, db_path=db_path, warc_path=warc_path, jobdir=jobdir,
                   lock_wait=float(audit_settings.get(settings, "AUDIT_STORE_LOCK_WAIT")))


_contexts: weakref.WeakKeyDictionary[Any, CrawlContext] = weakref.WeakKeyDictionary()
_contexts_lock = threading.Lock()


def crawl_context(crawler: Any) -> CrawlContext:
    """The :class:`CrawlContext` of a Scrapy crawler: made from its settings on the first call, the same object on
    every later one (kept while the crawler lives)."""
    with _contexts_lock:
        context = _contexts.get(crawler)
        if context is None:
            context = _contexts[crawler] = CrawlContext.from_settings(crawler.settings)
        return context
