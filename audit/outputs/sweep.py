"""The deletion sweep: which images a vendor acting in good faith would delete for one country, under a policy.

A policy is data (:data:`POLICIES`, declared in :mod:`audit.outputs.policies`): the minimum attribution tier for the
country, read from the image's own signals or with near-duplicate propagation, or ``any-signal``: every image with at
least one signal pointing to the country, even when the image is attributed elsewhere.

When the store has a ``ground_truth`` table (crawls of the built-in test web), the sweep is scored: precision,
recall, collateral deletions and residents left behind, each with a 95% Wilson interval.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from audit.countries import check_country
from audit.outputs.people import People
from audit.outputs.policies import POLICIES as POLICIES
from audit.outputs.policies import TIER_RANK as TIER_RANK
from audit.outputs.policies import Policy as Policy
from audit.outputs.policies import parse_policy
from audit.stats import Rate
from audit.store.db import Store
from audit.testweb_marker import BANNER, is_test_web
from audit.textsafe import csv_cell

logger = logging.getLogger(__name__)

STRENGTH_RANK_SQL = "CASE strength WHEN 'strong' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END"


def _where(policy: Policy, people: People | None) -> str:
    """The policy's condition on ``attributions a``, limited to images showing people when ``people`` is given."""
    return f"({policy.where()}) AND a.{people.where()}" if people is not None else policy.where()


def selected(store: Store, country: str, policy: str, people: People | None = None) -> set[str]:
    """The sha256s a good-faith vendor deletes for ``country`` under ``policy`` (only images showing people, when
    ``people`` is given)."""
    pol = parse_policy(policy)
    rows = store.query(f"SELECT a.sha256 FROM attributions a WHERE {_where(pol, people)}", [country.strip().upper()])
    return {str(r[0]) for r in rows}


@dataclass
class SweepResult:
    country: str
    policy: Policy
    rows: list[dict[str, Any]] = field(default_factory=list)
    images: int = 0
    sightings: int = 0
    # scored against ground truth (None without one)
    truth_images: int | None = None  # deleted images that have a ground truth
    precision: Rate | None = None
    recall: Rate | None = None
    collateral: Rate | None = None  # deleted with residence elsewhere, over deleted images with truth
    left_behind: Rate | None = None  # residents not deleted, over the country's residents' images
    # of the images deleted, how many each answer (capture, residence) names the country for, per tier
    by_answer: dict[str, dict[str, int]] = field(default_factory=dict)
    people: People | None = None  # limited to images showing people (--faces-only), truth included
    test_web: bool = False  # the store holds the built-in test web (audit.testweb_marker): say so in every output

    def summary(self) -> dict[str, Any]:
        def r(x: Rate | None) -> dict[str, Any] | None:
            return x.as_dict() if x is not None else None

        return {
            "policy": self.policy.name, "description": self.policy.description, "country": self.country,
            "images": self.images, "sightings": self.sightings, "truth_images": self.truth_images,
            "precision": r(self.precision), "recall": r(self.recall), "collateral": r(self.collateral),
            "left_behind": r(self.left_behind), "by_answer": self.by_answer,
            "faces_only": self.people is not None,
            "min_face_height": self.people.min_face_height if self.people is not None else None,
            "test_web": self.test_web, "banner": BANNER if self.test_web else None,
        }


def has_ground_truth(store: Store) -> bool:
    """Whether the store has a non-empty ``ground_truth`` table."""
    try:
        return bool(store.query("SELECT count(*) FROM ground_truth")[0][0])
    except Exception:  # noqa: BLE001 - an older store without the table
        return False


TRUTH_SQL = """
SELECT sha256, any_value(residence_country) AS residence FROM ground_truth
WHERE sha256 IN (SELECT sha256 FROM images) AND residence_country IS NOT NULL GROUP BY sha256
"""

