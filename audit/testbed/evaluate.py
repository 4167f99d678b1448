"""Compare attributions and signals with the test web's ground truth: coverage, precision and recall per tier and
per signal kind, for the subject's residence country and for the capture country, with 95% Wilson intervals; and
face detection against the labelled faces (:mod:`audit.testbed.detection`). The attribution figures are over the
photos of people (ground-truth rows with a subject): the test web's logos, icons, banners, maps and product shots
have no country to find."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.signals.kinds import KINDS_BY_NAME, signal_kind
from audit.stats import Rate
from audit.store.db import Store
from audit.testbed.detection import evaluate_detection

TIERS = ("strong", "medium", "weak")


@dataclass
class Evaluation:
    images: int
    # per tier (cumulative) of the combined answer, per tier of the capture answer (against the capture country) and
    # of the residence answer (against the residence country), and per kind; a kind's row has its family and what it
    # says (audit.signals.kinds): one that says "capture place" is to be read against the capture country, the others
    # against the residence
    rows: list[dict[str, Any]] = field(default_factory=list)
    gps_images: int = 0
    gps_right: int = 0
    # places named in captions, per hard case of the test web (ground_truth.caption_case): see place_cases()
    place_cases: list[dict[str, Any]] = field(default_factory=list)
    # face detection against the labelled faces: audit.testbed.detection.evaluate_detection
    detection: dict[str, Any] = field(default_factory=lambda: {"status": "not run"})

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.images, "gps_images": self.gps_images, "gps_right_capture_country": self.gps_right,
                "rows": self.rows, "place_cases": self.place_cases, "detection": self.detection}


TRUTH_SQL = """
CREATE OR REPLACE TEMP TABLE _truth AS
SELECT sha256, any_value(residence_country) AS residence, any_value(capture_country) AS capture,
       bool_or(list_contains(kept_metadata, 'gps')) AS kept_gps
FROM ground_truth WHERE sha256 IN (SELECT sha256 FROM images) AND residence_country IS NOT NULL GROUP BY sha256
"""


def _answer_rows(store: Store, n: int, propagated: bool) -> list[dict[str, Any]]:
    """Per tier (cumulative), the capture answer against the capture country and the residence answer against the
    residence country (group ``answer``). The two answers exist with propagation only: ``propagated=False`` and a
    store audited before they existed give no rows."""
    if not propagated or not {"capture_tier", "residence_tier"} <= store.columns.get("attributions", frozenset()):
        return []
    rows = []
    for answer, truth in (("capture", "capture"), ("residence", "residence")):
        for i, tier in enumerate(TIERS):
            allowed = ", ".join(f"'{t}'" for t in TIERS[: i + 1])
            attributed, ok = store.query(f"""
                SELECT count(*), count(*) FILTER (WHERE a.{answer}_country = t.{truth})
                FROM _truth t JOIN attributions a USING (sha256) WHERE a.{answer}_tier IN ({allowed})""")[0]
            rows.append({
                "group": "answer", "name": f"{answer} {tier} or better" if i else f"{answer} {tier}",
                "answer": answer, "coverage": Rate(int(attributed), n).as_dict(),
                f"precision_{truth}": Rate(int(ok), int(attributed)).as_dict(),
                f"recall_{truth}": Rate(int(ok), n).as_dict(),
            })
    return rows


def evaluate(store: Store, *, propagated: bool = True) -> Evaluation:
    """Evaluate the store's attributions (and signals) against its ``ground_truth`` table."""
    con = store.con
    if not store.query("SELECT count(*) FROM ground_truth")[0][0]:
        raise ValueError("this store has no ground truth (only crawls of the built-in test web have one)")
    if not store.query("SELECT count(*) FROM attributions")[0][0]:
        raise ValueError("this store has no attributions yet: run `provaudit audit --db FILE` first")
    con.execute(TRUTH_SQL)
    n = int(store.query("SELECT count(*) FROM _truth")[0][0])
    ev = Evaluation(images=n)
    col, tier_col = ("country", "tier") if propagated else ("direct_country", "direct_tier")
    for i, tier in enumerate(TIERS):
        allowed = ", ".join(f"'{t}'" for t in TIERS[: i + 1])
        attributed, res_ok, cap_ok = store.query(f"""
            SELECT count(*), count(*) FILTER (WHERE a.{col} = t.residence), count(*) FILTER (WHERE a.{col} = t.capture)
            FROM _truth t JOIN attributions a USING (sha256) WHERE a.{tier_col} IN ({allowed})""")[0]
        ev.rows.append({
            "group": "tier", "name": f"{tier} or better" if i else tier,
            "coverage": Rate(int(attributed), n).as_dict(),
            "precision_residence": Rate(int(res_ok), int(attributed)).as_dict(),
            "recall_residence": Rate(int(res_ok), n).as_dict(),
            "precision_capture": Rate(int(cap_ok), int(attributed)).as_dict(),
            "recall_capture": Rate(int(cap_ok), n).as_dict(),
        })
    ev.rows += _answer_rows(store, n, propagated)
    via = "" if propagated else "AND s.via_sha256 IS NULL"
    families = "(VALUES " + ", ".join(f"('{k.name}', '{k.family}')" for k in KINDS_BY_NAME.values()) + ")"
    for group, kind, with_kind, res_ok, cap_ok, res_in, cap_in, either_ok in store.query(f"""
        WITH per AS (
            SELECT s.sha256, s.kind, s.country, sum(s.weight) AS w FROM signal_countries s
            WHERE s.sha256 IN (SELECT sha256 FROM _truth) {via} GROUP BY ALL
        ), fam AS (
            SELECT per.sha256, f.family, per.country, sum(per.w) AS w
            FROM per JOIN {families} f(kind, family) USING (kind) GROUP BY ALL
        ), top AS (
            SELECT 'kind' AS grp, sha256, kind AS name, arg_max(country, w) AS country, list(country) AS countries
            FROM per GROUP BY ALL
            UNION ALL
            SELECT 'family', sha256, family, arg_max(country, w), list(country) FROM fam GROUP BY ALL
        )
        SELECT top.grp, top.name, count(*), count(*) FILTER (WHERE top.country = t.residence),
               count(*) FILTER (WHERE top.country = t.capture),
               count(*) FILTER (WHERE list_contains(top.countries, t.residence)),
               count(*) FILTER (WHERE list_contains(top.countries, t.capture)),
               count(*) FILTER (WHERE top.country = t.residence OR top.country = t.capture)
        FROM top JOIN _truth t USING (sha256) GROUP BY 1, 2 ORDER BY 1 DESC, 3 DESC"""):
        rates = {
            "coverage": Rate(int(with_kind), n).as_dict(),
            "precision_residence": Rate(int(res_ok), int(with_kind)).as_dict(),
            "recall_residence": Rate(int(res_ok), n).as_dict(),
            "precision_capture": Rate(int(cap_ok), int(with_kind)).as_dict(),
            "recall_capture": Rate(int(cap_ok), n).as_dict(),
            "precision_capture_or_residence": Rate(int(either_ok), int(with_kind)).as_dict(),
        }
        if group == "family":
            ev.rows.append({"group": "family", "name": kind, **rates})
            continue
        declared = KINDS_BY_NAME.get(kind)  # a foreign or hand-edited store may hold other kinds: shown as they are
        ev.rows.append({
            "group": "kind", "name": kind,
            "family": str(declared.family) if declared else None, "says": str(declared.says) if declared else None,
            **rates,
            # for kinds whose values fit several countries, whether the truth is among them
            "contains_residence": Rate(int(res_in), int(with_kind)).as_dict(),
            "contains_capture": Rate(int(cap_in), int(with_kind)).as_dict(),
        })
    gps_n, gps_ok = store.query("""
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM signals s WHERE s.sha256 = t.sha256 AND s.kind = ? AND s.via_sha256 IS NULL
            AND s.country = t.capture))
        FROM _truth t WHERE kept_gps""", [signal_kind("exif_gps").name])[0]
    ev.gps_images, ev.gps_right = int(gps_n), int(gps_ok)
    ev.place_cases = place_cases(store)
    ev.detection = evaluate_detection(store)
    return ev


