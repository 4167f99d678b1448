"""The built-in test web: determinism, ground truth, embedded metadata, the proxy server and reachability."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
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
from conftest import CORPORA

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
    photos = [r for r in gt if r["image_kind"] == "photo"]
    assert 1.8 <= sum(len(r["page_urls"]) for r in photos) / web.photos <= 5.5
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
        if not r["transforms"] and r["image_kind"] == "photo":  # an original: a JPEG with its metadata, if any
            assert r["format"] == "JPEG" and (r["kept_metadata"] or r["real_photo"]), r
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


def test_people_and_graphics_in_the_ground_truth(web: TestWeb, gt: list[dict]) -> None:
    """Some photos are real photos of the shared face set, with their labelled boxes transformed as each copy is
    (inside the served image, mirrored with it); the other images are logos, icons, banners, maps and product shots
    on news and shop pages, which show no face."""
    kinds = {r["image_kind"] for r in gt}
    assert kinds == {"photo", "logo", "icon", "banner", "map", "product"}
    assert sum(r["image_kind"] != "photo" for r in gt) > len(gt) / 3  # a real crawl meets many images of no one
    faces = [r for r in gt if r["shows_face"]]
    assert faces and all(r["face_boxes"] and r["real_photo"]["licence"] for r in faces)
    for r in gt:
        assert r["shows_face"] == bool(r["face_boxes"])
        for left, top, w, h in r["face_boxes"] + r["face_ignore"]:
            assert 0 <= left and 0 <= top and w > 0 and h > 0, r
            assert left + w <= r["width"] and top + h <= r["height"], r
        if r["image_kind"] != "photo":
            assert not r["shows_face"] and r["residence_country"] is None and r["real_photo"] is None
            assert r["site_kind"] in ("local_news", "magazine", "shop"), r
    assert any(r["real_photo"] and not r["shows_face"] for r in gt)  # real negatives: animals, objects, food
    assert {r["site_kind"] for r in gt if r["image_kind"] == "product"} == {"shop"}
    # every copy of a real photo has the boxes of its file, scaled to its size (and mirrored with it)
    labels = (CORPORA / "faces" / "boxes.jsonl").read_text(encoding="utf-8").splitlines()
    boxes = {json.loads(line)["file"]: json.loads(line) for line in labels if line.strip()}
    for r in faces:
        src = boxes[r["real_photo"]["file"]]
        if "crop" in r["transforms"]:
            continue
        sx = r["width"] / src["width"]
        expected = sorted(round(b[2] * sx) for b in src["faces"])
        assert sorted(b[2] for b in r["face_boxes"]) == pytest.approx(expected, abs=1)
        if "mirror" not in r["transforms"]:
            lefts = sorted(round(b[0] * sx) for b in src["faces"])
            assert sorted(b[0] for b in r["face_boxes"]) == pytest.approx(lefts, abs=1)
    attribution = (web.root / web.manifest["real_photos"]["attribution"]).read_text(encoding="utf-8")
    for r in gt:
        if r["real_photo"]:
            assert r["real_photo"]["file"] in attribution and r["image_url"] in attribution


def test_real_photos_carry_only_the_test_webs_metadata(web: TestWeb, gt: list[dict]) -> None:
    """A real photo's copies go through the same provenance machinery: the original file's metadata is gone, the
    copy carries what its site keeps of the metadata the test web wrote."""
    real = [r for r in gt if r["real_photo"]]
    assert real
    for r in real:
        data = _disk(web, r["image_url"]).read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            assert bool(len(im.getexif())) == ("exif" in r["kept_metadata"])
            assert "icc_profile" not in im.info


def test_build_without_the_face_set(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A clone without ../shared builds synthetic photos only, and says so (log, manifest), without failing."""
    with caplog.at_level("INFO", logger="audit.testbed.testweb.build"):
        web = build_web(tmp_path / "web", photos=20, seed=SEED, workers=1, faces_dir=tmp_path / "absent")
    gt = web.ground_truth()
    assert not any(r["real_photo"] or r["shows_face"] for r in gt)
    assert {r["image_kind"] for r in gt} >= {"photo", "logo", "product"}
    note = web.manifest["real_photos"]["note"]
    assert web.manifest["real_photos"]["photos"] == 0 and "not found" in note
    assert sum("no face photos" in m for m in caplog.messages) == 1


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


