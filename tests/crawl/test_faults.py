"""Failing servers: a real ``provaudit crawl`` of the fault-injecting web (``audit/testbed/faults.py``) into a real
DuckDB file. The crawl finishes in bounded time; every faulty URL has a row saying what failed, where and why; the
good images beside them are recorded normally; retries are bounded; the summary and ``crawls.stats`` count the
failures; a host whose robots.txt is unreachable (5xx, no response) is not crawled (RFC 9309), or with
``AUDIT_ROBOTS_UNREACHABLE=allow`` is; robots.txt and tdmrep.json fetches that failed without a response are recorded.
The figures are in docs/reliability.md ("Failing servers")."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from loopsite import LoopSite

from audit.store.db import Store
from audit.testbed.faults import CHAIN_LENGTH, GOOD_IMAGES, IMAGE_FAULTS, PAGE_FAULTS, SIZE_LIMIT_HINT, FaultyWeb
from conftest import ROOT
from spiders import settings as project

TIMEOUT = 2  # DOWNLOAD_TIMEOUT of the test crawl, seconds
CRAWL_BOUND = 60  # the whole crawl, seconds (it takes ~8 s: three timeouts of 2 s each, retried twice)
RETRY_TIMES = project.RETRY_TIMES

# image path -> (status recorded in fetches, a pattern its error must match); None: fetched and recorded normally
IMAGE_EXPECTED: dict[str, tuple[int | None, str] | None] = {
    "/img/status-404.jpg": (404, r"^HTTP 404$"),
    "/img/status-410.jpg": (410, r"^HTTP 410$"),
    "/img/status-500.jpg": (500, r"^HTTP 500$"),
    "/img/status-503.jpg": (503, r"^HTTP 503$"),
    "/img/timeout.jpg": (None, rf"DownloadTimeoutError: .*/img/timeout\.jpg took longer than {TIMEOUT}"),
    "/img/reset.jpg": (None, r"ResponseDataLossError: the connection closed before the whole body arrived"),
    "/img/truncated.jpg": (None, r"ResponseDataLossError: the connection closed before the whole body arrived"),
    "/img/no-type.jpg": None,
    "/img/wrong-type.jpg": None,
    "/img/as-html.jpg": None,
    "/img/html-body.jpg": None,  # fetched; its images row says it is no image
    "/img/loop-a.jpg": (None, r"redirect loop: .*/img/loop-a\.jpg -> .*/img/loop-b\.jpg -> .*/img/loop-a\.jpg"),
    "/img/chain-0.jpg": (None, r"max redirections reached after 20 redirects \(last: .*/img/chain-20\.jpg\)"),
    "/img/moved.jpg": None,  # redirects to good-1.jpg, which the page also references
    "/img/huge.jpg": (None, r"DownloadCancelledError: Expected to receive \d+ bytes .* max size \(100000\)"),
    "/img/huge-unsized.jpg": (None, r"DownloadCancelledError: body larger than the size limit \(100000 bytes\)"),
    "/img/slow.jpg": (None, rf"DownloadTimeoutError: .*/img/slow\.jpg took longer than {TIMEOUT}"),
    "/private/secret.jpg": (None, r"IgnoreRequest: Forbidden by robots\.txt"),
}
PAGE_EXPECTED: dict[str, tuple[int, str]] = {
    "/page/status-404.html": (404, r"^HTTP 404$"),
    "/page/status-500.html": (500, r"^HTTP 500$"),
    "/page/timeout.html": (0, rf"DownloadTimeoutError: .* took longer than {TIMEOUT}"),
    "/page/reset.html": (0, r"ResponseDataLossError: the connection closed before the whole body arrived"),
    "/page/loop-a.html": (0, r"redirect loop: .*/page/loop-a\.html -> .*/page/loop-b\.html"),
    "/page/chain-0.html": (0, r"max redirections reached after 20 redirects \(last: .*/page/chain-20\.html\)"),
    "/private/page.html": (0, r"IgnoreRequest: Forbidden by robots\.txt"),
}
# the page of each of the two other sites, on hosts whose robots.txt is unreachable: not fetched (RFC 9309)
UNREACHABLE_ROBOTS = {"other": r"HTTP 500",
                      "reset": r"ResponseDataLossError: the connection closed before the whole body arrived"}
RETRIED = {"/img/status-500.jpg", "/img/status-503.jpg", "/img/timeout.jpg", "/img/reset.jpg", "/img/truncated.jpg",
           "/img/slow.jpg", "/page/status-500.html", "/page/timeout.html", "/page/reset.html"}


def _rows(store: Store, sql: str) -> dict[str, dict[str, Any]]:
    cur = store.con.execute(sql)
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


@pytest.fixture(scope="module")
def fault_crawl(tmp_path_factory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("faults") / "faults.duckdb"
    assert SIZE_LIMIT_HINT == 100_000
    with FaultyWeb() as web:
        args = [sys.executable, "-m", "audit.cli", "crawl", web.start_url, "--db", str(db),
                "--allowed-domain", "127.0.0.1", "--no-throttle",
                "-s", f"DOWNLOAD_TIMEOUT={TIMEOUT}", "-s", "AUDIT_MAX_IMAGE_BYTES=100000"]
        started = time.monotonic()
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=CRAWL_BOUND)
        elapsed = time.monotonic() - started
        requests, other_requests, reset_requests = web.requests, web.other_requests, web.reset_requests
        origin, other, reset = web.origin, web.other_origin, web.reset_origin
    assert proc.returncode == 0, proc.stderr
    # no uncaught exception, and no traceback: an unreachable robots.txt is a warning saying what it means
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("unreachable") >= 2 and "RFC 9309" in proc.stderr, proc.stderr
    return {"db": db, "stdout": proc.stdout, "elapsed": elapsed, "requests": requests, "other": other_requests,
            "reset": reset_requests, "origin": origin, "other_origin": other, "reset_origin": reset}


def test_the_crawl_finishes_in_bounded_time(fault_crawl):
    # three faults never answer: each costs DOWNLOAD_TIMEOUT per try, and the tries run side by side
    assert fault_crawl["elapsed"] < 40
    with Store.open(fault_crawl["db"], read_only=True) as store:
        ((finished, stats),) = store.query("SELECT finished_at IS NOT NULL, stats FROM crawls")
    assert finished
    assert json.loads(stats)["finish_reason"] == "finished"


def test_every_faulty_image_has_a_row_saying_what_where_and_why(fault_crawl):
    assert set(IMAGE_EXPECTED) == set(IMAGE_FAULTS)
    origin = fault_crawl["origin"]
    with Store.open(fault_crawl["db"], read_only=True) as store:
        fetches = _rows(store, "SELECT url, final_url, status, content_type, sha256, error FROM fetches")
        images = _rows(store, "SELECT sha256, format, error FROM images")
        sightings = _rows(store, "SELECT image_url, page_url, sha256 FROM sightings")
    for path, expected in IMAGE_EXPECTED.items():
        url = origin + path
        assert url in sightings and sightings[url]["page_url"] == origin + "/", path  # where it was seen
        row = fetches.get(url)
        assert row is not None, f"no fetches row for {path}"
        if expected is None:
            assert row["error"] is None and row["status"] == 200 and row["sha256"], (path, row)
            assert sightings[url]["sha256"] == row["sha256"], path
            continue
        status, pattern = expected
        assert row["status"] == status, (path, row)
        assert row["error"] and re.search(pattern, row["error"]), (path, row["error"])
        assert row["sha256"] is None and sightings[url]["sha256"] is None, path
    # served with a wrong or missing Content-Type, the bytes are still what they are: recorded with the header
    assert fetches[origin + "/img/no-type.jpg"]["content_type"] is None
    assert fetches[origin + "/img/wrong-type.jpg"]["content_type"] == "text/plain"
    assert fetches[origin + "/img/as-html.jpg"]["content_type"].startswith("text/html")
    for path in ("/img/no-type.jpg", "/img/wrong-type.jpg", "/img/as-html.jpg"):
        assert images[fetches[origin + path]["sha256"]]["format"] == "JPEG", path
    # an HTML body served as image/jpeg: fetched, and its image row says it cannot be read
    bad = images[fetches[origin + "/img/html-body.jpg"]["sha256"]]
    assert bad["format"] is None and bad["error"].startswith("not a readable image")
    # a redirect to an image already requested under another URL is fetched again, not dropped as a duplicate
    moved = fetches[origin + "/img/moved.jpg"]
    assert moved["final_url"] == origin + "/img/good-1.jpg"
    assert moved["sha256"] == fetches[origin + "/img/good-1.jpg"]["sha256"]


def test_every_faulty_page_has_a_row_saying_what_where_and_why(fault_crawl):
    assert set(PAGE_EXPECTED) | {"/page/as-image.html"} == set(PAGE_FAULTS)
    origin = fault_crawl["origin"]
    with Store.open(fault_crawl["db"], read_only=True) as store:
        pages = _rows(store, "SELECT url, status, error FROM pages")
        fetches = _rows(store, "SELECT url, content_type, sha256, error FROM fetches")
        images = _rows(store, "SELECT sha256, error FROM images")
    for path, (status, pattern) in PAGE_EXPECTED.items():
        row = pages.get(origin + path)  # recorded under the URL the link named, also after redirects
        assert row is not None, f"no pages row for {path}"
        assert row["status"] == status and row["error"] and re.search(pattern, row["error"]), (path, row)
    # HTML served as image/jpeg behind a link: taken for an image (as its Content-Type says) and recorded unreadable
    as_image = fetches[origin + "/page/as-image.html"]
    assert as_image["content_type"] == "image/jpeg" and as_image["error"] is None
    assert images[as_image["sha256"]]["error"].startswith("not a readable image")
    # only the faulty pages failed, and the other sites' pages, whose robots.txt was unreachable
    failed = {url for url, r in pages.items() if r["error"]}
    assert failed == {origin + p for p in PAGE_EXPECTED} | {fault_crawl[f"{site}_origin"] + "/b/"
                                                             for site in UNREACHABLE_ROBOTS}
    assert len(pages) == len(PAGE_EXPECTED) + 4  # the start page, page/good.html and the other sites' pages


def test_good_images_next_to_the_faults_are_recorded_normally(fault_crawl):
    origin = fault_crawl["origin"]
    urls = [origin + p for p in GOOD_IMAGES]
    with Store.open(fault_crawl["db"], read_only=True) as store:
        rows = store.query(
            "SELECT f.url, f.status, f.error, i.format, i.width, i.error, s.sha256 = f.sha256 FROM fetches f "
            "JOIN images i USING (sha256) JOIN sightings s ON s.image_url = f.url WHERE f.url IN "
            f"({', '.join('?' * len(urls))})", urls)
    assert sorted(r[0] for r in rows) == sorted(urls)
    for url, status, error, fmt, width, image_error, linked in rows:
        assert (status, error, fmt, width, image_error, linked) == (200, None, "JPEG", 96, None, True), url


def _policies(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    cur = store.con.execute("SELECT host, kind, status, body, error FROM host_policies")
    names = [d[0] for d in cur.description]
    return {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def test_an_unreachable_robots_txt_disallows_its_host_and_is_recorded(fault_crawl):
    """RFC 9309, section 2.3.1.4: a robots.txt answering 5xx, or not at all, means a complete disallow. Both are
    recorded in host_policies: the 500 with its status and body, the reset with the error and no status."""
    origin = fault_crawl["origin"]
    with Store.open(fault_crawl["db"], read_only=True) as store:
        policies = _policies(store)
        pages = _rows(store, "SELECT url, status, error FROM pages")
        fetched = {r[0] for r in store.query("SELECT url FROM fetches")}
        (stats,) = store.query("SELECT stats FROM crawls")[0]
    stats = json.loads(stats)
    host = {site: fault_crawl[f"{site}_origin"].removeprefix("http://") for site in UNREACHABLE_ROBOTS}
    assert policies[(origin.removeprefix("http://"), "robots.txt")]["status"] == 200
    assert {k: policies[(host["other"], "robots.txt")][k] for k in ("status", "body", "error")} == {
        "status": 500, "body": "internal error", "error": None}
    reset = policies[(host["reset"], "robots.txt")]
    assert reset["status"] is None and reset["body"] is None
    assert re.search(rf"^{UNREACHABLE_ROBOTS['reset']} .*\(ConnectionLost", reset["error"]), reset["error"]
    for site, why in UNREACHABLE_ROBOTS.items():
        page = pages[fault_crawl[f"{site}_origin"] + "/b/"]
        assert page["status"] == 0 and re.search(
            rf"^IgnoreRequest: Forbidden by robots\.txt: it is unreachable \({why}.*\), so nothing on "
            rf"{re.escape(host[site])} may be fetched \(RFC 9309\)$", page["error"]), page
        assert not any(url.startswith(fault_crawl[f"{site}_origin"]) for url in fetched)
    assert stats["robotstxt/unreachable"] == 2
    assert stats["robotstxt/exception_count/<class 'scrapy.exceptions.ResponseDataLossError'>"] == 1


def test_retries_are_bounded(fault_crawl):
    requests, other, reset = fault_crawl["requests"], fault_crawl["other"], fault_crawl["reset"]
    tries = RETRY_TIMES + 1
    for path in RETRIED:  # retryable faults: tried exactly RETRY_TIMES + 1 times, never more
        assert requests[path] == tries, (path, requests[path])
    for path in (*IMAGE_FAULTS, *PAGE_FAULTS, *GOOD_IMAGES):
        assert requests[path] <= tries, (path, requests[path])
    for path in ("/img/status-404.jpg", "/img/status-410.jpg", "/page/status-404.html", "/img/huge.jpg",
                 "/img/huge-unsized.jpg"):
        assert requests[path] == 1, path  # not retryable
    assert requests["/private/secret.jpg"] == requests["/private/page.html"] == 0  # robots.txt obeyed
    assert other["/robots.txt"] == reset["/robots.txt"] == tries  # a failing robots.txt is retried like the rest
    assert sum(other.values()) == sum(reset.values()) == tries  # and nothing else is asked of those hosts
    # a redirect loop a -> b -> a is stopped at its first repeat: a twice (once more to fail it), b once
    assert (requests["/img/loop-a.jpg"], requests["/img/loop-b.jpg"]) == (2, 1)
    # a redirect chain stops at REDIRECT_MAX_TIMES (20): the 21st URL of the chain is never asked for
    assert all(requests[f"/img/chain-{i}.jpg"] == 1 for i in range(21))
    assert requests["/img/chain-21.jpg"] == 0 and CHAIN_LENGTH > 21
    assert sum(requests.values()) < 150


def test_the_summary_and_crawl_stats_count_the_failures(fault_crawl):
    with Store.open(fault_crawl["db"], read_only=True) as store:
        (page_errors,) = store.query("SELECT count(*) FROM pages WHERE error IS NOT NULL")[0]
        (fetch_errors,) = store.query("SELECT count(*) FROM fetches WHERE error IS NOT NULL")[0]
        (stats,) = store.query("SELECT stats FROM crawls")[0]
    stats = json.loads(stats)
    failing_images = sum(1 for v in IMAGE_EXPECTED.values() if v is not None)
    failing_pages = len(PAGE_EXPECTED) + len(UNREACHABLE_ROBOTS)
    assert (page_errors, fetch_errors) == (failing_pages, failing_images) == (9, 13)
    assert stats["page_errors"] == page_errors and stats["image_fetch_errors"] == fetch_errors
    assert stats["retry/max_reached"] == len(RETRIED) + 2  # and the two failing robots.txt
    assert stats["retry/count"] == (len(RETRIED) + 2) * RETRY_TIMES
    assert stats["robotstxt/forbidden"] == 4  # /private/ twice, and the pages behind unreachable robots.txt files
    out = fault_crawl["stdout"]

    def shown(label: str) -> int:
        m = re.search(rf"{re.escape(label)}\s*│\s*([\d,]+)", out)
        assert m, f"{label!r} not in the summary:\n{out}"
        return int(m.group(1).replace(",", ""))

    assert shown("pages that failed") == page_errors
    assert shown("image fetches that failed") == fetch_errors
    assert shown("requests retried") == stats["retry/count"]
    assert shown("requests that failed every retry") == stats["retry/max_reached"]
    assert shown("requests forbidden by robots.txt") == 4


def test_the_fault_server_counts_requests_and_stops_promptly():
    import urllib.request

    started = time.monotonic()
    with FaultyWeb() as web:
        with urllib.request.urlopen(web.url("/img/good-1.jpg"), timeout=5) as resp:
            assert resp.headers["Content-Type"] == "image/jpeg" and resp.read()[:2] == b"\xff\xd8"
        with pytest.raises(OSError):
            urllib.request.urlopen(web.url("/img/timeout.jpg"), timeout=0.5)
        assert web.requests["/img/good-1.jpg"] == 1 and web.requests["/img/timeout.jpg"] == 1
    assert time.monotonic() - started < 5  # a handler that hangs does not hold the server open


# -- AUDIT_ROBOTS_UNREACHABLE=allow, and the audit -------------------------------------------------------------------


def _page_site(image_origin: str) -> LoopSite:
    """A site on loopback whose page shows one image hosted on ``image_origin`` (a closed port: nothing answers
    there, neither its robots.txt nor its tdmrep.json nor the image)."""
    page = (f'<!doctype html><html lang="en"><body><img src="{image_origin}/img/gone.jpg" alt="gone">'
            "</body></html>").encode()
    return LoopSite(lambda path: (200, "text/html; charset=utf-8", page) if path == "/"
                    else (404, "text/html; charset=utf-8", b"not found"))


def _closed_origin() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def allow_crawl(tmp_path_factory) -> dict[str, Any]:
    """The two sites whose robots.txt is unreachable, and a page whose image is on a host where nothing answers,
    crawled with ``AUDIT_ROBOTS_UNREACHABLE=allow`` (Scrapy's behaviour: as if there were no rules)."""
    db = tmp_path_factory.mktemp("allow") / "allow.duckdb"
    closed = _closed_origin()
    page = _page_site(closed)
    try:
        with FaultyWeb() as web:
            args = [sys.executable, "-m", "audit.cli", "crawl", page.origin + "/", web.other_origin + "/b/",
                    web.reset_origin + "/b/", "--db", str(db), "--allowed-domain", "127.0.0.1", "--no-throttle",
                    "-s", f"DOWNLOAD_TIMEOUT={TIMEOUT}", "-s", "AUDIT_ROBOTS_UNREACHABLE=allow"]
            proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=CRAWL_BOUND)
            origins = {"page": page.origin, "other": web.other_origin, "reset": web.reset_origin, "closed": closed}
    finally:
        page.close()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return {"db": db, "stderr": proc.stderr, **{f"{k}_origin": v for k, v in origins.items()}}


