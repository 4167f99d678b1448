"""Resuming a ``JOBDIR`` crawl, after a pause or after a kill.

Scrapy's ``JOBDIR`` state (the disk request queue and the fingerprints of requests already scheduled,
``requests.queue/`` and ``requests.seen``) is made for a graceful stop: it is only consistent once the crawl has
closed. A crawl killed with SIGKILL (or an out-of-memory kill, a power cut, a second Ctrl-C) leaves requests in
``requests.seen`` that were never fetched, or whose items were still in the recorder's buffer, and a queue whose
index was not written: resuming from it silently loses those pages and images, or ends at once.

So the store decides, not ``JOBDIR``. The ``crawls`` row of a crawl gets its ``finished_at`` when the crawl closes
(finished, paused with Ctrl-C, or stopped by a ``CLOSESPIDER_*`` limit), and it is cleared when a run starts. When a
run starts on a ``JOBDIR`` whose crawl has no finished row, the previous run died: Scrapy's state is discarded and
the crawl starts again from its start URLs. Pages are fetched again (their rows are keyed by crawl and URL, so
nothing is duplicated, and their links lead to the pages and images not recorded yet); an image whose ``fetches``
row is already committed (and, with a WARC, whose response is in the WARC) is not downloaded again. Sightings are
keyed by a digest of crawl, image URL and page URL, so recording them again adds nothing; the recorder's last write
links those an earlier run wrote before their image arrived (``Store.link_sightings``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from audit.crawl.context import CrawlContext
from audit.crawl.warc import repair_warc_once
from audit.store.db import DEFAULT_LOCK_WAIT, Store

logger = logging.getLogger(__name__)

# What Scrapy keeps in JOBDIR for its scheduler: the disk queue (RFPDupeFilter's and Scheduler's names). Our own
# file there (the crawl id) and the SpiderState extension's `spider.state` are kept.
SCHEDULER_STATE = ("requests.queue", "requests.seen")


@dataclass(frozen=True, slots=True)
class ResumeState:
    """How a crawl run starts."""

    crawl_id: str
    jobdir: Path | None = None
    resumed: bool = False  # the store already held this crawl: a JOBDIR resume
    unclean: bool = False  # the previous run ended without closing: Scrapy's JOBDIR state was discarded
    discarded: tuple[str, ...] = ()  # the JOBDIR entries discarded
    # image URLs (as requested) whose fetch an earlier run committed, and whose response the WARC holds
    fetched: frozenset[str] = frozenset()


def scheduler_state(jobdir: Path) -> list[Path]:
    """Scrapy's scheduler state present in ``jobdir``."""
    return [jobdir / name for name in SCHEDULER_STATE if (jobdir / name).exists()]


def discard_scheduler_state(jobdir: Path) -> tuple[str, ...]:
    """Remove Scrapy's request queue and seen-requests file from ``jobdir``; returns the names removed."""
    removed = []
    for path in scheduler_state(jobdir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path.name)
    return tuple(removed)


def previous_run(store: Store, crawl_id: str) -> bool | None:
    """Whether the crawl's last run closed (True), died (False), or None when the store does not hold the crawl."""
    rows = store.query("SELECT finished_at IS NOT NULL FROM crawls WHERE crawl_id = ?", [crawl_id])
    return bool(rows[0][0]) if rows else None


def mark_running(store: Store, crawl_id: str) -> None:
    """Clear ``finished_at`` while a run of the crawl is going: if it is killed, the next run knows."""
    store.con.execute("UPDATE crawls SET finished_at = NULL WHERE crawl_id = ?", [crawl_id])


