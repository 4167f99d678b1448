"""The figures of the claim report, computed from a store: a JSON-safe dict, one key per section."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import Any

from audit.countries import check_country
from audit.decode.workers import Bounds
from audit.outputs.people import DEFAULT_MIN_FACE_HEIGHT, People, detection_coverage
from audit.outputs.policies import LEVELS, claim_for
from audit.outputs.report.answers import answer_figures
from audit.outputs.report.verdict import compute_verdict
from audit.outputs.sweep import compare_policies, has_ground_truth
from audit.outputs.validation.estimate import latest_validation
from audit.settings import DEFAULTS
from audit.signals.kinds import KINDS_BY_NAME
from audit.stats import Rate
from audit.store.db import Store
from audit.store.paths import locate
from audit.testweb_marker import banner_facts

logger = logging.getLogger(__name__)
DEFAULT_MAX_IMAGE_BYTES = int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"])


TIERS = ("strong", "medium", "weak")
MODES = {"direct": ("direct_country", "direct_tier"), "propagated": ("country", "tier")}
STRENGTH_RANK = "CASE {c} WHEN 'strong' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END"
THRESHOLDS = [round(i / 20, 2) for i in range(20)]
# A search engine honouring these would not list the image for the sighting (Google's documented rules).
SEARCH_BLOCK_SQL = """
    (kind = 'robots_txt' AND value = 'disallow' AND applies_to = 'Googlebot-Image')
    OR (kind IN ('x_robots_tag', 'meta_robots') AND value IN ('noindex', 'noimageindex', 'none')
        AND lower(applies_to) IN ('*', 'googlebot', 'googlebot-image', 'robots'))
"""
# Reservations against AI training / text-and-data mining.
AI_BLOCK_SQL = """
    (kind = 'robots_txt' AND value = 'disallow' AND applies_to IN ('GPTBot', 'CCBot', 'Google-Extended'))
    OR (kind IN ('x_robots_tag', 'meta_robots') AND value IN ('noai', 'noimageai'))
    OR (kind = 'tdm_reservation')
