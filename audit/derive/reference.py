"""The plain, row-by-row audit: what ``provaudit audit`` computes, written as directly as possible.

``audit.derive.run.run_audit`` computes the same tables set-wise (each page, host, text and robots.txt once, the
fan-out to sightings, the propagation through clusters and the attribution in DuckDB). This module walks every
image and sighting in Python instead; it is kept as the reference the fast path is checked against
(tests/store/test_audit_reference.py) and is far too slow for large stores. It writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from audit.derive.attribution import Answers, Attribution, Evidence, attribute, attribute_answers
from audit.derive.neardup import (
    DEFAULT_DHASH_THRESHOLD,
    DEFAULT_PHASH_THRESHOLD,
    HashSet,
    cluster_labels,
    near_duplicate_pairs,
)
from audit.derive.run import AuditResult
from audit.derive.sql import PAGE_LANGS
from audit.derive.units import parse_json as _loads
from audit.derive.units import text_hints
from audit.records import ImageRecord
from audit.signals.base import OptOut, Signal
from audit.signals.kinds import Origin
from audit.store.db import Store

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _signal_id(*parts: object) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(str(p).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _record_from_row(row: dict[str, Any]) -> ImageRecord:
    taken = row.get("taken_at")
    return ImageRecord(
        sha256=row["sha256"], size=int(row.get("bytes") or 0), format=row.get("format"),
        width=row.get("width"), height=row.get("height"),
        exif=_loads(row.get("exif")), iptc=_loads(row.get("iptc")), xmp=_loads(row.get("xmp")),
        gps_lat=row.get("gps_lat"), gps_lon=row.get("gps_lon"), gps_alt=row.get("gps_alt"),
        taken_at=taken if isinstance(taken, dt.datetime) else None, utc_offset=row.get("utc_offset"),
        location=_loads(row.get("location")), c2pa=_loads(row.get("c2pa")),
    )


def _rows(store: Store, sql: str) -> list[dict[str, Any]]:
    cur = store.con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _collapse(signals: Iterable[Signal]) -> list[tuple[Signal, list[str] | None]]:
    """One entry per signal, except that the per-country signals of one ambiguous value (same kind, strength,
    evidence and weight 1/n: a bare ``fr``, a UTC offset) become one entry with its candidate countries."""
    groups: dict[tuple[str, str, str, float], list[Signal]] = {}
    out: list[tuple[Signal, list[str] | None]] = []
    for s in signals:
        if s.weight < 1.0:
            groups.setdefault((s.kind, str(s.strength), s.evidence, round(s.weight, 9)), []).append(s)
        else:
            out.append((s, None))
    for group in groups.values():
        if len(group) == 1:
            out.append((group[0], None))
        else:
            out.append((group[0], sorted({g.country for g in group})))
    return out


def _signal_rows(sha: str, sighting: str | None, signals: Iterable[Signal]) -> list[dict[str, Any]]:
    rows = []
    for s, candidates in _collapse(signals):
        country = None if candidates else s.country
        rows.append({
            "signal_id": _signal_id(sha, sighting, s.kind, country or ",".join(candidates or []), s.evidence, None),
            "sha256": sha, "sighting_id": sighting, "kind": s.kind, "country": country, "candidates": candidates,
            "strength": str(s.strength), "weight": float(s.weight), "evidence": s.evidence,
            "detail": json.dumps(s.detail) if s.detail else None, "via_sha256": None,
        })
    return rows


def _evidence(row: dict[str, Any]) -> list[Evidence]:
    detail = _loads(row.get("detail")) or {}
    border = detail.get("near_border_km") if isinstance(detail, dict) else None
    try:
        border_km = float(border) if border is not None else None
    except (TypeError, ValueError):
        border_km = None
    countries = row["candidates"] if row.get("candidates") else [row["country"]]
    return [Evidence(kind=row["kind"], country=c, strength=row["strength"], weight=float(row.get("weight") or 1.0),
                     border_km=border_km, propagated=row.get("via_sha256") is not None) for c in countries if c]


class _Cache:
    """Memoises per-page and per-host signal extraction: a page with ten images is read once."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], Any] = {}

    def get(self, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        if key not in self.values:
            self.values[key] = make()
        return self.values[key]


def sighting_signals(row: dict[str, Any], cache: _Cache) -> list[Signal]:
    """Every country signal of one sighting: its page's facts and headers, its hosts, its alt text, its server."""
    from audit.signals.host import host_signals
    from audit.signals.network import server_ip_signals
    from audit.signals.page import page_signals
    from audit.signals.places import place_signals, text_place_signals
    from audit.signals.text import text_language_signals

    out: list[Signal] = []
    page_url = row.get("page_url")
    hints = text_hints(row.get("page_host"), row.get("page_langs"))
    if row.get("page_host"):
        out += cache.get(("host", "page", row["page_host"]), lambda: host_signals(row["page_host"], "page"))
    if row.get("image_host"):
        out += cache.get(("host", "image", row["image_host"]), lambda: host_signals(row["image_host"], "image"))
    if page_url and row.get("page_found"):
        key = ("page", str(row["crawl_id"]), page_url)
        out += cache.get(key, lambda: page_signals(_loads(row.get("facts")) or {}, _loads(row.get("page_headers"))
                                                   or {}))
        if row.get("title"):
            out += cache.get(("title",) + key[1:], lambda: place_signals(
                row["title"], "page_title", hints=hints[0], region_hints=hints[1]))
        ip = row.get("server_ip")
        if ip:
            out += cache.get(("ip", ip), lambda: server_ip_signals(ip))
    if row.get("alt_text") or row.get("caption"):
        out += text_language_signals(row.get("alt_text"), row.get("caption"))
    if row.get("alt_text") or row.get("caption") or row.get("heading"):
        out += text_place_signals(row.get("alt_text"), row.get("caption"), heading=row.get("heading"),
                                  hints=hints[0], region_hints=hints[1])
    if row.get("image_url"):
        out += cache.get(("url", row["image_url"]), lambda: place_signals(row["image_url"], "url"))
    if row.get("dataset_exif") is not None:  # an img2dataset sample whose bytes carry no GPS: its .json EXIF
        from audit.signals.image import dataset_exif_signals

        exif = _loads(row["dataset_exif"])
        out += dataset_exif_signals(exif if isinstance(exif, dict) else None,
                                    bytes_have_exif=bool(row.get("bytes_have_exif")))
    return out


def sighting_opt_outs(row: dict[str, Any], cache: _Cache) -> list[tuple[Origin, OptOut]]:
    """Opt-outs that applied to one sighting, each with whose declaration it is: the image host's robots.txt and
    tdmrep.json for the image URL and the image response's headers (``image host``); the page host's robots.txt and
    tdmrep.json for the page URL and the page's headers and robots/TDM meta tags (``page publisher``)."""
    from audit.signals.consent import header_opt_outs, meta_opt_outs, recorded_robots_opt_outs, tdmrep_opt_outs

    image: list[OptOut] = []
    page: list[OptOut] = []
    crawl = str(row["crawl_id"])

    def tdmrep(role: str, url: str) -> list[OptOut]:
        host, body, source = row[f"{role}_host"], row[f"{role}_tdmrep"], row.get(f"{role}_tdmrep_url")
        return cache.get(("tdmrep", crawl, str(host), url), lambda: tdmrep_opt_outs(body, url, source))

    if row.get("image_url"):  # no robots.txt row, a 4xx: nothing; unreachable: a complete disallow (RFC 9309)
        image += recorded_robots_opt_outs(row.get("image_robots_status"), row.get("image_robots"),
                                          row.get("image_robots_error"), row["image_url"])
    if row.get("page_url"):
        page += recorded_robots_opt_outs(row.get("page_robots_status"), row.get("page_robots"),
                                         row.get("page_robots_error"), row["page_url"])
    if row.get("image_tdmrep") is not None and row.get("image_url"):
        image += tdmrep("image", row["image_url"])
    if row.get("page_tdmrep") is not None and row.get("page_url"):
        page += tdmrep("page", row["page_url"])
    if row.get("image_headers"):
        image += header_opt_outs(_loads(row["image_headers"]) or {})
    if row.get("page_found"):
        key = ("optouts", crawl, str(row.get("page_url")))
        page += cache.get(key, lambda: header_opt_outs(_loads(row.get("page_headers")) or {})
                          + meta_opt_outs(_loads(row.get("facts")) or {}))
    return [(Origin.IMAGE_HOST, o) for o in image] + [(Origin.PAGE_PUBLISHER, o) for o in page]


SIGHTINGS_SQL = """
SELECT s.sighting_id, s.crawl_id, s.sha256, s.image_url, s.page_url, s.image_host, s.page_host,
       s.alt_text, s.caption, s.heading,
       p.url IS NOT NULL AS page_found, p.title, p.facts, {PAGE_LANGS} AS page_langs,
       p.headers AS page_headers, p.server_ip,
       f.headers AS image_headers,
       CASE WHEN s.ref_kind = 'dataset' AND i.gps_lat IS NULL AND NOT coalesce(i.reference_only, false)
                 AND c.kind = 'img2dataset' THEN CAST(s.attributes->'exif' AS VARCHAR) END AS dataset_exif,
       i.exif IS NOT NULL AS bytes_have_exif,
       ri.body AS image_robots, ri.status AS image_robots_status, ri.error AS image_robots_error,
       rp.body AS page_robots, rp.status AS page_robots_status, rp.error AS page_robots_error,
       ti.body AS image_tdmrep, ti.url AS image_tdmrep_url, tp.body AS page_tdmrep, tp.url AS page_tdmrep_url
FROM sightings s
LEFT JOIN pages p ON p.crawl_id = s.crawl_id AND p.url = s.page_url
LEFT JOIN fetches f ON f.crawl_id = s.crawl_id AND f.url = s.image_url
LEFT JOIN images i ON i.sha256 = s.sha256
LEFT JOIN crawls c ON c.crawl_id = s.crawl_id
LEFT JOIN host_policies ri ON ri.crawl_id = s.crawl_id AND ri.host = s.image_host AND ri.kind = 'robots.txt'
LEFT JOIN host_policies rp ON rp.crawl_id = s.crawl_id AND rp.host = s.page_host AND rp.kind = 'robots.txt'
LEFT JOIN host_policies ti ON ti.crawl_id = s.crawl_id AND ti.host = s.image_host AND ti.kind = 'tdmrep.json'
     AND ti.status = 200
LEFT JOIN host_policies tp ON tp.crawl_id = s.crawl_id AND tp.host = s.page_host AND tp.kind = 'tdmrep.json'
     AND tp.status = 200
WHERE s.sha256 IS NOT NULL
ORDER BY s.sighting_id
""".replace("{PAGE_LANGS}", PAGE_LANGS)

IMAGES_SQL = """
SELECT sha256, format, width, height, bytes, phash, dhash, phash_mirror, dhash_mirror, exif, iptc, xmp,
       gps_lat, gps_lon, gps_alt, taken_at, utc_offset, location, c2pa
FROM images ORDER BY sha256
"""


def reference_audit(
    store: Store,
    *,
    phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
    dhash_threshold: int = DEFAULT_DHASH_THRESHOLD,
    progress: Progress | None = None,
) -> tuple[AuditResult, dict[str, list[dict[str, Any]]]]:
    """Signals, opt-outs, clusters and attributions for every image in ``store``, as rows per table."""
    from audit.signals.c2pa import training_opt_outs
    from audit.signals.image import image_signals

    result = AuditResult()
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()

    say("reading images")
    images = _rows(store, IMAGES_SQL)
    result.images = len(images)
    signal_rows: list[dict[str, Any]] = []
    image_opt_outs: dict[str, list[OptOut]] = {}  # C2PA training-and-mining assertions travel with the image
    for img in images:
        record = _record_from_row(img)
        signal_rows += _signal_rows(img["sha256"], None, image_signals(record))
        if record.c2pa:
            image_opt_outs[img["sha256"]] = training_opt_outs(record.c2pa)
    result.seconds["image_signals"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    say("reading sightings")
    cache = _Cache()
    opt_rows: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
    first_url: dict[str, str] = {}
    for row in _rows(store, SIGHTINGS_SQL):
        result.sightings += 1
        sha, sid = row["sha256"], row["sighting_id"]
        first_url.setdefault(sha, row.get("page_url") or row["image_url"])
        signal_rows += _signal_rows(sha, sid, sighting_signals(row, cache))
        met = sighting_opt_outs(row, cache) + [(Origin.IMAGE, o) for o in image_opt_outs.get(sha, [])]
        for origin, o in met:  # a directive met twice from one origin: the first one's evidence
            opt_rows.setdefault((sid, o.kind, o.value, o.applies_to, origin.value), {
                "sighting_id": sid, "sha256": sha, "kind": o.kind, "value": o.value,
                "applies_to": o.applies_to, "origin": origin.value, "evidence": o.evidence})
    result.seconds["sighting_signals"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    say("clustering near-duplicates")
    hashed = [img for img in images if img.get("phash") is not None and img.get("dhash") is not None]
    hashes = HashSet.from_lists([int(i["phash"]) for i in hashed], [int(i["dhash"]) for i in hashed],
                                [int(i["phash_mirror"] if i["phash_mirror"] is not None else i["phash"])
                                 for i in hashed],
                                [int(i["dhash_mirror"] if i["dhash_mirror"] is not None else i["dhash"])
                                 for i in hashed])
    pairs = near_duplicate_pairs(hashes, phash_threshold=phash_threshold, dhash_threshold=dhash_threshold)
    labels = cluster_labels(len(hashed), pairs)
    members: dict[int, list[str]] = defaultdict(list)
    for idx, label in enumerate(labels.tolist()):
        members[label].append(hashed[idx]["sha256"])
    cluster_rows = []
    cluster_of: dict[str, list[str]] = {}
    for group in members.values():
        cid = min(group)
        for sha in group:
            cluster_rows.append({"sha256": sha, "cluster_id": cid, "size": len(group)})
            cluster_of[sha] = group
    for img in images:  # unreadable images are clusters of one
        if img["sha256"] not in cluster_of:
            cluster_rows.append({"sha256": img["sha256"], "cluster_id": img["sha256"], "size": 1})
    result.clusters = sum(1 for g in members.values() if len(g) > 1)
    result.clustered_images = sum(len(g) for g in members.values() if len(g) > 1)
    result.seconds["clusters"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    say("propagating through clusters and attributing")
    direct_by_sha: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in signal_rows:
        direct_by_sha[row["sha256"]].append(row)
    propagated: list[dict[str, Any]] = []
    for group in members.values():
        if len(group) < 2:
            continue
        for source in group:
            for row in direct_by_sha.get(source, ()):
                where = first_url.get(source, "")
                for target in group:
                    if target == source:
                        continue
                    evidence = f"via near-duplicate {source} on {where}: {row['evidence']}"
                    prop = dict(row)
                    prop.update(sha256=target, via_sha256=source, evidence=evidence,
                                signal_id=_signal_id(target, row["signal_id"]))
                    propagated.append(prop)
    result.signals = len(signal_rows)
    result.propagated_signals = len(propagated)
    prop_by_sha: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in propagated:
        prop_by_sha[row["sha256"]].append(row)
    attribution_rows = []
    tiers: dict[str, int] = defaultdict(int)
    for img in images:
        sha = img["sha256"]
        own = [e for r in direct_by_sha.get(sha, ()) for e in _evidence(r)]
        direct = attribute(own)
        answers = attribute_answers(own + [e for r in prop_by_sha.get(sha, ()) for e in _evidence(r)])
        tiers[answers.combined.tier] += 1
        attribution_rows.append(_attribution_row(sha, answers, direct))
    result.tiers = dict(tiers)
    result.opt_outs = len(opt_rows)
    result.seconds["attribution"] = time.perf_counter() - t3

    result.seconds["total"] = time.perf_counter() - t0
    tables = {"signals": signal_rows + propagated, "opt_outs": list(opt_rows.values()), "clusters": cluster_rows,
              "attributions": attribution_rows}
    return result, tables


def _attribution_row(sha: str, answers: Answers, direct: Attribution) -> dict[str, Any]:
    final = answers.combined
    return {
        **{f"{name}_{field}": getattr(one, field) for name, one in (("capture", answers.capture),
                                                                     ("residence", answers.residence))
           for field in ("country", "score", "tier", "explanation")},
        "sha256": sha, "country": final.country, "score": final.score, "tier": final.tier,
        "runner_up": final.runner_up, "runner_up_score": final.runner_up_score, "kinds": list(final.kinds),
        "propagated": (final.country, final.tier) != (direct.country, direct.tier),
        "direct_country": direct.country, "direct_score": direct.score, "direct_tier": direct.tier,
        "explanation": final.explanation,
    }
