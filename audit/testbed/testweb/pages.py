"""HTML pages and robots.txt of the test web, rendered to disk, with the (page URL, image URL) pairs they embed and
the reference kind (`sightings.ref_kind`) the page parser records for each: the sites name images in all the ways
of `Site.patterns` (lazy loading, CSS backgrounds, `background=`, image inputs, video posters, SVG, icons,
microdata, JSON-LD). News sites and shops also show images of no person (:mod:`audit.testbed.testweb.graphics`): a
logo in every page's header, share icons in its footer, ad banners and maps in articles, product shots in shops."""

from __future__ import annotations

import json
import logging
import posixpath
import random
import zlib
from collections import defaultdict
from collections.abc import Iterable
from html import escape
from pathlib import Path

from audit.testbed.testweb.graphics import SHOP_PER_PAGE, Graphic, Product
from audit.testbed.testweb.world import (
    CITY_BY_NAME,
    COUNTRIES,
    FIGURE_STYLES,
    Figure,
    Person,
    Post,
    Site,
    Variant,
    World,
)
from audit.testweb_marker import META_NAME, VALUE

logger = logging.getLogger(__name__)

PER_PAGE = 12
STYLESHEET = "/static/site.css"  # of the sites with Site.stylesheet
HOME_ITEMS = 10

# Real ISO 3166-2 codes of the regions of the sites that publish geo.* meta tags.
GEO_REGION = {"Lyon": "FR-ARA", "Paris": "FR-IDF", "Liège": "BE-WLG", "Zurich": "CH-ZH", "Cologne": "DE-NW",
              "Milan": "IT-25", "Seville": "ES-AN"}
# National phone number formats of the sites' cities ('#' is a digit; 555-01xx is the fictional North-American range).
PHONE_FORMATS = {
    "Paris": "01 ## ## ## ##", "Lyon": "04 78 ## ## ##", "Nantes": "02 40 ## ## ##", "Bordeaux": "05 56 ## ## ##",
    "Toulouse": "05 61 ## ## ##", "Rennes": "02 99 ## ## ##", "Liège": "04 ### ## ##", "Ghent": "09 ### ## ##",
    "Brussels": "02 ### ## ##", "Geneva": "022 ### ## ##", "Zurich": "044 ### ## ##",
    "Montreal": "(514) 555-01##", "Toronto": "(416) 555-01##", "Quebec City": "(418) 555-01##",
    "Cologne": "0221 #######", "Munich": "089 ########", "Hamburg": "040 #######", "Milan": "02 #### ####",
    "Florence": "055 ### ####", "Manchester": "0161 496 0###", "London": "020 7946 0###", "Seville": "954 ## ## ##",
    "Madrid": "91 ### ## ##", "Utrecht": "030 ### ####", "Chicago": "(312) 555-01##",
}
WORDS = {
    "fr": ("Accueil", "Archives", "À propos", "Page", "Par", "Source", "Télécharger l'original", "suivante",
           "Le photographe était sur place à {c}. Les habitants du quartier se sont retrouvés pour l'occasion."),
    "de": ("Startseite", "Archiv", "Über uns", "Seite", "Von", "Quelle", "Original herunterladen", "weiter",
           "Unser Fotograf war in {c} vor Ort. Viele Anwohner kamen zu dem Ereignis."),
    "it": ("Home", "Archivio", "Chi siamo", "Pagina", "Di", "Fonte", "Scarica l'originale", "successiva",
           "Il nostro fotografo era a {c}. Molti abitanti del quartiere erano presenti."),
    "es": ("Inicio", "Archivo", "Quiénes somos", "Página", "Por", "Fuente", "Descargar original", "siguiente",
           "Nuestro fotógrafo estuvo en {c}. Muchos vecinos se acercaron al evento."),
    "nl": ("Home", "Archief", "Over ons", "Pagina", "Door", "Bron", "Origineel downloaden", "volgende",
           "Onze fotograaf was in {c}. Veel buurtbewoners kwamen kijken."),
    "en": ("Home", "Archive", "About", "Page", "By", "Source", "Download original", "next",
           "Our photographer was in {c}. Many local residents turned out for the event."),
}


