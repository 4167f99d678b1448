"""Find image references and links in an HTML page: a pure function, shared by the spider and the archive ingest."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from parsel import Selector

from .records import ImageRef

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".bmp"}
)
MAX_TEXT = 2000  # longest alt text / caption kept, in characters
MAX_ATTRIBUTES = 40
MAX_ATTRIBUTE_VALUE = 1000
_SPACE = re.compile(r"\s+")
_IMAGE_META = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")


@dataclass(frozen=True, slots=True)
class ParsedPage:
    url: str
    lang: str | None
    title: str | None
    image_refs: list[ImageRef] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


def _clean_text(text: str | None) -> str | None:
    if text is None:
        return None
    text = _SPACE.sub(" ", text).strip()
    return text[:MAX_TEXT] if text else None


def absolute_url(base: str, href: str | None) -> str | None:
    """Resolve ``href`` against ``base``; only http(s) URLs survive, without their fragment."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith(("data:", "javascript:", "mailto:", "tel:", "#")):
        return None
    try:
        url = urldefrag(urljoin(base, href))[0]
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def srcset_urls(srcset: str | None) -> list[str]:
    """The candidate URLs of a ``srcset`` attribute, in order (descriptors dropped)."""
    if not srcset:
        return []
    urls = []
    for candidate in srcset.split(","):
        parts = candidate.strip().split()
        if parts:
            urls.append(parts[0])
    return urls


def looks_like_image_url(url: str) -> bool:
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    return dot != -1 and path[dot:] in IMAGE_EXTENSIONS


def _attributes(sel: Selector) -> dict[str, str]:
    attrs = {}
    for i, (name, value) in enumerate(sel.attrib.items()):
        if i >= MAX_ATTRIBUTES:
            break
        attrs[str(name)[:100]] = str(value)[:MAX_ATTRIBUTE_VALUE]
    return attrs


def _caption(img: Selector) -> str | None:
    cap = img.xpath("ancestor::figure[1]/figcaption//text()").getall()
    if cap:
        return _clean_text(" ".join(cap))
    return _clean_text(img.attrib.get("title"))


def parse_page(
    html: str | Selector,
    url: str,
    *,
    fetched_at: dt.datetime | None = None,
    max_refs: int = 10_000,
    max_links: int = 10_000,
) -> ParsedPage:
    """Every image reference (``<img src/srcset>``, ``<picture><source>``, ``og:image``, links to image files) and
    every other link of a page, as absolute URLs. Duplicate references to the same image URL are kept once (the
    first, which usually carries the alt text)."""
    sel = html if isinstance(html, Selector) else Selector(text=html or "<html></html>")
    base = absolute_url(url, sel.xpath("//base/@href").get()) or url
    lang = _clean_text(sel.xpath("/html/@lang").get())
    title = _clean_text(" ".join(sel.xpath("//head/title//text()").getall()))
    refs: dict[str, ImageRef] = {}

    def add(raw: str | None, kind: str, node: Selector, alt: str | None, caption: str | None) -> None:
        img_url = absolute_url(base, raw)
        if img_url is None or img_url in refs or len(refs) >= max_refs:
            return
        refs[img_url] = ImageRef(
            page_url=url,
            image_url=img_url,
            alt_text=alt,
            caption=caption,
            ref_kind=kind,
            attributes=_attributes(node),
            fetched_at=fetched_at,
        )

    for img in sel.xpath("//img"):
        alt = _clean_text(img.attrib.get("alt"))
        caption = _caption(img)
        src = img.attrib.get("src") or img.attrib.get("data-src")
        add(src, "img", img, alt, caption)
        for candidate in srcset_urls(img.attrib.get("srcset") or img.attrib.get("data-srcset")):
            add(candidate, "srcset", img, alt, caption)
    for source in sel.xpath("//picture/source"):
        imgs = source.xpath("ancestor::picture[1]//img[1]")
        alt = _clean_text(imgs[0].attrib.get("alt")) if imgs else None
        caption = _caption(imgs[0]) if imgs else None
        for candidate in srcset_urls(source.attrib.get("srcset")):
            add(candidate, "picture", source, alt, caption)
    for meta in sel.xpath("//meta[@property or @name]"):
        key = (meta.attrib.get("property") or meta.attrib.get("name") or "").lower()
        if key in _IMAGE_META:
            add(meta.attrib.get("content"), "og:image", meta, None, None)

    links: list[str] = []
    seen_links: set[str] = set()
    for a in sel.xpath("//a[@href]"):
        href = absolute_url(base, a.attrib.get("href"))
        if href is None:
            continue
        if looks_like_image_url(href):
            add(href, "link", a, _clean_text(" ".join(a.xpath(".//text()").getall())), None)
        elif href not in seen_links and len(links) < max_links:
            seen_links.add(href)
            links.append(href)
    return ParsedPage(url=url, lang=lang, title=title, image_refs=list(refs.values()), links=links)
