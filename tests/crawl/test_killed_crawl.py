"""`provaudit crawl --jobdir` killed with SIGKILL at seeded random points of real crawls of the test web, and run
again until it finishes: the store then holds exactly what the uninterrupted crawl holds (every page, fetch, image
and sighting, no duplicate row), nothing was half-written at any kill, and the WARC reads cleanly end to end with
every fetched image's bytes in it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from audit.checkpoints import ENV
from audit.crawl.resume import SCHEDULER_STATE, prepare_resume
from audit.crawl.warc import WarcFile, scan_warc
from audit.ids import JOBDIR_FILE
from audit.store.db import Store
from conftest import ROOT, crawl_args, only_crawl_id

logger = logging.getLogger(__name__)

SEED = 1
BATCH = "25"  # rows per table and bulk write: several writes per run, so kills land between and inside batches
CRAWL_TIMEOUT = 120.0

# content columns (no timestamps, crawl ids or response headers), compared with the uninterrupted crawl
CONTENT = {
    "pages": "SELECT url, host, status, lang, content_type, facts, error FROM pages",
    "fetches": "SELECT url, final_url, status, content_type, bytes, sha256, error FROM fetches",
    "images": "SELECT sha256, format, width, height, bytes, phash, dhash, phash_mirror, dhash_mirror, exif, iptc, "
              "xmp, gps_lat, gps_lon, gps_alt, taken_at, utc_offset, location, c2pa, error FROM images",
    "sightings": "SELECT image_url, page_url, sha256, image_host, page_host, alt_text, caption, ref_kind, attributes "
                 "FROM sightings",
    "host_policies": "SELECT host, kind, url, status, body FROM host_policies",
}
# natural keys: one row each
KEYS = {"pages": "crawl_id, url", "fetches": "crawl_id, url", "images": "sha256",
        "sightings": "crawl_id, image_url, page_url", "host_policies": "crawl_id, host, kind", "crawls": "crawl_id"}


def _hashable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def content(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    return {table: {_hashable(r) for r in store.query(sql)} for table, sql in CONTENT.items()}


def duplicates(store: Store) -> dict[str, int]:
    return {t: int(store.query(f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {k} FROM {t})) FROM {t}")
                   [0][0]) for t, k in KEYS.items()}


def half_written(store: Store) -> dict[str, int]:
    """Rows that a batch written in part would leave: a batch writes images, then fetches, pages and sightings, in
    one transaction."""
    return {
        "fetches without their image": store.query(
            "SELECT count(*) FROM fetches f WHERE sha256 IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM images i WHERE i.sha256 = f.sha256)")[0][0],
        "sightings without their image": store.query(
            "SELECT count(*) FROM sightings s WHERE sha256 IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM images i WHERE i.sha256 = s.sha256)")[0][0],
    }


def warc_responses(path: Path) -> dict[str, list[str]]:
    """Read every record of a WARC with warcio (payload digests checked): the sha256 of each response body by
    URL, a revisit record's (AUDIT_WARC_DEDUP) being that of the response it refers to, which must be in the file.
    Raises on any unreadable record."""
    bodies: dict[str, list[str]] = {}
    by_id: dict[str, str] = {}
    revisits: list[tuple[str, str]] = []
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, check_digests=True):
            body = rec.content_stream().read()
            url = rec.rec_headers.get_header("WARC-Target-URI")
            if rec.rec_type == "response":
                sha = hashlib.sha256(body).hexdigest()
                by_id[rec.rec_headers.get_header("WARC-Record-ID")] = sha
                bodies.setdefault(url, []).append(sha)
            elif rec.rec_type == "revisit":
                revisits.append((url, rec.rec_headers.get_header("WARC-Refers-To")))
    for url, refers_to in revisits:
        bodies.setdefault(url, []).append(by_id[refers_to])
    return bodies


def responses(warc: Path | None) -> int:
    """Response records in a WARC written by the crawl (a warcinfo record, then a response and a request record
    per exchange)."""
    return 0 if warc is None else max(0, scan_warc(warc).records - 1) // 2


@dataclass
class Kill:
    scenario: str
    run: int
    after_responses: int  # responses the run had received when it stopped at its checkpoint and was killed
    seconds: float
    committed: dict[str, int] = field(default_factory=dict)
    images_not_committed: int = 0  # image responses complete in the WARC whose fetch row was not committed
    warc_tail: int = 0  # bytes of an incomplete record at the WARC's end
    warc_cut: int = 0  # bytes the test cut off the WARC's end after the kill (a kill in the middle of a write)
    scheduler_state: tuple[str, ...] = ()


class Crawl:
    """One store and JOBDIR, crawled by `provaudit crawl` subprocesses that are killed or run to the end."""

    def __init__(self, name: str, web: Any, server: Any, root: Path, images: set[str], responses: int) -> None:
        self.name = name
        self.web = web
        self.server = server
        self.images = images  # URLs of the image responses of the uninterrupted crawl
        self.responses = responses  # responses the uninterrupted crawl received
        self.db = root / "store.duckdb"
        self.jobdir = root / "job"
        self.logs: list[str] = []
        self.kills: list[Kill] = []

    def warc(self) -> Path | None:
        found = sorted(self.db.parent.glob("*.warc.gz"))
        return found[0] if found else None

    def warc_size(self) -> int:
        path = self.warc()
        return path.stat().st_size if path is not None and path.exists() else 0

    def run(self, *extra: str, kill_at: float | None = None) -> bool:
        """One run; with ``kill_at``, SIGKILLed (with its analysis workers) once it has received that fraction of the
        image responses it still has to fetch (0: its first response), counted by the crawl itself: the run stops at
        its ``crawl-response`` checkpoint (:mod:`audit.checkpoints`) and is killed there. True if it was killed, False
        if it finished (exit status 0)."""
        args = crawl_args(self.web, self.server, self.db, "--jobdir", str(self.jobdir), "-s",
                          f"AUDIT_BATCH_SIZE={BATCH}", *extra)
        log = self.db.parent / f"run-{len(self.logs)}.log"
        env = dict(os.environ)
        stop_at = None
        if kill_at is not None:
            # the responses still to receive: the uninterrupted crawl's less those already in the WARC (a run after a
            # kill receives more, fetching its pages again)
            stop_at = max(1, int(kill_at * (self.responses - responses(self.warc()))))
            env[ENV] = f"crawl-response:{stop_at}"
        started = time.monotonic()
        stopped = False
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "audit.cli", *args], cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
            try:
                with open(log, "rb") as watch:
                    seen = b""
                    while proc.poll() is None:
                        if time.monotonic() - started > CRAWL_TIMEOUT:
                            raise AssertionError(f"{self.name}: a crawl run took over {CRAWL_TIMEOUT} s")
                        seen = seen[-200:] + watch.read()
                        if stop_at is not None and b"stopped at checkpoint crawl-response:" in seen:
                            os.killpg(proc.pid, signal.SIGKILL)
                            stopped = True
                            break
                        time.sleep(0.01)
            finally:
                if proc.poll() is None and not stopped:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        self.logs.append(log.read_text())
        if not stopped:
            assert proc.returncode == 0, f"{self.name}: crawl failed:\n{self.logs[-1]}"
            assert stop_at is None, f"{self.name}: the run ended before its response {stop_at}:\n{self.logs[-1]}"
            return False
        assert stop_at is not None
        self.kills.append(self.inspect_kill(len(self.logs) - 1, stop_at, time.monotonic() - started))
        return True

    def cut_warc(self, n: int) -> None:
        """Leave what a kill in the middle of writing a record leaves: the WARC ending inside a gzip member."""
        warc = self.warc()
        assert warc is not None
        os.truncate(warc, warc.stat().st_size - n)
        kill = self.kills[-1]
        kill.warc_cut = n
        kill.warc_tail = scan_warc(warc).dropped
        assert kill.warc_tail > 0

    def inspect_kill(self, run: int, after: int, seconds: float) -> Kill:
        """What the killed run left: committed rows (whole batches only), image responses in the WARC that the
        store lost with the recorder's buffer, an incomplete record at the WARC's end, Scrapy's JOBDIR state."""
        kill = Kill(self.name, run, after, round(seconds, 2))
        kill.scheduler_state = tuple(n for n in SCHEDULER_STATE if (self.jobdir / n).exists())
        if self.db.exists():
            with Store.open(self.db, read_only=True) as store:
                kill.committed = {t: store.count(t) for t in ("pages", "fetches", "images", "sightings")}
                assert half_written(store) == {k: 0 for k in half_written(store)}, f"{self.name} run {run}"
                assert set(duplicates(store).values()) == {0}
                committed = {r[0] for r in store.query("SELECT final_url FROM fetches WHERE sha256 IS NOT NULL")}
        else:
            committed = set()
        warc = self.warc()
        if warc is not None:
            scan = scan_warc(warc, response_uris=True)
            kill.warc_tail = scan.dropped
            images = self.images & (scan.response_uris or frozenset())
            kill.images_not_committed = len(images - committed)
        return kill