# A 1x1 transparent GIF: the placeholder lazy-loading libraries put in src (a data: URL names no image to fetch).
BLANK_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
# The query a CSS site's home page adds to its thumbnails' URLs (as WordPress themes version their assets).
CACHE_BUSTER = "?ver=2"
# The attributes of the lazy-loading libraries the "lazy" sites use (lazysizes, jQuery lazyload, WP Rocket):
# the real URL and the real srcset.
LAZY_ATTRIBUTES = (("data-src", "data-srcset"), ("data-original", "data-lazy-srcset"),
                   ("data-lazy-src", "data-lazy-srcset"))
# The pass of the page parser (audit.decode.html.parse_page) that reads a reference of this kind: when a page names
# an image several ways, the parser records the kind it reads first (passes in this order, each in document order).
# stylesheet: read after the page itself (a crawl fetches the stylesheet later; an ingest links it at its end)
_PASS = {"img": 0, "srcset": 0, "lazy": 0, "picture": 1, "og:image": 2, "link": 5, "stylesheet": 6}  # others: 3


class _Refs:
    """The images one page names, each with how: the ref_kind the page parser records for it."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int, int, str, str]] = []
        self.ids = 0

    def add(self, url: str, kind: str, *, head: bool = False, rank: int | None = None) -> None:
        rank = _PASS.get(kind, 3) if rank is None else rank
        self.items.append((rank, 0 if head else 1, len(self.items), url, kind))

    def next_id(self) -> int:
        self.ids += 1
        return self.ids

    def kinds(self) -> dict[str, str]:
        """Image URL -> the kind of its first reference in the parser's order, in page order."""
        out: dict[str, str] = {}
        for *_, url, kind in sorted(self.items):
            out.setdefault(url, kind)
        return out


def _style(site: Site) -> str | None:
    """How ``site`` shows its figures: one of FIGURE_STYLES, or None for a plain <img>."""
    return next((p for p in site.patterns if p in FIGURE_STYLES), None)


def _lazy_attributes(site: Site) -> tuple[str, str]:
    """The lazy-loading attributes of ``site``: the same for every page and every build."""
    return LAZY_ATTRIBUTES[zlib.crc32(site.host.encode()) % len(LAZY_ATTRIBUTES)]


def _words(site: Site) -> tuple[str, ...]:
    return WORDS.get((site.lang or "en")[:2], WORDS["en"])


def _archive(site: Site) -> str:
    return "/people/" if site.kind in ("photo_sharing", "social") else "/page/1/"


def _og_locale(site: Site) -> str:
    lang = site.lang or "en"
    if "-" in lang:
        return lang.replace("-", "_")
    return f"{lang}_{site.country or 'US'}"


def _phone(site: Site, rnd: random.Random) -> str | None:
    fmt = PHONE_FORMATS.get(site.city or "")
    return "".join(str(rnd.randint(0, 9)) if ch == "#" else ch for ch in fmt) if fmt else None


def _ld(obj: object) -> str:
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")
    return f'<script type="application/ld+json">{text}</script>'