def committed_fetches(
    store: Store, crawl_id: str, warc_responses: frozenset[str] | None = None
) -> frozenset[str]:
    """Image URLs (as requested) whose ``fetches`` row the crawl has committed. With ``warc_responses`` (the
    response URIs of the crawl's WARC), an image received with bytes counts only when its response is in the WARC:
    the WARC is written by its own thread, so a kill can leave a committed row whose record never reached the file;
    such an image is downloaded again, and the WARC keeps every image the store holds."""
    rows = store.query("SELECT url, coalesce(final_url, url), sha256 IS NOT NULL FROM fetches WHERE crawl_id = ?",
                       [crawl_id])
    return frozenset(url for url, final, has_bytes in rows
                     if warc_responses is None or not has_bytes or final in warc_responses)


def prepare_resume(
    db_path: Path, crawl_id: str, jobdir: Path | None,
    warc_responses: Callable[[], frozenset[str]] | None = None, *, lock_wait: float = DEFAULT_LOCK_WAIT,
) -> ResumeState:
    """Decide how a run of crawl ``crawl_id`` starts, before Scrapy's scheduler reads ``jobdir``: fresh, resumed
    after a clean close (``JOBDIR`` state kept), or resumed after a kill (state discarded, the committed image
    fetches loaded). Marks the crawl running. ``warc_responses`` repairs the crawl's WARC and returns the response
    URIs it holds (None: no WARC). The store is opened waiting up to ``lock_wait`` seconds for another process to
    let go of it (``AUDIT_STORE_LOCK_WAIT``)."""
    if jobdir is None:
        return ResumeState(crawl_id)
    state = scheduler_state(jobdir)
    closed: bool | None = None
    fetched: frozenset[str] = frozenset()
    if db_path.exists():
        with Store.open(db_path, wait=lock_wait) as store:
            closed = previous_run(store, crawl_id)
            if closed is False:
                fetched = committed_fetches(store, crawl_id, warc_responses() if warc_responses else None)
            if closed is not None:
                mark_running(store, crawl_id)
    if closed:
        logger.info("crawl %s: resuming from %s (its last run closed cleanly)", crawl_id, jobdir)
        return ResumeState(crawl_id, jobdir, resumed=True)
    if closed is None and not state:
        return ResumeState(crawl_id, jobdir)  # a new crawl
    discarded = discard_scheduler_state(jobdir)
    if closed is None:
        logger.warning("crawl %s: the store %s does not hold this crawl, so the request queue in %s cannot be "
                       "trusted: discarded %s, crawling from the start URLs", crawl_id, db_path, jobdir,
                       ", ".join(discarded))
        return ResumeState(crawl_id, jobdir, unclean=True, discarded=discarded)
    logger.warning("crawl %s: its last run did not close (killed?): discarded Scrapy's request state in %s (%s) and "
                   "crawling again from the start URLs; pages are fetched again, the %d image URLs already "
                   "recorded are not", crawl_id, jobdir, ", ".join(discarded) or "none left", len(fetched))
    return ResumeState(crawl_id, jobdir, resumed=True, unclean=True, discarded=discarded, fetched=fetched)


def resume_state_for(context: CrawlContext) -> ResumeState:
    """:func:`prepare_resume` for a crawl, once (kept in its :class:`~audit.crawl.context.CrawlContext`). Must run
    before the engine opens the spider, when the scheduler reads ``JOBDIR``: the spider's ``from_crawler`` calls it."""
    if context.resume is None:
        warc = partial(_warc_responses, context) if context.warc_path is not None else None
        context.resume = prepare_resume(context.db_path, context.crawl_id, context.jobdir, warc,
                                        lock_wait=context.lock_wait)
    return context.resume


def _warc_responses(context: CrawlContext) -> frozenset[str]:
    return repair_warc_once(context, response_uris=True).response_uris or frozenset()


def stats_of(state: ResumeState) -> Iterable[tuple[str, int]]:
    """Scrapy stats (kept in ``crawls.stats``) saying how the run started."""
    if state.resumed:
        yield "provaudit/resumed", 1
    if state.unclean:
        yield "provaudit/resumed_after_kill", 1
        yield "provaudit/resume_known_image_fetches", len(state.fetched)