@pytest.fixture(scope="module")
def killed_crawls(small_web, server, crawled, tmp_path_factory) -> list[Crawl]:
    """Four crawls of the test web, killed at seeded random points and resumed until they finish:

    - ``once``: killed once, anywhere from early to late in the crawl;
    - ``twice``: killed, its WARC cut inside a record (what a kill in the middle of a write leaves), then killed
      again while resuming;
    - ``paused``: paused cleanly first (``--max-pages``, the crawl closes), then killed twice while resuming, the
      second time as soon as the run writes anything (before its first batch is committed);
    - ``clean``: paused cleanly and resumed, never killed (Scrapy's own JOBDIR resume, kept as it was).
    """
    full_db, _ = crawled
    with Store.open(full_db, read_only=True) as store:
        images = {r[0] for r in store.query("SELECT final_url FROM fetches WHERE sha256 IS NOT NULL")}
    full_responses = responses(next(full_db.parent.glob("*.warc.gz")))
    rng = random.Random(SEED)
    # runs: (extra arguments, fraction of what is left when the run is killed or None, WARC bytes then cut off)
    plans: dict[str, list[tuple[tuple[str, ...], float | None, int]]] = {
        "once": [((), rng.uniform(0.15, 0.85), 0)],
        "twice": [((), rng.uniform(0.2, 0.8), 2000), ((), rng.uniform(0.1, 0.6), 0)],
        "paused": [(("--max-pages", "4"), None, 0), ((), rng.uniform(0.2, 0.7), 0), ((), 0.0, 0)],
        "clean": [(("--max-pages", "4"), None, 0)],  # paused and resumed, never killed: as before
    }
    crawls = []
    for name, runs in plans.items():
        crawl = Crawl(name, small_web, server, tmp_path_factory.mktemp(f"killed-{name}"), images,
                      full_responses)
        for extra, kill_at, cut in runs:
            if crawl.run(*extra, kill_at=kill_at) and cut:
                crawl.cut_warc(cut)
        for _ in range(5):  # resume until it finishes
            if not crawl.run():
                break
        else:
            raise AssertionError(f"{name}: still killed after 5 resumes")
        crawls.append(crawl)
    for crawl in crawls:
        for kill in crawl.kills:
            logger.info("kill: %s", kill)
    return crawls