def test_server_pid_is_the_running_process_and_none_after(web: TestWeb) -> None:
    srv = TestWebServer(web)
    assert srv.pid is None
    with srv:
        pid = srv.pid
        assert pid is not None and pid != os.getpid()
        os.kill(pid, 0)  # raises if no such process
        host, info = next((h, i) for h, i in web.hosts.items() if i.get("robots_txt"))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": srv.proxy_url}))
        with opener.open(f"http://{host}/robots.txt", timeout=10) as resp:  # the web is served
            assert resp.read().decode() == info["robots_txt"]
    assert srv.pid is None


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


_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")\s]+)")
_LAZY = ("data-src", "data-original", "data-lazy-src")
_LAZY_SRCSET = ("srcset", "data-srcset", "data-lazy-srcset")


def _jsonld_images(obj: object, out: list[str], image_valued: bool = False) -> None:
    """The URLs under schema.org image keys of a JSON-LD value (strings, arrays, ImageObject url/contentUrl)."""
    if isinstance(obj, str):
        if image_valued:
            out.append(obj)
    elif isinstance(obj, list):
        for item in obj:
            _jsonld_images(item, out, image_valued)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("image", "thumbnailUrl", "logo"):
                _jsonld_images(value, out, True)
            elif key in ("url", "contentUrl") and (image_valued or obj.get("@type") == "ImageObject"):
                _jsonld_images(value, out, True)
            elif not isinstance(value, str):
                _jsonld_images(value, out)


