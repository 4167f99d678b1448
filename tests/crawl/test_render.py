"""The rendered crawl (``provaudit crawl --render``) against the scripted hosts of the test web, in a real Chromium
(Debian's, at ``/usr/bin/chromium``; ``make browser`` installs it). Nothing is mocked and nothing is skipped: without
the browser these tests fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from audit.crawl.render import CHROMIUM_ARGS
from audit.settings import DEFAULTS
from audit.store.db import Store
from audit.testbed.testweb import TestWeb, TestWebServer
from audit.testbed.testweb.scripted import SCRIPTED_HOSTS, build_scripted_web
from conftest import ROOT, crawl_args, only_crawl_id, provaudit

SCRIPTED = {s.host for s in SCRIPTED_HOSTS}


@pytest.fixture(scope="module")
def scripted_web(tmp_path_factory) -> TestWeb:
    return TestWeb.load(build_scripted_web(tmp_path_factory.mktemp("scripted")))


@pytest.fixture(scope="module")
def scripted_server(scripted_web):
    with TestWebServer(scripted_web) as srv:
        yield srv


def _truth(web: TestWeb) -> set[tuple[str, str]]:
    return {(str(r["image_url"]), str(p)) for r in web.ground_truth() for p in r["page_urls"]}  # type: ignore[attr-defined]


def _sightings(db: Path) -> set[tuple[str, str, bool | None]]:
    with Store.open(db, read_only=True) as store:
        rows = store.query("SELECT image_url, page_url, rendered FROM sightings WHERE page_host IN "
                           f"({', '.join(repr(h) for h in sorted(SCRIPTED))})")
    return {(str(a), str(b), c) for a, b, c in rows}


def _stats(db: Path) -> dict[str, object]:
    with Store.open(db, read_only=True) as store:
        (raw,) = store.query("SELECT stats FROM crawls")[0]
    stats: dict[str, object] = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return stats


@pytest.fixture(scope="module")
def plain_and_rendered(scripted_web, scripted_server, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("render-crawls")
    plain, rendered = out / "plain.duckdb", out / "rendered.duckdb"
    provaudit(*crawl_args(scripted_web, scripted_server, plain))
    provaudit(*crawl_args(scripted_web, scripted_server, rendered, "--render"))
    return plain, rendered


def test_the_system_chromium_is_there():
    """The rendered crawl launches the system's Chromium, never a downloaded one: CI installs it (make browser)."""
    browser = str(DEFAULTS["AUDIT_RENDER_BROWSER"])
    assert os.access(browser, os.X_OK), f"{browser} is missing: run `make browser`"


def test_rendered_crawl_finds_the_images_only_script_shows(scripted_web, plain_and_rendered):
    plain, rendered = plain_and_rendered
    truth = _truth(scripted_web)
    assert len(truth) == 27  # 9 images on each of the 3 scripted hosts
    found_plain = {(i, p) for i, p, _ in _sightings(plain)}
    found_rendered = _sightings(rendered)
    # the plain crawl reads the raw HTML only: a JSON API, infinite scroll and a lazy loader show it nothing
    assert len(found_plain & truth) == 0
    # the rendered crawl finds every one of them, each marked as seen only in the rendered DOM
    assert {(i, p) for i, p, _ in found_rendered} == truth
    assert {r for _, _, r in found_rendered} == {True}
    # and their images were fetched by Scrapy, byte for byte those the test web serves
    with Store.open(rendered, read_only=True) as store:
        fetched = dict(store.query("SELECT url, sha256 FROM fetches"))
    for row in scripted_web.ground_truth():
        assert fetched[row["image_url"]] == row["sha256"]
    with Store.open(rendered, read_only=True) as store:
        pages = {r[0] for r in store.query("SELECT url FROM pages WHERE error IS NULL")}
    assert pages >= set(scripted_web.start_urls)  # each page recorded once, from its raw HTML


def test_per_pattern_every_host_gains_its_images(plain_and_rendered):
    _, rendered = plain_and_rendered
    by_host: dict[str, int] = {}
    for _, page, _ in _sightings(rendered):
        host = page.split("/")[2]
        by_host[host] = by_host.get(host, 0) + 1
    assert by_host == {h: 9 for h in SCRIPTED}  # api, scroll (3 batches, 2 of them loaded on scroll), lazy


