"""``provaudit``: a thin command line over the library. Each command parses its options, calls one library
function and turns known errors into a one-line message (exit status 1) instead of a traceback."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from audit import __version__
from audit.derive.thresholds import DEFAULT_DHASH_THRESHOLD, DEFAULT_PHASH_THRESHOLD
from audit.errors import AuditError
from audit.outputs.policies import DEFAULT_POLICY, POLICY_NAMES
from audit.settings import DEFAULTS
from audit.sizes import format_size, parse_size
from audit.textsafe import json_dumps, log_text, rich_text, terminal_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
else:
    def Table(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - stands for rich's class, imported on first use
        from rich.table import Table as _Table

        return _Table(*args, **kwargs)


class _LazyConsole:
    """A Rich console created on first use, so that `provaudit --help` and commands that print nothing do not pay
    for importing Rich (issue 20: start-up)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def real(self) -> Console:
        """The console itself (for Rich objects that take one, such as a live display)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


class _PathParam(click.Path):
    """A path argument or option that refuses the empty string, which ``Path("")`` reads as the current folder (an
    unset shell variable must not make ``provaudit ingest "$DIR"`` read every file below where it runs)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | bytes) and not value:
            self.fail("an empty path (write . for the current folder)", param, ctx)
        return super().convert(value, param, ctx)


# emoji=False: a scraped ":warning:" or ":flag_for_france:" must print as typed, not as an emoji
console: Any = _LazyConsole(stderr=True, highlight=False, emoji=False)
out: Any = _LazyConsole(highlight=False, soft_wrap=True, emoji=False)


_LOG_LEVEL = {"level": "WARNING"}


class _SafeFormatter(logging.Formatter):
    """Log lines (Scrapy's included: the CLI owns the root handler) carry scraped URLs and values: each record is
    made safe by :func:`audit.textsafe.log_text` (control and format characters replaced, continuation lines such
    as a traceback's indented)."""

    def format(self, record: logging.LogRecord) -> str:
        return log_text(super().format(record))


def _setup_logging(verbose: int) -> None:
    level = "WARNING" if verbose == 0 else "INFO" if verbose == 1 else "DEBUG"
    _LOG_LEVEL["level"] = level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


_DB_MEMORY: dict[str, int] = {"bytes": int(DEFAULTS["AUDIT_DB_MEMORY"]), "given": 0}


def _db_memory() -> int:
    """Bytes DuckDB may use on the stores this command opens (``--db-memory``, ``AUDIT_DB_MEMORY``)."""
    return _DB_MEMORY["bytes"]


def _start_run(command: str) -> Any:
    """The provenance of this command's run (:mod:`audit.provenance`): its command line, its options and the
    settings it was given at the edge."""
    from audit.provenance import start

    ctx = click.get_current_context(silent=True)
    options = {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if isinstance(v, tuple) else v)
               for k, v in (ctx.params.items() if ctx is not None else ())}
    env = {k: v for k, v in os.environ.items() if k.startswith("AUDIT_")}
    return start(command, {"options": options, "AUDIT_DB_MEMORY": _db_memory(), "environment": env})


_HASHING_SAID_FROM = 256 * 1024 * 1024  # inputs from which hashing them (~1 s per 500 MB) is announced


@contextmanager
def _recorded(command: str, db: Path, inputs: Iterable[Path] = ()) -> Iterator[Any]:
    """Run the block as ``command`` writing the store ``db``, and record its provenance in the store's ``runs``
    table: the SHA-256 of every input file (hashed before the block reads them), and how the run ended."""
    run = _start_run(command)
    inputs = list(inputs)
    if inputs:
        from audit.provenance import total_size

        # hashed before they are read, so that the record is of what was read: said first when it takes a while
        size = total_size(inputs)
        if size >= _HASHING_SAID_FROM:
            console.print(f"{command}: hashing {format_size(size)} of input files for the store's record (SHA-256)",
                          soft_wrap=True, markup=False, highlight=False)
        run.add_inputs(inputs)
    status = "ok"
    try:
        yield run
    except BaseException as exc:
        status = "failed: " + (str(exc).splitlines() or [type(exc).__name__])[0]
        raise
    finally:
        if status == "ok":
            run.finish()
        if db.exists():
            from audit.store.db import Store
            from audit.store.runs import record_run

            try:
                with Store.open(db, memory=_db_memory()) as store:
                    record_run(store, run, status)
            except Exception as exc:  # the run's own outcome matters more than its record
                if status != "ok":  # the run's own error says what went wrong: one line, as for every error
                    logging.getLogger(__name__).info("provenance of the failed run not recorded: %s", exc)
                else:
                    console.print(f"[yellow]warning:[/] the provenance of this run could not be recorded in "
                                  f"{rich_text(db)}: {rich_text(exc)}", soft_wrap=True)


def _written(run: Any, paths: Iterable[Path]) -> None:
    """Finish ``run``, hash the files it wrote and add it to the fixity manifest of their folders."""
    from audit.outputs.fixity import record

    for p in paths:
        run.add_output(p)
    record(run.finish())


def _crawl_log_level() -> dict[str, Any]:
    """Scrapy's LOG_LEVEL following -v: quiet by default (errors and warnings only)."""
    return {"LOG_LEVEL": _LOG_LEVEL["level"]}


def _parse_setting(values: tuple[str, ...]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for raw in values:
        if "=" not in raw:
            raise click.BadParameter(f"expected NAME=VALUE, got {raw!r}", param_hint="-s")
        name, value = raw.split("=", 1)
        settings[name.strip()] = value
    return settings


@contextmanager
def _errors() -> Iterator[None]:
    """The one place where errors become a one-line message and exit status 1: every :class:`AuditError` (the
    library's errors meant for the user), a bad argument (``ValueError``) or a missing file; and a table or column
    that a store lacks. DuckDB is looked at only when the command loaded it: a command that never opened a store
    (``inspect``) does not pay for importing it."""
    try:
        yield
    except (AuditError, FileNotFoundError, ValueError) as exc:
        # the message may quote a file name or a scraped value: made one line, without terminal controls
        raise click.ClickException(terminal_text(exc)) from exc
    except Exception as exc:
        duckdb = sys.modules.get("duckdb")
        if duckdb is None:
            raise
        if isinstance(exc, duckdb.OutOfMemoryException):
            limit = f"the {format_size(_db_memory())} it may use" if _db_memory() else "the memory it could get"
            raise click.ClickException(
                f"DuckDB ran out of {limit} for a query that cannot spill to disk: raise it with "
                f"`provaudit --db-memory SIZE` or AUDIT_DB_MEMORY ({terminal_text(str(exc).strip().splitlines()[0])})"
            ) from exc
        if isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
            # a table or column a store written by an older provaudit (opened read-only) or a damaged one lacks
            from audit.schema import TABLES
            from audit.store.check import missing_object

            missing = missing_object(exc, TABLES)
            if missing is not None:
                raise click.ClickException(terminal_text(missing)) from exc
        raise


@contextmanager
def _progress(totals: dict[str, int | None], title: str = "progress") -> Iterator[Callable[[str, int], None]]:
    """Live counters of a long command on stderr (:class:`audit.progress.LiveProgress`): redrawn on a terminal, a
    line every ``AUDIT_PROGRESS_SECONDS`` otherwise."""
    from audit.progress import LiveProgress

    interval = float(os.environ.get("AUDIT_PROGRESS_SECONDS") or DEFAULTS["AUDIT_PROGRESS_SECONDS"])
    with LiveProgress(title, totals, console.real(), interval=interval) as live:
        yield live


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provaudit")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--db-memory", "db_memory", envvar="AUDIT_DB_MEMORY", metavar="SIZE", default=None,
              help="Memory DuckDB may use for this command's queries on a store before it spills to disk, e.g. "
                   "4GiB (AUDIT_DB_MEMORY; default 2.5GiB; 0: DuckDB's default, 80% of RAM).")
def main(verbose: int, db_memory: str | None) -> None:
    """provenance-audit: crawl public images with their source URLs and measure which signals of origin they
    carry."""
    _setup_logging(verbose)
    _DB_MEMORY.update(bytes=int(DEFAULTS["AUDIT_DB_MEMORY"]), given=int(db_memory is not None))
    if db_memory is not None:
        try:
            _DB_MEMORY["bytes"] = parse_size(db_memory)
        except ValueError as exc:
            raise click.ClickException(f"--db-memory / AUDIT_DB_MEMORY: {exc}") from exc


@main.command()
@click.argument("urls", nargs=-1)
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="DuckDB store to write (created if missing).")
@click.option("--allowed-domain", "allowed", multiple=True, help="Domain whose pages are followed (repeatable); "
              "default: the hosts of the URLs.")
@click.option("--jobdir", type=_PathParam(file_okay=False, path_type=Path),
              help="Scrapy JOBDIR: stop with Ctrl-C and run the same command again to resume.")
@click.option("--proxy", help="HTTP proxy for every request (e.g. the test web's proxy URL).")
@click.option("--max-pages", type=int, default=0, show_default=True, help="Stop after this many pages (0: no limit).")
@click.option("--depth", type=int, default=0,
              help=f"Maximum link depth (AUDIT_MAX_DEPTH) [default: {DEFAULTS['AUDIT_MAX_DEPTH']}].")
@click.option("--no-warc", is_flag=True, help="Do not write the WARC evidence file.")
@click.option("--no-throttle", is_flag=True, help="Turn AutoThrottle off (for loopback or your own servers).")
@click.option("--redis", "redis_url", metavar="redis://HOST:PORT/DB",
              help="Be one worker of a shared crawl: queue and seen requests in this Redis, rows in this worker's "
              "own --db shard (merge the shards with provaudit merge).")
@click.option("--redis-key", help="Name of the shared crawl in Redis [default: derived from the URLs].")
@click.option("--render", is_flag=True, help="Also render each page in the system's headless Chromium and record "
              "the images only its rendered DOM shows (AUDIT_RENDER; needs the `render` extra).")
@click.option("--faces/--no-faces", "faces", default=None,
              help="Detect faces in every image (AUDIT_FACES) "
              f"[default: {'on' if DEFAULTS['AUDIT_FACES'] else 'off'}].")
