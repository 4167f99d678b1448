"""Test-web hosts whose images appear only through script: what a plain crawl cannot see and a rendered crawl
(``provaudit crawl --render``, :mod:`audit.crawl.render`) can.

Three patterns, one host each, every image named nowhere in the raw HTML:

- ``api``: an empty ``<ul>`` filled from a JSON API (``fetch('/api/photos.json')``), one ``<img>`` per entry;
- ``scroll``: infinite scroll, a first batch of images fetched on load and one more batch each time the page is
  scrolled to its bottom (``/feed/<n>.json``);
- ``lazy``: a lazy-loading library in the style of lazysizes, whose ``<img class="lazyload">`` placeholders carry the
  image's CDN, path and extension in separate ``data-`` attributes; a small inline script joins them into ``src``
  once the image comes near the viewport (so no attribute holds the URL: a parser cannot guess it).

The JavaScript is written here, a few lines each, and needs nothing from outside. :func:`write_scripted_host`
writes one host's files and returns, for each image URL, the page URLs that show it (the ground truth's
``page_urls``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from audit.testweb_marker import META_NAME, VALUE

PATTERNS = ("api", "scroll", "lazy")
FEED_BATCHES = 3  # batches of the infinite scroll: the first on load, one more per scroll to the bottom
PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


@dataclass(frozen=True, slots=True)
class ScriptedHost:
    """One scripted host of the test web: its name, country and language, and the pattern its page uses."""

    host: str
    country: str
    lang: str
    pattern: str
    name: str


SCRIPTED_HOSTS: tuple[ScriptedHost, ...] = (
    ScriptedHost("app.fotoflux.es", "ES", "es", "api", "FotoFlux"),
    ScriptedHost("feed.scorrimento.it", "IT", "it", "scroll", "Scorrimento"),
    ScriptedHost("www.faulbilder.de", "DE", "de", "lazy", "Faulbilder"),
)


@dataclass(frozen=True, slots=True)
class ScriptedImage:
    """An image a scripted page shows: its absolute URL, alt text, and size."""

    url: str
    alt: str
    width: int = 400
    height: int = 300


_API_JS = """
fetch('/api/photos.json').then(function (r) { return r.json(); }).then(function (list) {
  var ul = document.getElementById('photos');
  list.forEach(function (p) {
    var li = document.createElement('li'), img = document.createElement('img');
    img.src = p.src; img.alt = p.alt; img.width = p.w; img.height = p.h;
    li.appendChild(img); ul.appendChild(li);
  });
});
"""

_SCROLL_JS = """
(function () {
  var next = 1, last = %d, loading = false;
  function more() {
    if (loading || next > last) return;
    loading = true;
    fetch('/feed/' + next + '.json').then(function (r) { return r.json(); }).then(function (list) {
      var feed = document.getElementById('feed');
      list.forEach(function (p) {
        var img = document.createElement('img');
        img.src = p.src; img.alt = p.alt; img.width = p.w; img.height = p.h;
        feed.appendChild(img);
      });
      next += 1; loading = false;
    }, function () { loading = false; });
  }
  window.addEventListener('scroll', function () {
    if (window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 800) more();
  });
  more();
})();
"""

_LAZY_JS = """
(function () {
  function swap() {
    document.querySelectorAll('img.lazyload').forEach(function (img) {
      if (img.getBoundingClientRect().top < window.innerHeight + 200) {
        img.src = img.dataset.cdn + '/' + img.dataset.key + '.' + img.dataset.ext;
        img.classList.remove('lazyload'); img.classList.add('lazyloaded');
      }
    });
  }
  window.addEventListener('scroll', swap);
  window.addEventListener('load', swap);
})();
"""


def _page(site: ScriptedHost, body: str, script: str) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        f'<html lang="{escape(site.lang)}">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="{META_NAME}" content="{VALUE}">',
        f"<title>{escape(site.name)}</title></head>",
        f"<body><header><a href=\"/\">{escape(site.name)}</a></header>",
        f"<main>{body}</main>",
        f"<script>{script}</script>",
        "</body>",
        "</html>",
        "",
    ])


def _entry(img: ScriptedImage) -> dict[str, object]:
    return {"src": img.url, "alt": img.alt, "w": img.width, "h": img.height}


def _lazy_img(img: ScriptedImage) -> str:
    base, _, ext = img.url.rpartition(".")
    cdn, _, key = base.partition("//")[2].partition("/")
    cdn = base[: base.index("//") + 2] + cdn
    return (f'<figure style="min-height:700px"><img class="lazyload" src="{PLACEHOLDER}" alt="{escape(img.alt)}" '
            f'width="{img.width}" height="{img.height}" data-cdn="{escape(cdn)}" data-key="{escape(key)}" '
            f'data-ext="{escape(ext)}"><figcaption>{escape(img.alt)}</figcaption></figure>')


def write_scripted_host(www: Path, site: ScriptedHost, images: Sequence[ScriptedImage]) -> dict[str, list[str]]:
    """Write ``site``'s page (``/``), the JSON its script reads, and its robots.txt under ``www/<host>/``. Returns
    image URL -> the page URLs that show it once their script has run (none of them names it in its HTML)."""
    root = www / site.host
    root.mkdir(parents=True, exist_ok=True)
    (root / "robots.txt").write_text("User-agent: *\nDisallow:\n", encoding="utf-8")
    page_url = f"http://{site.host}/"
    if site.pattern == "api":
        body = f"<h1>{escape(site.name)}</h1><ul id=\"photos\"></ul>"
        html = _page(site, body, _API_JS)
        (root / "api").mkdir(exist_ok=True)
        (root / "api" / "photos.json").write_text(json.dumps([_entry(i) for i in images]), encoding="utf-8")
    elif site.pattern == "scroll":
        batches = [list(images[i::FEED_BATCHES]) for i in range(FEED_BATCHES)]
        body = f'<h1>{escape(site.name)}</h1><div id="feed"></div><div style="height:1500px"></div>'
        html = _page(site, body, _SCROLL_JS % FEED_BATCHES)
        (root / "feed").mkdir(exist_ok=True)
        for n, batch in enumerate(batches, start=1):
            (root / "feed" / f"{n}.json").write_text(json.dumps([_entry(i) for i in batch]), encoding="utf-8")
    elif site.pattern == "lazy":
        body = f"<h1>{escape(site.name)}</h1>" + "".join(_lazy_img(i) for i in images)
        html = _page(site, body, _LAZY_JS)
    else:
        raise ValueError(f"unknown scripted pattern {site.pattern!r}; one of {PATTERNS}")
    (root / "index.html").write_text(html, encoding="utf-8")
    return {img.url: [page_url] for img in images}


SCRIPTED_IMAGE_HOST = "img.scriptcdn.net"


def tiny_png(index: int, width: int, height: int) -> bytes:
    """A small, distinct PNG (its own colour and stripes), deterministic in ``index``."""
    import io

    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), ((index * 53) % 256, (index * 97) % 256, (index * 29) % 256))
    draw = ImageDraw.Draw(im)
    for k in range(1 + index % 5):
        draw.rectangle((k * 13, 0, k * 13 + 6, height), fill=((index * 7 + k * 40) % 256, 40 * k % 256, 200))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def build_scripted_web(out_dir: Path, *, images_per_host: int = 9) -> Path:
    """A small test web of its own: the three :data:`SCRIPTED_HOSTS` and their image host, with a manifest and a
    ground truth, servable by :class:`~audit.testbed.testweb.server.TestWebServer` (``TestWeb.load(out_dir)``).
    Every image is shown only through script. Returns ``out_dir``."""
    import hashlib

    out_dir = Path(out_dir)
    www = out_dir / "www"
    img_root = www / SCRIPTED_IMAGE_HOST
    (img_root / "photos").mkdir(parents=True, exist_ok=True)
    (img_root / "robots.txt").write_text("User-agent: *\nDisallow:\n", encoding="utf-8")
    truth: list[dict[str, object]] = []
    hosts: dict[str, dict[str, object]] = {
        SCRIPTED_IMAGE_HOST: {"country": None, "kind": "cdn", "lang": None, "x_robots_tag": None},
    }
    index = 0
    for site in SCRIPTED_HOSTS:
        shown = []
        for n in range(images_per_host):
            index += 1
            name = f"photos/{site.pattern}-{n:03d}"
            data = tiny_png(index, 64, 48)
            (img_root / f"{name}.png").write_bytes(data)
            url = f"http://{SCRIPTED_IMAGE_HOST}/{name}.png"
            shown.append(ScriptedImage(url, f"{site.name} {n}"))
            truth.append({"image_url": url, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                          "host": SCRIPTED_IMAGE_HOST, "site": site.host, "site_kind": "scripted", "format": "PNG",
                          "width": 64, "height": 48})
        embeds = write_scripted_host(www, site, shown)
        for row in truth[-images_per_host:]:
            row["page_urls"] = embeds[str(row["image_url"])]
        hosts[site.host] = {"country": site.country, "kind": "scripted", "lang": site.lang, "x_robots_tag": None,
                            "pattern": site.pattern}
    with (out_dir / "ground_truth.jsonl").open("w", encoding="utf-8") as fh:
        for row in truth:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    manifest = {
        "generator_version": "scripted-1", "photos": len(truth), "seed": 0,
        "start_urls": [f"http://{s.host}/" for s in SCRIPTED_HOSTS], "allowed_domains": sorted(hosts),
        "ground_truth": "ground_truth.jsonl", "sightings": len(truth), "image_urls": len(truth),
        "pages": len(SCRIPTED_HOSTS), "hosts": hosts,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return out_dir


def add_scripted_hosts(variants: Sequence[tuple[str, str, int, int]], www: Path,
                       images_per_host: int = 9) -> tuple[dict[str, list[str]], dict[str, dict[str, object]]]:
    """Add the :data:`SCRIPTED_HOSTS` to a built test web (``build_web(..., scripted=True)``): each shows
    ``images_per_host`` of the web's own images, given as ``(url, alt, width, height)`` and picked evenly from
    ``variants`` (sorted by URL, so the choice depends on the seed only). Returns image URL -> the scripted pages
    that show it (to add to the ground truth's ``page_urls``), and the hosts' manifest entries."""
    ordered = sorted(variants)
    embeds: dict[str, list[str]] = {}
    hosts: dict[str, dict[str, object]] = {}
    step = max(1, len(ordered) // (images_per_host * len(SCRIPTED_HOSTS) + 1))
    picks = ordered[::step]
    for k, site in enumerate(SCRIPTED_HOSTS):
        chosen = picks[k * images_per_host:(k + 1) * images_per_host]
        shown = [ScriptedImage(url, alt, width, height) for url, alt, width, height in chosen]
        for url, pages in write_scripted_host(www, site, shown).items():
            embeds.setdefault(url, []).extend(pages)
        hosts[site.host] = {
            "country": site.country, "kind": "scripted", "lang": site.lang, "city": None, "name": site.name,
            "image_host": None, "robots_txt": "User-agent: *\nDisallow:\n", "blocked_agents": [],
            "disallow_all": [], "x_robots_tag": None, "meta_robots": None, "tdmrep": False, "geo_meta": False,
            "json_ld": False, "pattern": site.pattern,
        }
    return embeds, hosts
