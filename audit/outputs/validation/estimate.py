"""Estimates from a labelled sample, stored in the ``labels`` and ``validations`` tables.

For each question (``located``, ``resides``) and stratum, the labelled images answered ``yes`` or ``no`` are a
simple random sample of the stratum (``unknown`` answers are left out, and counted). In a tier's stratum the share
answered ``yes`` is that tier's precision for the country. In the ``not attributed`` stratum it is the share of the
stratum that is the country's all the same: times the stratum's size, the number of the country's images the
attribution missed (the stratified estimator of a total: each labelled image stands for ``stratum_size / labelled``
images). Intervals are 95%: exact (Clopper-Pearson) under 40 answers, Wilson from 40 (:func:`audit.stats.
proportion_interval`); the missed count's interval is the stratum proportion's interval times the stratum's size.
No finite-population correction is applied, so when a sample is a large share of its stratum the intervals are
conservative (wider than they need be)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from audit.outputs.validation.answer import NOT_ATTRIBUTED, QUESTIONS, STRATA, Answer, answer_for, stratum_sql
from audit.outputs.validation.labels import Label
from audit.stats import proportion_interval
from audit.store.db import Store

logger = logging.getLogger(__name__)


@dataclass
class Validation:
    validation_id: str
    country: str
    validated_at: dt.datetime
    answer: str
    labels: int  # rows read
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per (question, stratum), as in `validations`
    moved: int = 0  # labelled images whose stratum changed since the sample was drawn (the store was audited again)
    unknown_images: int = 0  # labelled images the store does not hold

    def row(self, question: str, stratum: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["question"] == question and r["stratum"] == stratum)

    def as_dict(self) -> dict[str, Any]:
        return {"validation_id": self.validation_id, "country": self.country,
                "validated_at": self.validated_at.isoformat(), "answer": self.answer, "labels": self.labels,
                "moved": self.moved, "unknown_images": self.unknown_images,
                "rows": [{k: v for k, v in r.items() if k != "validated_at"} for r in self.rows]}


def estimate_rows(labels: list[Label]) -> list[dict[str, Any]]:
    """One row per question and stratum with the stratum's size, answers, estimate and 95% interval, and for the
    ``not attributed`` stratum the missed images (see the module doc). A stratum nothing was labelled in has
    NULL figures (and its size only when some row gave it)."""
    sizes = {lab.stratum: lab.stratum_size for lab in labels}
    rows = []
    for q in QUESTIONS:
        for s in STRATA:
            answers = [getattr(lab, q) for lab in labels if lab.stratum == s]
            hits, nos, unknown = answers.count("yes"), answers.count("no"), answers.count("unknown")
            n = hits + nos
            size = sizes.get(s)
            row: dict[str, Any] = {"question": q, "stratum": s, "stratum_size": size, "labelled": n,
                                   "unknown": unknown, "hits": hits, "estimate": None, "low": None, "high": None,
                                   "method": None, "missed": None, "missed_low": None, "missed_high": None}
            if n:
                low, high, method = proportion_interval(hits, n)
                row.update(estimate=hits / n, low=low, high=high, method=method)
                if s == NOT_ATTRIBUTED and size is not None:
                    row.update(missed=hits / n * size, missed_low=low * size, missed_high=high * size)
            rows.append(row)
    return rows


def validate(store: Store, labels: list[Label], *, source: str, answer: Answer | None = None) -> Validation:
    """Store ``labels`` (replacing earlier labels of the same ``sample_id``) and the estimates
    (:func:`estimate_rows`) as one new run in ``validations``, in one transaction. ``source``: the labels file's
    name, recorded with each label's line."""
    if not labels:
        raise ValueError("no labels to validate")
    cc = labels[0].country
    answer = answer or answer_for(cc)
    now = dt.datetime.now(dt.UTC)
    digest = hashlib.sha256()
    for lab in labels:
        digest.update(f"{lab.sample_id}\t{lab.sha256}\t{lab.located}\t{lab.resides}\n".encode())
    digest.update(f"{cc}\t{now.isoformat()}".encode())
    result = Validation(validation_id=digest.hexdigest()[:16], country=cc, validated_at=now, answer=answer.name,
                        labels=len(labels))
    result.rows = estimate_rows(labels)
    shas = [lab.sha256 for lab in labels]
    current = dict(store.query(f"""SELECT sha256, {stratum_sql(answer, '$2')} FROM attributions
                                   WHERE sha256 IN (SELECT unnest($1))""", [shas, cc]))
    result.unknown_images = sum(1 for s in shas if s not in current)
    result.moved = sum(1 for lab in labels if lab.sha256 in current and current[lab.sha256] != lab.stratum)
    if result.unknown_images:
        logger.warning("%d labelled image(s) are not in this store: is it the store the sample was drawn from?",
                       result.unknown_images)
    if result.moved:
        logger.warning("%d labelled image(s) changed stratum since the sample was drawn (the store was audited "
                       "again): the estimates describe the attribution the sample was drawn from", result.moved)
    label_rows = [{"sample_id": lab.sample_id, "sha256": lab.sha256, "country": lab.country, "seed": lab.seed,
                   "stratum": lab.stratum, "stratum_size": lab.stratum_size, "located": lab.located,
                   "resides": lab.resides, "source": f"{source}:{lab.line}", "labelled_at": now} for lab in labels]
    validation_rows = [{"validation_id": result.validation_id, "country": cc, "validated_at": now,
                        "answer": answer.name, **r} for r in result.rows]
    with store.transaction():
        store.con.execute("DELETE FROM labels WHERE sample_id IN (SELECT unnest($1))",
                          [[lab.sample_id for lab in labels]])
        store.insert("labels", label_rows)
        store.insert("validations", validation_rows)
    logger.info("validation %s of %s: %d labels", result.validation_id, cc, len(labels))
    return result


def latest_validation(store: Store, country: str) -> dict[str, Any] | None:
    """The latest validation of ``country`` in the store as a JSON-safe dict (``rows``: one per question and
    stratum), or None when it has none (or is a store from before validations existed, opened read-only)."""
    if "validations" not in store.columns:
        return None
    rows = store.query("""
        SELECT validation_id, validated_at, answer FROM validations WHERE country = $1
        ORDER BY validated_at DESC, validation_id DESC LIMIT 1""", [country])
    if not rows:
        return None
    vid, at, answer = rows[0]
    cols = ("question", "stratum", "stratum_size", "labelled", "unknown", "hits", "estimate", "low", "high",
            "method", "missed", "missed_low", "missed_high")
    figures = [dict(zip(cols, r, strict=True)) for r in store.query(
        f"SELECT {', '.join(cols)} FROM validations WHERE validation_id = $1", [vid])]
    for r in figures:
        for k in ("estimate", "low", "high", "missed", "missed_low", "missed_high"):
            if r[k] is not None:
                r[k] = round(float(r[k]), 4)
    order = {(q, s): i for i, (q, s) in enumerate((q, s) for q in QUESTIONS for s in STRATA)}
    figures.sort(key=lambda r: order.get((r["question"], r["stratum"]), len(order)))
    sample = sum(r["labelled"] + r["unknown"] for r in figures if r["question"] == QUESTIONS[0])
    return {"validation_id": vid, "validated_at": at.isoformat() if hasattr(at, "isoformat") else str(at),
            "answer": answer, "sample": sample, "rows": figures}
