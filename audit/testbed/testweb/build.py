"""Build the test web on disk (pages, images, robots.txt, ground truth, manifest, attribution of the real photos)
and reopen a built one."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit.signals.consent import DEFAULT_AGENTS
from audit.testbed.testweb.graphics import Graphic
from audit.testbed.testweb.images import write_variant
from audit.testbed.testweb.pages import render_site_pages, robots_txt
from audit.testbed.testweb.realphotos import load_corpus, served_boxes
from audit.testbed.testweb.world import SITE_BY_HOST, Site, Variant, World, build_world

logger = logging.getLogger(__name__)

GENERATOR_VERSION = "9"  # 9: every page carries <meta name="provaudit-testweb">
MANIFEST = "manifest.json"
GROUND_TRUTH = "ground_truth.jsonl"
ATTRIBUTION = "ATTRIBUTION.md"  # source and licence of every real photo the test web serves
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


def _cached(out_dir: Path, photos: int, seed: int, scripted: bool = False, real_note: str = "") -> TestWeb | None:
    try:
        m = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (m.get("photos"), m.get("seed"), m.get("generator_version")) != (photos, seed, GENERATOR_VERSION):
        return None
    if m.get("real_photos", {}).get("note") != real_note:  # the face photos appeared, went or changed
        return None
    if bool(m.get("scripted")) != scripted:
        return None
    return TestWeb.load(out_dir)


def _write_one(job: tuple[Variant | Graphic, str]) -> tuple[str, str, int]:
    return write_variant(*job)


def _write_all(variants: list[Variant | Graphic], www: Path, workers: int,
               progress: Callable[[str, int], None] | None = None) -> dict[str, tuple[str, int]]:
    jobs = [(v, str(www)) for v in variants]
    results = []
    if workers <= 1 or len(jobs) < 64:
        for job in jobs:
            results.append(_write_one(job))
            if progress is not None:
                progress("images", 1)
    else:
        # fork is fast and fine while we are single-threaded; spawn is the safe choice once threads run
        ctx = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
        with ctx.Pool(workers) as pool:
            for result in pool.imap(_write_one, jobs, chunksize=max(1, min(32, len(jobs) // (workers * 8)))):
                results.append(result)
                if progress is not None:
                    progress("images", 1)
    return {url: (sha, size) for url, sha, size in results}


def _face_fields(v: Variant | Graphic) -> dict[str, object]:
    """What the ground truth says of the people in ``v``: its kind of image, whether it shows a face, the face boxes
    and ignore regions in its served pixels, and the real photo it was made from (file, source, licence)."""
    if isinstance(v, Graphic):
        return {"image_kind": v.kind, "shows_face": False, "face_boxes": [], "face_ignore": [], "real_photo": None}
    real = v.photo.real
    if real is None:
        return {"image_kind": "photo", "shows_face": False, "face_boxes": [], "face_ignore": [], "real_photo": None}
    faces, ignore = served_boxes(real, base=(v.base_width, v.base_height), crop=v.crop, mirror=v.mirror)
    return {"image_kind": "photo", "shows_face": bool(faces), "face_boxes": [list(b) for b in faces],
            "face_ignore": [list(b) for b in ignore],
            "real_photo": {"file": real.file, "source": real.source, "commit": real.commit, "licence": real.licence}}


def _attribution(world: World, urls: dict[str, list[str]]) -> str:
    """ATTRIBUTION.md: every real photo the test web serves, its source, licence and the URLs of its copies."""
    lines = ["# Real photos in this test web", "", world.real_note, "",
             "Each is a copy of a file of the shared face-detection set (its SOURCES.md has the details), re-encoded "
             "without its own metadata; attribution as its licence requires:", ""]
    for p in sorted(world.real_photos, key=lambda p: p.photo_id):
        assert p.real is not None
        lines.append(f"- `{p.real.file}` ({p.photo_id}): {p.real.source} @ {p.real.commit[:12]}, "
                     f"licence: {p.real.licence}")
        lines += [f"  - {u}" for u in urls.get(p.photo_id, [])]
    return "\n".join(lines) + "\n"


def _kinds(truth: list[tuple[str, Variant | Graphic]]) -> dict[str, int]:
    """Image URLs of the ground truth per kind of image (photo, logo, icon, banner, map, product)."""
    out: dict[str, int] = {}
    for _, v in truth:
        kind = v.kind if isinstance(v, Graphic) else "photo"
        out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items()))


def cached_web(out_dir: Path, photos: int, seed: int, scripted: bool = False,
               faces_dir: Path | None = None) -> TestWeb | None:
    """The test web already built in ``out_dir`` with these parameters, or None (``build_web`` would build it)."""
    _real, real_note = load_corpus(faces_dir)
    return _cached(Path(out_dir), photos, seed, scripted, real_note)


def build_web(out_dir: Path, *, photos: int = 2000, seed: int = 2022, workers: int = 2,
              scripted: bool = False, faces_dir: Path | None = None,
              progress: Callable[[str, int], None] | None = None) -> TestWeb:
    """Generate the test web under ``out_dir`` (or return the one already built there with the same parameters).
    With ``scripted``, it also has the hosts whose images appear only through script
    (:mod:`audit.testbed.testweb.scripted`: what only a rendered crawl finds), in its ground truth like every other
    page; off by default, since a plain crawl cannot find those links. Some photos are real photos with faces from
    ``faces_dir`` (default ``../shared/corpora/faces`` beside the repository); without it, all are synthetic.
    ``progress`` is called with ``("pages", n)`` and ``("images", 1)`` as pages and image files are written."""
    out_dir = Path(out_dir)
    real, real_note = load_corpus(faces_dir)
    cached = _cached(out_dir, photos, seed, scripted, real_note)
    if cached is not None:
        logger.info("test web already built in %s (photos=%d, seed=%d)", out_dir, photos, seed)
        return cached
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    www = out_dir / WWW
    if www.exists():
        shutil.rmtree(www)
    logger.info("test web: %s", real_note)
    world = build_world(photos, seed, real, real_note)
    embeds, pages = render_site_pages(world, www)
    if progress is not None:
        progress("pages", pages)
    scripted_hosts: dict[str, dict[str, object]] = {}
    if scripted:
        from audit.testbed.testweb.scripted import add_scripted_hosts

        shown = [(v.url, v.photo.title, v.width, v.height) for v in world.variants
                 if not SITE_BY_HOST[v.host].robots.refuses_all]  # images a crawler may fetch
        extra, scripted_hosts = add_scripted_hosts(shown, www)
        for url, page_urls in extra.items():  # shown by script as an <img>: in the rendered DOM only
            embeds[url] = {**embeds.get(url, {}), **{page: "img" for page in page_urls}}
        pages += len(scripted_hosts)
    images: list[Variant | Graphic] = [*world.variants, *(world.graphics.items if world.graphics else [])]
    missing = [v.url for v in images if v.url not in embeds]
    if missing:
        raise RuntimeError(f"{len(missing)} generated images are not embedded in any page, e.g. {missing[0]}")
    files = _write_all(images, www, workers, progress)
    # every URL the pages name: a served file's, or the same with a query string (the server ignores queries)
    served: dict[str, Variant | Graphic] = {v.url: v for v in images}
    named = sorted((url, served[url.split("?", 1)[0]]) for url in embeds)
    # images on a host whose robots.txt refuses every crawler are served, but listed apart from the ground truth
    refused = [(url, v) for url, v in named if SITE_BY_HOST[v.host].robots.refuses_all]
    truth = [(url, v) for url, v in named if not SITE_BY_HOST[v.host].robots.refuses_all]
    gt_path = out_dir / GROUND_TRUTH
    tmp = gt_path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for url, v in truth:
            site = next(s for s in world.sites if s.host == v.site)
            if isinstance(v, Graphic):
                row: dict[str, object] = {
                    "image_url": url, "photo_id": v.gid, "residence_country": None, "capture_country": None,
                    "transforms": [], "kept_metadata": [], "gps": None, "sha256": files[v.url][0],
                    "format": v.format, "width": v.width, "height": v.height, "host": v.host, "site": v.site,
                    "site_kind": site.kind, "page_urls": sorted(embeds[url]),
                    "ref_kinds": dict(sorted(embeds[url].items())), "bytes": files[v.url][1], "capture_city": None,
                    "caption_case": None, "caption_country": None, "subject": None, **_face_fields(v),
                }
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                continue
            p = v.photo
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
                **_face_fields(v),
            }
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    os.replace(tmp, gt_path)
    copies: dict[str, list[str]] = {}
    for url, v in truth:
        if isinstance(v, Variant) and v.photo.real is not None:
            copies.setdefault(v.photo.photo_id, []).append(url)
    (out_dir / ATTRIBUTION).write_text(_attribution(world, copies), encoding="utf-8")
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
        "real_photos": {"note": real_note, "photos": len(world.real_photos), "attribution": ATTRIBUTION,
                        "with_faces": sum(1 for p in world.real_photos if p.real is not None and p.real.faces)},
        "image_kinds": _kinds(truth),
    }
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)
    logger.info("built test web in %s: %d photos, %d image URLs, %d sightings, %d pages in %.1f s", out_dir,
                photos, manifest["image_urls"], manifest["sightings"], pages, time.monotonic() - started)
    return TestWeb.load(out_dir)