class _Renderer:
    def __init__(self, world: World, www: Path) -> None:
        self.world = world
        self.www = www
        self.rnd = random.Random(world.seed + 1)
        self.embeds: dict[str, list[str]] = defaultdict(list)  # image URL -> page URLs
        self.kinds: dict[str, dict[str, str]] = defaultdict(dict)  # image URL -> page URL -> ref_kind
        self.pages = 0
        self.phones = {s.host: _phone(s, self.rnd) for s in world.sites}
        self.banners: dict[str, Variant] = {}  # host -> the photo its stylesheet sets as the banner background
        # the sites with an icon say so with rel="icon" and rel="apple-touch-icon" in turn
        self.icon_rel = {s.host: ("icon", "apple-touch-icon")[i % 2]
                         for i, s in enumerate(s for s in world.sites if "icon" in s.patterns)}

    # --- low level ---
    def href(self, site: Site, page_path: str, url: str) -> str:
        """How ``site`` writes a link to ``url`` from ``page_path``: relative when it can, like real sites."""
        host, _, path = url.removeprefix("http://").partition("/")
        path = "/" + path
        if host != site.host:
            return url[5:] if site.protocol_relative else url
        if site.kind == "blog" and not path.endswith("/"):
            base = page_path if page_path.endswith("/") else posixpath.dirname(page_path) + "/"
            return posixpath.relpath(path, base)
        return path

    def img(self, site: Site, page: str, v: Variant, alt: str, refs: _Refs, srcset: Iterable[Variant] = ()) -> str:
        attrs = f'src="{escape(self.href(site, page, v.url))}" alt="{escape(alt)}" width="{v.width}" ' \
                f'height="{v.height}" loading="lazy"'
        refs.add(v.url, "img")
        alts = list(srcset)
        if alts:
            cands = ", ".join(f"{escape(self.href(site, page, a.url))} {a.width}w" for a in alts + [v])
            attrs += f' srcset="{cands}" sizes="(max-width: 600px) 100vw, 800px"'
            for a in alts:
                refs.add(a.url, "srcset")
        return f"<img {attrs}>"

    def graphic(self, site: Site, page: str, g: Graphic, refs: _Refs) -> str:
        """A plain <img> of a graphic (a logo, an icon, a banner, a map, a product shot)."""
        refs.add(g.url, "img")
        return (f'<img src="{escape(self.href(site, page, g.url))}" alt="{escape(g.alt)}" width="{g.width}" '
                f'height="{g.height}" class="{g.kind}">')

    def shown(self, site: Site, page: str, v: Variant, alt: str, refs: _Refs, alts: Iterable[Variant] = (), *,
              listing: bool = False) -> str:
        """``v`` (and its smaller alternatives ``alts``) shown the way ``site`` shows images (its figure style)."""
        style = _style(site)
        alts = list(alts)
        url = escape(self.href(site, page, v.url))
        size = f'width="{v.width}" height="{v.height}"'
        if style == "lazy":
            src_attr, srcset_attr = _lazy_attributes(site)
            attrs = f'src="{BLANK_GIF}" {src_attr}="{url}" alt="{escape(alt)}" {size} class="lazyload"'
            refs.add(v.url, "lazy")
            if alts:
                cands = ", ".join(f"{escape(self.href(site, page, a.url))} {a.width}w" for a in alts + [v])
                attrs += f' {srcset_attr}="{cands}" data-sizes="auto"'
                for a in alts:
                    refs.add(a.url, "lazy")
            return f'<img {attrs}><noscript><img src="{url}" alt="{escape(alt)}" {size}></noscript>'
        if style == "css":
            n = refs.next_id()
            # the home page's thumbnails carry a cache-busting query: the same file under a second URL, which a crawl
            # fetches twice (its WARC keeps the second as a revisit record)
            target = v.url + CACHE_BUSTER if listing and page == "/" else v.url
            refs.add(target, "css")
            smaller = ""
            if alts:
                rules = "".join(f"@media (max-width: {a.width}px) {{ #img-{n} {{ background-image: url("
                                f"{self.href(site, page, a.url)}) }} }}" for a in alts)
                smaller = f"<style>{rules}</style>"
                for a in alts:
                    refs.add(a.url, "css")
            label = f'role="img" aria-label="{escape(alt)}"'
            if listing:
                return (f"<style>.thumb-{n} {{ background-image: url({self.href(site, page, target)}); "
                        f"aspect-ratio: {v.width} / {v.height} }}</style>{smaller}"
                        f'<div class="thumb thumb-{n}" id="img-{n}" {label}></div>')
            return (f'{smaller}<div class="hero" id="img-{n}" {label} style="background-image: url({url}); '
                    f'background-size: cover; aspect-ratio: {v.width} / {v.height}"></div>')
        if style is None:
            return self.img(site, page, v, alt, refs, alts)
        if alts:  # the other styles have no way to offer a smaller copy: sites with srcset/<picture> do not use them
            raise ValueError(f"{site.host}: the {style} style shows no srcset")
        if style == "table":
            refs.add(v.url, "background")
            return (f'<table class="photo" width="{v.width}"><tr><td background="{url}" {size} '
                    f'title="{escape(alt)}">&nbsp;</td></tr></table>')
        if style == "input":
            refs.add(v.url, "input")
            return (f'<form class="zoom" action="/zoom/" method="get"><input type="image" name="zoom" src="{url}" '
                    f'alt="{escape(alt)}" {size}></form>')
        if style == "video":
            refs.add(v.url, "poster")
            return f'<video controls preload="none" poster="{url}" {size} title="{escape(alt)}"></video>'
        if style == "svg":
            refs.add(v.url, "svg")
            return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(alt)}" '
                    f'viewBox="0 0 {v.width} {v.height}" {size}><image href="{url}" {size}/></svg>')
        raise ValueError(f"{site.host}: unknown figure style {style!r}")

    def figure(self, site: Site, page: str, fig: Figure, refs: _Refs) -> str:
        v = fig.main
        alt = fig.caption
        if fig.small is not None and site.picture and _style(site) in (None, "lazy"):
            s = fig.small
            cand = f"{escape(self.href(site, page, s.url))} {s.width}w"
            if _style(site) == "lazy":
                source = f'<source type="image/{s.format.lower()}" data-srcset="{cand}">'
                refs.add(s.url, "lazy", rank=_PASS["picture"])
            else:
                source = f'<source type="image/{s.format.lower()}" srcset="{cand}">'
                refs.add(s.url, "picture")
            inner = f"<picture>{source}{self.shown(site, page, v, alt, refs)}</picture>"
        else:
            inner = self.shown(site, page, v, alt, refs, [fig.small] if fig.small is not None else [])
        if fig.full is not None:
            words = _words(site)
            link = escape(self.href(site, page, fig.full.url))
            inner = f'<a href="{link}">{inner}</a><p class="download"><a href="{link}">{escape(words[6])}</a></p>'
            refs.add(fig.full.url, "link")
        return f"<figure>{inner}<figcaption>{escape(fig.caption)}</figcaption></figure>"

    def write(self, site: Site, path: str, title: str, body: str, refs: _Refs | None = None, *,
              og_image: Variant | None = None, head: str = "", description: str = "") -> None:
        """Write one page; ``refs`` holds the images its ``body`` and ``head`` name (the head's og:image and site
        icon are added here)."""
        refs = refs if refs is not None else _Refs()
        url = f"http://{site.host}{path}"
        words = _words(site)
        lines = [
            "<!DOCTYPE html>",
            f'<html lang="{escape(site.lang or "en")}">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta name="{META_NAME}" content="{VALUE}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)} | {escape(site.name)}</title>",
            f'<meta name="description" content="{escape(description or title)}">',
            f'<link rel="canonical" href="{escape(url)}">',
            f'<meta property="og:site_name" content="{escape(site.name)}">',
            f'<meta property="og:title" content="{escape(title)}">',
            f'<meta property="og:url" content="{escape(url)}">',
            f'<meta property="og:locale" content="{_og_locale(site)}">',
        ]
        if og_image is not None:
            lines.append(f'<meta property="og:image" content="{escape(og_image.url)}">')
            refs.add(og_image.url, "og:image", head=True)
        icon = self.world.icons.get(site.host)
        if icon is not None:
            lines.append(f'<link rel="{self.icon_rel[site.host]}" type="image/png" sizes="{icon.width}x{icon.height}" '
                         f'href="{escape(self.href(site, path, icon.url))}">')
            refs.add(icon.url, "icon", head=True)
        if site.robots.meta_robots:
            lines.append(f'<meta name="robots" content="{escape(site.robots.meta_robots)}">')
        if site.geo_meta and site.city:
            c = CITY_BY_NAME[site.city]
            lines += [f'<meta name="geo.region" content="{GEO_REGION.get(c.name, c.country)}">',
                      f'<meta name="geo.placename" content="{escape(c.name)}">',
                      f'<meta name="geo.position" content="{c.lat};{c.lon}">',
                      f'<meta name="ICBM" content="{c.lat}, {c.lon}">']
        for lang in site.hreflang:
            lines.append(f'<link rel="alternate" hreflang="{lang}" href="{escape(url)}">')
        if site.hreflang:
            lines.append(f'<link rel="alternate" hreflang="x-default" href="{escape(url)}">')
        if head:
            lines.append(head)
        banner = self.banners.get(site.host)
        if banner is not None:  # the page shows the banner only through its linked stylesheet
            lines.append(f'<link rel="stylesheet" href="{STYLESHEET}">')
            refs.add(banner.url, "stylesheet")
        graphics = self.world.graphics
        logo = graphics.logos.get(site.host) if graphics is not None else None
        brand = escape(site.name)
        if logo is not None:
            brand = self.graphic(site, path, logo, refs) + brand
        footer = f"© {escape(site.name)}"
        if site.city:
            footer += f" — {escape(site.city)}, {escape(COUNTRIES[site.country or 'US'].name)}"
        if self.phones.get(site.host):
            footer += f' — <a href="tel:{escape(self.phones[site.host] or "")}">{self.phones[site.host]}</a>'
        for share in graphics.icons.get(site.host, []) if graphics is not None else []:
            footer += f' <span class="share">{self.graphic(site, path, share, refs)}</span>'
        lines += [
            "</head>",
            "<body>",
            f'<header><a class="brand" href="/">{brand}</a><nav><a href="/">{words[0]}</a> '
            f'<a href="{_archive(site)}">{words[1]}</a> <a href="/about/">{words[2]}</a></nav></header>',
            *(['<div class="banner"></div>'] if banner is not None else []),
            f"<main>{body}</main>",
            f"<footer>{footer}</footer>",
            "</body>",
            "</html>",
        ]
        target = self.www / site.host / path.lstrip("/")
        if path.endswith("/"):
            target = target / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.pages += 1
        for image_url, kind in refs.kinds().items():
            self.embeds[image_url].append(url)
            self.kinds[image_url][url] = kind

    # --- site pieces ---
    def organisation(self, site: Site) -> dict[str, object]:
        org: dict[str, object] = {"@type": "NewsMediaOrganization" if "news" in site.kind else "Organization",
                                  "name": site.name, "url": f"http://{site.host}/"}
        if site.country and site.city:
            org["address"] = {"@type": "PostalAddress", "addressLocality": site.city,
                              "addressCountry": site.country}
            org["telephone"] = self.phones.get(site.host)
        return org

    def teaser(self, site: Site, page: str, post: Post, refs: _Refs) -> str:
        link = f'<h2><a href="{escape(self.href(site, page, post.url))}">{escape(post.title)}</a></h2>'
        if not site.listing_images:
            return f"<article>{link}<time>{post.date.isoformat()}</time></article>"
        v = post.figures[0].main
        return f"<article>{self.shown(site, page, v, post.title, refs, listing=True)}{link}</article>"

    def listing(self, site: Site, base: str, first: str, posts: list[Post], title: str, intro: str = "") -> None:
        """Paginated list of ``posts``: page 1 at ``first``, page n at ``<base>page/<n>/``."""
        words = _words(site)
        pages = max(1, -(-len(posts) // PER_PAGE))
        for n in range(1, pages + 1):
            path = first if n == 1 else f"{base}page/{n}/"
            parts, refs = [intro], _Refs()
            for post in posts[(n - 1) * PER_PAGE : n * PER_PAGE]:
                parts.append(self.teaser(site, path, post, refs))
            if n < pages:
                parts.append(f'<a rel="next" href="{base}page/{n + 1}/">{words[3]} {n + 1} ({words[7]})</a>')
            self.write(site, path, f"{title} — {words[3]} {n}", "\n".join(parts), refs,
                       head='<meta name="robots" content="noindex, follow">' if n > 1 else "")

    def post_page(self, site: Site, post: Post) -> None:
        words = _words(site)
        path = post.path
        parts = [f"<h1>{escape(post.title)}</h1>"]
        author = post.author
        if author is not None and site.kind in ("photo_sharing", "social", "forum"):
            prefix = "/people/" if site.kind == "photo_sharing" else "/u/"
            where = f' <span class="location">{escape(author.city.name)}</span>' if site.kind == "forum" else ""
            name = escape(author.name)
            if site.kind != "forum":  # forums show the member's location, but have no profile pages here
                name = f'<a href="{prefix}{author.username}/">{name}</a>'
            parts.append(f'<p class="byline">{words[4]} {name}{where}</p>')
        parts.append(f'<p><time datetime="{post.date.isoformat()}">{post.date.isoformat()}</time></p>')
        refs = _Refs()
        if post.share is not None and "microdata" in site.patterns and not site.json_ld:
            parts.append(f'<meta itemprop="image" content="{escape(self.href(site, path, post.share.url))}">')
            refs.add(post.share.url, "microdata")
        figures = [self.figure(site, path, f, refs) for f in post.figures]
        parts.append(f'<div class="gallery">{"".join(figures)}</div>' if len(figures) > 1 else figures[0])
        city = post.figures[0].main.photo.city.name
        parts.append(f"<p>{escape(words[8].format(c=city))}</p>")
        for g in self.world.graphics.post_extras.get(post.url, []) if self.world.graphics is not None else []:
            tag = "aside" if g.kind == "banner" else "figure"
            parts.append(f'<{tag} class="{g.kind}">{self.graphic(site, path, g, refs)}</{tag}>')
        if post.source_url:
            parts.append(f'<p class="source">{words[5]} : <a href="{escape(post.source_url)}">'
                         f"{escape(post.source_url)}</a></p>")
        lead = post.figures[0].main
        if site.json_ld:
            # an ImageObject, a share-size copy named nowhere else, and a thumbnail (Google's article markup)
            images: list[object] = [{"@type": "ImageObject", "url": lead.url, "width": lead.width,
                                     "height": lead.height}]
            if post.share is not None:
                images.append(post.share.url)
            thumb = post.figures[0].small or lead
            # at the end of the article, as many CMSs put it: the figures above name the lead first
            parts.append(_ld({"@context": "https://schema.org", "@type": "NewsArticle", "headline": post.title,
                              "datePublished": post.date.isoformat(), "image": images, "thumbnailUrl": thumb.url,
                              "publisher": self.organisation(site)}))
            for u in [lead.url, *([post.share.url] if post.share is not None else []), thumb.url]:
                refs.add(u, "json-ld")
        body = "\n".join(parts)
        if "microdata" in site.patterns:
            body = f'<article itemscope itemtype="https://schema.org/NewsArticle">{body}</article>'
        # the sites that show images other ways than <img> have no og:image: their figures are the only way their
        # pages name them (as the portraits of the issue 14 pages were)
        og = lead if _style(site) in (None, "lazy") else None
        self.write(site, path, post.title, body, refs, og_image=og)

    def directory(self, site: Site, posts: list[Post]) -> None:
        """Members directory (text links only) at /people/, /people/page/<n>/."""
        users = sorted({p.author.username: p.author for p in posts if p.author is not None}.items())
        prefix = "/people/" if site.kind == "photo_sharing" else "/u/"
        per = 50
        pages = max(1, -(-len(users) // per))
        for n in range(1, pages + 1):
            path = "/people/" if n == 1 else f"/people/page/{n}/"
            items = [f'<li><a href="{prefix}{u}/">{escape(p.name)}</a></li>' for u, p in users[(n - 1) * per : n * per]]
            nxt = f'<a rel="next" href="/people/page/{n + 1}/">{n + 1}</a>' if n < pages else ""
            self.write(site, path, "People", f"<ul>{''.join(items)}</ul>{nxt}")

    def profiles(self, site: Site, posts: list[Post]) -> None:
        by_user: dict[str, list[Post]] = defaultdict(list)
        people: dict[str, Person] = {}
        for post in posts:
            if post.author is not None:
                by_user[post.author.username].append(post)
                people[post.author.username] = post.author
        prefix = "/people/" if site.kind == "photo_sharing" else "/u/"
        for user, items in sorted(by_user.items()):
            p = people[user]
            intro = (f'<section class="profile"><h1>{escape(p.name)}</h1><p class="location">'
                     f"{escape(p.city.name)}, {escape(COUNTRIES[p.country].name)}</p></section>")
            self.listing(site, f"{prefix}{user}/", f"{prefix}{user}/", items, p.name, intro)

    def stylesheet(self, site: Site, banner: Variant) -> None:
        """``/static/site.css`` of ``site``: its banner is ``banner``, named relative to the stylesheet (as CSS
        resolves it, not against the page) when on the site's own host."""
        self.banners[site.host] = banner
        url = self.href(site, STYLESHEET, banner.url)
        if url.startswith("/"):
            url = posixpath.relpath(url, posixpath.dirname(STYLESHEET))
        css = (f".banner {{ height: 180px; background: #223 url('{url}') center / cover no-repeat; }}\n"
               "body { font-family: sans-serif; }\n")
        target = self.www / site.host / STYLESHEET.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(css, encoding="utf-8")

    def site(self, site: Site, posts: list[Post]) -> None:
        words = _words(site)
        posts = sorted(posts, key=lambda p: (p.date, p.path), reverse=True)
        if site.stylesheet and posts:
            self.stylesheet(site, posts[0].figures[0].main)
        for post in posts:
            self.post_page(site, post)
        parts, refs = [f"<h1>{escape(site.name)}</h1>"], _Refs()
        for post in posts[:HOME_ITEMS]:
            parts.append(self.teaser(site, "/", post, refs))
        parts.append(f'<p><a href="{_archive(site)}">{words[1]}</a></p>')
        head = _ld({"@context": "https://schema.org", **self.organisation(site)}) if site.json_ld else ""
        self.write(site, "/", site.name, "\n".join(parts), refs, head=head)
        if site.kind in ("photo_sharing", "social"):  # no global archive: a members directory, then profiles
            self.directory(site, posts)
            self.profiles(site, posts)
        else:
            self.listing(site, "/", "/page/1/", posts, words[1])
        self.write(site, "/about/", words[2], f"<h1>{words[2]}</h1><p>{escape(site.name)}</p>", head=head)


    def shop(self, site: Site, products: list[Product]) -> None:
        """A shop: product pages with their shot, a home page and a paginated catalogue of thumbnails."""
        words = _words(site)
        prefix = "/produit/" if (site.lang or "").startswith("fr") else "/product/"
        for p in products:
            path, refs = f"{prefix}{p.slug}/", _Refs()
            body = (f'<h1>{escape(p.name)}</h1><div class="product">{self.graphic(site, path, p.shot, refs)}</div>'
                    f'<p class="price">{9 + zlib.crc32(p.slug.encode()) % 90},99</p>')
            self.write(site, path, p.name, body, refs)
        per = SHOP_PER_PAGE
        pages = max(1, -(-len(products) // per))
        # the home page shows the first products, the catalogue (/page/1/, /page/2/, ...) all of them, each page
        # linking to every other (a shop's paginator)
        paginator = "<nav>" + " ".join(f'<a href="/page/{n}/">{n}</a>' for n in range(1, pages + 1)) + "</nav>"
        for n, path, items in [(0, "/", products[:HOME_ITEMS])] + [
                (n, f"/page/{n}/", products[(n - 1) * per : n * per]) for n in range(1, pages + 1)]:
            parts, refs = [f"<h1>{escape(site.name)}</h1>"], _Refs()
            for p in items:
                link = escape(self.href(site, path, f"http://{site.host}{prefix}{p.slug}/"))
                parts.append(f'<article><a href="{link}">{self.graphic(site, path, p.thumb, refs)}'
                             f"<h2>{escape(p.name)}</h2></a></article>")
            parts.append(paginator)
            self.write(site, path, site.name if n == 0 else f"{words[1]} — {words[3]} {n}", "\n".join(parts), refs)
        self.write(site, "/about/", words[2], f"<h1>{words[2]}</h1><p>{escape(site.name)}</p>")


def robots_txt(site: Site) -> str:
    lines = []
    for agent in site.robots.blocked_agents:
        lines += [f"User-agent: {agent}", "Disallow: /", ""]
    lines.append("User-agent: *")
    lines += [f"Disallow: {p}" for p in site.robots.disallow_all] or ["Disallow:"]
    return "\n".join(lines) + "\n"


def tdmrep_json(site: Site) -> str | None:
    """The TDMRep file of a site that reserves text-and-data-mining rights (W3C TDMRep community group report):
    the publishers that also block AI crawlers in robots.txt."""
    if not site.robots.tdmrep:
        return None
    rules = [{"location": "/*", "tdm-reservation": 1, "tdm-policy": f"https://{site.host}/tdm-policy.json"}]
    return json.dumps(rules, indent=2) + "\n"


def render_site_pages(world: World, www: Path) -> tuple[dict[str, dict[str, str]], int]:
    """Write every page and robots.txt under ``www/<host>/``; return image URL -> {page URL: the ref_kind the page
    parser records for it there}, in the order the pages were written, and the page count."""
    r = _Renderer(world, www)
    by_site: dict[str, list[Post]] = defaultdict(list)
    for post in world.posts:
        by_site[post.site.host].append(post)
    for site in world.sites:
        if site.kind == "shop":
            r.shop(site, world.graphics.products.get(site.host, []) if world.graphics is not None else [])
        else:
            r.site(site, by_site[site.host])
    for site in world.sites + world.image_hosts:
        target = www / site.host / "robots.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(robots_txt(site), encoding="utf-8")
        tdm = tdmrep_json(site)
        if tdm is not None:
            (www / site.host / ".well-known").mkdir(exist_ok=True)
            (www / site.host / ".well-known" / "tdmrep.json").write_text(tdm, encoding="utf-8")
    logger.debug("rendered %d pages", r.pages)
    return {url: {page: r.kinds[url][page] for page in pages} for url, pages in r.embeds.items()}, r.pages