SWEEP_SQL = """
WITH sel AS (SELECT a.* FROM attributions a WHERE {where}),
sig AS (
    -- one row per distinct piece of evidence: a page fact seen on several pages (or a copy's signal) is one entry,
    -- with how many times it was seen, not the same text three times
    SELECT sc.sha256, sc.kind, sc.strength, sc.evidence, count(*) AS times,
           row_number() OVER (PARTITION BY sc.sha256 ORDER BY {rank} DESC, max(sc.weight) DESC,
                              bool_and(sc.via_sha256 IS NOT NULL), sc.kind, sc.evidence) AS rn
    FROM signals sc WHERE ((sc.candidates IS NULL AND sc.country = $2) OR list_contains(sc.candidates, $2))
         AND sc.sha256 IN (SELECT sha256 FROM sel)
    GROUP BY sc.sha256, sc.kind, sc.strength, sc.evidence
),
top AS (
    SELECT sha256, string_agg(kind || ' (' || strength || '): ' || evidence
                              || CASE WHEN times > 1 THEN ' (×' || times || ')' ELSE '' END, ' | ' ORDER BY rn)
           AS top_signals
    FROM sig WHERE rn <= 3 GROUP BY sha256
),
seen AS (
    SELECT sha256, count(*) AS sightings, list(DISTINCT image_url ORDER BY image_url) AS image_urls,
           list(DISTINCT page_url ORDER BY page_url) FILTER (WHERE page_url IS NOT NULL) AS page_urls
    FROM sightings WHERE sha256 IN (SELECT sha256 FROM sel) GROUP BY sha256
)
SELECT sel.sha256, sel.country, sel.score, sel.tier, sel.direct_country, sel.direct_tier,
       coalesce(seen.sightings, 0), coalesce(seen.image_urls, []), coalesce(seen.page_urls, []),
       sel.explanation, top.top_signals, {answers}
FROM sel LEFT JOIN seen USING (sha256) LEFT JOIN top USING (sha256)
ORDER BY sel.score DESC NULLS LAST, sel.sha256
"""


# The attribution's two answers (docs/attribution.md, "Two answers"), shown next to the combined one.
ANSWER_COLUMNS = ("capture_country", "capture_tier", "residence_country", "residence_tier")


def answer_select(store: Store, alias: str) -> str:
    """The select list of :data:`ANSWER_COLUMNS` from ``alias``; NULLs for a store audited before the attribution had
    two answers (opened read-only, it lacks the columns)."""
    have = store.columns.get("attributions", frozenset())
    return ", ".join(f"{alias}.{c}" if c in have else f"NULL::VARCHAR AS {c}" for c in ANSWER_COLUMNS)


def _truth_sql(people: People | None) -> str:
    return TRUTH_SQL.replace("GROUP BY", f"AND {people.where()} GROUP BY") if people is not None else TRUTH_SQL


def sweep(store: Store, country: str, policy: str, people: People | None = None) -> SweepResult:
    """The images a vendor acting in good faith would delete for ``country`` under ``policy``. With ``people``, only
    images showing people are deleted and scored (the residents' images counted are those showing people too)."""
    pol = parse_policy(policy)
    cc = check_country(country)
    result = SweepResult(country=cc, policy=pol, people=people, test_web=is_test_web(store))
    sql = SWEEP_SQL.format(where=_where(pol, people), rank=STRENGTH_RANK_SQL.replace("strength", "sc.strength"),
                           answers=answer_select(store, "sel"))
    for (sha, ctry, score, tier, dctry, dtier, n_seen, image_urls, page_urls, explanation,
         top, *answers) in store.query(sql, [cc, cc]):  # $1 in the policy's condition, $2 above
        evidence = "; ".join(x for x in (explanation, f"signals for {cc}: {top}" if top else None) if x)
        result.rows.append({
            "sha256": sha, "country": ctry, "score": float(score) if score is not None else None, "tier": tier,
            "direct_country": dctry, "direct_tier": dtier, "sightings": int(n_seen),
            "image_urls": list(image_urls), "page_urls": list(page_urls), "evidence": evidence,
            **dict(zip(ANSWER_COLUMNS, answers, strict=True)),
        })
    result.images = len(result.rows)
    for answer in ("capture", "residence"):
        result.by_answer[answer] = {
            tier: sum(1 for r in result.rows if r[f"{answer}_country"] == cc and r[f"{answer}_tier"] == tier)
            for tier in ("strong", "medium", "weak")}
    result.sightings = sum(r["sightings"] for r in result.rows)
    if has_ground_truth(store):
        truth = {sha: res for sha, res in store.query(_truth_sql(people))}
        deleted = {r["sha256"] for r in result.rows}
        with_truth = [sha for sha in deleted if sha in truth]
        right = sum(1 for sha in with_truth if truth[sha] == cc)
        residents = {sha for sha, res in truth.items() if res == cc}
        found = len(residents & deleted)
        result.truth_images = len(with_truth)
        result.precision = Rate(right, len(with_truth))
        result.collateral = Rate(len(with_truth) - right, len(with_truth))
        result.recall = Rate(found, len(residents))
        result.left_behind = Rate(len(residents) - found, len(residents))
    logger.info("sweep %s %s: %d images, %d sightings", cc, pol.name, result.images, result.sightings)
    return result