def test_kills_landed_mid_crawl(killed_crawls):
    kills = [k for c in killed_crawls for k in c.kills]
    assert len(kills) >= 5, [c.logs[-1] for c in killed_crawls]
    # varied points: some before anything was committed or mid-way, with rows committed but not all
    assert any(k.committed.get("fetches", 0) > 0 for k in kills)
    # at least one kill lost images the crawl had received (in the WARC) with the recorder's unwritten batch
    assert any(k.images_not_committed > 0 for k in kills), kills
    # Scrapy's JOBDIR state is left behind by a kill: the resume must not trust it
    assert all("requests.seen" in k.scheduler_state for k in kills), kills


def test_every_resume_after_a_kill_says_so(killed_crawls):
    for crawl in killed_crawls:
        kills = {k.run: k for k in crawl.kills}
        for run, log in enumerate(crawl.logs[1:], start=1):
            kill = kills.get(run - 1)
            assert ("did not close" in log) == (kill is not None), (crawl.name, run, log)
            cut = f"ended in {kill.warc_tail} bytes of an incomplete record" if kill and kill.warc_tail else None
            assert cut is None or cut in log, (crawl.name, run, log)
    assert any(k.warc_cut for c in killed_crawls for k in c.kills)


def test_killed_and_resumed_crawls_hold_what_the_uninterrupted_crawl_holds(killed_crawls, crawled):
    full_db, _ = crawled
    with Store.open(full_db, read_only=True) as store:
        expected = content(store)
    assert all(expected.values())
    for crawl in killed_crawls:
        crawl_id = only_crawl_id(crawl.db)  # one crawl, resumed under its id
        assert crawl_id == (crawl.jobdir / JOBDIR_FILE).read_text().strip()
        with Store.open(crawl.db, read_only=True) as store:
            got = content(store)
            for table in CONTENT:
                assert got[table] == expected[table], (crawl.name, table, len(got[table] - expected[table]),
                                                       len(expected[table] - got[table]))
            assert set(duplicates(store).values()) == {0}, (crawl.name, duplicates(store))
            (finished, reason) = store.query("SELECT finished_at IS NOT NULL, stats->>'finish_reason' FROM crawls")[0]
            assert finished and reason == "finished"
            (unlinked,) = store.query("SELECT count(*) FROM sightings s WHERE sha256 IS NULL AND EXISTS "
                                      "(SELECT 1 FROM fetches f WHERE f.url = s.image_url AND f.sha256 IS NOT NULL)")[0]
            assert unlinked == 0
            (stats,) = store.query("SELECT stats FROM crawls")[0]
            logger.info("%s: %d runs, %d killed; final rows %s; last run: %s", crawl.name, len(crawl.logs),
                        len(crawl.kills), {t: store.count(t) for t in CONTENT},
                        {k: v for k, v in json.loads(stats).items() if k.startswith("provaudit/")})