@click.option("--testweb", "testweb_dir", type=_PathParam(file_okay=False, path_type=Path),
              help="Crawl a built test web (provaudit testweb build --dir DIR): its start URLs and domains, served "
              "on loopback for the crawl, without throttling; its ground truth is loaded into DB afterwards.")
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE", help="Any Scrapy or AUDIT_* setting.")
def crawl(urls: tuple[str, ...], db: Path, allowed: tuple[str, ...], jobdir: Path | None, proxy: str | None,
          max_pages: int, depth: int, no_warc: bool, no_throttle: bool, redis_url: str | None,
          redis_key: str | None, render: bool, faces: bool | None, testweb_dir: Path | None,
          settings: tuple[str, ...]) -> None:
    """Crawl the sites at URLS into the store DB (the WARC file is written beside it); or, with --testweb DIR, the
    built-in test web."""
    from contextlib import ExitStack

    stack = ExitStack()
    web = None
    if testweb_dir is not None:
        if urls or proxy:
            raise click.ClickException("--testweb crawls the test web's own start URLs through its own server: give "
                                       "no URL and no --proxy")
        from audit.testbed.testweb import TestWebServer
        from audit.testbed.testweb.build import TestWeb

        try:
            web = TestWeb.load(testweb_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise click.ClickException(f"{terminal_text(testweb_dir)} is not a built test web ({terminal_text(exc)}):"
                                       f" build it with `provaudit testweb build --dir {terminal_text(testweb_dir)}`"
                                       ) from exc
        server = stack.enter_context(TestWebServer(web))
        urls, allowed, proxy, no_throttle = tuple(web.start_urls), (*allowed, *web.allowed_domains), \
            server.proxy_url, True
        console.print(f"crawling the test web in {rich_text(testweb_dir)}: {len(urls)} sites, served on "
                      f"{rich_text(server.proxy_url)}", soft_wrap=True)
    elif not urls:
        raise click.ClickException("give the URLs to crawl, or --testweb DIR")
    # Scrapy is imported once the test web's line is out: a crawl's first line within a second (issue 20)
    from audit.crawl.run import check_start_urls, run_crawl
    from audit.outputs.summary import store_summary

    with _errors():
        check_start_urls(urls)  # before the progress display starts: bad input is one line
    overrides = _crawl_overrides({"AUDIT_SOURCE": " ".join(urls)}, proxy=proxy, no_warc=no_warc,
                                 no_throttle=no_throttle, faces=faces)
    if jobdir:
        overrides["JOBDIR"] = str(jobdir)
    if max_pages:
        overrides["CLOSESPIDER_PAGECOUNT"] = max_pages
    if depth:
        overrides["AUDIT_MAX_DEPTH"] = depth
    if redis_url:
        if jobdir:
            raise click.ClickException("a shared crawl (--redis) keeps its state in Redis: drop --jobdir")
        overrides["AUDIT_REDIS_URL"] = redis_url
    if redis_key:
        overrides["AUDIT_REDIS_KEY"] = f"provaudit:{redis_key}"
    if render:
        overrides["AUDIT_RENDER"] = True
    overrides.update(_parse_setting(settings))
    with stack, _recorded("crawl", db) as run, _errors(), \
            _progress({"pages": None, "images": None, "MB": None}, "crawl") as progress:
        result = run_crawl(urls, db, allowed_domains=allowed, settings=overrides, progress=progress)
        if result.warc_path:
            run.add_output(result.warc_path, "warc")
    from audit.store.db import Store

    if web is not None:
        from audit.testbed.groundtruth import load_ground_truth

        with _errors(), Store.open(db, memory=_db_memory()) as store:
            lines = load_ground_truth(store, web.ground_truth_path)
        console.print(f"ground truth of the test web loaded: {lines:,} rows (provaudit evaluate --db "
                      f"{rich_text(db)} compares the audit with it)", soft_wrap=True)

    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        summary = store_summary(store, result.crawl_id)
    # how often the crawl met failing servers (Scrapy's counters, also kept in crawls.stats)
    for key, stat in (("retries", "retry/count"), ("retries_exhausted", "retry/max_reached"),
                      ("robots_forbidden", "robotstxt/forbidden")):
        summary[key] = int(result.stats.get(stat, 0) or 0)
    # what the crawl's bounds cut (audit.crawl.bounds), per reason; only the reasons that cut something
    from audit.crawl.bounds import CUT_REASONS, STATS_PREFIX

    for reason in CUT_REASONS:
        if result.stats.get(STATS_PREFIX + reason):
            summary["cut_" + reason] = int(result.stats[STATS_PREFIX + reason])
    _print_summary(f"crawl {result.crawl_id} ({result.finish_reason or 'finished'})", summary)
    if result.warc_path:
        out.print(f"store: {rich_text(db)}\nWARC:  {rich_text(result.warc_path)}")


def _crawl_overrides(base: dict[str, Any], *, proxy: str | None, no_warc: bool, no_throttle: bool,
                     faces: bool | None) -> dict[str, Any]:
    """The settings of a crawl (``crawl``, ``fetch``) from the options they share, over ``base``."""
    overrides: dict[str, Any] = {**base, **_crawl_log_level()}
    if proxy:
        overrides["AUDIT_PROXY"] = proxy
    if no_warc:
        overrides["AUDIT_WARC"] = False
    if no_throttle:
        overrides["AUTOTHROTTLE_ENABLED"] = False
    if faces is not None:
        overrides["AUDIT_FACES"] = faces
    return overrides


@main.command()
@click.option("--db", "db", required=True, type=_PathParam(exists=True, dir_okay=False, path_type=Path),
              help="Store holding reference-only sightings (a dataset ingested with `provaudit ingest`).")
@click.option("--sample", type=click.IntRange(min=1), help="Fetch this many image URLs, drawn by a hash of the URL "
              "(the same sample every time).")
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every image URL not fetched yet.")
@click.option("--country", help="Only images attributed to this ISO 3166-1 alpha-2 country (any tier; run "
              "`provaudit audit` first).")
@click.option("--proxy", help="HTTP proxy for every request (e.g. the test web's proxy URL).")
@click.option("--no-warc", is_flag=True, help="Do not write the WARC evidence file.")
@click.option("--no-throttle", is_flag=True, help="Turn AutoThrottle off (for loopback or your own servers).")
@click.option("--faces/--no-faces", "faces", default=None,
              help="Detect faces in every image (AUDIT_FACES) "
              f"[default: {'on' if DEFAULTS['AUDIT_FACES'] else 'off'}].")
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE", help="Any Scrapy or AUDIT_* setting.")
def fetch(db: Path, sample: int | None, fetch_all: bool, country: str | None, proxy: str | None, no_warc: bool,
          no_throttle: bool, faces: bool | None, settings: tuple[str, ...]) -> None:
    """Fetch the images a dataset lists by URL only, as a crawl (robots.txt obeyed, throttled, WARC kept): record
    whether each link still works and still serves the published bytes, and give the sightings of every link that
    does the image received. Run it again to go on where it stopped; then run `provaudit audit`."""
    from audit.crawl.fetch import FetchSpider, fetch_settings, link_fetched, references_to_fetch
    from audit.crawl.run import run_crawl
    from audit.store.db import Store

    if (sample is None) == (not fetch_all):
        raise click.ClickException("give --sample N or --all")
    cc = _check_country(country) if country is not None else None
    with _errors():
        with Store.open(db, read_only=True, memory=_db_memory()) as store:
            if cc is not None and not store.query("SELECT count(*) FROM attributions")[0][0]:
                raise ValueError("--country needs attributions: run `provaudit audit --db FILE` first")
            urls = references_to_fetch(store, sample=sample, country=cc)
    if not urls:
        out.print("nothing to fetch: no reference-only image URL left unchecked"
                  + (f" among the images attributed to {cc}" if cc else ""))
        return
    overrides = _crawl_overrides(fetch_settings(urls, str(db)), proxy=proxy, no_warc=no_warc,
                                 no_throttle=no_throttle, faces=faces)
    overrides.update(_parse_setting(settings))
    with _recorded("fetch", db) as run, _errors(), _progress({"images": len(urls), "MB": None}, "fetch") as progress:
        result = run_crawl(urls, db, allowed_domains=[], settings=overrides, progress=progress, spider=FetchSpider)
        if result.warc_path:
            run.add_output(result.warc_path, "warc")
    with _errors(), Store.open(db, memory=_db_memory()) as store:
        counts = link_fetched(store, result.crawl_id)
    table = Table(title=f"fetch {rich_text(result.crawl_id)}", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (("image URLs asked for", len(urls)), ("checked", counts["checked"]),
                         ("still online (a readable image came back)", counts["online"]),
                         ("bytes other than the published hash", counts["changed"]),
                         ("robots.txt refusals", int(result.stats.get("robotstxt/forbidden", 0) or 0)),
                         ("sightings given their bytes", counts["relinked"])):
        table.add_row(label, f"{value:,}")
    out.print(table)
    if result.warc_path:
        out.print(f"WARC:  {rich_text(result.warc_path)}")
    out.print(f"next: provaudit audit --db {rich_text(db)} (the fetched bytes' signals, faces and near-duplicates)")


_TIMEOUT = click.FloatRange(min=0, min_open=True)


def _bounds(timeout: float | None, max_pixels: int | None = None) -> Any:
    from audit.decode.workers import Bounds

    return Bounds(timeout=timeout if timeout is not None else float(DEFAULTS["AUDIT_ANALYSIS_TIMEOUT"]),
                  max_memory=int(DEFAULTS["AUDIT_ANALYSIS_MEMORY"]),
                  max_pixels=max_pixels if max_pixels is not None else int(DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"]))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=_PathParam(path_type=Path))
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="DuckDB store to write (created if missing).")
@click.option("--crawl-id", help="Record under this crawl id (default: derived from the inputs, so re-ingesting "
              "the same inputs adds nothing).")
@click.option("--timeout", type=_TIMEOUT, default=None, metavar="SECONDS",
              help=f"Per-image analysis time bound (default: AUDIT_ANALYSIS_TIMEOUT, "
              f"{DEFAULTS['AUDIT_ANALYSIS_TIMEOUT']:g}).")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=None,
              help=f"Analysis worker processes (default: AUDIT_ANALYSIS_PROCESSES, "
              f"{DEFAULTS['AUDIT_ANALYSIS_PROCESSES']}); for WAT files, reading processes (default: the idle cores).")
@click.option("--max-file-bytes", type=click.IntRange(min=1), default=None, metavar="BYTES",
              help=f"Largest file read, archives included (default: AUDIT_MAX_FILE_BYTES, "
              f"{DEFAULTS['AUDIT_MAX_FILE_BYTES'] / 1024**3:g} GiB).")
@click.option("--faces/--no-faces", "faces", default=None,
              help="Detect faces in every image (AUDIT_FACES) "
              f"[default: {'on' if DEFAULTS['AUDIT_FACES'] else 'off'}].")
@click.option("--format", "fmt", type=click.Choice(["auto", "archive", "files", "table", "img2dataset", "wat"]),
              default="auto", show_default=True, help="What the inputs are: WARC/ARC archives, image files and "
              "folders, URL + caption tables (Parquet, CSV, TSV: LAION-style datasets, read as reference-only "
              "sightings), img2dataset output folders (files, webdataset or parquet layout) or Common Crawl WAT "
              "files (each page's image links as reference-only sightings); auto tells them by "
              "their content.")
@click.option("--columns", metavar="ROLE=COLUMN,...",
              help="For tables: the columns holding each role where the usual names (URL/url, TEXT/caption, ...) "
              "are not used; roles: url, caption, page_url, sha256, md5.")
def ingest(paths: tuple[Path, ...], db: Path, crawl_id: str | None, timeout: float | None,
           workers: int | None, max_file_bytes: int | None, faces: bool | None, fmt: str,
           columns: str | None) -> None:
    """Ingest WARC/ARC archives, folders of image files or single image files, dataset tables (URL + caption rows,
    LAION-style) or Common Crawl WAT files into the store DB; a folder written by `provaudit export --format parquet`
    is read back as it was exported."""
    with _recorded("ingest", db, paths):
        _ingest(paths, db, crawl_id, timeout, workers, max_file_bytes, faces, fmt, columns)


def _ingest(paths: tuple[Path, ...], db: Path, crawl_id: str | None, timeout: float | None, workers: int | None,
            max_file_bytes: int | None, faces: bool | None, fmt: str, columns: str | None) -> None:
    from audit.ingest.archive import ArchiveLimits
    from audit.ingest.datasets import table_inputs
    from audit.ingest.run import ingest as run_ingest
    from audit.outputs.summary import store_summary
    from audit.store.db import Store
    from audit.store.export import import_export, is_export

    with _errors():
        from audit.ingest.tables import parse_columns

        mapping = parse_columns(columns)
        wat = _wat_inputs(paths, fmt)
    if wat:
        if mapping:
            raise click.ClickException("--columns applies to tables only (--format table)")
        _ingest_wat(paths, db, crawl_id, max_file_bytes, workers)
        return
    with _errors():
        from audit.ingest.img2dataset_run import img2dataset_inputs

        exports = [p for p in paths if is_export(p)]  # read once: each reads a manifest
        i2d = fmt == "img2dataset" or (fmt == "auto" and not exports
                                       and img2dataset_inputs(list(paths)) is not None)
        tables = not i2d and (fmt == "table" or (fmt == "auto" and not exports
                                                 and table_inputs(list(paths)) is not None))
    if fmt == "auto" and not (i2d or tables):
        _refuse_mixed_tables(paths)
    if i2d and mapping:
        raise click.ClickException("--columns applies to tables only (--format table)")
    if i2d:
        _ingest_img2dataset(paths, db, crawl_id, timeout, workers, max_file_bytes, faces)
        return
    if tables:
        _ingest_tables(paths, db, crawl_id, mapping, max_file_bytes)
        return
    if mapping:
        raise click.ClickException("--columns applies to tables only (--format table)")
    if fmt == "archive":
        from audit.ingest.run import is_archive

        not_archives = [p for p in paths if p.is_dir() or not is_archive(p)]
        if not_archives:
            raise click.ClickException(f"--format archive: not a WARC/ARC file: {rich_text(not_archives[0])}")
    if exports:
        if len(exports) != len(paths) or crawl_id:
            raise click.ClickException("ingest exports on their own (they keep their crawl ids): "
                                       "give only export folders, without --crawl-id")
        with _errors(), Store.open(db, memory=_db_memory()) as store:
            for path in exports:
                imported = import_export(store, path,
                                         max_value_bytes=int(DEFAULTS["AUDIT_IMPORT_MAX_VALUE_BYTES"]),
                                         memory=int(DEFAULTS["AUDIT_IMPORT_MEMORY"]))
                added = sum(imported.added.values())
                console.print(f"{rich_text(path)}: {added:,} rows added of {sum(imported.offered.values()):,} "
                              f"({', '.join(f'{k} {v:,}' for k, v in imported.added.items() if v) or 'all present'})")
        return
    bounds = _bounds(timeout)
    with _errors(), Store.open(db, memory=_db_memory()) as store, \
            _progress({"pages": None, "images": None, "sightings": None}, "ingest") as bar:
        result = run_ingest(store, paths, crawl_id=crawl_id, progress=bar, timeout=bounds.timeout,
                            max_memory=bounds.max_memory, max_pixels=bounds.max_pixels,
                            max_image_bytes=int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
                            max_page_bytes=int(DEFAULTS["AUDIT_MAX_PAGE_BYTES"]),
                            workers=workers or int(DEFAULTS["AUDIT_ANALYSIS_PROCESSES"]),
                            max_file_bytes=max_file_bytes or int(DEFAULTS["AUDIT_MAX_FILE_BYTES"]),
                            archive_limits=ArchiveLimits(
                                max_line=int(DEFAULTS["AUDIT_ARCHIVE_MAX_HEADER_LINE"]),
                                max_header=int(DEFAULTS["AUDIT_ARCHIVE_MAX_HEADER_BYTES"])),
                            faces=bool(DEFAULTS["AUDIT_FACES"]) if faces is None else faces)
        summary = store_summary(store, result.crawl_id)
    summary["skipped"] = len(result.skipped)
    if result.revisits_resolved or result.revisits_unresolved:
        summary["revisits_resolved"] = result.revisits_resolved
        summary["revisits_unresolved"] = result.revisits_unresolved
    if result.referer_links:
        summary["referer_links"] = result.referer_links
    if result.links_not_images:
        summary["links_not_images"] = result.links_not_images
    if result.stylesheets or result.stylesheet_links:
        summary["stylesheets"] = result.stylesheets
        summary["stylesheet_links"] = result.stylesheet_links
    _print_summary(f"ingest {result.crawl_id}", summary)
    for err in result.errors:
        console.print(f"[yellow]warning:[/] {rich_text(err)}")
    if result.revisits_unresolved:
        console.print(f"[yellow]warning:[/] {result.revisits_unresolved} WARC revisit record(s) had no original in "
                      "this ingest: their captures are not recorded (ingest them with the archives holding the "
                      "originals)")
    if result.analysis.get("timed_out") or result.analysis.get("crashed"):
        console.print(f"[yellow]warning:[/] {result.analysis.get('timed_out', 0)} image(s) over the time bound, "
                      f"{result.analysis.get('crashed', 0)} crashed a decoder: recorded with their errors")


def _refuse_mixed_tables(paths: tuple[Path, ...]) -> None:
    """Refuse dataset tables (or folders of their shards) named beside archives, folders or images: read with them,
    a table would be one more file, its rows lost without a word."""
    from audit.ingest.tables import is_table, table_shards
    from audit.store.export import is_export

    with _errors():
        # an export folder holds Parquet files too, but is read back as an export (refused with other inputs there)
        found = [p for p in paths if (p.is_file() and is_table(p))
                 or (p.is_dir() and not is_export(p) and table_shards(p) is not None)]
    others = [p for p in paths if p not in found]
    if found and others:
        raise click.ClickException(f"{rich_text(found[0])} is a dataset table: tables are ingested on their own "
                                   f"(one reference-only sighting per row, a crawl of kind dataset), not with "
                                   f"{rich_text(others[0])}; run one ingest for each")


def _wat_inputs(paths: tuple[Path, ...], fmt: str) -> bool:
    """Whether the inputs are Common Crawl WAT files (by content, or ``--format wat``); mixing them with other inputs
    is refused."""
    if fmt not in ("auto", "wat"):
        return False
    from audit.ingest.wat import is_wat

    wats = [p for p in paths if p.is_file() and is_wat(p)]
    others = [p for p in paths if p not in wats]
    if fmt == "wat" and others:
        raise click.ClickException(f"--format wat: not a Common Crawl WAT file: {rich_text(others[0])}")
    if wats and others:
        raise click.ClickException(f"{rich_text(wats[0])} is a Common Crawl WAT file: WAT files are ingested on "
                                   f"their own (reference-only sightings, a crawl of kind wat), not with "
                                   f"{rich_text(others[0])}; run one ingest for each")
    return bool(wats)


def _ingest_wat(paths: tuple[Path, ...], db: Path, crawl_id: str | None, max_file_bytes: int | None,
                workers: int | None) -> None:
    from audit.ingest.watrun import ingest_wat
    from audit.outputs.summary import store_summary
    from audit.store.db import Store

    with _errors(), Store.open(db, memory=_db_memory()) as store, _progress({"pages": None}, "ingest (WAT)") as bar:
        result = ingest_wat(store, list(paths), crawl_id=crawl_id, progress=bar, workers=workers,
                            max_file_bytes=max_file_bytes or int(DEFAULTS["AUDIT_MAX_FILE_BYTES"]))
        summary = store_summary(store, result.crawl_id)
    shown = ("wat_files", "metadata_records", "records_not_pages", "bad_records", "wat_pages", "image_links",
             "sightings", "image_urls", "reference_only_images")
    summary.update(wat_files=result.files, metadata_records=result.records, bad_records=result.bad_records,
                   image_links=result.image_links, wat_pages=result.pages,
                   records_not_pages=sum(result.skipped.values()))
    summary = {k: summary[k] for k in shown if k in summary}
    _print_summary(f"ingest {result.crawl_id} (Common Crawl WAT: image links as reference-only sightings, no "
                   "bytes fetched)", summary)
    for err in result.errors:
        console.print(f"[yellow]warning:[/] {rich_text(err)}")


def _ingest_tables(paths: tuple[Path, ...], db: Path, crawl_id: str | None, mapping: dict[str, str],
                   max_file_bytes: int | None) -> None:
    from audit.ingest.datasets import ingest_tables
    from audit.outputs.summary import store_summary
    from audit.store.db import Store

    with _errors(), Store.open(db, memory=_db_memory()) as store, _progress({"rows": None}, "ingest (table)") as bar:
        result = ingest_tables(store, list(paths), columns=mapping, crawl_id=crawl_id, progress=bar,
                               max_file_bytes=max_file_bytes or int(DEFAULTS["AUDIT_MAX_FILE_BYTES"]))
        summary = store_summary(store, result.crawl_id)
    shown = ("files", "rows", "bad_rows", "bad_files", "sightings", "image_urls", "reference_only_images")
    summary.update(files=result.files, rows=result.rows, bad_rows=result.bad_rows, bad_files=result.bad_files)
    summary = {k: summary[k] for k in shown if k in summary}
    _print_summary(f"ingest {result.crawl_id} (dataset: reference-only sightings, no bytes fetched)", summary)
    for err in result.errors:
        console.print(f"[yellow]warning:[/] {rich_text(err)}")


def _ingest_img2dataset(paths: tuple[Path, ...], db: Path, crawl_id: str | None, timeout: float | None,
                        workers: int | None, max_file_bytes: int | None, faces: bool | None) -> None:
    from audit.ingest.img2dataset_run import ingest_img2dataset
    from audit.outputs.summary import store_summary
    from audit.store.db import Store

    bounds = _bounds(timeout)
    with _errors(), Store.open(db, memory=_db_memory()) as store, \
            _progress({"samples": None}, "ingest (img2dataset)") as bar:
        result = ingest_img2dataset(store, list(paths), crawl_id=crawl_id, progress=bar, timeout=bounds.timeout,
                                    max_memory=bounds.max_memory, max_pixels=bounds.max_pixels,
                                    max_image_bytes=int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
                                    max_file_bytes=max_file_bytes or int(DEFAULTS["AUDIT_MAX_FILE_BYTES"]),
                                    workers=workers or int(DEFAULTS["AUDIT_ANALYSIS_PROCESSES"]),
                                    faces=bool(DEFAULTS["AUDIT_FACES"]) if faces is None else faces)
        summary = store_summary(store, result.crawl_id)
    summary.update(shards=result.shards, samples=result.samples, samples_with_bytes=result.with_bytes,
                   samples_reference_only=result.reference_only, bad_samples=result.bad_samples,
                   **{f"published_{k}": v for k, v in result.published.items()})
    layouts = ", ".join(f"{k} {v}" for k, v in sorted(result.layouts.items()))
    _print_summary(f"ingest {result.crawl_id} (img2dataset: {layouts})", summary)
    for err in result.errors:
        console.print(f"[yellow]warning:[/] {rich_text(err)}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=_PathParam(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line and file.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=int(DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"]),
              show_default=True, help="Do not decode images with more pixels than this (AUDIT_MAX_IMAGE_PIXELS).")
