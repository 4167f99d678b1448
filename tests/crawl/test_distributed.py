"""Shared crawls: several `provaudit crawl --redis` workers against a real redis-server on loopback and the real test
web; their merged shards equal a one-process crawl, also when one worker is killed midway."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from audit.checkpoints import ENV
from audit.crawl.shared import redis_key
from audit.store.db import Store
from conftest import ROOT, crawl_args, provaudit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (make test installs Debian's package)")
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test():
    """A failed test (a worker that timed out) leaves no other worker crawling on."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def _worker(args: list[str], log: Path, stop_at: str | None = None) -> subprocess.Popen[str]:
    """A crawl worker writing its output to ``log``: a pipe nobody reads fills up (64 KiB of ``-v`` lines), blocks
    the worker's logging thread while its reactor keeps beating, and the others then wait for its requests forever.
    A worker stopped at a checkpoint writes its log to a pipe that the test reads up to that checkpoint."""
    env = {**os.environ, ENV: stop_at} if stop_at else None
    out = log.open("w")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "audit.cli", *args], cwd=ROOT, stdout=out,
                                stderr=subprocess.PIPE if stop_at else subprocess.STDOUT, text=True,
                                start_new_session=True, env=env)
        _STARTED.append(proc)
        return proc
    finally:
        out.close()


def _finish(worker: subprocess.Popen[str], log: Path, timeout: float = 300) -> None:
    """Wait for ``worker`` to end and succeed; a failure or a timeout shows the end of its log."""
    try:
        worker.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
        raise AssertionError(f"worker did not finish in {timeout} s:\n{log.read_text()[-5000:]}") from None
    assert worker.returncode == 0, log.read_text()[-3000:]


def _content(db: Path) -> dict[str, list[tuple]]:
    with Store.open(db, read_only=True) as store:
        return {
            "images": sorted(store.query("SELECT sha256, phash, dhash, gps_lat, gps_lon FROM images")),
            "sightings": sorted(store.query(
                "SELECT sighting_id, sha256, image_url, page_url, alt_text FROM sightings")),
            "pages": sorted(store.query("SELECT url, status, facts FROM pages")),
            "fetches": sorted(store.query("SELECT url, status, sha256, error FROM fetches")),
        }


def _attributions(db: Path) -> list[tuple]:
    with Store.open(db, read_only=True) as store:
        return sorted(store.query("SELECT i.sha256, a.country, a.tier, round(a.score, 9) FROM attributions a "
                                  "JOIN images i USING (sha256)"))


CRAWL_ID = ("-s", "AUDIT_CRAWL_ID=c-shared-test")  # one id for both crawls, so their sighting ids and reports agree