"""


def rate(hits: Any, n: Any) -> dict[str, Any]:
    return Rate(int(hits or 0), int(n or 0)).as_dict()


def _in(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else (None if value is None else str(value))


def normalise_country(country: str) -> str:
    """``country`` as an officially assigned ISO 3166-1 alpha-2 code, upper case; ValueError with a suggestion
    otherwise (:func:`audit.countries.check_country`)."""
    return check_country(country)


# A signal points to country $1: the same rows as the view signal_countries gives for it, without unnesting every
# multi-country signal of the store first.
POINTS_TO = "((candidates IS NULL AND country = $1) OR list_contains(candidates, $1))"


def totals(store: Store, people: People | None = None) -> tuple[int, int]:
    """Audited images, and sightings of those images (of images showing people only, with ``people``)."""
    scope = f"WHERE {people.where()}" if people is not None else ""
    images = int(store.query(f"SELECT count(*) FROM attributions {scope}")[0][0])
    sightings = int(store.query(
        f"SELECT count(*) FROM sightings WHERE sha256 IN (SELECT sha256 FROM attributions {scope})")[0][0])
    return images, sightings


def headline(store: Store, cc: str, truth: bool, people: People | None = None) -> dict[str, Any]:
    """Share of images and sightings carrying the country, per tier, before and after propagation; of the images
    showing people only, with ``people``."""
    n_img, n_seen = totals(store, people)
    only = f" AND a.{people.where()}" if people is not None else ""
    rows: list[dict[str, Any]] = []
    for level, tiers in LEVELS:
        row: dict[str, Any] = {"level": level}
        for mode, (col, tcol) in MODES.items():
            cond = f"a.{col} = $1 AND a.{tcol} IN ({_in(tiers)}){only}"
            img = store.query(f"SELECT count(*) FROM attributions a WHERE {cond}", [cc])[0][0]
            seen = store.query(f"SELECT count(*) FROM sightings s JOIN attributions a USING (sha256) WHERE {cond}",
                               [cc])[0][0]
            row[mode] = {"images": rate(img, n_img), "sightings": rate(seen, n_seen)}
        rows.append(row)
    row = {"level": "any signal (raw)"}
    for mode, via in (("direct", "AND via_sha256 IS NULL"), ("propagated", "")):
        sub = f"SELECT sha256 FROM signals WHERE {POINTS_TO} {via}"
        img = store.query(f"SELECT count(*) FROM attributions a WHERE sha256 IN ({sub}){only}", [cc])[0][0]
        seen = store.query(f"SELECT count(*) FROM sightings WHERE sha256 IN (SELECT sha256 FROM attributions a "
                           f"WHERE true{only}) AND sha256 IN ({sub})", [cc])[0][0]
        row[mode] = {"images": rate(img, n_img), "sightings": rate(seen, n_seen)}
    rows.append(row)
    out: dict[str, Any] = {"images": n_img, "sightings": n_seen, "rows": rows, "truth": None}
    if truth:
        out["truth"] = truth_headline(store, cc, people)
    return out


# graphics of the test web (logos, icons, ...: no subject, no residence in the truth) are neither right nor wrong
TRUTH_SELECT = """SELECT sha256, any_value(residence_country) AS residence FROM ground_truth
    WHERE sha256 IN (SELECT sha256 FROM attributions) AND residence_country IS NOT NULL GROUP BY sha256"""
TRUTH_CTE = f"_truth AS ({TRUTH_SELECT})"


def _truth_cte(people: People | None) -> str:
    return TRUTH_CTE.replace("GROUP BY", f"AND {people.where()} GROUP BY") if people is not None else TRUTH_CTE


def truth_headline(store: Store, cc: str, people: People | None = None) -> dict[str, Any]:
    """Against ground truth: how many of the country's residents' images are attributed to it (recall), and the
    opposite error: images attributed to the country whose subject lives elsewhere (of images showing people only,
    with ``people``)."""
    cte = _truth_cte(people)
    residents, with_truth = store.query(
        f"WITH {cte} SELECT count(*) FILTER (WHERE residence = $1), count(*) FROM _truth", [cc])[0]
    rows = []
    for level, tiers in LEVELS:
        row: dict[str, Any] = {"level": level}
        for mode, (col, tcol) in MODES.items():
            attributed, right = store.query(f"""
                WITH {cte}
                SELECT count(*), count(*) FILTER (WHERE t.residence = $1)
                FROM _truth t JOIN attributions a USING (sha256) WHERE a.{col} = $1 AND a.{tcol} IN ({_in(tiers)})""",
                [cc])[0]
            row[mode] = {"recall": rate(right, residents), "wrong_residence": rate(attributed - right, attributed)}
        rows.append(row)
    return {"residents": int(residents), "images_with_truth": int(with_truth), "rows": rows}


def distinct_photos(store: Store, cc: str, people: People | None = None) -> dict[str, Any]:
    """Near-duplicate clusters counted as one photo each (``clusters``; an image in no cluster is its own photo):
    how many distinct photos there are, and how many are attributed to the country at each level (with
    near-duplicate propagation, so every copy of a photo has the same attribution). Of photos showing people only,
    with ``people`` (a photo shows people when one of its copies does)."""
    scope = f"WHERE a.{people.where()}" if people is not None else ""
    filters = ", ".join(f"count(DISTINCT photo) FILTER (WHERE country = $1 AND tier IN ({_in(tiers)}))"
                        for _, tiers in LEVELS)
    n, *hits = store.query(f"""
        WITH p AS (SELECT coalesce(c.cluster_id, a.sha256) AS photo, a.country, a.tier
                   FROM attributions a LEFT JOIN clusters c USING (sha256) {scope})
        SELECT count(DISTINCT photo), {filters} FROM p""", [cc])[0]
    return {"photos": int(n), "rows": [{"level": level, "photos": rate(h, n)}
                                       for (level, _), h in zip(LEVELS, hits, strict=True)]}


#: what an image known by reference only (a dataset row: URL, caption, metadata; no bytes) cannot show
REFERENCE_BLIND = ("EXIF GPS, IPTC/XMP location, time-zone offset and C2PA (in the bytes)",
                   "near-duplicate copies (need the bytes' fingerprints)",
                   "faces (need the bytes)",
                   "page facts (language, addresses, phone numbers, hosting IP), unless the dataset names the page")


def basis(store: Store, cc: str) -> dict[str, Any]:
    """What the figures rest on: audited images whose bytes were read, and images known by reference only (a
    dataset's URL and caption), with the share of each attributed to the country at each level (with propagation).
    ``reference_only`` is 0 for a store of crawls and archives only."""
    has = "reference_only" in store.columns.get("images", frozenset())
    ref = "coalesce(i.reference_only, false)" if has else "false"
    filters = ", ".join(
        f"count(*) FILTER (WHERE NOT {ref} AND a.country = $1 AND a.tier IN ({_in(tiers)})), "
        f"count(*) FILTER (WHERE {ref} AND a.country = $1 AND a.tier IN ({_in(tiers)}))" for _, tiers in LEVELS)
    n_bytes, n_ref, *hits = store.query(f"""
        SELECT count(*) FILTER (WHERE NOT {ref}), count(*) FILTER (WHERE {ref}), {filters}
        FROM attributions a LEFT JOIN images i USING (sha256)""", [cc])[0]
    rows = [{"level": level, "bytes": rate(hits[2 * k], n_bytes), "reference_only": rate(hits[2 * k + 1], n_ref)}
            for k, (level, _) in enumerate(LEVELS)]
    return {"images_with_bytes": int(n_bytes), "reference_only": int(n_ref), "rows": rows,
            "reference_only_cannot_show": list(REFERENCE_BLIND) if n_ref else [],
            "still_online": still_online(store, cc)}


def still_online(store: Store, cc: str) -> dict[str, Any] | None:
    """Of the image URLs a dataset lists that `provaudit fetch` checked (latest check per URL): how many still serve a
    readable image, how many serve other bytes than the published hash, and the same for those whose image is
    attributed to the country (any tier). None when no link was checked."""
    if "link_checks" not in store.columns or not store.query("SELECT count(*) FROM link_checks")[0][0]:
        return None
    n, online, changed, n_cc, online_cc, first, last = store.query("""
        WITH latest AS (SELECT url, arg_max(content, checked_at) AS content, max(checked_at) AS last_at
                        FROM link_checks GROUP BY url),
             cc AS (SELECT DISTINCT s.image_url FROM sightings s JOIN attributions a USING (sha256)
                    WHERE a.country = $1 AND a.tier <> 'none')
        SELECT count(*), count(content), count(*) FILTER (WHERE content = 'changed'),
               count(*) FILTER (WHERE url IN (SELECT image_url FROM cc)),
               count(content) FILTER (WHERE url IN (SELECT image_url FROM cc)), min(last_at), max(last_at)
        FROM latest""", [cc])[0]
    return {"checked": int(n), "online": rate(online, n), "changed": int(changed),
            "country": {"checked": int(n_cc), "online": rate(online_cc, n_cc)},
            "first_check": _iso(first), "last_check": _iso(last)}


def people_view(store: Store, cc: str, truth: bool, people: People) -> dict[str, Any]:
    """The report's figures for images showing people (``people``: at least one detected face of its minimum height):
    how far face detection went, the headline shares, distinct photos and the sweep's policies, each limited to
    those images. Without detection in the store only ``coverage`` is filled (the rest is ``None``)."""
    coverage = detection_coverage(store, people)
    out: dict[str, Any] = {"coverage": coverage, "min_face_height": people.min_face_height, "headline": None,
                           "photos": None, "sweep": None}
    if not coverage["detected"]:
        return out
    out["headline"] = headline(store, cc, truth, people)
    out["photos"] = distinct_photos(store, cc, people)
    out["sweep"] = compare_policies(store, cc, people)
    return out


def _declared(kind: str) -> dict[str, str | None]:
    declared = KINDS_BY_NAME.get(kind)
    return {"family": str(declared.family) if declared else None, "says": str(declared.says) if declared else None}


def signal_kinds(store: Store, cc: str) -> list[dict[str, Any]]:
    """Images per signal kind pointing to the country: from the image's own signals, and with propagation; with the
    kind's family and what it says (``None`` for a kind the registry does not declare, as a foreign store may hold)."""
    rank = "CASE strength WHEN 'strong' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END"
    per_strength: dict[str, list[dict[str, Any]]] = {}
    for k, st, n in store.query(f"""
        SELECT kind, strength, count(DISTINCT sha256) FROM signals
        WHERE {POINTS_TO} AND sha256 IN (SELECT sha256 FROM attributions)
        GROUP BY kind, strength ORDER BY kind, {rank} DESC""", [cc]):
        per_strength.setdefault(k, []).append({"strength": st, "images": int(n)})
    # "strength": the strongest; "strengths": every strength the kind has here (a kind such as a place named in
    # text is strong, medium or weak by where it was read), with its images
    return [{"kind": k, "strength": s, "strengths": per_strength.get(k, []), "direct_images": int(d),
             "images": int(n), **_declared(k)}
            for k, s, d, n in store.query(f"""
        SELECT kind, max_by(strength, {rank}),
               count(DISTINCT sha256) FILTER (WHERE via_sha256 IS NULL), count(DISTINCT sha256)
        FROM signals WHERE {POINTS_TO} AND sha256 IN (SELECT sha256 FROM attributions)
        GROUP BY kind ORDER BY 4 DESC, 1""", [cc])]


def hosts(store: Store, cc: str, limit: int = 30) -> dict[str, Any]:
    """Page hosts: images, sightings, and the share of their images attributed to the country (any tier)."""
    rows = store.query("""
        SELECT coalesce(s.page_host, '(no page)') AS host, count(DISTINCT s.sha256), count(*),
               count(DISTINCT s.sha256) FILTER (WHERE a.country = $1 AND a.tier <> 'none')
        FROM sightings s JOIN attributions a USING (sha256) GROUP BY 1 ORDER BY 4 DESC, 2 DESC, 1""", [cc])
    return {"hosts": len(rows), "rows": [
        {"host": h, "images": int(i), "sightings": int(n), "attributed": rate(c, i)} for h, i, n, c in rows[:limit]]}


def threshold_curve(store: Store, cc: str, truth: bool) -> list[dict[str, Any]]:
    """Per score threshold: images attributed to the country with a score at least that high (direct and
    propagated), and with ground truth their precision for residence (over the images whose subject's residence is
    known: photos of people, not logos or icons) and recall."""
    n_img = totals(store)[0]
    values = ", ".join(f"({t})" for t in THRESHOLDS)
    truth_join = f"LEFT JOIN ({TRUTH_SELECT}) tr USING (sha256)" if truth else ""
    res = "tr.residence" if truth else "NULL"
    residents = 0
    if truth:
        residents = int(store.query(f"WITH {TRUTH_CTE} SELECT count(*) FROM _truth WHERE residence = $1", [cc])[0][0])
    out = []
    # precision is over the attributed images whose subject's residence the ground truth knows (photos of people):
    # a logo or an icon attributed to the country is neither right nor wrong about anyone's residence
    for t, p_n, p_known, p_ok, d_n, d_known, d_ok in store.query(f"""
        SELECT th.t,
            count(*) FILTER (WHERE a.country = $1 AND a.tier <> 'none' AND a.score >= th.t),
            count(*) FILTER (WHERE a.country = $1 AND a.tier <> 'none' AND a.score >= th.t AND {res} IS NOT NULL),
            count(*) FILTER (WHERE a.country = $1 AND a.tier <> 'none' AND a.score >= th.t AND {res} = $1),
            count(*) FILTER (WHERE a.direct_country = $1 AND a.direct_tier <> 'none' AND a.direct_score >= th.t),
            count(*) FILTER (WHERE a.direct_country = $1 AND a.direct_tier <> 'none' AND a.direct_score >= th.t
                             AND {res} IS NOT NULL),
            count(*) FILTER (WHERE a.direct_country = $1 AND a.direct_tier <> 'none' AND a.direct_score >= th.t
                             AND {res} = $1)
        FROM (VALUES {values}) th(t) CROSS JOIN attributions a {truth_join}
        GROUP BY th.t ORDER BY th.t""", [cc]):
        row: dict[str, Any] = {"threshold": float(t)}
        for mode, n, known, ok in (("propagated", p_n, p_known, p_ok), ("direct", d_n, d_known, d_ok)):
            row[mode] = {"coverage": rate(n, n_img)}
            if truth:
                row[mode]["precision"] = rate(ok, known)
                row[mode]["recall"] = rate(ok, residents)
        out.append(row)
    return out


def gps_points(store: Store, cc: str) -> dict[str, Any]:
    """Images with EXIF GPS (rounded to 0.01°, about 1 km), with their attributed country."""
    rows = store.query("""
        SELECT round(i.gps_lat, 2), round(i.gps_lon, 2), coalesce(a.country, '') AS c, count(*)
        FROM images i JOIN attributions a USING (sha256) WHERE i.gps_lat IS NOT NULL AND i.gps_lon IS NOT NULL
        GROUP BY ALL ORDER BY 3, 1, 2""")
    points = [{"lat": float(la), "lon": float(lo), "country": c or None, "images": int(n)} for la, lo, c, n in rows]
    return {"images": sum(p["images"] for p in points), "points": points,
            "attributed_to_country": sum(p["images"] for p in points if p["country"] == cc)}


def capture_records(store: Store, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Where each capture ``(crawl_id, kind, url)`` is kept: the WARC file's name, the record's ``WARC-Record-ID``,
    offset and length (its first capture with a record); keys with none are left out, as is everything for a store
    written before captures recorded their records."""
    if not keys or "record_id" not in store.columns.get("captures", frozenset()):
        return {}
    wanted = sorted(set(keys))
    rows = store.query("""
        SELECT c.crawl_id, c.kind, c.url, c.archive, c.record_id, c.archive_offset, c.record_length
        FROM captures c JOIN (SELECT unnest($1) AS crawl_id, unnest($2) AS kind, unnest($3) AS url) k
          ON c.crawl_id = k.crawl_id AND c.kind = k.kind AND c.url = k.url
        WHERE c.archive IS NOT NULL AND c.archive_offset IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY c.crawl_id, c.kind, c.url ORDER BY c.fetched_at, c.archive_offset) = 1
        """, [[k[0] for k in wanted], [k[1] for k in wanted], [k[2] for k in wanted]])
    return {(crawl, kind, url): {"warc": PurePath(str(archive)).name, "record_id": record_id, "offset": int(offset),
                                 "length": int(length) if length is not None else None}
            for crawl, kind, url, archive, record_id, offset, length in rows}


def evidence_sample(store: Store, cc: str, sample_size: int, truth: bool) -> list[dict[str, Any]]:
    """A deterministic sample of images attributed to the country, interleaving tiers, with their sightings,
    signals for the country and the near-duplicate copies that carried signals over."""
    picked = store.query(f"""
        SELECT sha256, country, score, tier, direct_country, direct_tier, explanation FROM (
            SELECT a.*, row_number() OVER (PARTITION BY tier ORDER BY md5(sha256)) AS rn FROM attributions a
            WHERE a.country = $1 AND a.tier <> 'none')
        ORDER BY rn, {STRENGTH_RANK.format(c='tier')} DESC LIMIT $2""", [cc, sample_size])
    truths: dict[str, str] = {}
    if truth and picked:
        truths = {sha: res for sha, res in store.query(
            f"WITH {TRUTH_CTE} SELECT sha256, residence FROM _truth WHERE sha256 IN (SELECT unnest($1))",
            [[p[0] for p in picked]])}
    shas = [p[0] for p in picked]
    sightings: dict[str, list[dict[str, Any]]] = defaultdict(list)
    n_seen: dict[str, int] = {}
    if shas:  # one query per table for the whole sample, not one per image
        picked_sightings = store.query("""
                SELECT sha256, image_url, page_url, page_host, alt_text, caption, count(*) OVER (PARTITION BY sha256),
                       crawl_id
                FROM sightings WHERE sha256 IN (SELECT unnest($1))
                QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY page_url NULLS LAST, image_url) <= 5
                ORDER BY sha256, page_url NULLS LAST, image_url""", [shas])
        records = capture_records(store, [(c, "image", iu) for _s, iu, _p, _h, _a, _c, _n, c in picked_sightings]
                                  + [(c, "page", pu) for _s, _i, pu, _h, _a, _c, _n, c in picked_sightings if pu])
        for sha, iu, pu, ph, alt, cap, n, crawl in picked_sightings:
            sightings[sha].append({"image_url": iu, "page_url": pu, "page_host": ph, "alt_text": alt, "caption": cap,
                                   "image_record": records.get((crawl, "image", iu)),
                                   "page_record": records.get((crawl, "page", pu)) if pu else None})
            n_seen[sha] = int(n)
    signals: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if shas:
        for sha, k, st, e, v, vu in store.query(f"""
                WITH sc AS (
                    SELECT sha256, kind, strength, evidence, via_sha256 FROM signals
                    WHERE sha256 IN (SELECT unnest($1)) AND {POINTS_TO.replace("$1", "$2")}
                    QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY {STRENGTH_RANK.format(c='strength')}
                        DESC, via_sha256 NULLS FIRST, kind, evidence) <= 10),
                via AS (
                    SELECT sha256, min(coalesce(page_url, image_url)) AS url FROM sightings
                    WHERE sha256 IN (SELECT via_sha256 FROM sc) GROUP BY sha256)
                SELECT sc.sha256, sc.kind, sc.strength, sc.evidence, sc.via_sha256, via.url
                FROM sc LEFT JOIN via ON via.sha256 = sc.via_sha256
                ORDER BY sc.sha256, {STRENGTH_RANK.format(c='sc.strength')} DESC, sc.via_sha256 NULLS FIRST, sc.kind,
                         sc.evidence""", [shas, cc]):
            signals[sha].append({"kind": k, "strength": st, "evidence": e, "via_sha256": v, "via_url": vu})
    sizes = {sha: int(n) for sha, n in store.query(
        "SELECT sha256, size FROM clusters WHERE sha256 IN (SELECT unnest($1))", [shas])} if shas else {}
    out = []
    for sha, country, score, tier, dctry, dtier, explanation in picked:
        out.append({
            "sha256": sha, "country": country, "score": round(float(score), 4), "tier": tier,
            "direct_country": dctry, "direct_tier": dtier, "explanation": explanation,
            "sightings": n_seen.get(sha, 0), "sighting_sample": sightings.get(sha, []),
            "signals": signals.get(sha, []), "cluster_size": sizes.get(sha, 1),
            "residence": truths.get(sha) if truth else None, "thumbnail": None,
        })
    return out


def opt_outs(store: Store, cc: str) -> dict[str, Any]:
    """Opt-out and consent signals met, and how many collected images a search engine honouring them would not
    have indexed (every sighting blocked), or that were collected despite an AI/TDM reservation."""
    # whose declarations they were (page publisher, image host, image); a store audited before opt-outs had an
    # origin, opened read-only, has none to show
    origins = ("list_sort(list(DISTINCT origin) FILTER (WHERE origin IS NOT NULL))"
               if "origin" in store.columns.get("opt_outs", ()) else "[]::VARCHAR[]")
    table = [{"kind": k, "value": v, "applies_to": a, "sightings": int(s), "images": int(i), "origins": list(o or [])}
             for k, v, a, s, i, o in store.query(f"""
        SELECT kind, value, applies_to, count(DISTINCT sighting_id), count(DISTINCT sha256), {origins} FROM opt_outs
        WHERE kind <> 'tdm_policy' GROUP BY kind, value, applies_to ORDER BY 4 DESC, 1, 2, 3""")]
    out: dict[str, Any] = {"table": table}
    for name, cond in (("search_engine", SEARCH_BLOCK_SQL), ("ai_reservation", AI_BLOCK_SQL)):
        groups: dict[str, Any] = {}
        for scope, where in (("all", ""), ("country", "AND a.country = $1 AND a.tier <> 'none'")):
            n, every, some, n_seen, n_blocked = store.query(f"""
                WITH blocked AS (SELECT DISTINCT sighting_id FROM opt_outs WHERE {cond}),
                per AS (
                    SELECT s.sha256, count(*) AS n, count(b.sighting_id) AS nb
                    FROM sightings s JOIN attributions a USING (sha256) LEFT JOIN blocked b USING (sighting_id)
                    WHERE true {where} GROUP BY s.sha256)
                SELECT count(*), count(*) FILTER (WHERE nb = n), count(*) FILTER (WHERE nb > 0),
                       coalesce(sum(n), 0), coalesce(sum(nb), 0) FROM per""", [cc] if where else None)[0]
            groups[scope] = {"images": int(n), "every_sighting_blocked": rate(every, n),
                             "some_sighting_blocked": rate(some, n), "sightings_blocked": rate(n_blocked, n_seen)}
        out[name] = groups
    return out


def crawls(store: Store) -> list[dict[str, Any]]:
    rows = store.query("""
        SELECT c.crawl_id, c.source, c.kind, c.started_at, c.finished_at,
               (SELECT count(*) FROM pages p WHERE p.crawl_id = c.crawl_id),
               (SELECT count(*) FROM sightings s WHERE s.crawl_id = c.crawl_id),
               (SELECT count(DISTINCT sha256) FROM sightings s WHERE s.crawl_id = c.crawl_id),
               (SELECT count(*) FROM fetches f WHERE f.crawl_id = c.crawl_id AND f.error IS NOT NULL)
        FROM crawls c ORDER BY c.started_at, c.crawl_id""")
    return [{"crawl_id": cid, "source": src, "kind": kind, "started_at": _iso(a), "finished_at": _iso(b),
             "pages": int(p), "sightings": int(s), "images": int(i), "failed_fetches": int(f)}
            for cid, src, kind, a, b, p, s, i, f in rows]


def thumbnails_from_warc(store: Store, items: list[dict[str, Any]], size: int = 96, *, bounds: Bounds | None = None,
                         max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> dict[str, Any]:
    """Small JPEG data: URIs for the sampled images, read from the crawls' WARC files (the store keeps no image
    bytes). Each response's payload is de-chunked and its content encoding undone (:mod:`audit.ingest.warcpayload`, at
    most ``max_image_bytes``), checked against the image's sha256, then made into a thumbnail in the bounded worker
    pool (:mod:`audit.decode.thumbnails`: only the decoded formats, under ``bounds``). An image that cannot be read or
    decoded gets no thumbnail; a broken WARC file is skipped from where it breaks, with a warning."""
    from audit.decode.thumbnails import thumbnails
    from audit.errors import ContentEncodingError, Refused
    from audit.ingest.archive import ArchiveLimits, read_archive
    from audit.ingest.warcpayload import RecordPayload

    wanted: dict[str, str] = {}
    for url, final, sha in store.query("""
        SELECT url, final_url, sha256 FROM fetches WHERE sha256 IN (SELECT unnest($1))""",
                                       [[i["sha256"] for i in items]]):
        for u in (url, final):
            if u:
                wanted[u] = sha
    named = [str(p) for (p,) in store.query("SELECT DISTINCT warc_path FROM crawls WHERE warc_path IS NOT NULL "
                                            "ORDER BY 1")]
    located = {p: locate(p, store.path) for p in named}
    missing = [p for p, found_at in located.items() if found_at is None]
    for p in missing:
        logger.warning("thumbnails: the WARC %s that the store names is not found (as recorded, nor beside the "
                       "store): its images get no thumbnail", p)
    warcs = [found_at for found_at in located.values() if found_at is not None]
    need = {i["sha256"] for i in items}
    sent: set[str] = set()
    # what a record may make the reader hold: the image, with room for HTTP framing and content encodings
    limits = ArchiveLimits(max_body=max_image_bytes + 1024 * 1024)

    def bodies() -> Iterator[tuple[str, bytes]]:
        for path in warcs:
            if need <= sent:
                break
            problems = 0

            def problem(_offset: int | str, _what: str) -> None:
                nonlocal problems  # counted, not logged: a path a store names may be any local file
                problems += 1

            try:
                # the store names the file: only a regular file is read, framed and bounded (audit.ingest.archive)
                for framed in read_archive(path, limits=limits, report=problem, max_file_bytes=None):
                    record = framed.record
                    if record.rec_type != "response":
                        continue
                    sha = wanted.get(record.rec_headers.get_header("WARC-Target-URI") or "")
                    if not sha or sha in sent:
                        continue
                    try:
                        body = RecordPayload(record).read(max_image_bytes)
                    except ContentEncodingError as exc:
                        logger.debug("no thumbnail for %s: %s", sha, exc)
                        continue
                    if hashlib.sha256(body).hexdigest() != sha:
                        continue
                    sent.add(sha)
                    yield sha, body
                    if need <= sent:
                        break
            except Refused as exc:
                logger.warning("thumbnails: WARC %s not read: %s", path, exc)
            except Exception as exc:  # noqa: BLE001 - a record's parsers may raise anything; its file is left
                logger.warning("thumbnails: %s unreadable from some point (%s)", path, type(exc).__name__)
            if problems:
                logger.warning("thumbnails: %s has %d unreadable part(s) (not a WARC, or broken); they were skipped",
                               path, problems)

    found: dict[str, str] = {}
    for sha, thumb in thumbnails(bodies(), bounds=bounds or Bounds(), size=size):
        if thumb.data_uri is not None:
            found[sha] = thumb.data_uri
        else:
            logger.debug("no thumbnail for %s: %s", sha, thumb.error)
    logger.info("thumbnails: %d of %d found in %d WARC file(s)", len(found), len(need), len(warcs))
    return {"found": len(found), "wanted": len(need), "warcs": len(warcs), "missing_warcs": missing, "uris": found}


def compute(store: Store, country: str, *, claim: str | None = None, thumbnails: bool = False,
            sample_size: int = 40, bounds: Bounds | None = None,
            max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
            min_face_height: int = DEFAULT_MIN_FACE_HEIGHT) -> dict[str, Any]:
    """Every figure of the report, as a JSON-safe dict. ``thumbnails``: with thumbnails of the sample, each made
    under ``bounds`` from at most ``max_image_bytes`` (:func:`thumbnails_from_warc`). ``min_face_height``: the face
    size (pixels) from which an image counts as showing a person, for the people view (:func:`people_view`)."""
    people = People(min_face_height)
    cc = normalise_country(country)
    if not store.query("SELECT count(*) FROM attributions")[0][0]:
        raise ValueError("this store has no attributions yet: run `provaudit audit --db FILE` first")
    truth = has_ground_truth(store)
    sample = evidence_sample(store, cc, sample_size, truth)
    thumbs: dict[str, Any] = {"enabled": thumbnails, "found": 0, "wanted": 0, "warcs": 0}
    if thumbnails and sample:
        got = thumbnails_from_warc(store, sample, bounds=bounds, max_image_bytes=max_image_bytes)
        for item in sample:
            item["thumbnail"] = got["uris"].get(item["sha256"])
        thumbs.update(found=got["found"], wanted=got["wanted"], warcs=got["warcs"], missing_warcs=got["missing_warcs"])
    data: dict[str, Any] = {
        "country": cc,
        "claim": claim_for(cc, claim).as_dict(),
        **banner_facts(store),
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "store": store.path.name if store.path else None,
        "ground_truth": truth,
        "headline": headline(store, cc, truth),
        "photos": distinct_photos(store, cc),
        "basis": basis(store, cc),
        "people": people_view(store, cc, truth, people),
        "answers": answer_figures(store, cc, truth),
        "signal_kinds": signal_kinds(store, cc),
        "hosts": hosts(store, cc),
        "thresholds": threshold_curve(store, cc, truth),
        "gps": gps_points(store, cc),
        "sample": sample,
        "thumbnails": thumbs,
        "opt_outs": opt_outs(store, cc),
        "sweep": compare_policies(store, cc),
        "crawls": crawls(store),
        "validation": latest_validation(store, cc),
    }
    data["verdict"] = compute_verdict(store, data, people)
    json.dumps(data)  # fail here, not in write_report, if something is not JSON-safe
    return data