@click.option("--timeout", type=_TIMEOUT, default=None, metavar="SECONDS",
              help=f"Per-file analysis time bound (default: AUDIT_ANALYSIS_TIMEOUT, "
              f"{DEFAULTS['AUDIT_ANALYSIS_TIMEOUT']:g}).")
@click.option("--faces/--no-faces", "faces", default=None,
              help="Detect faces and show their boxes (AUDIT_FACES; off by default, as in crawl and ingest). "
              "Detection only, never recognition.")
def inspect(files: tuple[Path, ...], as_json: bool, max_pixels: int, timeout: float | None,
            faces: bool | None) -> None:
    """Show what the store would record for each image FILE: digest, size, hashes, GPS, time, location; with
    --faces, where faces are."""
    from audit.outputs.inspection import inspect_files

    failed = 0
    with _errors():
        objs = inspect_files(files, bounds=_bounds(timeout, max_pixels),
                             max_file_bytes=int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
                             max_read_bytes=int(DEFAULTS["AUDIT_MAX_FILE_BYTES"]),
                             faces=bool(DEFAULTS["AUDIT_FACES"]) if faces is None else faces)
        for obj in objs:
            if obj["sha256"] is None:
                failed += 1
            if as_json:
                out.print(json_dumps(obj), markup=False, highlight=False)
            else:
                _print_inspect(obj)
    if failed == len(files):
        sys.exit(1)


