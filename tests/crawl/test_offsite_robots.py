"""The crawl obeys the robots.txt of every host it fetches from, image hosts outside the allowed domains included:
a CDN whose robots.txt says ``Disallow: /`` gives none of its images, its file is recorded, and each image not
fetched is a fetch row saying robots.txt forbade it."""

from __future__ import annotations

import subprocess
import sys

from loopsite import LoopSite

from audit.store.db import Store
from conftest import CORPORA, ROOT

PHOTO = next((CORPORA / "photos").rglob("*.jpg"))  # a real camera photo


def test_an_off_site_image_host_s_robots_txt_is_fetched_and_obeyed(tmp_path):
    photo = PHOTO.read_bytes()

    def cdn(path: str) -> tuple[int, str, bytes]:
        if path == "/robots.txt":
            return 200, "text/plain", b"User-agent: *\nDisallow: /\n"
        return 200, "image/jpeg", photo

    db = tmp_path / "cdn.duckdb"
    with LoopSite(cdn, host="127.0.0.2") as images:
        page = f'<html><body><img src="{images.origin}/staff/portrait.jpg" alt="our director"></body></html>'.encode()

        def site(path: str) -> tuple[int, str, bytes]:
            if path == "/":
                return 200, "text/html", page
            return 404, "text/plain", b"not found"

        with LoopSite(site) as publisher:
            proc = subprocess.run([sys.executable, "-m", "audit.cli", "crawl", publisher.origin + "/", "--db", str(db),
                                   "--allowed-domain", "127.0.0.1", "--no-throttle", "--no-warc"],
                                  cwd=ROOT, capture_output=True, text=True, timeout=300)
        cdn_paths = list(images.paths)
        image_url = images.origin + "/staff/portrait.jpg"
        cdn_host = images.origin.removeprefix("http://")  # host_policies.host keeps a port that is not the default
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert cdn_paths == ["/robots.txt"], cdn_paths  # the rules were asked for, the image was never requested
    with Store.open(db, read_only=True) as store:
        policies = store.query("SELECT host, status, body FROM host_policies WHERE kind = 'robots.txt' "
                               "AND host = ?", [cdn_host])
        fetches = store.query("SELECT sha256, error FROM fetches WHERE url = ?", [image_url])
        sightings = store.query("SELECT page_url FROM sightings WHERE image_url = ?", [image_url])
    assert policies == [(cdn_host, 200, "User-agent: *\nDisallow: /\n")], policies
    assert len(fetches) == 1 and fetches[0][0] is None and "robots.txt" in fetches[0][1], fetches
    # the refusal names the host and the rule that decided it
    assert fetches[0][1].endswith(f"Forbidden by robots.txt of {cdn_host}: Disallow: / (User-agent: *)"), fetches
    assert sightings, "the page still says it shows the image"



def test_every_request_waiting_for_a_host_s_rules_gets_them(tmp_path):
    """Twenty images of one CDN named by one page: their requests reach the robots.txt middleware together, all
    before the CDN's rules have arrived, and every one of them is refused (a waiting request once got no rules, and
    was fetched, when several waited on the same answer)."""
    import time

    photo = PHOTO.read_bytes()

    def cdn(path: str) -> tuple[int, str, bytes]:
        if path == "/robots.txt":
            time.sleep(0.5)  # slow rules: every image request arrives while they are awaited
            return 200, "text/plain", b"User-agent: *\nDisallow: /\n"
        return 200, "image/jpeg", photo

    db = tmp_path / "cdn.duckdb"
    with LoopSite(cdn, host="127.0.0.2") as images:
        imgs = "".join(f'<img src="{images.origin}/p/{i}.jpg">' for i in range(20))
        page = f"<html><body>{imgs}</body></html>".encode()

        def site(path: str) -> tuple[int, str, bytes]:
            if path == "/":
                return 200, "text/html", page
            return 404, "text/plain", b"not found"

        with LoopSite(site) as publisher:
            proc = subprocess.run([sys.executable, "-m", "audit.cli", "crawl", publisher.origin + "/", "--db", str(db),
                                   "--allowed-domain", "127.0.0.1", "--no-throttle", "--no-warc"],
                                  cwd=ROOT, capture_output=True, text=True, timeout=300)
        cdn_paths = list(images.paths)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert cdn_paths == ["/robots.txt"], cdn_paths
    with Store.open(db, read_only=True) as store:
        fetches = store.query("SELECT count(*), count(sha256), count(*) FILTER (WHERE error LIKE '%robots.txt%') "
                              "FROM fetches")
    assert fetches == [(20, 0, 20)], fetches