def test_the_rendered_dom_is_kept_in_the_warc_next_to_the_raw_response(scripted_web, plain_and_rendered):
    _, rendered = plain_and_rendered
    crawl_id = only_crawl_id(rendered)
    (warc,) = rendered.parent.glob(f"rendered-{crawl_id}.warc.gz")
    responses: dict[str, tuple[str, bytes]] = {}
    conversions: dict[str, tuple[dict[str, str], bytes]] = {}
    with open(warc, "rb") as fh:
        for rec in ArchiveIterator(fh):
            uri = rec.rec_headers.get_header("WARC-Target-URI")
            if rec.rec_type == "response":
                responses[uri] = (rec.rec_headers.get_header("WARC-Record-ID"), rec.content_stream().read())
            elif rec.rec_type == "conversion":
                conversions[uri] = (dict(rec.rec_headers.headers), rec.content_stream().read())
    assert set(conversions) == set(scripted_web.start_urls)
    images_of = {p: {i for i, q in _truth(scripted_web) if q == p} for p in scripted_web.start_urls}
    for url, (headers, dom) in conversions.items():
        record_id, raw = responses[url]  # the raw HTML is still the page's response record
        assert headers["WARC-Refers-To"] == record_id
        assert headers["WARC-Refers-To-Target-URI"] == url
        assert headers["Content-Type"].startswith("text/html")
        for image in images_of[url]:
            assert image.encode() in dom and image.encode() not in raw