def _gps_text(gps: dict[str, Any]) -> str:
    """GPS for a person: six decimals (about 0.1 m), the altitude to the decimetre (JSON keeps full precision)."""
    def num(v: Any, places: int) -> str:
        return f"{v:.{places}f}" if isinstance(v, int | float) else str(v)

    text = f"{num(gps.get('lat'), 6)}, {num(gps.get('lon'), 6)}"
    if gps.get("alt") is not None:
        text += f" (altitude {num(gps['alt'], 1)} m)"
    rest = {k: v for k, v in gps.items() if k not in ("lat", "lon", "alt")}
    return text + (f" {json_dumps(rest)}" if rest else "")


def _print_inspect(obj: dict[str, Any]) -> None:
    table = Table(title=rich_text(obj["path"]), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in obj.items():
        if key in ("path", "signals", "attribution"):
            continue
        if key == "gps" and isinstance(value, dict):
            shown = _gps_text(value)
        else:
            shown = "—" if value is None else json_dumps(value) if isinstance(value, dict | list) else value
        table.add_row(key, rich_text(shown))
    for sig in obj.get("signals", []):
        table.add_row(rich_text(f"signal {sig['kind']}"),
                      rich_text(f"{sig['country']} ({sig['strength']}): {sig['evidence']}"))
    if obj.get("attribution"):
        table.add_row("attribution", rich_text(obj["attribution"]["explanation"]))
        for answer in ("capture", "residence"):
            if one := obj["attribution"].get(answer):
                table.add_row(f"{answer} answer", rich_text(f"{one['country'] or '—'} ({one['tier']}): "
                                                            f"{one['explanation']}"))
    out.print(table)


def _print_summary(title: str, summary: dict[str, Any]) -> None:
    from audit.crawl.bounds import CUT_REASONS

    table = Table(title=rich_text(title), show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    labels = {
        "pages": "pages fetched", "page_errors": "pages that failed", "sightings": "image sightings",
        "image_urls": "distinct image URLs", "images": "distinct images (by content)",
        "images_without_page": "images tied to no page",
        "readable_images": "readable images", "with_exif": "images with EXIF", "with_gps": "images with EXIF GPS",
        "with_location": "images with IPTC/XMP location", "with_utc_offset": "images with a UTC offset",
        "image_bytes": "image bytes", "fetch_errors": "image fetches that failed",
        "skipped": "paths not read (not regular files, outside the folder, too large)",
        "captures": "captures of pages and images (several of one URL counted apart)",
        "revisit_captures": "captures read through a WARC revisit record",
        "revisits_resolved": "WARC revisits resolved to their original",
        "revisits_unresolved": "WARC revisits with no original in this ingest",
        "referer_links": "images linked to a page by their request's Referer",
        "links_not_images": "links to image-looking URLs the archives hold no image for (not sightings)",
        "stylesheets": "stylesheets read (text/css)",
        "stylesheet_links": "images linked to a page by a stylesheet it links",
        "reference_only_images": "images known by URL only (no bytes yet)",
        "shards": "img2dataset shards read", "samples": "img2dataset samples read",
        "samples_with_bytes": "samples with image bytes (analysed)",
        "samples_reference_only": "samples without bytes (failed downloads: reference-only sightings)",
        "bad_samples": "samples with a problem (named below)",
        "published_sha256_matched": "bytes matching their published sha256",
        "published_sha256_reencoded": "bytes resized by img2dataset (their published sha256 is of the original)",
        "published_sha256_mismatched": "bytes not matching their published sha256 at the original's size (named "
                                       "below)",
        "published_md5_matched": "bytes matching their published md5",
        "published_md5_reencoded": "bytes resized by img2dataset (their published md5 is of the original)",
        "published_md5_mismatched": "bytes not matching their published md5 at the original's size (named below)",
        "files": "table files read", "rows": "table rows read", "bad_rows": "table rows left out (named below)",
        "bad_files": "table files not read to their end (named below)",
        "wat_files": "WAT files read", "metadata_records": "WAT metadata records read (JSON)",
        "records_not_pages": "WAT records describing no HTML response (warcinfo, requests, non-HTML)",
        "bad_records": "WAT records not read (named below)", "wat_pages": "pages described (HTML responses)",
        "image_links": "image links read (one per page and image URL)",
        "retries": "requests retried", "retries_exhausted": "requests that failed every retry",
        "robots_forbidden": "requests forbidden by robots.txt",
        **{"cut_" + reason: "cut: " + what for reason, what in CUT_REASONS.items()},
    }
    for key, label in labels.items():
        if key in summary:
            table.add_row(label, f"{summary[key]:,}")
    out.print(table)


@main.command()
@click.option("--out", "out_dir", default="demo-out", show_default=True, type=_PathParam(file_okay=False,
              path_type=Path), help="Output folder (store, WARC, test web cache).")
@click.option("--photos", default=2000, show_default=True, type=click.IntRange(min=10),
              help="Photos in the generated test web.")
@click.option("--seed", default=2022, show_default=True, type=int, help="Seed of the test web.")
@click.option("--faces/--no-faces", "faces", default=True, show_default=True,
              help="Detect faces during the demo's crawl (AUDIT_FACES), so that the report has its people view and "
              "evaluate its detection figures; it roughly doubles the crawl's CPU time (docs/benchmarks.md).")
def demo(out_dir: Path, photos: int, seed: int, faces: bool) -> None:
    """Build and serve the test web, crawl it into a fresh store, load the ground truth and summarise."""
    from audit.testbed.demo import run_demo

    started = time.perf_counter()
    console.print(f"[bold]•[/] building the test web ({photos} photos, seed {seed}; cached in {rich_text(out_dir)})")
    web = _build_web(out_dir / "testweb", photos, seed)
    built = time.perf_counter() - started
    manifest: dict[str, Any] = dict(web.manifest)
    totals = {"pages": int(manifest.get("pages", 0)) or None, "images": web.image_urls,
              "MB": int(manifest.get("bytes", 0)) // 1_000_000 or None}
    with _errors(), _progress(totals, "demo crawl") as progress:
        result = run_demo(out_dir, photos=photos, seed=seed, progress=progress,
                          settings={**_crawl_log_level(), "AUDIT_FACES": faces},
                          stage=lambda text: console.print(f"[bold]•[/] {rich_text(text)}", soft_wrap=True))
    _print_summary(f"demo crawl {result.crawl_id}", result.summary)
    t = result.truth
    truth = Table(title="checked against the test web's ground truth", show_header=False, title_justify="left")
    truth.add_column("what")
    truth.add_column("found", justify="right")
    truth.add_row("image URLs found", f"{t['image_urls_found']:,} of {t['gt_image_urls']:,}")
    truth.add_row("sightings found", f"{t['sightings_found']:,} of {t['gt_sightings']:,}")
    truth.add_row("bytes identical to what was served", f"{t['bytes_identical']:,} of {t['gt_image_urls']:,}")
    truth.add_row("GPS decoded where it was kept", f"{t['gps_decoded']:,} of {t['gt_with_gps']:,}")
    truth.add_row("GPS decoded where none was kept", f"{t['gps_where_none_kept']:,}")
    out.print(truth)
    _print_audit(result.audit)
    out.print(_evaluation_table(result.evaluation, kinds=False))
    out.print(_detection_text(result.evaluation.detection))
    out.print("per signal kind: provaudit evaluate --db " + rich_text(result.db_path))
    if result.validation:
        out.print(_validation_vs_truth(result.validation))
    v = result.verify_summary or {}
    out.print(f"a sloppy vendor's deletion, checked: of {v.get('should_be_gone', 0):,} images that should be gone, "
              f"{v.get('should_be_gone_still_present', 0):,} are still there (same bytes or near-duplicates): "
              f"{rich_text(v.get('verdict', '—'))}")
    d = result.dataset
    if d:
        def share(part: dict[str, int]) -> str:
            return f"{part['attributed'] / part['images']:.1%}" if part["images"] else "—"

        out.print(f"the same web as a LAION-style table: {d['rows']:,} rows (every <img> with an alt text) naming "
                  f"{d['images']:,} image URLs; {share(d['table'])} of them attributed to {d['country']} from the "
                  f"URL and alt text alone ({share(d['crawl'])} of the crawl's images); the signals a row can carry "
                  f"are the crawl's for {d['same']:,} of {d['urls']:,} URLs ({d['same_tld_same']:,} of "
                  f"{d['same_tld_urls']:,} where page and image share their TLD)")
    s = result.seconds
    _print_banner(True)  # the demo's store is the built-in test web's, and every output built on it says so
    out.print(f"store:   {rich_text(result.db_path)}\nWARC:    {rich_text(result.warc_path)}\n"
              f"report:  {rich_text(result.report)} (and its .json)\nverify:  {rich_text(result.verification)}"
              + (f"\ntable:   {rich_text(d['path'])} (LAION-style, reference-only)" if d else ""))
    out.print(f"time: {time.perf_counter() - started:.0f} s (test web {built:.0f} s, crawl {s['crawl']:.0f} s, "
              f"audit {s['audit']:.0f} s, table {s.get('dataset', 0):.0f} s)")


def _validation_vs_truth(loop: dict[str, Any]) -> Table:
    """The demo's validation loop: each estimate from the sample labelled from the ground truth, beside the true
    value computed from the truth of every image."""
    v, truth = loop["validation"], loop["truth"]
    table = Table(title=f"validation of {rich_text(v['country'])} on a sample of {v['labels']:,} labelled from the "
                  "ground truth: estimate (95% interval) and true value", title_justify="left")
    for col in ("question", "stratum", "estimate", "true value", "covered"):
        table.add_column(col, justify="left" if col in ("question", "stratum") else "right")
    for r in v["rows"]:
        t = truth[r["question"]][r["stratum"]]
        if r["estimate"] is None:
            continue
        if r["missed"] is not None:
            est, true, lo, hi = (f"{r['missed']:,.0f} missed [{r['missed_low']:,.0f}, {r['missed_high']:,.0f}]",
                                 f"{t['missed']:,}", r["missed_low"], r["missed_high"])
            value = float(t["missed"])
        else:
            est, lo, hi = f"{r['estimate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]", r["low"], r["high"]
            value = t["share"]
            true = "—" if value is None else f"{value:.3f}"
        covered = "—" if value is None else ("yes" if lo - 1e-9 <= value <= hi + 1e-9 else "no")
        table.add_row(rich_text(r["question"]), rich_text(r["stratum"]), est, true, covered)
    return table


@main.command("export")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="The store to export (opened read-only).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True,
              help="Parquet (lossless, read back by `provaudit ingest`) or CSV (text; formula cells escaped).")
@click.option("--out", "out_dir", required=True, type=_PathParam(file_okay=False, path_type=Path),
              help="A new or empty folder: one subfolder per table, one file per crawl, and manifest.json.")
@click.option("--no-face-boxes", "no_face_boxes", is_flag=True,
              help="Leave out the faces table (where each detected face is); images.face_count is kept.")
def export_command(db: Path, fmt: str, out_dir: Path, no_face_boxes: bool) -> None:
    """Write every table of the store DB as Parquet or CSV files, for Spark, pandas or polars."""
    from audit.store.db import Store
    from audit.store.export import export_store

    run = _start_run("export")
    run.add_input(db, "store")
    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        result = export_store(store, out_dir, fmt=fmt, face_boxes=not no_face_boxes)
        from audit.store.export import MANIFEST

        _written(run, [out_dir / MANIFEST])
    files = sum(len(f) for f in result.files.values())
    console.print(f"exported {sum(result.rows.values()):,} rows of {len(result.rows)} tables in {files} "
                  f"{fmt} files to {rich_text(out_dir)}")


@main.command("fixity")
@click.argument("folder", type=_PathParam(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def fixity_command(folder: Path, as_json: bool) -> None:
    """Check that the outputs under FOLDER (reports, sweeps, verifications, exports, packages) are the files provaudit
    wrote: every file its fixity manifests (provaudit-fixity.json) and export manifests record is hashed again.

    \b
    Exit status:
      0  every recorded file is unchanged
      1  bad input: no manifest under FOLDER, or one that cannot be read
      3  a recorded file changed or is missing (each is named)
    """
    from audit.outputs.fixity import check

    with _errors():
        result = check(folder)
    if as_json:
        out.print(json_dumps(result.to_dict(), indent=2), markup=False)
    else:
        table = Table(title=f"fixity of {rich_text(folder)}", title_justify="left")
        for col in ("file", "status", "written by", "SHA-256 recorded"):
            table.add_column(col)
        colour = {"ok": "green", "changed": "red", "missing": "red"}
        for f in result.files:
            table.add_row(rich_text(f.path), f"[{colour[f.status]}]{f.status}[/]",
                          rich_text(f"{f.command} {f.recorded or ''}".strip()), rich_text((f.expected or "")[:16]))
        out.print(table)
        if result.unrecorded:
            console.print(f"[yellow]{len(result.unrecorded):,} file(s) not recorded by any manifest[/] (not checked: "
                          "inputs, stores, files written by hand), e.g. "
                          f"{', '.join(rich_text(u) for u in result.unrecorded[:5])}", soft_wrap=True)
    failed = result.failed
    if failed:
        for f in failed:
            console.print(f"[bold red]{f.status}:[/] {rich_text(f.path)} (recorded SHA-256 {rich_text(f.expected)}, "
                          f"now {rich_text(f.actual or 'no file')})")
        raise SystemExit(3)
    console.print(f"[green]intact:[/] {len(result.files):,} file(s) match their recorded SHA-256")


@main.command("sql")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="The store (opened read-only: nothing is changed, no other file can be read).")
@click.argument("query", required=False)
@click.option("--csv", "as_csv", is_flag=True, help="Print the rows as CSV (formula starts escaped).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON, one object per line.")
@click.option("--max-rows", type=click.IntRange(min=1), default=100, show_default=True,
              help="Rows printed per statement (the others are counted).")
def sql_command(db: Path, query: str | None, as_csv: bool, as_json: bool, max_rows: int) -> None:
    """Query the store DB with SQL, read-only: QUERY (one or more statements), else statements read from standard
    input, or typed at a prompt on a terminal (end each with ';'; .tables lists the tables and views, .schema NAME
    shows one, .quit leaves). The views image_sightings, host_signals, cluster_members and attribution_evidence
    answer the common questions (docs/explore.md).

    \b
    Exit status: 0, or 1 when a statement failed (each error is printed on one line)."""
    from audit.outputs.sqlshell import run_statements
    from audit.store.db import Store

    if as_csv and as_json:
        raise click.ClickException("give --csv or --json, not both")
    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        if query is not None:
            failed = _sql_print(run_statements(store, query, max_rows=max_rows), as_csv, as_json)
        elif not sys.stdin.isatty():
            failed = _sql_print(run_statements(store, sys.stdin.read(), max_rows=max_rows), as_csv, as_json)
        else:
            failed = _sql_prompt(store, max_rows, as_csv, as_json)
    if failed:
        raise SystemExit(1)


def _sql_print(results: Iterable[Any], as_csv: bool, as_json: bool) -> bool:
    from audit.outputs.sqlshell import result_table, write_csv, write_jsonl

    failed = False
    for r in results:
        if r.error:
            console.print(f"[bold red]error:[/] {rich_text(r.error)}", soft_wrap=True)
            failed = True
        elif not r.columns:
            continue
        elif as_csv:
            write_csv(r, sys.stdout)
        elif as_json:
            write_jsonl(r, sys.stdout)
        else:
            out.print(result_table(r))
    sys.stdout.flush()
    return failed


def _sql_prompt(store: Any, max_rows: int, as_csv: bool, as_json: bool) -> bool:
    from audit.outputs.sqlshell import catalogue, run_statements
    from audit.schema import TABLES_BY_NAME

    console.print(f"provaudit sql on {rich_text(store.path)} (read-only). End statements with ';'. .tables, "
                  ".schema NAME, .quit")
    views = {v[0]: v for v in catalogue() if v[1] == "view"}
    buffer: list[str] = []
    failed = False
    while True:
        try:
            line = input("   ...> " if buffer else "provaudit> ")
        except EOFError:
            break
        word = line.strip()
        if not buffer and word.startswith("."):
            cmd, _, arg = word.partition(" ")
            if cmd in (".quit", ".exit"):
                break
            if cmd == ".tables":
                table = Table(show_header=True)
                for col in ("name", "kind", "what it holds"):
                    table.add_column(col, overflow="fold")
                for name, kind, doc in catalogue():
                    table.add_row(name, kind, rich_text(doc))
                out.print(table)
            elif cmd == ".schema" and arg.strip() in TABLES_BY_NAME:
                t = TABLES_BY_NAME[arg.strip()]
                out.print(rich_text(t.ddl()), markup=False)
            elif cmd == ".schema" and arg.strip() in views:
                out.print(rich_text(views[arg.strip()][2]), markup=False)
            else:
                console.print("commands: .tables, .schema NAME, .quit")
            continue
        buffer.append(line)
        if word.endswith(";"):
            failed |= _sql_print(run_statements(store, "\n".join(buffer), max_rows=max_rows), as_csv, as_json)
            buffer = []
    return failed


@main.command("merge")
@click.argument("shards", nargs=-1, required=True, type=_PathParam(dir_okay=False, path_type=Path))
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="The store to merge into (created if missing).")
def merge_command(shards: tuple[Path, ...], db: Path) -> None:
    """Add the crawl rows of store SHARDS (e.g. one per crawl worker) to DB, without duplicates."""
    from audit.store.db import Store
    from audit.store.merge import merge_stores

    with _recorded("merge", db, shards), _errors(), Store.open(db, memory=_db_memory()) as store:
        result = merge_stores(store, shards)
    added = ", ".join(f"{k} {v:,}" for k, v in result.added.items() if v) or "nothing new"
    console.print(f"merged {result.shards} shard(s) into {rich_text(db)}: {added}")
    if result.derived_cleared:
        console.print(f"[yellow]run[/] provaudit audit --db {rich_text(db)} [yellow]to recompute signals and "
                      "attributions[/]")


@main.command("audit")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="The store to audit (its signals, clusters and attributions are replaced).")
@click.option("--phash-threshold", default=DEFAULT_PHASH_THRESHOLD, show_default=True, type=click.IntRange(0, 32),
              help="Largest pHash distance between near-duplicates.")
@click.option("--dhash-threshold", default=DEFAULT_DHASH_THRESHOLD, show_default=True, type=click.IntRange(0, 32),
              help="Largest dHash distance between near-duplicates.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes running the signal extractors [default: one per core from 50,000 sightings, else 1].")
@click.option("--faces", is_flag=True, help="First detect the faces of images recorded without them (an older store, "
              "--no-faces), reading their bytes back from the files, archives and crawl WARCs the store names.")
def audit_command(db: Path, phash_threshold: int, dhash_threshold: int, workers: int | None, faces: bool) -> None:
    """Compute every signal, near-duplicate cluster and country attribution for the store DB (offline)."""
    import duckdb

    from audit.derive.run import AUDIT_OPTIONS, audit_memory, run_audit
    from audit.progress import progress_line
    from audit.store.db import Store

    if not db.exists():
        raise click.ClickException(f"no store at {terminal_text(db)}")
    # a bound the user gave is used as it is; the default is a ceiling the audit rises to only if it needs it
    bounds = [_db_memory()] if _DB_MEMORY["given"] else audit_memory(db.stat().st_size, _db_memory())
    with _recorded("audit", db), _errors():
        for bound in bounds:
            try:
                with Store.open(db, options=AUDIT_OPTIONS, memory=bound) as store:
                    if faces:
                        _add_faces(store)
                        faces = False  # done, whatever happens next
                    result = run_audit(store, phash_threshold=phash_threshold, dhash_threshold=dhash_threshold,
                                       workers=workers, progress=progress_line("audit", console))
                break
            except duckdb.OutOfMemoryException as exc:
                if bound == bounds[-1]:
                    raise
                # the derived tables were rolled back: the audit runs again from the start, with all it may use
                console.print(f"[bold]•[/] audit: DuckDB ran out of the {format_size(bound)} the audit started with "
                              f"({rich_text(str(exc).strip().splitlines()[0])}); starting again with "
                              f"{format_size(bounds[-1])}", soft_wrap=True, highlight=False)
    _print_audit(result)


def _add_faces(store: Any) -> None:
    from audit.derive.faces import add_faces

    added = add_faces(store, bounds=_bounds(None), workers=int(DEFAULTS["AUDIT_ANALYSIS_PROCESSES"]),
                      max_image_bytes=int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
                      progress=lambda msg: console.print(f"[bold]•[/] {rich_text(msg)}"))
    console.print(f"[bold]•[/] faces: {added.detected:,} of {added.wanted:,} images detected "
                  f"({added.with_faces:,} show a face), {added.failed:,} failed, {added.not_found:,} "
                  "whose bytes were not found")


def _print_audit(result: Any) -> None:
    table = Table(title="audit", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("images", f"{result.images:,}")
    table.add_row("sightings", f"{result.sightings:,}")
    table.add_row("signals found", f"{result.signals:,}")
    table.add_row("signals carried over from near-duplicates", f"{result.propagated_signals:,}")
    table.add_row("opt-out signals", f"{result.opt_outs:,}")
    table.add_row("near-duplicate clusters (2+ images)", f"{result.clusters:,} ({result.clustered_images:,} images)")
    for tier in ("strong", "medium", "weak", "none"):
        table.add_row(f"attributed: {tier}", f"{result.tiers.get(tier, 0):,}")
    out.print(table)
    out.print(f"time: {result.seconds.get('total', 0):.1f} s")


@main.command("evaluate")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="An audited store of the test web (it has ground truth).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--direct", is_flag=True, help="Evaluate without near-duplicate propagation.")
def evaluate_command(db: Path, as_json: bool, direct: bool) -> None:
    """Compare attributions with the test web's ground truth: coverage, precision, recall (95% Wilson); and face
    detection, per image and per face, when the store's images went through it."""
    from audit.store.db import Store
    from audit.testbed.evaluate import evaluate

    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        ev = evaluate(store, propagated=not direct)
    if as_json:
        out.print(json_dumps(ev.as_dict(), indent=2), markup=False)
        return
    out.print(_evaluation_table(ev))
    out.print(f"GPS kept in {ev.gps_images:,} images; an exif_gps signal with the right capture country for "
              f"{ev.gps_right:,}")
    if ev.place_cases:
        out.print(_place_cases_table(ev.place_cases))
    out.print(_detection_text(ev.detection))


def _detection_text(det: dict[str, Any]) -> Table | str:
    """Face detection against the test web's labelled faces, or why there is none."""
    if det.get("status") == "not run":
        return ("face detection: not run on this store (crawl with --faces, or run `provaudit audit --faces --db "
                "FILE`)")
    if det.get("status") != "ran":
        return "face detection: this ground truth has no labelled faces (a test web built before it had them)"
    img, face = det["per_image"], det["per_face"]
    table = Table(title=f"face detection on {det['images']:,} images ({det['images_showing_faces']:,} showing a "
                  f"face; {face['labelled']:,} labelled faces, {face['found']:,} found, IoU >= {det['iou_min']}, "
                  f"large = at least {det['min_face_height']} px high)", title_justify="left")
    for col in ("", "precision", "recall"):
        table.add_column(col)
    table.add_row("per image (shows a face / a face found)", _fmt(img["precision"]), _fmt(img["recall"]))
    table.add_row("per face, all", _fmt(face["precision"]), _fmt(face["recall"]))
    table.add_row("per face, large", _fmt(face["precision_large"]), _fmt(face["recall_large"]))
    table.add_row("per face, small", _fmt(face["precision_small"]), _fmt(face["recall_small"]))
    for kind, rate in img["false_alarms"].items():
        table.add_row(rich_text(f"face found, image kind {kind} showing none"), _fmt(rate), "")
    return table


def _fmt(rate: dict[str, Any] | None) -> str:
    if not rate or not rate["n"]:
        return "—"
    return f"{rate['value']:.3f} [{rate['low']:.3f},{rate['high']:.3f}] n={rate['n']}"


def _evaluation_table(ev: Any, *, kinds: bool = True) -> Table:
    table = Table(title=f"evaluation on {ev.images:,} distinct photos of people with ground truth (95% Wilson "
                  "intervals)",
                  title_justify="left")
    for col in ("", "coverage", "precision, residence", "precision, capture"):
        table.add_column(col)
    for row in ev.rows:
        if row["group"] == "kind" and not kinds:
            continue
        label = {"tier": f"tier {row['name']}", "answer": f"answer: {row['name']}",
                 "family": f"family {row['name']}"}.get(row["group"], f"kind {row['name']}")
        table.add_row(rich_text(label), _fmt(row["coverage"]), _fmt(row.get("precision_residence")),
                      _fmt(row.get("precision_capture")))
    return table


def _place_cases_table(cases: list[dict[str, Any]]) -> Table:
    table = Table(title="places named in captions (place_in_text from alt text or caption, direct), by case of the "
                  "test web", title_justify="left")
    for col in ("case", "names a place", "images", "with a signal", "right place", "capture or residence",
                "above weak"):
        table.add_column(col)
    for row in cases:
        table.add_row(rich_text(row["name"]), "yes" if row["names_place"] else "no", f"{row['images']:,}",
                      _fmt(row["with_signal"]), _fmt(row["precision_named"]),
                      _fmt(row["precision_capture_or_residence"]), f"{row['above_weak']:,}")
    return table


def _min_face_height_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--min-face-height", type=click.IntRange(1, 100_000),
                        default=int(DEFAULTS["AUDIT_MIN_FACE_HEIGHT"]), show_default=True,
                        help="Face height (pixels, in the stored image) from which an image counts as showing a "
                        "person (AUDIT_MIN_FACE_HEIGHT).")(f)


