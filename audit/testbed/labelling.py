"""A labeller standing in for a person: fills a labelling sheet (``sample.csv``) from the test web's ground truth,
and computes the true values the validation estimates, from the truth of every image, so the two can be compared.

An image is *located* in the country when its ground truth's capture country or residence country is the country,
and its subject *resides* there when its residence country is; an image the ground truth does not know, or knows
as a graphic showing no one (no capture or residence country), is answered ``unknown``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from audit.outputs.validation.answer import NOT_ATTRIBUTED, QUESTIONS, STRATA, Answer, answer_for, stratum_sql
from audit.store.db import Store

# graphics (logos, icons, banners, maps, product shots) have no subject and no place in the truth: a person labelling
# one can only say "can't tell", so they are left out here and answered ``unknown``
TRUTH_SQL = """SELECT sha256, any_value(residence_country) AS residence, any_value(capture_country) AS capture
               FROM ground_truth WHERE sha256 IS NOT NULL
                    AND (residence_country IS NOT NULL OR capture_country IS NOT NULL) GROUP BY sha256"""


def truth_answers(residence: str | None, capture: str | None, country: str) -> dict[str, str]:
    """The answers a person who knew the truth would give for one image: ``located`` and ``resides``."""
    return {"located": "yes" if country in (residence, capture) else "no",
            "resides": "yes" if residence == country else "no"}


def label_from_truth(store: Store, sample_csv: Path, labels_csv: Path) -> int:
    """Write ``labels_csv``: the sheet ``sample_csv`` with its ``located`` and ``resides`` columns filled from the
    store's ground truth (every other cell as it was). Returns the rows answered from the truth."""
    with Path(sample_csv).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    shas = [r["sha256"] for r in rows]
    truth = {sha: (res, cap) for sha, res, cap in store.query(
        f"SELECT * FROM ({TRUTH_SQL}) WHERE sha256 IN (SELECT unnest($1))", [shas])}
    answered = 0
    with Path(labels_csv).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            if r["sha256"] in truth:
                r.update(truth_answers(*truth[r["sha256"]], r["country"]))
                answered += 1
            else:
                r.update({q: "unknown" for q in QUESTIONS})
            # cells as read (the sheet's writer guarded them), answers from the truth: plain words
            w.writerow([r.get(c, "") for c in columns])
    return answered


def true_values(store: Store, country: str, *, answer: Answer | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """What the validation estimates, from the truth of every image with one: per question and stratum, the
    stratum's size, its images of the country (``hits``), the share (a tier's true precision) and, for ``not
    attributed``, the number missed (``hits``)."""
    cc = country.strip().upper()
    answer = answer or answer_for(cc)
    rows = store.query(f"""
        WITH t AS ({TRUTH_SQL})
        SELECT {stratum_sql(answer)} AS stratum, count(*),
               count(*) FILTER (WHERE t.capture = $1 OR t.residence = $1),
               count(*) FILTER (WHERE t.residence = $1)
        FROM attributions a JOIN t USING (sha256) GROUP BY 1""", [cc])
    per = {s: (int(n), int(loc), int(res)) for s, n, loc, res in rows}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for qi, q in enumerate(QUESTIONS):
        out[q] = {}
        for s in STRATA:
            n, *hits = per.get(s, (0, 0, 0))
            h = hits[qi]
            out[q][s] = {"images": n, "hits": h, "share": h / n if n else None,
                         "missed": h if s == NOT_ATTRIBUTED else None}
    return out