SUMMARY_SQL = """
WITH sel AS (SELECT a.sha256 FROM attributions a WHERE {where}),
truth AS (SELECT sha256, any_value(residence_country) AS residence FROM ground_truth
          WHERE sha256 IN (SELECT sha256 FROM images) AND residence_country IS NOT NULL {people} GROUP BY sha256)
SELECT (SELECT count(*) FROM sel),
       (SELECT count(*) FROM sightings WHERE sha256 IN (SELECT sha256 FROM sel)),
       (SELECT count(*) FROM sel JOIN truth USING (sha256)),
       (SELECT count(*) FROM sel JOIN truth USING (sha256) WHERE truth.residence = $1),
       (SELECT count(*) FROM truth WHERE residence = $1)
"""


def sweep_summary(store: Store, country: str, policy: str, people: People | None = None) -> SweepResult:
    """What :func:`sweep` reports about a policy (sizes and, with ground truth, precision and recall), counted in
    the store without listing the images; ``people`` as in :func:`sweep`."""
    pol = parse_policy(policy)
    cc = check_country(country)
    result = SweepResult(country=cc, policy=pol, people=people)
    truth = has_ground_truth(store)
    sql = SUMMARY_SQL.format(where=_where(pol, people),
                             people=f"AND {people.where()}" if people is not None else "")
    if not truth:
        sql = sql.replace("FROM ground_truth", "FROM (SELECT NULL::VARCHAR AS sha256, NULL::VARCHAR AS "
                          "residence_country WHERE false)")
    images, sightings, with_truth, right, residents = store.query(sql, [cc])[0]
    result.images, result.sightings = int(images), int(sightings)
    if truth:
        result.truth_images = int(with_truth)
        result.precision = Rate(int(right), int(with_truth))
        result.collateral = Rate(int(with_truth) - int(right), int(with_truth))
        result.recall = Rate(int(right), int(residents))
        result.left_behind = Rate(int(residents) - int(right), int(residents))
    return result


def compare_policies(store: Store, country: str, people: People | None = None) -> list[dict[str, Any]]:
    """One summary per policy of :data:`POLICIES`, in order: size, precision, recall, collateral, left behind
    (of images showing people only, with ``people``)."""
    return [sweep_summary(store, country, name, people).summary() for name in POLICIES]


#: the column a sweep of the built-in test web adds, holding the banner on every row
BANNER_COLUMN = "test_web_banner"
COLUMNS = ("sha256", "country", "score", "tier", "direct_country", "direct_tier", "sightings", "image_urls",
           "page_urls", "evidence", *ANSWER_COLUMNS)


def write_sweep(result: SweepResult, path: str | Path) -> Path:
    """Write the sweep's rows as CSV (``.csv``, one URL per line inside the list cells, every cell through
    :func:`audit.textsafe.csv_cell`: no formula start whatever the separator, no control or bidi character) or
    Parquet (``.parquet``, lists kept as lists, values exact). A sweep of the built-in test web has one more column,
    ``test_web_banner``, holding the banner (:data:`audit.testweb_marker.BANNER`) on every row, and the Parquet file's
    metadata says so too."""
    p = Path(path)
    suffix = p.suffix.lower()
    banner = [BANNER] if result.test_web else []
    columns = (*COLUMNS, BANNER_COLUMN) if result.test_web else COLUMNS
    if suffix == ".csv":
        with p.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(columns)
            for row in result.rows:
                w.writerow([csv_cell(row.get(c)) for c in COLUMNS] + banner)
    elif suffix in (".parquet", ".pq"):
        schema = pa.schema([
            ("sha256", pa.string()), ("country", pa.string()), ("score", pa.float64()), ("tier", pa.string()),
            ("direct_country", pa.string()), ("direct_tier", pa.string()), ("sightings", pa.int64()),
            ("image_urls", pa.list_(pa.string())), ("page_urls", pa.list_(pa.string())), ("evidence", pa.string()),
            *((c, pa.string()) for c in ANSWER_COLUMNS),
            *((BANNER_COLUMN, pa.string()) for _ in banner),
        ])
        values: dict[str, list[Any]] = {c: [row.get(c) for row in result.rows] for c in COLUMNS}
        if banner:
            values[BANNER_COLUMN] = banner * len(result.rows)
        table = pa.Table.from_pydict(values, schema=schema)
        meta = {b"provaudit.policy": result.policy.name.encode(), b"provaudit.country": result.country.encode()}
        if banner:
            meta[b"provaudit.test_web"] = BANNER.encode()
        pq.write_table(table.replace_schema_metadata(meta), p)
    else:
        raise ValueError(f"cannot write {p.name}: use a .csv or .parquet file name")
    logger.info("wrote %d rows to %s", len(result.rows), p)
    return p