def _pdf_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--pdf", is_flag=True, help="Also print the page to PDF beside it (same name, .pdf) through "
                        "the system's headless Chromium (AUDIT_RENDER_BROWSER); every printed page names the "
                        "store's SHA-256 and its page number.")(f)


def _pdf_browser(pdf: bool) -> str | None:
    """The Chromium that --pdf prints with (AUDIT_RENDER_BROWSER), checked to be there before the page is built;
    ``None`` without --pdf."""
    if not pdf:
        return None
    from audit.outputs.printing import check_browser

    browser = os.environ.get("AUDIT_RENDER_BROWSER") or str(DEFAULTS["AUDIT_RENDER_BROWSER"])
    check_browser(browser)
    return browser


def _print_pdf(html_path: Path, browser: str) -> Path:
    from audit.outputs.printing import DEFAULT_PDF_TIMEOUT, write_pdf

    return write_pdf(html_path, html_path.with_suffix(".pdf"), browser=browser, timeout=DEFAULT_PDF_TIMEOUT)


def _started(command: str, what: str) -> None:
    """The first line of a command that prints nothing else until it is done, once its inputs are checked: a failing
    command says only why."""
    console.print(f"{command}: started ({what})", soft_wrap=True)


def _faces_only_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = _min_face_height_option(f)
    return click.option("--faces-only", is_flag=True,
                        help="Only images showing people: at least one detected face of --min-face-height or more "
                        "(the store needs face detection: provaudit audit --faces).")(f)


