"""The crawl context: what a crawl's components share, made once per crawler from its settings, instead of attributes
stuck onto the crawler; settings are read there (and in each component's ``from_crawler``), not deep inside."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from scrapy.crawler import Crawler

from audit.crawl.context import CrawlContext, crawl_context, default_warc_path, resolve_crawl_id
from audit.crawl.pipeline import AuditPipeline
from audit.crawl.resume import resume_state_for
from audit.crawl.run import project_settings
from audit.crawl.spider import ProvenanceSpider, SpiderOptions
from audit.crawl.warc import WarcMiddleware
from audit.ids import JOBDIR_FILE
from audit.settings import DEFAULTS
from audit.store.db import Store, StoreBusy


def _crawler(tmp_path: Path, **settings: object) -> Crawler:
    return Crawler(ProvenanceSpider, project_settings({"AUDIT_DB": str(tmp_path / "s.duckdb"), **settings}))


def test_the_crawl_id_is_explicit_else_kept_in_jobdir_else_new(tmp_path):
    assert resolve_crawl_id(explicit="c-given", jobdir=tmp_path) == "c-given"
    assert not (tmp_path / JOBDIR_FILE).exists()
    first = resolve_crawl_id(jobdir=tmp_path / "job")
    assert (tmp_path / "job" / JOBDIR_FILE).read_text() == first
    assert resolve_crawl_id(jobdir=tmp_path / "job") == first  # a resumed crawl keeps its id
    assert resolve_crawl_id() != resolve_crawl_id()


def test_one_context_per_crawler_read_from_its_settings(tmp_path):
    crawler = _crawler(tmp_path, AUDIT_CRAWL_ID="c-1", AUDIT_STORE_LOCK_WAIT="0.5")
    context = crawl_context(crawler)
    assert crawl_context(crawler) is context
    assert context == CrawlContext(crawl_id="c-1", db_path=tmp_path / "s.duckdb",
                                   warc_path=default_warc_path(tmp_path / "s.duckdb", "c-1"), lock_wait=0.5)
    other = crawl_context(_crawler(tmp_path))
    assert other is not context and other.crawl_id != "c-1"


def test_the_warc_path_follows_the_settings(tmp_path):
    assert crawl_context(_crawler(tmp_path, AUDIT_WARC="False")).warc_path is None
    explicit = tmp_path / "evidence.warc.gz"
    assert crawl_context(_crawler(tmp_path, AUDIT_WARC_PATH=str(explicit))).warc_path == explicit


def test_components_share_the_context_not_attributes_of_the_crawler(tmp_path):
    crawler = _crawler(tmp_path, JOBDIR=str(tmp_path / "job"))
    before = set(vars(crawler))
    spider = ProvenanceSpider.from_crawler(crawler, start_urls="http://example.org/")
    pipeline = AuditPipeline(crawler)
    middleware = WarcMiddleware.from_crawler(crawler)
    context = crawl_context(crawler)
    assert pipeline.context is context and middleware.context is context
    assert spider.resume is context.resume is resume_state_for(context)
    assert spider.resume.crawl_id == context.crawl_id == (tmp_path / "job" / JOBDIR_FILE).read_text()
    added = set(vars(crawler)) - before
    assert not [name for name in added if "provaudit" in name], added


def test_the_spider_reads_its_settings_once(tmp_path):
    crawler = _crawler(tmp_path, AUDIT_FOLLOW_LINKS="False", AUDIT_MAX_PAGE_BYTES="1000", AUDIT_TDMREP="0")
    spider = ProvenanceSpider.from_crawler(crawler, start_urls="http://example.org/")
    assert spider.options == SpiderOptions(follow_links=False, tdmrep=False, max_page_bytes=1000)
    assert not spider.follow_links and spider._page_meta()["download_maxsize"] == 1000
    assert SpiderOptions().max_image_bytes == DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]


def test_resuming_waits_for_a_busy_store_as_long_as_the_crawl_says(tmp_path):
    # AUDIT_STORE_LOCK_WAIT reaches the store the resume logic opens (it used the default, 5 s, whatever the setting)
    db = tmp_path / "s.duckdb"
    Store.open(db).close()
    code = (f"import duckdb, sys\ncon = duckdb.connect({str(db)!r})\nprint('ready', flush=True)\nsys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        context = crawl_context(_crawler(tmp_path, JOBDIR=str(tmp_path / "job"), AUDIT_STORE_LOCK_WAIT="0.2"))
        started = time.monotonic()
        with pytest.raises(StoreBusy):
            resume_state_for(context)
        assert time.monotonic() - started < 0.2 + 3
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