def test_the_warc_reads_cleanly_and_holds_every_image(killed_crawls):
    for crawl in killed_crawls:
        warc = crawl.warc()
        assert warc is not None
        scan = scan_warc(warc)
        assert scan.dropped == 0 and scan.records > 0
        bodies = warc_responses(warc)  # warcio reads every record, digests checked
        logger.info("%s: WARC %d records, %d responses for %d URLs", crawl.name, scan.records,
                    sum(map(len, bodies.values())), len(bodies))
        with Store.open(crawl.db, read_only=True) as store:
            fetched = store.query("SELECT final_url, sha256 FROM fetches WHERE sha256 IS NOT NULL")
        assert fetched
        for url, sha in fetched:
            assert sha in bodies.get(url, ()), (crawl.name, url)


def test_warc_repair_cuts_an_incomplete_record_and_appends_after_it(tmp_path, caplog):
    path = tmp_path / "t.warc.gz"
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(50_000)

    def exchange(warc: WarcFile, i: int) -> None:
        warc.write_exchange(url=f"http://a.example/{i}.jpg", method="GET", request_headers=[("Host", "a.example")],
                            request_body=b"", status=200, response_headers=[("Content-Type", "image/jpeg")],
                            body=jpeg + bytes([i]))

    warc = WarcFile(path)
    exchange(warc, 0)
    warc.close()
    whole = path.stat().st_size
    # what a writer killed in the middle of a record leaves: the start of a gzip member
    member = zlib.compressobj(0, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    cut = (member.compress(b"WARC/1.0\r\nWARC-Type: response\r\n" + jpeg) + member.flush())[:20_000]
    with open(path, "ab") as fh:
        fh.write(cut)
    assert scan_warc(path).dropped == len(cut)
    with caplog.at_level(logging.WARNING, logger="audit.crawl.warc"):
        warc = WarcFile(path)  # a resumed crawl's writer
    assert f"{len(cut)} bytes of an incomplete record" in caplog.text
    assert path.stat().st_size == whole
    exchange(warc, 1)
    warc.close()
    bodies = warc_responses(path)
    assert set(bodies) == {"http://a.example/0.jpg", "http://a.example/1.jpg"}
    scan = scan_warc(path, response_uris=True)
    assert (scan.dropped, scan.records, scan.response_uris) == (0, 5, frozenset(bodies))


def test_a_warc_appended_after_an_incomplete_record_is_unreadable_without_the_repair(tmp_path):
    """Why the repair is needed: warcio stops at the cut record and never reaches what was appended after it."""
    path = tmp_path / "t.warc.gz"
    warc = WarcFile(path)
    warc.close()
    member = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    with open(path, "ab") as fh:
        fh.write((member.compress(b"WARC/1.0\r\nWARC-Type: response\r\n" + os.urandom(5000)) + member.flush())[:900])
    warc = WarcFile(path, repair=False)
    warc.write_exchange(url="http://a.example/", method="GET", request_headers=[], request_body=b"", status=200,
                        response_headers=[], body=b"<html></html>")
    warc.close()
    try:
        bodies: dict[str, list[str]] | None = warc_responses(path)
    except Exception:  # whatever warcio raises
        bodies = None
    assert bodies is None or "http://a.example/" not in bodies
    assert scan_warc(path).records == 1  # the warcinfo record; the scan stops at the cut


def test_the_store_decides_whether_jobdir_state_is_trusted(tmp_path):
    db, jobdir = tmp_path / "s.duckdb", tmp_path / "job"
    jobdir.mkdir()

    def leave_state() -> None:
        (jobdir / "requests.seen").write_text("0" * 40 + "\n")
        (jobdir / "requests.queue").mkdir(exist_ok=True)
        (jobdir / JOBDIR_FILE).write_text("c1")

    assert not prepare_resume(db, "c1", jobdir).resumed  # a new crawl
    leave_state()
    # the store does not hold the crawl: the state cannot be trusted
    state = prepare_resume(db, "c1", jobdir)
    assert state.unclean and set(state.discarded) == set(SCHEDULER_STATE)
    assert not any((jobdir / n).exists() for n in SCHEDULER_STATE) and (jobdir / JOBDIR_FILE).exists()
    with Store.open(db) as store:
        store.con.execute("INSERT INTO crawls (crawl_id, finished_at) VALUES ('c1', now())")
        store.insert("fetches", [{"crawl_id": "c1", "url": "http://a.example/1.jpg", "sha256": "ab"},
                                 {"crawl_id": "c1", "url": "http://a.example/2.jpg", "sha256": None},
                                 {"crawl_id": "c2", "url": "http://a.example/3.jpg", "sha256": "cd"}])
    leave_state()
    # closed cleanly (a pause): Scrapy's state is kept, and the crawl is marked running again
    state = prepare_resume(db, "c1", jobdir)
    assert state.resumed and not state.unclean and all((jobdir / n).exists() for n in SCHEDULER_STATE)
    # ... so a kill now is seen by the next run: state discarded, committed fetches known
    state = prepare_resume(db, "c1", jobdir, lambda: frozenset())
    assert state.unclean and set(state.discarded) == set(SCHEDULER_STATE)
    # the image with bytes is not in the (empty) WARC: fetched again; the failed fetch is not
    assert state.fetched == {"http://a.example/2.jpg"}
    assert prepare_resume(db, "c1", jobdir).fetched == {"http://a.example/1.jpg", "http://a.example/2.jpg"}


def test_sightings_written_before_a_kill_are_linked_when_a_later_run_closes(tmp_path):
    """A run commits a page's sightings before their image arrives and dies; the next run fetches the image, then
    records the page again with the image already known: ``INSERT OR IGNORE`` keeps the earlier row, unlinked, and
    only the link the recorder makes in its last write completes it."""
    import datetime as dt

    from audit.records import ImageFetch, ImageRecord, ImageRef, PageItem
    from audit.store.recorder import PageRefs, Recorder
    now = dt.datetime.now(dt.UTC)
    page = PageItem(url="http://a.example/", status=200, fetched_at=now)
    ref = ImageRef(page_url="http://a.example/", image_url="http://a.example/1.jpg", fetched_at=now)
    fetch = ImageFetch(url="http://a.example/1.jpg", final_url=None, fetched_at=now, status=200,
                       record=ImageRecord(sha256="ab" * 32, size=1))
    with Store.open(tmp_path / "s.duckdb") as store:
        killed = Recorder(store, "c1", batch_size=1)
        killed.begin(source="t", kind="crawl", settings={}, warc_path=None)
        killed.add(PageRefs(page=page, refs=(ref,)))  # committed; then the run dies before the image
        resumed = Recorder(store, "c1", batch_size=100)
        resumed.add(fetch)
        resumed.add(PageRefs(page=page, refs=(ref,)))  # recorded again: INSERT OR IGNORE keeps the old row
        resumed.flush()
        assert store.query("SELECT sha256 FROM sightings") == [(None,)]
        resumed.finish()
        assert store.query("SELECT sha256 FROM sightings") == [("ab" * 32,)]