@main.command("report")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path), help="Audited store.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 country the claim is about, e.g. FR.")
@click.option("--claim", help="The claim to test, quoted at the top (default: Clearview AI's answer to the CNIL for "
              "FR; the same argument applied to the country's people where its order is known, said to be a "
              "paraphrase; a neutral question elsewhere).")
@click.option("--out", "out_html", default=None, type=_PathParam(dir_okay=False, path_type=Path),
              help="HTML file [default: report-COUNTRY.html, e.g. report-FR.html]; the JSON is written beside it "
              "with the same name and .json.")
@click.option("--thumbnails", is_flag=True, help="Embed small thumbnails of the evidence sample (personal data: "
              "off by default), read from the crawl's WARC files.")
@click.option("--sample", "sample_size", default=40, show_default=True, type=click.IntRange(0, 1000),
              help="Images in the evidence sample.")
@_min_face_height_option
@_pdf_option
def report_command(db: Path, country: str, claim: str | None, out_html: Path | None, thumbnails: bool,
                   sample_size: int, min_face_height: int, pdf: bool) -> None:
    """Write the claim report for COUNTRY: one self-contained HTML file (report-FR.html unless told) and the same
    figures as JSON beside it (report-FR.json), opening with a verdict that can be quoted."""
    from audit.outputs.custody import custody
    from audit.outputs.report import build_report, save_report
    from audit.store.db import Store

    country = _check_country(country)
    run = _start_run("report")
    run.add_input(db, "store")
    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        browser = _pdf_browser(pdf)
        _require_audit(store)
        _started("report", f"{country}, store {rich_text(db)}")
        report = build_report(store, country, claim=claim, thumbnails=thumbnails, sample_size=sample_size,
                              bounds=_bounds(None), max_image_bytes=int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
                              min_face_height=min_face_height, provenance=custody(run, {"store": store}))
        html_path, json_path = save_report(report, out_html)
        pdf_path = _print_pdf(html_path, browser) if browser else None
        _written(run, [html_path, json_path, *([pdf_path] if pdf_path else [])])
    _print_banner(bool(report.data.get("test_web")))
    thumbs = report.data.get("thumbnails") or {}
    if thumbs.get("missing_warcs"):
        console.print(f"[yellow]warning:[/] {len(thumbs['missing_warcs'])} WARC file(s) the store names are missing "
                      f"({', '.join(rich_text(p) for p in thumbs['missing_warcs'][:3])}): {thumbs['found']} of "
                      f"{thumbs['wanted']} thumbnails found", soft_wrap=True)
    out.print(rich_text(report.data["verdict"]["sentence"]))
    out.print(f"report: {rich_text(html_path)}\nfigures: {rich_text(json_path)}"
              + (f"\nPDF: {rich_text(pdf_path)}" if pdf_path else ""))


@main.command("package")
@click.option("--db", "db", type=_PathParam(dir_okay=False, path_type=Path),
              help="The store whose captures are packaged (opened read-only).")
@click.option("--out", "out_path", type=_PathParam(dir_okay=False, path_type=Path), help="The WACZ file to write.")
@click.option("--country", help="Only the captures behind this country's attributed images (their sightings' pages "
              "and images); default: every capture of a page or an image.")
@click.option("--report", "reports", multiple=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="A report file to add under reports/ (repeat: report.html, report.json).")
@click.option("--max-bytes", "max_bytes", type=click.IntRange(1), default=None,
              help="Refuse to write more WARC data than this (default 64 GiB).")
@click.option("--check", "check_path", type=_PathParam(dir_okay=False, path_type=Path),
              help="Check a WACZ instead: every file's SHA-256 and size against datapackage.json, and its digest.")
def package_command(db: Path | None, out_path: Path | None, country: str | None, reports: tuple[Path, ...],
                    max_bytes: int | None, check_path: Path | None) -> None:
    """Write the captures of DB (pages and images, byte for byte from their WARCs) and the given reports as a WACZ
    file that ReplayWeb.page or pywb replays; or, with --check, verify one."""
    from audit.outputs.package import MAX_PACKAGE_BYTES, check_package, write_package
    from audit.store.db import Store

    if check_path is not None:
        problems = check_package(check_path)
        for problem in problems:
            out.print(f"[red]{rich_text(problem)}[/]")
        if problems:
            sys.exit(1)
        out.print(f"{rich_text(check_path)}: every digest matches")
        return
    if db is None or out_path is None:
        raise click.ClickException("give --db FILE and --out case.wacz (or --check case.wacz)")
    if country is not None:
        _check_country(country)
    run = _start_run("package")
    run.add_input(db, "store")
    run.add_inputs(reports, "report")
    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        with _progress({"records": None, "MB": None}, "package") as progress:
            result = write_package(store, out_path, country=country.upper() if country else None, reports=reports,
                                   max_bytes=max_bytes or MAX_PACKAGE_BYTES, progress=progress)
        _written(run, [result.path])
    out.print(f"package: {rich_text(result.path)}: {result.records:,} records ({result.pages:,} pages, "
              f"{result.images:,} images, {result.originals:,} originals of revisits), "
              f"{format_size(result.warc_bytes)} of WARC data, reports: {len(result.reports)}")
    if result.unlocated:
        out.print(f"[yellow]{result.unlocated:,} captures name no WARC record (failures, or rows written before "
                  "captures recorded their records): not packaged[/]")
    if result.not_warc:
        out.print(f"[yellow]{result.not_warc:,} captures read from ARC files (not WARC records): not packaged[/]")
    if result.missing_originals:
        out.print(f"[yellow]{len(result.missing_originals):,} revisit records whose original the store does not "
                  "locate: they will not replay[/]")


