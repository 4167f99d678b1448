"""Images of the test web that show no person: site logos, share icons, ad banners, maps and product shots, at the
sizes and proportions such images have on real sites (a real crawl's images are mostly these, not people).

News sites and shops show a logo in every page's header and share icons in its footer; news articles show an ad
banner and some a map of the place they are about; shops show product shots (a square shot on each product page, a
thumbnail of it in the listings). Everything is drawn from its own seed, from a random generator apart from the rest
of the world (which is the same with or without these images).
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from audit.testbed.testweb.world import Post, Site

GRAPHIC_KINDS = ("logo", "icon", "banner", "map", "product")
CHROME_KINDS = ("local_news", "magazine", "shop")  # sites whose every page shows a logo and share icons
NEWS_KINDS = ("local_news", "magazine")
LOGO_WIDTHS = (180, 240, 300)  # 4:1, as header logos are
ICON_SIZE = 32  # share icons: one glyph per network, the same file on every site
BANNER_SIZES = ((728, 90), (300, 250), (970, 250))  # IAB leaderboard, medium rectangle, billboard
MAP_SIZES = ((640, 360), (600, 400))  # static map embeds
PRODUCT_SIZE, THUMB_SIZE = 800, 300  # square product shots and their listing thumbnails
BANNERS_PER_SITE = 3
MAP_RATE = 0.25  # assumption: share of news articles with a map of the place they are about
PRODUCTS_PER_PHOTO = 0.5  # products across the shops per photo of the world
MIN_PRODUCTS = 8
MAX_PRODUCTS_PER_SHOP = 600  # a shop's pages stay under the crawl's pages-per-host bound (AUDIT_MAX_PAGES_PER_HOST)
SHOP_PER_PAGE = 48  # products per catalogue page
SHARE_NETWORKS = ("Facebook", "X", "WhatsApp")
PRODUCT_NAMES = {
    "fr": ("Lampe de bureau", "Baskets en toile", "Coque de téléphone", "Théière en fonte", "Sac à dos",
           "Montre bracelet", "Roman de poche", "Casque audio", "Vase en grès", "Bougie parfumée"),
    "en": ("Desk lamp", "Canvas sneakers", "Phone case", "Cast-iron teapot", "Backpack", "Wrist watch",
           "Paperback novel", "Headphones", "Stoneware vase", "Scented candle"),
}


@dataclass(frozen=True, slots=True)
class Graphic:
    """One served image that shows no person."""

    gid: str  # stable id, the ground truth's photo_id (shared by a product shot and its thumbnail)
    kind: str  # one of GRAPHIC_KINDS
    url: str
    host: str
    path: str
    site: str  # host of the site whose pages show it
    width: int
    height: int
    format: str  # PNG or JPEG
    seed: int
    alt: str
    label: str = ""  # text drawn on it (logo name, banner slogan, map's city)
    source: Graphic | None = None  # a thumbnail's full-size shot: drawn from it, so the two look alike


@dataclass(frozen=True, slots=True)
class Product:
    slug: str
    name: str
    shot: Graphic
    thumb: Graphic


@dataclass(slots=True)
class Graphics:
    """Every graphic of a world and where the pages show it."""

    items: list[Graphic] = field(default_factory=list)
    logos: dict[str, Graphic] = field(default_factory=dict)  # site host -> its header logo
    icons: dict[str, list[Graphic]] = field(default_factory=dict)  # site host -> its footer share icons
    post_extras: dict[str, list[Graphic]] = field(default_factory=dict)  # article URL -> its banner (and map)
    products: dict[str, list[Product]] = field(default_factory=dict)  # shop host -> its products


def _token(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:10]


class _Planner:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rnd = random.Random(f"{seed}:graphics")
        self.g = Graphics()

    def add(self, site: Site, kind: str, name: str, size: tuple[int, int], fmt: str, alt: str, label: str = "",
            source: Graphic | None = None, design: str | None = None) -> Graphic:
        """A graphic of ``site``; ``design`` names one drawn the same on every site (its id and pixels)."""
        tok = _token(self.seed, site.host, kind, name)
        prefix = f"/{site.host.split('.')[1]}" if site.image_host else ""
        ext = "png" if fmt == "PNG" else "jpg"
        path = f"{prefix}/assets/{kind}s/{name}-{tok}.{ext}"
        host = site.img_host
        seed = self.rnd.randrange(2**62)
        gid = f"g-{kind}-{tok}"
        if source is not None:  # a thumbnail is a copy of its shot
            gid = source.gid
        elif design is not None:  # a share icon: the network's glyph, resized
            gid, seed = f"g-{kind}-{design}", int(_token(self.seed, design), 16)
        g = Graphic(gid, kind, f"http://{host}{path}", host, path, site.host, size[0], size[1], fmt,
                    seed, alt, label, source)
        self.g.items.append(g)
        return g

    def chrome(self, site: Site) -> None:
        w = self.rnd.choice(LOGO_WIDTHS)
        self.g.logos[site.host] = self.add(site, "logo", "logo", (w, w // 4), "PNG", site.name, site.name)
        side = ICON_SIZE
        self.g.icons[site.host] = [self.add(site, "icon", net.lower(), (side, side), "PNG", net, net[:1],
                                            design=net.lower()) for net in SHARE_NETWORKS]

    def news(self, site: Site, posts: list[Post]) -> None:
        banners = [self.add(site, "banner", f"ad{i}", self.rnd.choice(BANNER_SIZES), "JPEG", "Publicité"
                            if (site.lang or "").startswith("fr") else "Advertisement",
                            self.rnd.choice(("-30%", "NEW", "SALE", "PROMO", "OFFER")))
                   for i in range(min(BANNERS_PER_SITE, len(posts)))]
        for i, post in enumerate(posts):
            extras = [banners[i % len(banners)]]
            if self.rnd.random() < MAP_RATE:
                city = post.figures[0].main.photo.city.name
                extras.append(self.add(site, "map", f"map{i}", self.rnd.choice(MAP_SIZES), "PNG", f"Map: {city}",
                                       city))
            self.g.post_extras[post.url] = extras

    def shop(self, site: Site, count: int) -> None:
        names = PRODUCT_NAMES["fr" if (site.lang or "").startswith("fr") else "en"]
        products = []
        for i in range(count):
            name = f"{self.rnd.choice(names)} {self.rnd.randint(100, 999)}"
            slug = f"p{i:04d}-{_token(self.seed, site.host, i)[:6]}"
            shot = self.add(site, "product", slug, (PRODUCT_SIZE, PRODUCT_SIZE), "JPEG", name)
            thumb = self.add(site, "product", slug + "-thumb", (THUMB_SIZE, THUMB_SIZE), "JPEG", name, source=shot)
            products.append(Product(slug, name, shot, thumb))
        self.g.products[site.host] = products


def plan_graphics(seed: int, photos: int, sites: tuple[Site, ...], posts: list[Post]) -> Graphics:
    """Every graphic of the world of ``photos`` photos and its sites' ``posts``, and where each is shown."""
    p = _Planner(seed)
    shops = [s for s in sites if s.kind == "shop"]
    total = max(MIN_PRODUCTS * len(shops), int(photos * PRODUCTS_PER_PHOTO))
    for site in sites:
        if site.kind in CHROME_KINDS:
            p.chrome(site)
        if site.kind in NEWS_KINDS:
            own = sorted((q for q in posts if q.site is site and q.source_url is None), key=lambda q: q.path)
            p.news(site, own)
        elif site.kind == "shop":
            p.shop(site, min(MAX_PRODUCTS_PER_SHOP, total // len(shops)))
    return p.g


# --- drawing -------------------------------------------------------------------------------------------------------

def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in rng.integers(low, high, 3))
    return r, g, b


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _field(rng: np.random.Generator, w: int, h: int, low: int = 0, high: int = 256) -> Image.Image:
    """A low-frequency colour field of its own: graphics that look alike to a person (one template) still differ to
    the near-duplicate hash, as real logos and banners of different brands do."""
    cells = rng.integers(low, high, (2 + int(rng.integers(0, 3)), 3 + int(rng.integers(0, 4)), 3), dtype=np.uint8)
    return Image.fromarray(cells, "RGB").resize((w, h), Image.Resampling.BILINEAR)


def _logo(rng: np.random.Generator, w: int, h: int, label: str) -> Image.Image:
    im = _field(rng, w, h, 120, 256)  # the brand's colours behind its mark and name
    d = ImageDraw.Draw(im)
    colour = _colour(rng, 0, 110)
    mark = int(rng.integers(0, 3))
    x = int(rng.integers(2, max(3, w - h)))
    if mark == 0:
        d.ellipse((x, 4, x + h - 8, h - 4), fill=colour)
    elif mark == 1:
        d.rectangle((x, 4, x + h - 8, h - 4), fill=colour)
    else:
        d.polygon([(x, h - 4), (x + (h - 8) // 2, 4), (x + h - 8, h - 4)], fill=colour)
    d.text((int(rng.integers(2, max(3, w // 3))), h // 4), label, fill=colour, font=_font(h // 2))
    return im


def _icon(rng: np.random.Generator, w: int, h: int, label: str) -> Image.Image:
    im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    im.paste(_field(rng, w, h, 0, 200), mask=_rounded_mask(w, h))
    d = ImageDraw.Draw(im)
    d.text((w // 3, h // 6), label, fill=(255, 255, 255), font=_font(h * 2 // 3))
    return im


def _rounded_mask(w: int, h: int) -> Image.Image:
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, w - 1, h - 1), radius=w // 5, fill=255)
    return mask


def _banner(rng: np.random.Generator, w: int, h: int, label: str) -> Image.Image:
    im = _field(rng, w, h)
    d = ImageDraw.Draw(im)
    d.text((w // 20, h // 4), label, fill=(255, 255, 255), font=_font(h // 3), stroke_width=1, stroke_fill=(0, 0, 0))
    d.rounded_rectangle((w * 3 // 4, h // 3, w * 19 // 20, h * 2 // 3), radius=6, fill=_colour(rng))
    return im


def _map(rng: np.random.Generator, w: int, h: int, label: str) -> Image.Image:
    im = Image.new("RGB", (w, h), (236, 232, 222))
    d = ImageDraw.Draw(im)
    d.polygon([(0, h * rng.uniform(0.6, 0.9)), (w * rng.uniform(0.3, 0.6), h), (0, h)], fill=(170, 205, 230))
    for _ in range(int(rng.integers(8, 16))):
        x0, y0, x1, y1 = rng.random(4)
        d.line((x0 * w, y0 * h, x1 * w, y1 * h), fill=(255, 255, 255), width=int(rng.integers(3, 8)))
    for _ in range(int(rng.integers(4, 10))):
        x, y = rng.random(2)
        d.rectangle((x * w, y * h, x * w + 30, y * h + 20), fill=(200, 220, 190))
    cx, cy = w // 2, h // 2
    d.ellipse((cx - 9, cy - 24, cx + 9, cy - 6), fill=(220, 50, 40))
    d.polygon([(cx - 7, cy - 12), (cx + 7, cy - 12), (cx, cy)], fill=(220, 50, 40))
    d.text((cx + 14, cy - 24), label, fill=(40, 40, 40), font=_font(16))
    return im


def _product(rng: np.random.Generator, w: int, h: int, label: str) -> Image.Image:
    im = _field(rng, w, h, 40, 256)  # a shot in a setting of its own (a backdrop, a table, a room)
    d = ImageDraw.Draw(im)
    d.ellipse((w * 0.2, h * 0.78, w * 0.8, h * 0.86), fill=(225, 225, 225))  # shadow
    colour = _colour(rng, 20, 220)
    shape = int(rng.integers(0, 3))
    # where and how large the product stands varies from shot to shot
    cx, scale = rng.uniform(0.35, 0.65), rng.uniform(0.6, 1.1)

    def box(left: float, top: float, right: float, bottom: float) -> tuple[float, float, float, float]:
        return (w * (cx + (left - 0.5) * scale), h * (0.8 - (0.8 - top) * scale),
                w * (cx + (right - 0.5) * scale), h * (0.8 - (0.8 - bottom) * scale))

    if shape == 0:  # a box
        d.rectangle(box(0.28, 0.25, 0.72, 0.8), fill=colour)
        d.rectangle(box(0.28, 0.25, 0.72, 0.32), fill=tuple(min(255, c + 40) for c in colour))
    elif shape == 1:  # a bottle
        d.rounded_rectangle(box(0.38, 0.3, 0.62, 0.8), radius=w // 16, fill=colour)
        d.rectangle(box(0.46, 0.16, 0.54, 0.3), fill=colour)
    else:  # a shoe
        d.chord(box(0.18, 0.45, 0.85, 0.95), 180, 360, fill=colour)
        d.rectangle(box(0.18, 0.68, 0.85, 0.76), fill=(240, 240, 240))
    for _ in range(int(rng.integers(0, 4))):  # a label, a strap, a logo on it
        x, y = rng.uniform(0.3, 0.6, 2)
        d.rectangle(box(x, y, x + rng.uniform(0.05, 0.15), y + rng.uniform(0.02, 0.1)), fill=_colour(rng))
    return im


_DRAW = {"logo": _logo, "icon": _icon, "banner": _banner, "map": _map, "product": _product}


def draw(g: Graphic) -> Image.Image:
    """The pixels of ``g``. A thumbnail is its full-size shot's scene drawn at its own size (every drawing is in
    proportions of the image, so the two look alike to a person and to the near-duplicate hash)."""
    seed = g.source.seed if g.source is not None else g.seed
    return _DRAW[g.kind](np.random.default_rng(seed), g.width, g.height, g.label)


def encode_graphic(g: Graphic) -> bytes:
    """The exact bytes served for ``g``: no embedded metadata, as CMS and shop pipelines serve such images."""
    buf = io.BytesIO()
    im = draw(g)
    if g.format == "PNG":
        im.save(buf, "PNG", optimize=False, compress_level=6)
    else:
        im.convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def write_graphic(g: Graphic, www: str) -> tuple[str, str, int]:
    """Encode ``g`` and write it under ``www/<host>/<path>``; return (url, sha256, size). Runs in pool workers."""
    data = encode_graphic(g)
    path = Path(www) / g.host / g.path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return g.url, hashlib.sha256(data).hexdigest(), len(data)