def test_http_proxy_is_honoured_and_contexts_are_recycled(scripted_web, scripted_server, tmp_path):
    """No --proxy: the browser, like Scrapy, goes through the environment's http_proxy (the scripted hosts exist only
    behind the test web's proxy). One page per context: each page gets a new context, closed after it."""
    db = tmp_path / "env-proxy.duckdb"
    args = [a for a in crawl_args(scripted_web, scripted_server, db, "--render") if a != "--proxy"]
    args.remove(scripted_server.proxy_url)
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "https_proxy")}
    env["http_proxy"] = scripted_server.proxy_url
    proc = subprocess.run([sys.executable, "-m", "audit.cli", *args, "-s", "AUDIT_RENDER_PAGES_PER_CONTEXT=1",
                           "-s", "CONCURRENT_REQUESTS=2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {(i, p) for i, p, _ in _sightings(db)} == _truth(scripted_web)
    stats = _stats(db)
    pages = len(scripted_web.start_urls)
    assert stats["provaudit/render/pages"] == pages
    assert stats["playwright/context_count"] == pages  # a new context for every page
    assert stats["provaudit/render/contexts_closed"] == pages  # and each closed once its page was done


def test_contexts_are_shared_up_to_the_bound(plain_and_rendered):
    _, rendered = plain_and_rendered
    stats = _stats(rendered)
    assert int(str(DEFAULTS["AUDIT_RENDER_PAGES_PER_CONTEXT"])) > 3
    assert stats["playwright/context_count"] == 1  # 3 pages: one context
    assert "provaudit/render/contexts_closed" not in stats  # not full: closed with the browser at the end
    assert stats["playwright/request_count/aborted"] == 27  # the browser fetched no image: Scrapy did


def test_a_missing_browser_is_a_clear_error(scripted_web, scripted_server, tmp_path):
    db = tmp_path / "nobrowser.duckdb"
    proc = provaudit(*crawl_args(scripted_web, scripted_server, db, "--render", "-s",
                                 f"AUDIT_RENDER_BROWSER={tmp_path / 'no-chromium'}"), check=False)
    assert proc.returncode == 1
    message = proc.stderr + proc.stdout
    assert "AUDIT_RENDER_BROWSER" in message and "no-chromium" in message
    assert "Traceback" not in message


def test_the_browser_is_launched_quiet_and_headless():
    from audit.crawl.render import RenderOptions, launch_options

    launch = launch_options(RenderOptions(proxy="http://127.0.0.1:1"))
    assert launch["executable_path"] == "/usr/bin/chromium" and launch["headless"] is True
    assert set(CHROMIUM_ARGS) <= set(launch["args"])
    assert {"--disable-background-networking", "--disable-component-update", "--disable-sync"} <= set(CHROMIUM_ARGS)
    assert launch["proxy"] == {"server": "http://127.0.0.1:1"}


def test_the_test_web_gains_the_scripted_hosts_with_their_ground_truth(tmp_path_factory):
    """``build_web(scripted=True)``: the scripted hosts show the web's own images, and their pages are in those
    images' ground truth; the rendered crawl of those hosts finds every such link, the plain crawl none."""
    from audit.testbed.testweb import build_web

    web = build_web(tmp_path_factory.mktemp("web-scripted"), photos=40, seed=11, scripted=True)
    starts = [f"http://{h}/" for h in sorted(SCRIPTED)]
    assert set(starts) <= set(web.start_urls) and SCRIPTED <= set(web.hosts)
    truth = {(i, p) for i, p in _truth(web) if p in starts}
    assert len(truth) == 27
    assert sum(len(r["page_urls"]) for r in web.ground_truth()) == web.sightings  # type: ignore[arg-type]
    out = tmp_path_factory.mktemp("web-scripted-crawls")
    with TestWebServer(web) as srv:
        for name, extra in (("plain", ()), ("rendered", ("--render",))):
            db = out / f"{name}.duckdb"
            provaudit("crawl", *starts, "--db", str(db), "--proxy", srv.proxy_url, "--no-throttle", *extra)
            got = {(i, p) for i, p, _ in _sightings(db)}
            assert len(got & truth) == (27 if extra else 0), name
            if extra:
                with Store.open(db, read_only=True) as store:
                    fetched = dict(store.query("SELECT url, sha256 FROM fetches"))
                shas = {str(r["image_url"]): r["sha256"] for r in web.ground_truth()}
                assert all(fetched[i] == shas[i] for i, _ in truth)


def test_a_default_test_web_has_no_scripted_hosts(tmp_path):
    from audit.testbed.testweb import build_web

    web = build_web(tmp_path, photos=8, seed=3)
    assert not SCRIPTED & set(web.hosts)


def test_scrapy_crawl_renders_with_the_setting(scripted_web, scripted_server, tmp_path):
    """``scrapy crawl provenance -s AUDIT_RENDER=True``: the same rendered crawl from Scrapy's own command line."""
    db = tmp_path / "scrapy-render.duckdb"
    start = f"http://{SCRIPTED_HOSTS[0].host}/"
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "provenance", "-a", f"start_urls={start}", "-s", f"AUDIT_DB={db}",
         "-s", f"AUDIT_PROXY={scripted_server.proxy_url}", "-s", "AUDIT_RENDER=True", "-s",
         "AUTOTHROTTLE_ENABLED=False", "-s", "LOG_LEVEL=WARNING"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    truth = {(i, p) for i, p in _truth(scripted_web) if p == start}
    assert len(truth) == 9
    assert {(i, p) for i, p, _ in _sightings(db)} == truth


def test_a_rendered_dom_past_the_page_bound_is_cut_and_says_so(scripted_web, scripted_server, tmp_path):
    """A script can build a DOM of any size: it is read, and kept in the WARC, up to AUDIT_MAX_PAGE_BYTES."""
    db = tmp_path / "cut.duckdb"
    start = f"http://{SCRIPTED_HOSTS[0].host}/"  # raw HTML ~700 bytes, its rendered DOM ~1,600
    raw = (scripted_web.www / SCRIPTED_HOSTS[0].host / "index.html").stat().st_size
    limit = raw + 30  # the raw page is read whole, the rendered DOM is cut
    provaudit("crawl", start, "--db", str(db), "--proxy", scripted_server.proxy_url, "--no-throttle", "--render",
              "-s", f"AUDIT_MAX_PAGE_BYTES={limit}")
    assert _stats(db)["provaudit/render/dom_cut"] == 1
    found = {(i, p) for i, p, _ in _sightings(db)}
    assert 0 < len(found) < 9 and found <= _truth(scripted_web)  # the references in the first bytes only
    (warc,) = db.parent.glob("cut-*.warc.gz")
    with open(warc, "rb") as fh:
        conversions = [(r.rec_headers.get_header("WARC-Truncated"), len(r.content_stream().read()))
                       for r in ArchiveIterator(fh) if r.rec_type == "conversion"]
    assert conversions == [("length", limit)]


def test_a_page_that_never_settles_is_read_after_a_bounded_wait(scripted_web, scripted_server, tmp_path):
    """A script that never stops changing the DOM (and keeps a request in flight): the page is read all the same,
    after the bounded settling wait, with what the script inserted by then."""
    host = SCRIPTED_HOSTS[0].host
    page = scripted_web.www / host / "endless" / "index.html"
    page.parent.mkdir(exist_ok=True)
    image = "http://img.scriptcdn.net/photos/api-000.png"
    page.write_text(
        "<!DOCTYPE html><html><body><main></main><script>"
        f"var img = document.createElement('img'); img.src = '{image}'; document.querySelector('main').append(img);"
        "setInterval(function () { document.body.append(document.createElement('p')); }, 50);"
        "fetch('/api/photos.json').then(function () { return new Promise(function () {}); });"
        "</script></body></html>", encoding="utf-8")
    db = tmp_path / "endless.duckdb"
    url = f"http://{host}/endless/"
    t0 = time.monotonic()
    provaudit("crawl", url, "--db", str(db), "--proxy", scripted_server.proxy_url, "--no-throttle", "--render",
              "-s", "AUDIT_RENDER_SCROLLS=1", "-s", "AUDIT_FOLLOW_LINKS=False")
    assert time.monotonic() - t0 < 90  # two settling waits of at most 6 s each, plus start-up
    assert {(i, p) for i, p, _ in _sightings(db)} == {(image, url)}
    assert _stats(db)["provaudit/render/pages"] == 1