@main.command("sweep")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path), help="Audited store.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 country, e.g. FR.")
@click.option("--policy", type=click.Choice(POLICY_NAMES), default=DEFAULT_POLICY, show_default=True,
              help="Which images count as the country's (+nd: with near-duplicate propagation; any-signal: any "
              "signal points to it).")
@click.option("--out", "out_path", type=_PathParam(dir_okay=False, path_type=Path),
              help="Write the list, with evidence per image, as .csv or .parquet.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_faces_only_options
def sweep_command(db: Path, country: str, policy: str, out_path: Path | None, as_json: bool, faces_only: bool,
                  min_face_height: int) -> None:
    """What a vendor acting in good faith would delete for COUNTRY under a policy, and how well that does."""
    from audit.outputs.people import people_or_none
    from audit.outputs.sweep import sweep, write_sweep
    from audit.store.db import Store

    country = _check_country(country)
    run = _start_run("sweep")
    run.add_input(db, "store")
    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        _require_audit(store)
        result = sweep(store, country, policy, people_or_none(store, faces_only, min_face_height))
        if out_path is not None:
            write_sweep(result, out_path)
            _written(run, [out_path])
    summary = result.summary()
    if as_json:
        out.print(json_dumps(summary, indent=2), markup=False)
    else:
        _print_banner(result.test_web)
        table = Table(title=f"deletion sweep: {rich_text(summary['country'])}, policy {rich_text(policy)} — "
                      f"{rich_text(summary['description'])}", show_header=False, title_justify="left")
        table.add_column("what")
        table.add_column("value", justify="right")
        if summary["faces_only"]:
            table.add_row("limited to", f"images with a detected face of {summary['min_face_height']} px or more")
        table.add_row("images to delete", f"{summary['images']:,}")
        table.add_row("their sightings", f"{summary['sightings']:,}")
        for key, label in (("precision", "precision (residents of the country)"), ("recall", "recall (residents' "
                           "images deleted)"), ("collateral", "collateral (residents elsewhere)"),
                           ("left_behind", "residents' images left behind")):
            if summary.get(key):
                table.add_row(label, _fmt(summary[key]))
        for answer, tiers in summary.get("by_answer", {}).items():
            table.add_row(f"of which the {answer} answer names {rich_text(summary['country'])}",
                          " / ".join(f"{tier} {n:,}" for tier, n in tiers.items()))
        out.print(table)
    if out_path is not None:
        console.print(f"written: {rich_text(out_path)}")


@main.command("sample")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path), help="Audited store.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 country to validate, e.g. FR.")
@click.option("--n", "size", default=200, show_default=True, type=click.IntRange(1, 100_000),
              help="Images in the sample.")
@click.option("--seed", type=int, default=None, help="Random seed (default: a new one, recorded in the sheet).")
@click.option("--out", "out_dir", default=None, type=_PathParam(file_okay=False, path_type=Path),
              help="Folder for sample.html, sample.csv and sample.json [default: sample-COUNTRY, e.g. sample-FR].")
@click.option("--thumbnails", is_flag=True, help="Embed small thumbnails read from the crawl's WARC files "
              "(personal data: off by default).")
def sample_command(db: Path, country: str, size: int, seed: int | None, out_dir: Path | None,
                   thumbnails: bool) -> None:
    """Draw a stratified random sample of the store's images for COUNTRY (by the attribution's tier, and the images
    not attributed to it) and write the labelling sheet: sample.html (a form per image, saved as CSV) and
    sample.csv."""
    import secrets

    from audit.outputs.validation.sample import draw
    from audit.outputs.validation.sheet import write_sheet
    from audit.store.db import Store

    country = _check_country(country)
    out_dir = out_dir if out_dir is not None else Path(f"sample-{country}")
    seed = secrets.randbelow(2**31) if seed is None else seed
    run = _start_run("sample")
    run.add_input(db, "store")
    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        _require_audit(store)
        drawn = draw(store, country, size, seed)
        if thumbnails and drawn.items:
            from audit.outputs.report.figures import thumbnails_from_warc

            got = thumbnails_from_warc(store, [{"sha256": i.sha256} for i in drawn.items], size=128,
                                       bounds=_bounds(None), max_image_bytes=int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]))
            for item in drawn.items:
                item.thumbnail = got["uris"].get(item.sha256)
        html_path, csv_path, json_path = write_sheet(drawn, out_dir)
        _written(run, [html_path, csv_path, json_path])
    table = Table(title=f"sample for {rich_text(drawn.country)}, seed {seed}", title_justify="left")
    for col in ("stratum", "images", "sampled"):
        table.add_column(col, justify="left" if col == "stratum" else "right")
    for name, n in drawn.sizes.items():
        table.add_row(rich_text(name), f"{n:,}", f"{drawn.allocation.get(name, 0):,}")
    out.print(table)
    out.print(f"sheet: {rich_text(html_path)}\nCSV:   {rich_text(csv_path)}\nfill it in, then: provaudit validate "
              f"--db {rich_text(db)} --labels labels.csv")


