"""Compare attributions and signals with the test web's ground truth: coverage, precision and recall per tier and
per signal kind, for the subject's residence country and for the capture country, with 95% Wilson intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.signals.kinds import KINDS_BY_NAME, signal_kind
from audit.stats import Rate
from audit.store.db import Store

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

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.images, "gps_images": self.gps_images, "gps_right_capture_country": self.gps_right,
                "rows": self.rows}


TRUTH_SQL = """
CREATE OR REPLACE TEMP TABLE _truth AS
SELECT sha256, any_value(residence_country) AS residence, any_value(capture_country) AS capture,
       bool_or(list_contains(kept_metadata, 'gps')) AS kept_gps
FROM ground_truth WHERE sha256 IN (SELECT sha256 FROM images) GROUP BY sha256
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
    for kind, with_kind, res_ok, cap_ok, res_in, cap_in in store.query(f"""
        WITH per AS (
            SELECT s.sha256, s.kind, s.country, sum(s.weight) AS w FROM signal_countries s
            WHERE s.sha256 IN (SELECT sha256 FROM _truth) {via} GROUP BY ALL
        ), top AS (
            SELECT sha256, kind, arg_max(country, w) AS country, list(country) AS countries FROM per GROUP BY ALL
        )
        SELECT top.kind, count(*), count(*) FILTER (WHERE top.country = t.residence),
               count(*) FILTER (WHERE top.country = t.capture),
               count(*) FILTER (WHERE list_contains(top.countries, t.residence)),
               count(*) FILTER (WHERE list_contains(top.countries, t.capture))
        FROM top JOIN _truth t USING (sha256) GROUP BY 1 ORDER BY 2 DESC"""):
        declared = KINDS_BY_NAME.get(kind)  # a foreign or hand-edited store may hold other kinds: shown as they are
        ev.rows.append({
            "group": "kind", "name": kind,
            "family": str(declared.family) if declared else None, "says": str(declared.says) if declared else None,
            "coverage": Rate(int(with_kind), n).as_dict(),
            "precision_residence": Rate(int(res_ok), int(with_kind)).as_dict(),
            "recall_residence": Rate(int(res_ok), n).as_dict(),
            "precision_capture": Rate(int(cap_ok), int(with_kind)).as_dict(),
            "recall_capture": Rate(int(cap_ok), n).as_dict(),
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
    return ev