@pytest.fixture(scope="module")
def single(small_web, server, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("single") / "store.duckdb"
    provaudit(*crawl_args(small_web, server, db, *CRAWL_ID))
    provaudit("audit", "--db", str(db))
    return db


def _report(db: Path, out: Path) -> dict:
    provaudit("report", "--db", str(db), "--country", "FR", "--out", str(out / "report.html"))
    figures = json.loads((out / "report.json").read_text())
    # when, where, each crawl's own timings and counters, and the files it was built from (their hashes)
    for key in ("generated_at", "store", "crawls", "provenance"):
        figures.pop(key)
    for item in figures["sample"]:  # where each capture is kept: each worker writes a WARC of its own
        for sighting in item["sighting_sample"]:
            assert sighting.pop("image_record") is not None
            sighting.pop("page_record")
    return figures


def test_three_workers_equal_one(small_web, server, single, redis_url, tmp_path):
    shards = [tmp_path / f"shard{i}.duckdb" for i in range(3)]
    logs = [db.with_suffix(".log") for db in shards]
    workers = [_worker(crawl_args(small_web, server, db, "--redis", redis_url, *CRAWL_ID), log)
               for db, log in zip(shards, logs, strict=True)]
    for w, log in zip(workers, logs, strict=True):
        _finish(w, log)
    crawl_ids = set()
    counts = []
    for db in shards:
        with Store.open(db, read_only=True) as store:
            crawl_ids |= {r[0] for r in store.query("SELECT crawl_id FROM crawls")}
            counts.append(store.count("pages"))
    assert crawl_ids == {"c-shared-test"}
    assert sum(1 for c in counts if c > 0) >= 2, counts  # the work was shared
    merged = tmp_path / "merged.duckdb"
    provaudit("merge", *map(str, shards), "--db", str(merged))
    provaudit("audit", "--db", str(merged))
    assert _content(merged) == _content(single)
    assert _attributions(merged) == _attributions(single)
    (tmp_path / "r1").mkdir()
    (tmp_path / "r3").mkdir()
    assert _report(merged, tmp_path / "r3") == _report(single, tmp_path / "r1")


def test_a_killed_worker_loses_nothing(small_web, server, single, redis_url, tmp_path):
    """Three workers; one is killed with SIGKILL once it has fetched some pages and images. The two others take over the
    requests it had taken and not stored, and the merged shards (the dead one's included) equal a one-process
    crawl."""
    shards = [tmp_path / f"shard{i}.duckdb" for i in range(3)]
    extra = ("-s", "AUDIT_REDIS_WORKER_TTL=4", "-s", "AUDIT_BATCH_SIZE=10", "-s", "DOWNLOAD_DELAY=0.05")
    # the victim stops at its 40th response (audit.checkpoints) and is killed there, whatever the machine's speed
    logs = [db.with_suffix(".log") for db in shards]
    workers = [_worker(["-vv", *crawl_args(small_web, server, db, "--redis", redis_url, *extra)], logs[i],
                       stop_at="crawl-response:40" if i == 0 else None) for i, db in enumerate(shards)]
    victim = workers[0]
    assert victim.stderr is not None
    for line in victim.stderr:
        if "stopped at checkpoint crawl-response:40" in line:
            break
    else:
        raise AssertionError("the worker ended before its 40th response")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(30)
    client = redis.Redis.from_url(redis_url)
    # what the dead worker had taken from the queue and not stored: the others must fetch it again
    taken = sum(client.hlen(k) for k in client.scan_iter(match=f"*:taken:*-{victim.pid}"))
    assert taken > 0
    for w, log in zip(workers[1:], logs[1:], strict=True):
        _finish(w, log)
    ids = set()
    taken_over = 0
    for db in shards:
        with Store.open(db, read_only=True) as store:
            ids |= {r[0] for r in store.query("SELECT crawl_id FROM crawls")}
            for (stats,) in store.query("SELECT stats FROM crawls WHERE stats IS NOT NULL"):
                taken_over += int(json.loads(stats).get("provaudit/requests_taken_over", 0))
    assert taken_over == taken  # put back in the queue by the survivors, exactly once
    assert len(ids) == 1 and next(iter(ids)).startswith("c-")  # the id the first worker created in Redis
    merged = tmp_path / "merged.duckdb"
    provaudit("merge", *map(str, shards), "--db", str(merged))
    one, many = _content(single), _content(merged)
    for table in ("images", "pages", "fetches"):
        assert many[table] == one[table], table
    # sighting ids digest the crawl id, which differs from the one-process crawl's here: compare the rest
    assert sorted((s[1:] for s in many["sightings"]), key=repr) == sorted((s[1:] for s in one["sightings"]), key=repr)
    with Store.open(merged, read_only=True) as store:
        (dups,) = store.query("SELECT count(*) - count(DISTINCT sighting_id) FROM sightings")[0]
        assert dups == 0


def test_start_urls_of_a_seeder_that_died_are_pushed_again(small_web, server, single, redis_url, tmp_path):
    """The worker that claimed the seeding died before it had pushed every start URL (Scrapy reads start requests
    lazily; a seeder killed at its 40th response had pushed 25 of 31): the crawl was never found done and the URLs
    not pushed were lost. A worker now pushes them again once the seeder's heartbeat has stopped."""
    client = redis.Redis.from_url(redis_url)
    key = redis_key(small_web.start_urls)
    client.set(f"{key}:seeding", b"gone-4242")  # claimed by a worker that is not alive
    client.set(f"{key}:crawl_id", b"c-shared-test")
    db, log = tmp_path / "shard.duckdb", tmp_path / "shard.log"
    worker = _worker(["-v", *crawl_args(small_web, server, db, "--redis", redis_url,
                                        "-s", "AUDIT_REDIS_WORKER_TTL=4")], log)
    _finish(worker, log)
    assert f"stopped before it had pushed every start URL: {len(small_web.start_urls)} pushed again" in log.read_text()
    assert _content(db) == _content(single)