PLACE_CASES_SQL = """
WITH truth AS (
    SELECT sha256, any_value(coalesce(caption_case, 'ordinary')) AS name, any_value(caption_country) AS named,
           any_value(capture_country) AS capture, any_value(residence_country) AS residence
    FROM ground_truth WHERE sha256 IN (SELECT sha256 FROM images) AND residence_country IS NOT NULL GROUP BY sha256
), sig AS (
    SELECT s.sha256, s.country, s.strength FROM signal_countries s
    WHERE s.kind = 'place_in_text' AND s.via_sha256 IS NULL AND s.detail->>'where' IN ('alt', 'caption')
), per AS (
    SELECT t.sha256, t.name, t.named IS NULL AS names_none, count(g.sha256) > 0 AS fired,
           bool_or(g.strength <> 'weak') AS above_weak,
           count(g.sha256) FILTER (WHERE g.country = t.named) > 0 AS right_place,
           count(g.sha256) FILTER (WHERE g.country IS DISTINCT FROM t.named) > 0 AS wrong_place,
           count(g.sha256) FILTER (WHERE g.country NOT IN (t.capture, t.residence)) > 0 AS wrong_either
    FROM truth t LEFT JOIN sig g USING (sha256) GROUP BY ALL
)
SELECT name, any_value(names_none), count(*), count(*) FILTER (WHERE fired),
       count(*) FILTER (WHERE fired AND right_place AND NOT wrong_place),
       count(*) FILTER (WHERE fired AND NOT wrong_either), count(*) FILTER (WHERE above_weak)
FROM per GROUP BY name ORDER BY name
"""


def place_cases(store: Store) -> list[dict[str, Any]]:
    """How the places named in the test web's captions were read, per hard case of ``ground_truth.caption_case``
    (``ordinary`` for a caption naming the capture city): images, the share with a direct ``place_in_text`` signal
    from the alt text or caption, the share of those whose every such signal names the caption's place's country,
    the share naming only the capture or residence country, and the images with a signal above weak. A case naming no
    place (``names_place`` false: a stop-listed word, a brand, a person) should have no signal at all; a destination
    ("flight to Rome") none above weak. Empty for a store whose ground truth predates these columns."""
    rows = store.query(PLACE_CASES_SQL)
    if all(name == "ordinary" for name, *_ in rows):
        return []
    return [{"name": name, "names_place": not names_none, "images": int(n),
             "with_signal": Rate(int(fired), int(n)).as_dict(),
             "precision_named": Rate(int(right), int(fired)).as_dict(),
             "precision_capture_or_residence": Rate(int(either), int(fired)).as_dict(),
             "above_weak": int(above)}
            for name, names_none, n, fired, right, either, above in rows]
