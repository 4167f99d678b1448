"""Build the test web on disk (pages, images, robots.txt, ground truth, manifest) and reopen a built one."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from audit.signals.consent import DEFAULT_AGENTS
from audit.testbed.testweb.images import write_variant
from audit.testbed.testweb.pages import render_site_pages, robots_txt
from audit.testbed.testweb.world import SITE_BY_HOST, Site, Variant, build_world

logger = logging.getLogger(__name__)

GENERATOR_VERSION = "7"
MANIFEST = "manifest.json"
GROUND_TRUTH = "ground_truth.jsonl"
WWW = "www"


@dataclass(frozen=True)
class TestWeb:
    """A built test web: where it lives and what a crawl of it should find."""

    __test__ = False  # not a pytest test class

    root: Path
    photos: int
    seed: int
    start_urls: list[str]
    allowed_domains: list[str]
    ground_truth_path: Path
    sightings: int
    image_urls: int

    @property
    def www(self) -> Path:
        """Folder holding one sub-folder of files per host."""
        return self.root / WWW

    @property
    def manifest(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.root / MANIFEST).read_text(encoding="utf-8"))
        return data

    @property
    def hosts(self) -> dict[str, dict[str, object]]:
        """Per host: country, kind, lang, robots.txt policy, X-Robots-Tag and meta robots."""
        hosts: dict[str, dict[str, object]] = self.manifest["hosts"]  # type: ignore[assignment]
        return hosts

    def ground_truth(self) -> list[dict[str, object]]:
        with self.ground_truth_path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def robots_refused(self) -> list[dict[str, object]]:
        """The images the pages name on a host whose robots.txt forbids every crawler to fetch them: served, but
        never fetched by a crawl that obeys robots.txt (which records each as refused). Not in the ground truth,
        whose images a crawl must fetch; each with its ``host``, ``rule``, ``page_urls`` and ``ref_kinds``."""
        refused: list[dict[str, object]] = self.manifest.get("robots_refused", [])  # type: ignore[assignment]
        return refused

    @classmethod
    def load(cls, root: Path) -> TestWeb:
        """Reopen a built web from its manifest."""
        root = Path(root)
        m = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        return cls(root=root, photos=m["photos"], seed=m["seed"], start_urls=list(m["start_urls"]),
                   allowed_domains=list(m["allowed_domains"]), ground_truth_path=root / m["ground_truth"],
                   sightings=m["sightings"], image_urls=m["image_urls"])


def _blocked_agents(site: Site) -> list[str]:
    """The agents robots.txt shuts out of the whole host: those named in it, or every agent the audit asks about
    (``*`` included) for a host that disallows everything to every crawler."""
    return list(DEFAULT_AGENTS) if site.robots.refuses_all else list(site.robots.blocked_agents)


def _cached(out_dir: Path, photos: int, seed: int, scripted: bool = False) -> TestWeb | None:
    try:
        m = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (m.get("photos"), m.get("seed"), m.get("generator_version")) != (photos, seed, GENERATOR_VERSION):
        return None
    if bool(m.get("scripted")) != scripted:
        return None
    return TestWeb.load(out_dir)


def _write_all(variants: list[Variant], www: Path, workers: int) -> dict[str, tuple[str, int]]:
    jobs = [(v, str(www)) for v in variants]
    if workers <= 1 or len(jobs) < 64:
        results = [write_variant(v, w) for v, w in jobs]
    else:
        # fork is fast and fine while we are single-threaded; spawn is the safe choice once threads run
        ctx = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
        with ctx.Pool(workers) as pool:
            results = list(pool.starmap(write_variant, jobs, chunksize=max(1, min(32, len(jobs) // (workers * 8)))))
    return {url: (sha, size) for url, sha, size in results}


def build_web(out_dir: Path, *, photos: int = 2000, seed: int = 2022, workers: int = 2,
              scripted: bool = False) -> TestWeb:
    """Generate the test web under ``out_dir`` (or return the one already built there with the same parameters).
    With ``scripted``, it also has the hosts whose images appear only through script
    (:mod:`audit.testbed.testweb.scripted`: what only a rendered crawl finds), in its ground truth like every other
    page; off by default, since a plain crawl cannot find those links."""
    out_dir = Path(out_dir)
    cached = _cached(out_dir, photos, seed, scripted)
    if cached is not None:
        logger.info("test web already built in %s (photos=%d, seed=%d)", out_dir, photos, seed)
        return cached
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    www = out_dir / WWW
    if www.exists():
        shutil.rmtree(www)
    world = build_world(photos, seed)
    embeds, pages = render_site_pages(world, www)
    scripted_hosts: dict[str, dict[str, object]] = {}
    if scripted:
        from audit.testbed.testweb.scripted import add_scripted_hosts

        shown = [(v.url, v.photo.title, v.width, v.height) for v in world.variants
                 if not SITE_BY_HOST[v.host].robots.refuses_all]  # images a crawler may fetch
        extra, scripted_hosts = add_scripted_hosts(shown, www)
        for url, page_urls in extra.items():  # shown by script as an <img>: in the rendered DOM only
            embeds[url] = {**embeds.get(url, {}), **{page: "img" for page in page_urls}}
        pages += len(scripted_hosts)
    missing = [v.url for v in world.variants if v.url not in embeds]
    if missing:
        raise RuntimeError(f"{len(missing)} generated images are not embedded in any page, e.g. {missing[0]}")
    files = _write_all(world.variants, www, workers)
    # every URL the pages name: a served file's, or the same with a query string (the server ignores queries)
    served = {v.url: v for v in world.variants}
    named = sorted((url, served[url.split("?", 1)[0]]) for url in embeds)
    # images on a host whose robots.txt refuses every crawler are served, but listed apart from the ground truth
    refused = [(url, v) for url, v in named if SITE_BY_HOST[v.host].robots.refuses_all]
    truth = [(url, v) for url, v in named if not SITE_BY_HOST[v.host].robots.refuses_all]
    gt_path = out_dir / GROUND_TRUTH
    tmp = gt_path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for url, v in truth:
            p = v.photo
            site = next(s for s in world.sites if s.host == v.site)
            row = {
                "image_url": url,
                "photo_id": p.photo_id,
                "residence_country": p.person.country,
                "capture_country": p.city.country,
                "transforms": list(v.transforms),
                "kept_metadata": list(v.kept),
                "gps": list(p.gps) if p.gps is not None and "gps" in v.kept else None,
                "sha256": files[v.url][0],
                "format": v.format,
                "width": v.width,
                "height": v.height,
                "host": v.host,
                "site": v.site,
                "site_kind": site.kind,
                "page_urls": sorted(embeds[url]),
                "ref_kinds": dict(sorted(embeds[url].items())),  # page URL -> how that page names the image
                "bytes": files[v.url][1],
                "capture_city": p.city.name,
                "caption_case": p.caption_case or None,
                "caption_country": p.caption_country,
                "subject": p.person.username,
            }
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    os.replace(tmp, gt_path)
    sites = [s for s in world.sites]
    hosts: dict[str, dict[str, object]] = {}
    for s in world.sites + world.image_hosts:
        hosts[s.host] = {
            "country": s.country, "kind": s.kind, "lang": s.lang, "city": s.city, "name": s.name,
            "image_host": s.img_host, "robots_txt": robots_txt(s), "blocked_agents": _blocked_agents(s),
            "disallow_all": list(s.robots.disallow_all), "x_robots_tag": s.robots.x_robots_tag,
            "meta_robots": s.robots.meta_robots, "tdmrep": s.robots.tdmrep, "geo_meta": s.geo_meta,
            "json_ld": s.json_ld, "stylesheet": s.stylesheet, "patterns": list(s.patterns),
        }
    hosts.update(scripted_hosts)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "photos": photos,
        "seed": seed,
        "start_urls": [f"http://{s.host}/" for s in sites] + [f"http://{h}/" for h in scripted_hosts],
        "allowed_domains": sorted(hosts),
        "ground_truth": GROUND_TRUTH,
        "sightings": sum(len(embeds[url]) for url, _ in truth),
        "image_urls": len(truth),
        "robots_refused": [
            {"image_url": url, "host": v.host, "rule": "Disallow: /", "sha256": files[v.url][0],
             "page_urls": sorted(embeds[url]), "ref_kinds": dict(sorted(embeds[url].items()))}
            for url, v in refused],
        "pages": pages,
        "bytes": sum(size for _, size in files.values()),
        "hosts": hosts,
        "scripted": scripted,
    }
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)
    logger.info("built test web in %s: %d photos, %d image URLs, %d sightings, %d pages in %.1f s", out_dir,
                photos, manifest["image_urls"], manifest["sightings"], pages, time.monotonic() - started)
    return TestWeb.load(out_dir)