class _Links(HTMLParser):
    """Links and image references of a page, written apart from audit.decode.html: every way the test web's pages
    name images (plain and lazy <img>, srcset, <picture>, og:image, CSS url() in style attributes and <style>
    blocks, background=, <input type=image>, <video poster>, SVG <image>, icons, microdata, JSON-LD, links)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.stylesheets: list[str] = []
        self._text: str | None = None  # the element whose text is being read: "style" or "json-ld"
        self._buf: list[str] = []

    def _add(self, url: str | None) -> None:
        if url and not url.startswith("data:"):
            self.images.append(url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "link" and "stylesheet" in a.get("rel", "").lower().split() and a.get("href"):
            self.stylesheets.append(a["href"])
        if tag == "a" and a.get("href"):
            target = self.images if a["href"].lower().endswith(IMAGE_SUFFIXES) else self.links
            target.append(a["href"])
        if tag in ("img", "source"):
            self._add(a.get("src"))
            for name in _LAZY:
                self._add(a.get(name))
            for name in _LAZY_SRCSET:
                for cand in a.get(name, "").split(","):
                    if cand.strip():
                        self.images.append(cand.split()[0])
        if tag == "meta" and a.get("property") == "og:image":
            self.images.append(a["content"])
        if tag == "meta" and a.get("itemprop") == "image":
            self._add(a.get("content"))
        if tag == "link" and set(a.get("rel", "").split()) & {"icon", "apple-touch-icon"}:
            self._add(a.get("href"))
        if tag in ("td", "table") and a.get("background"):
            self._add(a["background"])
        if tag == "input" and a.get("type") == "image":
            self._add(a.get("src"))
        if tag == "video":
            self._add(a.get("poster"))
        if tag == "image":
            self._add(a.get("href"))
        for url in _CSS_URL.findall(a.get("style", "")):
            self._add(url)
        if tag == "style" or (tag == "script" and a.get("type") == "application/ld+json"):
            self._text, self._buf = ("style" if tag == "style" else "json-ld"), []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._buf.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._text is None or tag not in ("style", "script"):
            return
        text = "".join(self._buf)
        if self._text == "style":
            for url in _CSS_URL.findall(text):
                self._add(url)
        else:
            found: list[str] = []
            _jsonld_images(json.loads(text), found)
            for url in found:
                self._add(url)
        self._text = None


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
    refused = {r["image_url"]: set(r["page_urls"]) for r in web.robots_refused()}  # type: ignore[arg-type]
    assert dict(pairs) == truth | refused
    # the sites with a linked stylesheet show a figure's photo as every page's banner, only through it
    css_hosts = {h for h, info in web.hosts.items() if info.get("stylesheet")}
    assert through_css and {urlsplit(page).hostname for _, page in through_css} <= css_hosts  # (those with posts)
    assert all(page in truth[img] for img, page in through_css)
    assert sum(len(p) for url, p in pairs.items() if url in truth) == web.sightings
    for url in truth:
        assert robots[urlsplit(url).hostname].can_fetch("*", url), url  # type: ignore[index]


# --- the patterns of issue 14 -----------------------------------------------------------------------------------------

# the ref_kinds of audit.decode.html that the test web's patterns produce besides img/srcset/picture/og:image/link
PATTERN_KINDS = {"lazy", "css", "background", "input", "icon", "poster", "svg", "microdata", "json-ld",
                 "stylesheet"}
# what the markup of each pattern looks like in the built pages
PATTERN_MARKUP = ('src="data:image/gif;base64,', ' data-src="', ' data-original="', ' data-lazy-src="',
                  ' data-srcset="', ' data-lazy-srcset="', "<noscript><img ", 'style="background-image: url(',
                  "<style>.thumb-", ' background="', '<input type="image"', ' poster="',
                  "<svg ", "<image href=", '<link rel="icon"', '<link rel="apple-touch-icon"',
                  '<meta itemprop="image"', '"@type": "ImageObject"', '"thumbnailUrl"')


def _page_url(web: TestWeb, path: Path) -> str:
    host, *rest = path.relative_to(web.www).parts
    rel = "/".join(rest)
    return f"http://{host}/" + (rel[: -len("index.html")] if rel.endswith("index.html") else rel)


def test_every_pattern_is_on_the_pages_and_each_pair_says_how(web: TestWeb, gt: list[dict]) -> None:
    """Every way of naming an image the issue lists is on the pages of the small web, and the truth's ``ref_kinds``
    say, for every (image, page) pair, the reference kind the page parser records for it: the parser run over
    every page finds exactly those pairs with exactly those kinds."""
    from audit.decode.html import parse_page

    html = {_page_url(web, p): p.read_text(encoding="utf-8") for p in web.www.rglob("*.html")}
    text = "\n".join(html.values())
    for markup in PATTERN_MARKUP:
        assert markup in text, markup
    expected: dict[tuple[str, str], str] = {}
    for r in gt + web.robots_refused():
        assert set(r["ref_kinds"]) == set(r["page_urls"]), r  # type: ignore[arg-type]
        for page, kind in r["ref_kinds"].items():  # type: ignore[union-attr]
            expected[(r["image_url"], page)] = kind  # type: ignore[index]
    assert PATTERN_KINDS <= {kind for r in gt for kind in r["ref_kinds"].values()}
    found = {(ref.image_url, url): ref.ref_kind for url, page in html.items()
             for ref in parse_page(page, url).image_refs}
    # a pair whose page names the image only through its linked stylesheet is not in the page's HTML: the crawl and
    # ingest read it from the stylesheet (tests/crawl/test_crawl.py checks them per ref_kind)
    through_stylesheet = {pair for pair, kind in expected.items() if kind == "stylesheet"}
    assert through_stylesheet and not through_stylesheet & set(found)
    assert found == {pair: kind for pair, kind in expected.items() if kind != "stylesheet"}
    # images the pages name in one way only: share-size copies only in JSON-LD or microdata, icons only as icons
    only = {next(iter(set(r["ref_kinds"].values()))) for r in gt if len(set(r["ref_kinds"].values())) == 1}
    assert {"json-ld", "microdata", "icon", "css", "lazy"} <= only
    # several sites of several countries use each pattern
    for pattern in ("lazy", "css", "table", "input", "video", "svg", "microdata", "icon"):
        countries = {h["country"] for h in web.hosts.values() if pattern in h["patterns"]}  # type: ignore[operator]
        assert len(countries - {None}) >= 2, pattern


def test_an_image_cdn_refuses_every_crawler(web: TestWeb, gt: list[dict], opener: urllib.request.OpenerDirector,
                                            ) -> None:
    """The images of an image CDN whose robots.txt says ``Disallow: /`` are named by pages and served, and listed
    apart from the ground truth (a crawl that obeys robots.txt never fetches them)."""
    refused = web.robots_refused()
    assert refused
    assert not {r["image_url"] for r in refused} & {r["image_url"] for r in gt}
    for r in refused:
        info = web.hosts[r["host"]]  # type: ignore[index]
        rp = urllib.robotparser.RobotFileParser()
        rp.parse(str(info["robots_txt"]).splitlines())
        assert not rp.can_fetch("*", r["image_url"]) and not rp.can_fetch("provaudit", r["image_url"])
        assert r["rule"] == "Disallow: /" and r["page_urls"]
        assert urlsplit(r["image_url"]).hostname == r["host"] and r["host"] not in {
            urlsplit(p).hostname for p in r["page_urls"]}  # type: ignore[union-attr]
        with opener.open(r["image_url"]) as resp:  # served all the same
            assert hashlib.sha256(resp.read()).hexdigest() == r["sha256"]