def test_with_allow_a_host_whose_robots_txt_is_unreachable_is_crawled_and_failures_are_recorded(allow_crawl):
    host = {k: allow_crawl[f"{k}_origin"].removeprefix("http://") for k in ("page", "other", "reset", "closed")}
    refused = r"^(Download)?ConnectionRefusedError: Connection was refused by other side"
    with Store.open(allow_crawl["db"], read_only=True) as store:
        policies = _policies(store)
        pages = _rows(store, "SELECT url, status, error FROM pages")
        fetches = _rows(store, "SELECT f.url, f.status, f.error, i.format FROM fetches f LEFT JOIN images i "
                               "USING (sha256)")
        (stats,) = store.query("SELECT stats FROM crawls")[0]
    assert policies[(host["other"], "robots.txt")]["status"] == 500
    for h in (host["reset"], host["closed"]):  # no response: recorded with the error
        assert policies[(h, "robots.txt")]["status"] is None and policies[(h, "robots.txt")]["error"], h
    assert re.search(refused, policies[(host["closed"], "robots.txt")]["error"])
    # a tdmrep.json that failed without a response has its row too (the image's host: nothing answers there)
    tdmrep = policies[(host["closed"], "tdmrep.json")]
    assert tdmrep["status"] is None and re.search(refused, tdmrep["error"]), tdmrep
    assert policies[(host["page"], "robots.txt")]["status"] == policies[(host["page"], "tdmrep.json")]["status"] == 404
    # the hosts were crawled as if they had no rules: their page and image recorded normally
    for site in ("other", "reset"):
        origin = allow_crawl[f"{site}_origin"]
        assert pages[origin + "/b/"]["status"] == 200 and pages[origin + "/b/"]["error"] is None
        image = fetches[origin + "/b/img/good-b.jpg"]
        assert (image["status"], image["error"], image["format"]) == (200, None, "JPEG")
    gone = fetches[allow_crawl["closed_origin"] + "/img/gone.jpg"]
    assert gone["status"] is None and re.search(refused, gone["error"])
    stats = json.loads(stats)
    assert stats["robotstxt/unreachable"] == 3 and stats.get("robotstxt/forbidden", 0) == 0
    assert stats["robots.txt_errors"] == 2 and stats["tdmrep.json_errors"] == 1
    assert allow_crawl["stderr"].count("AUDIT_ROBOTS_UNREACHABLE=allow") == 3