@main.command("validate")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="The audited store the sample was drawn from (labels and results are stored in it).")
@click.option("--labels", "labels_path", required=True, type=_PathParam(dir_okay=False, exists=True, path_type=Path),
              help="The filled labelling sheet (sample.csv filled in, or the CSV sample.html saves).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def validate_command(db: Path, labels_path: Path, as_json: bool) -> None:
    """Estimate from a labelled sample, with 95% intervals, each tier's precision and the country's images the
    attribution missed; store the labels and the results (tables labels and validations)."""
    from audit.outputs.validation.estimate import validate
    from audit.outputs.validation.labels import read_labels
    from audit.store.db import Store

    with _errors():
        labels = read_labels(labels_path)
    if not db.exists():
        raise click.ClickException(f"no store at {terminal_text(db)}")
    with _recorded("validate", db, [labels_path]), _errors(), Store.open(db, memory=_db_memory()) as store:
        _require_audit(store)
        result = validate(store, labels, source=labels_path.name)
    if as_json:
        out.print(json_dumps(result.as_dict(), indent=2), markup=False)
    else:
        out.print(validation_table(result.as_dict()))
    if result.moved or result.unknown_images:
        console.print(f"[yellow]warning:[/] {result.moved} labelled image(s) changed stratum since the sample was "
                      f"drawn, {result.unknown_images} are not in this store")


def validation_table(v: dict[str, Any]) -> Table:
    """The figures of a validation (:meth:`Validation.as_dict`) as a terminal table."""
    table = Table(title=f"validation of {rich_text(v['country'])} on {v['labels']:,} labelled images "
                  "(95% intervals)", title_justify="left")
    for col in ("question", "stratum", "images", "labelled", "can't tell", "share yes", "missed images"):
        table.add_column(col, justify="left" if col in ("question", "stratum") else "right")
    for r in v["rows"]:
        share = (f"{r['estimate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]" if r["estimate"] is not None else "—")
        missed = (f"{r['missed']:,.0f} [{r['missed_low']:,.0f}, {r['missed_high']:,.0f}]"
                  if r["missed"] is not None else "")
        size = f"{r['stratum_size']:,}" if r["stratum_size"] is not None else "—"
        table.add_row(rich_text(r["question"]), rich_text(r["stratum"]), size, f"{r['labelled']:,}",
                      f"{r['unknown']:,}", share, missed)
    return table


def _check_country(country: str) -> str:
    """The ``--country`` of every command, as an officially assigned ISO 3166-1 alpha-2 code in upper case
    (:func:`audit.countries.check_country`: ``fr`` is FR). Anything else is bad input: exit status 1 with one line
    saying what was probably meant (``UK`` -> GB), as for any other bad input (not click's usage error, status 2,
    which ``verify`` keeps for unknown options)."""
    from audit.countries import check_country

    try:
        return check_country(country)
    except ValueError as exc:
        raise click.ClickException(f"--country: {terminal_text(exc)}") from exc


def _print_banner(test_web: bool) -> None:
    """The test-web banner on the terminal, for an output built on a store of the built-in test web."""
    if test_web:
        from audit.testweb_marker import BANNER

        out.print(f"[bold yellow]{rich_text(BANNER)}[/]")


def _require_audit(store: Any) -> None:
    if not store.query("SELECT count(*) FROM attributions")[0][0]:
        path = terminal_text(store.path)
        raise click.ClickException(f"{path} has no attributions yet: run `provaudit audit --db {path}`")


@main.command("verify")
@click.option("--before", "before", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="Audited store from before the claimed deletion.")
@click.option("--after", "after", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="Store from after it (a re-crawl, or the vendor's export ingested with provaudit ingest).")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 country whose data should be gone, e.g. FR.")
@click.option("--policy", type=click.Choice(POLICY_NAMES), default=DEFAULT_POLICY, show_default=True,
              help="Deletion policy (+nd: with near-duplicate propagation; any-signal: any signal points to the "
              "country).")
@click.option("--min-coverage", type=click.FloatRange(0, 1, min_open=True),
              default=float(DEFAULTS["AUDIT_VERIFY_MIN_COVERAGE"]), show_default=True,
              help="Least share of the should-be-gone images the AFTER store must have checked (still there, or "
              "every page where BEFORE saw them fetched again) to confirm the deletion (AUDIT_VERIFY_MIN_COVERAGE).")
@click.option("--out", "out_html", type=_PathParam(dir_okay=False, path_type=Path), default=None,
              help="HTML summary to write [default: verify-COUNTRY.html, e.g. verify-FR.html]; the JSON goes beside "
              "it with the same name and .json.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_faces_only_options
@_pdf_option
def verify_command(before: Path, after: Path, country: str, policy: str, min_coverage: float, out_html: Path | None,
                   as_json: bool, faces_only: bool, min_face_height: int, pdf: bool) -> None:
    """List every image of the AFTER store that the policy says should be gone, exactly or as a near-duplicate;
    count as gone only the others AFTER went back to check, and give a verdict.

    \b
    Exit status:
      0  deletion confirmed: nothing that should be gone is still there, and at least --min-coverage of it was checked
      1  bad input: a store missing or not audited, a bad country code, ...
      2  a usage error: an unknown option or policy
      3  deletion incomplete: images that should be gone are still there
      4  not checkable: AFTER checked less than --min-coverage of what should be gone, or nothing should be gone
    """
    from audit.outputs.custody import custody
    from audit.outputs.people import people_or_none
    from audit.outputs.verify import require_audited, verify, write_verification
    from audit.store.db import Store

    country = _check_country(country)
    run = _start_run("verify")
    run.add_input(before, "before")
    run.add_input(after, "after")
    with _errors(), Store.open(before, read_only=True, memory=_db_memory()) as b, \
            Store.open(after, read_only=True, memory=_db_memory()) as a:
        browser = _pdf_browser(pdf)
        require_audited(b)
        people = people_or_none(b, faces_only, min_face_height)
        _started("verify", f"{country}, before {rich_text(before)}, after {rich_text(after)}")
        result = verify(b, a, country, policy, people=people, min_coverage=min_coverage)
        result.provenance = custody(run, {"before": b, "after": a})
        html_path, json_path = write_verification(result, out_html)
        pdf_path = _print_pdf(html_path, browser) if browser else None
        _written(run, [html_path, json_path, *([pdf_path] if pdf_path else [])])
    summary = result.summary()
    if as_json:
        out.print(json_dumps(summary, indent=2), markup=False)
    else:
        _print_banner(result.test_web)
        table = Table(title=f"deletion check: {rich_text(country)}, policy {rich_text(policy)}",
                      show_header=False, title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        if summary["faces_only"]:
            table.add_row("limited to", f"before-images with a detected face of {summary['min_face_height']} px or "
                          "more")
        table.add_row("should be gone (images)", f"{summary['should_be_gone']:,}")
        table.add_row("still present, same bytes", f"{summary['still_present_exact']:,}")
        table.add_row("still present as near-duplicates (images)", f"{summary['still_present_near_duplicates']:,}")
        table.add_row("should-be-gone images still present", f"{summary['should_be_gone_still_present']:,}")
        table.add_row("gone (where the after-store looked again)", f"{summary['really_gone']:,}")
        table.add_row("not checked (not counted as gone)", f"{summary['not_checked']:,}")
        least = f"{round(summary['min_coverage'] * 100, 2):g}%"
        table.add_row("checked", f"{summary['checked_share']:.1%} (at least {least} needed)")
        table.add_row("pages of the before-store fetched again",
                      f"{summary['before_pages_refetched']:,} of {summary['before_pages']:,}")
        table.add_row("share remaining of the checked (95% interval)", f"{summary['share_remaining']:.3f} "
                      f"[{summary['share_remaining_low']:.3f}, {summary['share_remaining_high']:.3f}]")
        table.add_row("share remaining of all (95%, not checked gone … still there)",
                      f"[{summary['share_remaining_all_low']:.3f}, {summary['share_remaining_all_high']:.3f}]")
        out.print(table)
        colour = {0: "green", 3: "red"}.get(result.exit_status, "yellow")
        out.print(f"[bold {colour}]verdict: {rich_text(result.verdict)}[/] (exit status {result.exit_status}): "
                  f"{rich_text(result.reason)}")
    console.print(f"written: {rich_text(html_path)}, {rich_text(json_path)}"
                  + (f", {rich_text(pdf_path)}" if pdf_path else ""))
    if result.exit_status:
        raise SystemExit(result.exit_status)


@main.command("lookup")
@click.argument("photos", nargs=-1, required=True, type=_PathParam(path_type=Path))
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path), help="Audited store.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@_faces_only_options
def lookup_command(photos: tuple[Path, ...], db: Path, as_json: bool, faces_only: bool, min_face_height: int) -> None:
    """A person's view: every sighting of their PHOTOS (same or near-duplicate), what each reveals, and the country."""
    from audit.outputs.lookup import lookup, lookup_json, lookup_table
    from audit.outputs.people import people_or_none
    from audit.store.db import Store

    missing = [p for p in photos if not p.exists()]
    if missing:
        raise click.ClickException(f"no such photo: {terminal_text(missing[0])}"
                                   + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    with _errors(), Store.open(db, read_only=True, memory=_db_memory()) as store:
        if store.query("SELECT count(*) FROM images")[0][0]:  # an empty store has nothing to audit: nothing found
            _require_audit(store)
        results = lookup(store, list(photos), bounds=_bounds(None),
                         max_image_bytes=int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
                         max_file_bytes=int(DEFAULTS["AUDIT_MAX_FILE_BYTES"]),
                         people=people_or_none(store, faces_only, min_face_height))
    if as_json:
        out.print(json_dumps(lookup_json(results), indent=2), markup=False)
    else:
        out.print(lookup_table(results, width=out.width))


@main.group()
def testweb() -> None:
    """The built-in test web: a seeded multi-country web with ground truth, served on loopback."""


def _build_web(root: Path, photos: int, seed: int) -> Any:
    """The test web in ``root`` (built with live progress when it is not cached yet)."""
    from audit.testbed.testweb import build_web
    from audit.testbed.testweb.build import cached_web

    with _errors():
        web = cached_web(root, photos, seed)
        if web is not None:
            return web
        with _progress({"images": None, "pages": None}, "test web build") as progress:
            return build_web(root, photos=photos, seed=seed, progress=progress)


@testweb.command("build")
@click.option("--dir", "root", default="demo-out/testweb", show_default=True,
              type=_PathParam(file_okay=False, path_type=Path), help="Where to write it.")
@click.option("--photos", default=2000, show_default=True, type=click.IntRange(min=10), help="Photos to generate.")
@click.option("--seed", default=2022, show_default=True, type=int, help="Seed.")
def testweb_build(root: Path, photos: int, seed: int) -> None:
    """Generate the test web (cached: the same photos and seed are not generated twice)."""

    web = _build_web(root, photos, seed)
    out.print(f"{len(web.start_urls)} sites, {web.image_urls:,} image URLs, {web.sightings:,} sightings in "
              f"{rich_text(web.root)}\nground truth: {rich_text(web.ground_truth_path)}")


@testweb.command("serve")
@click.option("--dir", "root", default="demo-out/testweb", show_default=True,
              type=_PathParam(file_okay=False, path_type=Path), help="Test web folder (built if missing).")
@click.option("--photos", default=2000, show_default=True, type=click.IntRange(min=10), help="Photos to generate.")
@click.option("--seed", default=2022, show_default=True, type=int, help="Seed.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8098, show_default=True, type=int, help="Port (0: any free port).")
def testweb_serve(root: Path, photos: int, seed: int, host: str, port: int) -> None:
    """Serve the test web until Ctrl-C: browse http://HOST:PORT/, or crawl it with --proxy http://HOST:PORT."""
    from audit.testbed.testweb import serve_forever

    web = _build_web(root, photos, seed)

    def ready(bound: int) -> None:
        out.print(f"serving {len(web.start_urls)} sites on http://{host}:{bound}/ (Ctrl-C stops); start URLs:")
        for url in web.start_urls:
            out.print(f"  {rich_text(url)}")
        domains = " ".join(f"--allowed-domain {d}" for d in web.allowed_domains)
        out.print(f"crawl it by hand: provaudit crawl {' '.join(web.start_urls)} {domains} --proxy "
                  f"http://{host}:{bound} --no-throttle --db testweb.duckdb\n"
                  f"or in one command (no server needed): provaudit crawl --testweb {rich_text(root)} --db "
                  "testweb.duckdb\n"
                  f"then load its ground truth: provaudit testweb truth --dir {rich_text(root)} --db testweb.duckdb",
                  soft_wrap=True)

    try:
        serve_forever(web, host, port, ready)
    except KeyboardInterrupt:
        pass


@testweb.command("truth")
@click.option("--dir", "root", default="demo-out/testweb", show_default=True,
              type=_PathParam(file_okay=False, path_type=Path), help="The built test web the store was crawled from.")
@click.option("--db", "db", required=True, type=_PathParam(dir_okay=False, path_type=Path),
              help="A store of a crawl (or an ingest of a WARC) of that test web.")
def testweb_truth(root: Path, db: Path) -> None:
    """Load the test web's ground truth into a store crawled by hand, so that `provaudit evaluate` can compare the
    audit with it (loading it twice changes nothing)."""
    from audit.store.db import Store
    from audit.testbed.groundtruth import load_ground_truth
    from audit.testbed.testweb.build import TestWeb

    try:
        web = TestWeb.load(root)
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"{terminal_text(root)} is not a built test web ({terminal_text(exc)})") from exc
    if not db.exists():
        raise click.ClickException(f"no store at {terminal_text(db)}")
    with _errors(), Store.open(db, memory=_db_memory()) as store:
        lines = load_ground_truth(store, web.ground_truth_path)
        known = store.query("SELECT count(DISTINCT s.image_url) FROM sightings s JOIN ground_truth g USING "
                            "(image_url)")[0][0]
    out.print(f"ground truth loaded: {lines:,} rows; {known:,} of the store's image URLs are in it")
    if not known:
        console.print("[yellow]warning:[/] none of the store's image URLs is in this test web's ground truth: was "
                      "it crawled from another test web (other --photos or --seed)?")


@testweb.command("export")
@click.option("--dir", "root", default="demo-out/testweb", show_default=True,
              type=_PathParam(file_okay=False, path_type=Path), help="Folder of the test web (built if missing).")
@click.option("--photos", default=2000, show_default=True, type=click.IntRange(min=10), help="Photos to generate.")
@click.option("--seed", default=2022, show_default=True, type=int, help="Seed.")
@click.option("--format", "fmt", type=click.Choice(["laion", "img2dataset", "wat"]), default="laion",
              show_default=True, help="The dataset kind to write: laion (Parquet shards of URL, TEXT = the alt text, "
              "WIDTH, HEIGHT), img2dataset (what img2dataset makes of every image URL: 256 px re-encoded samples, "
              "their EXIF in the .json) or wat (a Common Crawl WAT file of every page).")
@click.option("--layout", type=click.Choice(["files", "webdataset", "parquet"]), default="webdataset",
              show_default=True, help="For img2dataset: its output format.")
@click.option("--out", "out_dir", required=True, type=_PathParam(file_okay=False, path_type=Path),
              help="Folder to write the dataset and its ground_truth.jsonl into.")
@click.option("--hashes", is_flag=True, help="Add a sha256 column (the served bytes' digest, as DataComp "
              "publishes one).")
@click.option("--shard-rows", default=100_000, show_default=True, type=click.IntRange(min=1),
              help="Rows per Parquet shard (samples per shard for img2dataset).")
def testweb_export(root: Path, photos: int, seed: int, fmt: str, layout: str, out_dir: Path, hashes: bool,
                   shard_rows: int) -> None:
    """Write the test web out as a dataset others would have made of it (a LAION-style table: every <img> with an
    alt text; img2dataset's download of it; a Common Crawl WAT file of its pages), with its ground truth, to audit
    the same photos through `provaudit ingest`."""
    from audit.testbed.exports import export_img2dataset, export_laion, export_wat

    web = _build_web(root, photos, seed)
    with _errors():
        if fmt == "laion":
            counts = export_laion(web, out_dir, shard_rows=shard_rows, hashes=hashes)
            what, target = (f"{counts['rows']:,} rows ({counts['images']:,} image URLs) in {counts['shards']} "
                            "shard(s)"), out_dir
        elif fmt == "img2dataset":
            counts = export_img2dataset(web, out_dir, layout=layout, shard_size=shard_rows)
            what, target = (f"{counts['samples']:,} samples ({counts['failed']:,} failed) in {counts['shards']} "
                            f"{layout} shard(s)"), out_dir / "images"
        else:
            counts = export_wat(web, out_dir)
            what, target = f"{counts['pages']:,} pages", out_dir / "testweb.warc.wat.gz"
    out.print(f"{fmt}: {what} in {rich_text(out_dir)} (ground truth beside)\n"
              f"ingest it: provaudit ingest {rich_text(target)} --db dataset.duckdb")


if __name__ == "__main__":  # pragma: no cover
    main()
