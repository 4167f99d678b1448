"""The built-in test web: determinism, ground truth, embedded metadata, the proxy server and reachability."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import urllib.error
import urllib.request
import urllib.robotparser
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import exifread
import pytest
from PIL import Image, IptcImagePlugin

from audit.testbed.testweb import TestWeb, TestWebServer, build_web
from audit.testbed.testweb.build import GENERATOR_VERSION

SEED = 7  # a tiny web whose 40 photos cover every format and every kind of metadata
GT_KEYS = {"image_url", "photo_id", "residence_country", "capture_country", "transforms", "kept_metadata", "gps",
           "sha256", "format", "width", "height", "host", "site", "site_kind", "page_urls"}
TRANSFORMS = {"resize", "recompress", "crop", "mirror", "watermark", "strip_metadata", "format_png", "format_webp"}
KEPT = {"exif", "gps", "offset_time", "make_model", "iptc_location", "xmp_location"}
ALPHA3 = {"FR": "FRA", "DE": "DEU", "IT": "ITA", "GB": "GBR", "BE": "BEL", "CH": "CHE", "CA": "CAN", "ES": "ESP",
          "NL": "NLD", "US": "USA", "PT": "PRT"}
# Rough bounding boxes (lat_min, lat_max, lon_min, lon_max), written independently of the generator's city table.
BBOX = {"FR": (41.3, 51.1, -5.2, 9.6), "DE": (47.2, 55.1, 5.8, 15.1), "IT": (36.6, 47.1, 6.6, 18.6),
        "GB": (49.9, 60.9, -8.2, 1.8), "BE": (49.5, 51.5, 2.5, 6.4), "CH": (45.8, 47.8, 5.9, 10.5),
        "CA": (41.7, 83.1, -141.0, -52.6), "ES": (36.0, 43.8, -9.3, 3.3), "NL": (50.75, 53.6, 3.3, 7.2),
        "US": (24.5, 49.4, -124.8, -66.9), "PT": (36.9, 42.2, -9.6, -6.2)}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
CTYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> TestWeb:
    return build_web(tmp_path_factory.mktemp("web"), photos=40, seed=SEED, workers=2)


@pytest.fixture(scope="module")
def gt(web: TestWeb) -> list[dict]:
    return [json.loads(line) for line in web.ground_truth_path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def server(web: TestWeb):
    with TestWebServer(web) as srv:
        yield srv


@pytest.fixture(scope="module")
def opener(server: TestWebServer) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({"http": server.proxy_url}))


def _disk(web: TestWeb, url: str) -> Path:
    parts = urlsplit(url)
    path = web.root / "www" / parts.hostname / parts.path.lstrip("/")  # type: ignore[operator]
    return path / "index.html" if parts.path.endswith("/") else path


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- building ---------------------------------------------------------------------------------------------------------


def test_build_is_deterministic_and_cached(web: TestWeb, tmp_path: Path) -> None:
    again = build_web(tmp_path / "again", photos=40, seed=SEED, workers=1)
    assert again.ground_truth_path.read_bytes() == web.ground_truth_path.read_bytes()
    assert _tree_digest(again.root / "www") == _tree_digest(web.root / "www")
    assert (again.sightings, again.image_urls, again.start_urls) == (web.sightings, web.image_urls, web.start_urls)

    other = build_web(tmp_path / "other", photos=40, seed=SEED + 1, workers=1)
    assert other.ground_truth_path.read_bytes() != web.ground_truth_path.read_bytes()

    manifest = web.root / "manifest.json"
    before = manifest.stat().st_mtime_ns
    cached = build_web(web.root, photos=40, seed=SEED)
    assert cached == web and manifest.stat().st_mtime_ns == before
    assert json.loads(manifest.read_text())["generator_version"] == GENERATOR_VERSION
    assert TestWeb.load(web.root) == web


def test_manifest_shape(web: TestWeb) -> None:
    assert len(web.start_urls) >= 28
    assert all(u.startswith("http://") and u.endswith("/") for u in web.start_urls)
    tlds = {urlsplit(u).hostname.rsplit(".", 1)[-1] for u in web.start_urls}  # type: ignore[union-attr]
    assert {"fr", "de", "it", "uk", "be", "ch", "ca", "es", "nl", "com", "net", "paris"} <= tlds
    assert {urlsplit(u).hostname for u in web.start_urls} < set(web.allowed_domains)
    hosts = web.hosts
    assert {"img.cdnstatic.net", "cdn.imgcache.net"} <= set(hosts)
    assert {h["lang"] for h in hosts.values()} >= {"fr", "fr-BE", "fr-CH", "fr-CA"}
    assert any("GPTBot" in h["blocked_agents"] for h in hosts.values())
    assert any(h["x_robots_tag"] for h in hosts.values()) and any(h["meta_robots"] for h in hosts.values())


def test_ground_truth_rows(web: TestWeb, gt: list[dict]) -> None:
    assert len(gt) == web.image_urls == len({r["image_url"] for r in gt})
    assert sum(len(r["page_urls"]) for r in gt) == web.sightings
    assert 1.8 <= web.sightings / web.photos <= 5.5
    for r in gt:
        assert GT_KEYS <= set(r), r
        assert set(r["transforms"]) <= TRANSFORMS and set(r["kept_metadata"]) <= KEPT
        assert (r["gps"] is None) == ("gps" not in r["kept_metadata"])
        assert r["format"] in CTYPES and r["page_urls"]
        assert urlsplit(r["image_url"]).hostname == r["host"]
        data = _disk(web, r["image_url"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
        with Image.open(io.BytesIO(data)) as im:
            assert (im.format, im.width, im.height) == (r["format"], r["width"], r["height"])
        if not r["transforms"]:
            assert r["format"] == "JPEG" and r["kept_metadata"]
    assert {r["residence_country"] for r in gt} >= {"FR"}
    assert any(r["residence_country"] != r["capture_country"] for r in gt) or len(gt) < 20


def test_embedded_metadata_is_readable(web: TestWeb, gt: list[dict]) -> None:
    seen: set[str] = set()
    for r in gt:
        data = _disk(web, r["image_url"]).read_bytes()
        kept = set(r["kept_metadata"])
        seen |= kept
        tags = exifread.process_file(io.BytesIO(data), details=False)
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            iptc = IptcImagePlugin.getiptcinfo(im) if im.format == "JPEG" else None
            xmp = im.getxmp() if im.format == "JPEG" else {}
        if "gps" in kept:
            lat = tags["GPS GPSLatitude"].values
            lon = tags["GPS GPSLongitude"].values
            dec_lat = float(lat[0]) + float(lat[1]) / 60 + float(lat[2]) / 3600
            dec_lon = float(lon[0]) + float(lon[1]) / 60 + float(lon[2]) / 3600
            dec_lat *= -1 if str(tags["GPS GPSLatitudeRef"]) == "S" else 1
            dec_lon *= -1 if str(tags["GPS GPSLongitudeRef"]) == "W" else 1
            assert (round(dec_lat, 5), round(dec_lon, 5)) == (round(r["gps"][0], 5), round(r["gps"][1], 5))
            la0, la1, lo0, lo1 = BBOX[r["capture_country"]]
            assert la0 <= dec_lat <= la1 and lo0 <= dec_lon <= lo1, r
            gps_ifd = exif.get_ifd(0x8825)
            assert gps_ifd.get(1) in ("N", "S") and len(gps_ifd[2]) == 3  # Pillow reads it too
        else:
            assert not any(k.startswith("GPS") for k in tags), r["image_url"]
        assert bool(len(exif)) == ("exif" in kept)
        assert ("Image Make" in tags) == ("make_model" in kept)
        assert (0x9011 in exif.get_ifd(0x8769)) == ("offset_time" in kept)
        if "iptc_location" in kept:
            assert iptc is not None
            assert iptc[(2, 100)].decode() == ALPHA3[r["capture_country"]]
            assert iptc[(2, 90)] and iptc[(2, 101)]
        else:
            assert not iptc
        if "xmp_location" in kept:
            assert b"Iptc4xmpCore:CountryCode" in data and xmp
            assert f'Iptc4xmpCore:CountryCode="{r["capture_country"]}"'.encode() in data
        else:
            assert b"Iptc4xmpCore" not in data
    assert seen == KEPT  # the tiny web exercises every kind of metadata


# --- serving ----------------------------------------------------------------------------------------------------------


def test_proxy_serves_pages_images_and_robots(web: TestWeb, gt: list[dict], server: TestWebServer,
                                              opener: urllib.request.OpenerDirector) -> None:
    assert server.proxy_url == f"http://127.0.0.1:{server.port}" and server.port > 0
    with opener.open(web.start_urls[0]) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"<html lang=" in resp.read()
    for fmt in CTYPES:
        for r in [r for r in gt if r["format"] == fmt][:5]:
            with opener.open(r["image_url"]) as resp:
                body = resp.read()
                assert resp.headers["Content-Type"] == CTYPES[fmt]
                assert int(resp.headers["Content-Length"]) == len(body)
                assert hashlib.sha256(body).hexdigest() == r["sha256"]
                tag = web.hosts[r["host"]]["x_robots_tag"]
                assert resp.headers.get("X-Robots-Tag") == tag
    for host, info in web.hosts.items():
        with opener.open(f"http://{host}/robots.txt") as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert resp.read().decode() == info["robots_txt"]
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open("http://www.not-in-the-test-web.org/")
    assert err.value.code == 502
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(web.start_urls[0] + "no-such-page/")
    assert err.value.code == 404


def test_origin_form_keep_alive_and_browsing(web: TestWeb, gt: list[dict], server: TestWebServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    host = urlsplit(web.start_urls[0]).hostname
    for _ in range(3):  # several requests on one connection
        conn.request("GET", "/", headers={"Host": host})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read()
    conn.request("GET", "/", headers={"Host": f"127.0.0.1:{server.port}"})
    index = conn.getresponse().read().decode()
    assert f"/_site/{host}/" in index
    conn.request("GET", f"/_site/{host}/", headers={"Host": f"127.0.0.1:{server.port}"})
    page = conn.getresponse().read().decode()
    assert f'href="/_site/{host}/' in page
    conn.request("HEAD", urlsplit(gt[0]["image_url"]).path, headers={"Host": gt[0]["host"]})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b""
    conn.close()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "link" and "stylesheet" in a.get("rel", "").lower().split() and a.get("href"):
            self.stylesheets.append(a["href"])
        if tag == "a" and a.get("href"):
            target = self.images if a["href"].lower().endswith(IMAGE_SUFFIXES) else self.links
            target.append(a["href"])
        if tag in ("img", "source"):
            if a.get("src"):
                self.images.append(a["src"])
            for cand in a.get("srcset", "").split(","):
                if cand.strip():
                    self.images.append(cand.split()[0])
        if tag == "meta" and a.get("property") == "og:image":
            self.images.append(a["content"])


def test_every_image_is_reachable_from_start_urls(web: TestWeb, gt: list[dict],
                                                  opener: urllib.request.OpenerDirector) -> None:
    allowed = set(web.allowed_domains)
    robots: dict[str, urllib.robotparser.RobotFileParser] = {}
    for host in allowed:
        rp = urllib.robotparser.RobotFileParser()
        rp.parse(web.hosts[host]["robots_txt"].splitlines())  # type: ignore[union-attr]
        robots[host] = rp
    seen: set[str] = set()
    queue = list(web.start_urls)
    pairs: dict[str, set[str]] = defaultdict(set)
    sheets: dict[str, list[str]] = {}  # stylesheet URL -> the image URLs its url() entries name, resolved against it
    through_css: set[tuple[str, str]] = set()
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        assert robots[urlsplit(url).hostname].can_fetch("*", url), url  # type: ignore[index]
        with opener.open(url) as resp:
            assert resp.status == 200, url
            parser = _Links()
            parser.feed(resp.read().decode("utf-8"))
        for img in parser.images:
            pairs[urljoin(url, img)].add(url)
        for href in parser.stylesheets:
            sheet = urljoin(url, href)
            if sheet not in sheets:
                with opener.open(sheet) as resp:
                    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/css"), sheet
                    css = resp.read().decode("utf-8")
                sheets[sheet] = [urljoin(sheet, u) for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", css)]
            for img in sheets[sheet]:
                pairs[img].add(url)
                through_css.add((img, url))
        for link in parser.links:
            target = urldefrag(urljoin(url, link)).url
            if target.startswith("http://") and urlsplit(target).hostname in allowed and target not in seen:
                queue.append(target)
    truth = {r["image_url"]: set(r["page_urls"]) for r in gt}
    assert dict(pairs) == truth
    # the sites with a linked stylesheet show a figure's photo as every page's banner, only through it
    css_hosts = {h for h, info in web.hosts.items() if info.get("stylesheet")}
    assert through_css and {urlsplit(page).hostname for _, page in through_css} <= css_hosts  # (those with posts)
    assert all(page in truth[img] for img, page in through_css)
    assert sum(len(p) for p in pairs.values()) == web.sightings
    for url in truth:
        assert robots[urlsplit(url).hostname].can_fetch("*", url), url  # type: ignore[index]
