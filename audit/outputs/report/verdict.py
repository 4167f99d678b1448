"""The report's verdict: a short summary written from the figures, first in the report, that a lawyer can quote.

It says the claim (:func:`audit.outputs.policies.claim_for`), the legal test of the country's order (its authority,
decision, wording and basis: *located* or *residence*), the share of images carrying the country's evidence at each
tier under that basis (with near-duplicate propagation, 95% Wilson intervals), of all images and of images showing
people when face detection ran, the precision validated on a labelled sample (``provaudit validate``; the report's
validation section) or plainly that it is unvalidated, and one sentence on how far the claim holds.

The sentence's figure is the images the order's answers put in the country at a strong or medium tier (the best tier
of the answers the order reads, as :mod:`audit.outputs.report.answers` counts them and as a validation sample is
stratified): the headline's "strong or medium, with near-duplicate propagation" read under the order's test. A store
audited before the attribution had two answers falls back to the headline's own figure, and says so.
"""

from __future__ import annotations

from typing import Any

from audit.outputs.people import People
from audit.outputs.policies import BASIS_ANSWERS, LEVELS, LOCATED, TIER_RANK, basis_for, located_where, order_for
from audit.stats import Rate
from audit.store.db import Store
from audit.textsafe import html_text as esc

#: the level the verdict's sentence counts
VERDICT_LEVEL = "strong or medium"


def country_name(cc: str) -> str:
    """The English name of ``cc`` (CLDR, through babel), or the code itself."""
    try:
        from babel import Locale

        name = Locale("en").territories.get(cc)
    except Exception:  # noqa: BLE001 - a name is a nicety: the code stands in
        name = None
    return str(name) if name else cc


def _at_level(answers: tuple[str, ...], tiers: tuple[str, ...]) -> str:
    """SQL: the best tier at which one of ``answers`` names ``$1`` is one of ``tiers`` (a level of :data:`LEVELS`)."""
    low, high = min(TIER_RANK[t] for t in tiers), max(TIER_RANK[t] for t in tiers)
    at_least = tuple(t for t, r in TIER_RANK.items() if r >= low)
    better = tuple(t for t, r in TIER_RANK.items() if r > high)
    cond = located_where(answers, at_least)
    return f"({cond} AND NOT {located_where(answers, better)})" if better else cond


def order_levels(store: Store, cc: str, people: People | None = None) -> dict[str, Any] | None:
    """Images (of images showing people only, with ``people``) at each level under the basis of ``cc``'s order, with
    near-duplicate propagation; None for a store audited before the attribution had two answers."""
    cols = store.columns.get("attributions", frozenset())
    if not {"capture_country", "residence_country", "capture_tier", "residence_tier"} <= cols:
        return None
    answers = BASIS_ANSWERS[basis_for(cc)]
    scope = f"WHERE a.{people.where()}" if people is not None else ""
    filters = ", ".join(f"count(*) FILTER (WHERE {_at_level(answers, tiers)})" for _, tiers in LEVELS)
    n, *hits = store.query(f"SELECT count(*), {filters} FROM attributions a {scope}", [cc])[0]
    return {"images": int(n), "rows": [{"level": level, "images": Rate(int(h), int(n)).as_dict()}
                                       for (level, _), h in zip(LEVELS, hits, strict=True)]}


def _headline_levels(data: dict[str, Any], key: str = "headline") -> dict[str, Any] | None:
    h = data.get(key) if key == "headline" else (data.get("people") or {}).get("headline")
    if not h:
        return None
    return {"images": h["images"], "rows": [{"level": r["level"], "images": r["propagated"]["images"]}
                                            for r in h["rows"] if r["level"] in dict(LEVELS)]}


def validated_precision(validation: dict[str, Any] | None, basis: str) -> dict[str, Any]:
    """The precision of the strong-or-medium images from the latest validation (``latest_validation``): per tier
    stratum, and for both together weighted by the strata's sizes (each stratum's interval 95%, exact under 40
    answers, else Wilson; the combined interval weights their bounds, so it is wider than a joint 95% interval
    would be). ``status``: ``validated`` (every non-empty stratum of the level has answers), ``partial`` or
    ``unvalidated``."""
    question = "located" if basis == LOCATED else "resides"
    out: dict[str, Any] = {"status": "unvalidated", "question": question, "estimate": None, "low": None,
                           "high": None, "labelled": 0, "tiers": [], "validation_id": None, "validated_at": None}
    if not validation:
        return out
    out.update(validation_id=validation.get("validation_id"), validated_at=validation.get("validated_at"))
    rows = [r for r in validation["rows"] if r["question"] == question and r["stratum"] in ("strong", "medium")]
    tiers = [{"tier": r["stratum"], "size": int(r["stratum_size"] or 0), "labelled": int(r["labelled"] or 0),
              "estimate": r["estimate"], "low": r["low"], "high": r["high"]} for r in rows]
    out["tiers"] = tiers
    filled = [t for t in tiers if t["size"] and t["estimate"] is not None]
    missing = [t for t in tiers if t["size"] and t["estimate"] is None]
    if not filled:
        return out
    size = sum(t["size"] for t in filled)
    out.update(status="partial" if missing else "validated", labelled=sum(t["labelled"] for t in filled),
               estimate=round(sum(t["size"] * t["estimate"] for t in filled) / size, 4),
               low=round(sum(t["size"] * t["low"] for t in filled) / size, 4),
               high=round(sum(t["size"] * t["high"] for t in filled) / size, 4))
    return out


def _pct(r: dict[str, Any]) -> str:
    return f"{100 * r['value']:.1f}% [{100 * r['low']:.1f}–{100 * r['high']:.1f}]"


def sentence(v: dict[str, Any]) -> str:
    """The quotable sentence, as plain text (escape it for HTML)."""
    name, n, m = v["country_name"], v["contradicted"], v["images"]
    test = (f"the {v['order']['short']}'s test ({v['basis']})" if v["order"]
            else f"the {v['basis']} test (no deletion order for {v['country']} is declared)")
    p = v["precision"]
    if p["status"] == "unvalidated" or p["estimate"] is None:
        precision = "precision not yet validated"
    else:
        precision = (f"precision {p['estimate']:.2f} [{p['low']:.2f}–{p['high']:.2f}]"
                     + (" (only some tiers validated)" if p["status"] == "partial" else ""))
    if v["claim"]["kind"] == "question":
        if not n:
            return (f"The data give no such images: none of the {m:,} distinct images collected carries strong or "
                    f"medium evidence of {name} under {test}.")
        return (f"Yes for at least {n:,} images: {_pct(v['share'])} of the {m:,} distinct images collected carry "
                f"strong or medium evidence of {name} under {test}, with {precision}.")
    if not n:
        return (f"The data give no contradiction of the claim: none of the {m:,} distinct images collected carries "
                f"strong or medium evidence of {name} under {test}.")
    return (f"The claim is contradicted for at least {n:,} images: {_pct(v['share'])} of the {m:,} distinct images "
            f"collected carry strong or medium evidence of {name} under {test}, with {precision}.")


def compute_verdict(store: Store, data: dict[str, Any], people: People) -> dict[str, Any]:
    """The verdict from the report's other figures (``data``: the dict :func:`figures.compute` builds, with
    ``claim``, ``headline``, ``people``, ``answers``, ``validation`` and ``ground_truth``)."""
    cc = data["country"]
    order = order_for(cc)
    basis = basis_for(cc)
    levels = order_levels(store, cc)
    fallback = levels is None
    if levels is None:
        levels = _headline_levels(data)
    assert levels is not None
    people_levels = None
    coverage = data["people"]["coverage"]
    if coverage["detected"]:
        people_levels = order_levels(store, cc, people) if not fallback else _headline_levels(data, "people")
    key = {r["level"]: r for r in levels["rows"]}[VERDICT_LEVEL]["images"]
    truth = None
    if data.get("ground_truth") and data["answers"].get("available"):
        truth = {r["level"]: r for r in data["answers"]["rows"]}[VERDICT_LEVEL]["order"]["precision"]
    v: dict[str, Any] = {
        "country": cc, "country_name": country_name(cc), "claim": data["claim"],
        "order": None if order is None else {
            "authority": order.authority, "short": order.name, "year": order.year, "decision": order.decision,
            "fine": order.fine, "wording": order.wording, "meaning": order.meaning, "basis": order.basis},
        "basis": basis, "answers_used": list(BASIS_ANSWERS[basis]),
        "figure": (f"{VERDICT_LEVEL}, with near-duplicate propagation, under the order's basis ({basis})"
                   if not fallback else f"{VERDICT_LEVEL}, with near-duplicate propagation (the attribution's "
                   "country: this store was audited before the attribution had two answers)"),
        "images": int(levels["images"]), "levels": levels["rows"],
        "people": None if people_levels is None else {
            "images": int(people_levels["images"]), "levels": people_levels["rows"],
            "min_face_height": people.min_face_height},
        "face_detection": bool(coverage["detected"]),
        "contradicted": int(key["hits"]), "share": key,
        "precision": validated_precision(data.get("validation"), basis),
        "truth_precision": truth,
    }
    v["sentence"] = sentence(v)
    return v


def verdict_html(d: dict[str, Any]) -> str:
    """The verdict section's HTML (``d["verdict"]``); every string escaped."""
    v = d["verdict"]
    name = esc(v["country_name"])
    claim = v["claim"]
    source = f' <span class="muted">— {esc(claim["source"])}</span>' if claim.get("source") else ""
    kind = claim.get("kind") or "given"
    if kind == "paraphrase":  # its text says "The claim tested: ..." itself, and the source says it paraphrases
        said = esc(claim["text"])
    elif kind == "question":
        said = f"<b>The question:</b> {esc(claim['text'])}"
    else:
        said = f"<b>The claim:</b> «{esc(claim['text'])}»"
    parts = [f'<p id="verdict-claim">{said}{source}</p>']
    o = v["order"]
    if o:
        reading = ("an image counts when the photo was taken in the country <em>or</em> its subject lives there"
                   if v["basis"] == LOCATED else "an image counts when its subject lives in the country")
        parts.append(f'<p id="verdict-order"><b>The legal test:</b> the {esc(o["authority"])} ({esc(o["year"])}; '
                     f'{esc(o["decision"])}; fine {esc(o["fine"])}) ordered the deletion of the data of '
                     f'«{esc(o["wording"])}» ({esc(o["meaning"])}): a <b>{esc(v["basis"])}</b> test — {reading}.</p>')
    else:
        parts.append(f'<p id="verdict-order"><b>The legal test:</b> no deletion order for {name} is declared '
                     f"(<code>audit.outputs.policies.ORDERS</code>): the figures use the narrower "
                     f"<b>{esc(v['basis'])}</b> reading.</p>")
    parts.append(f'<p class="key" id="verdict-sentence">{esc(v["sentence"])}</p>')
    head = ["level", f"all {v['images']:,} images"]
    people = v["people"]
    if people:
        head.append(f"{people['images']:,} images showing people (a face ≥ {people['min_face_height']} px)")
    by_level = {r["level"]: r for r in people["levels"]} if people else {}
    body = ""
    for r in v["levels"]:
        cells = [esc(r["level"]), esc(_pct_html(r["images"]))]
        if people:
            cells.append(esc(_pct_html(by_level[r["level"]]["images"])))
        body += "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
    parts.append('<table id="verdict-table"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in head)
                 + f"</tr></thead><tbody>{body}</tbody></table>")
    notes = [f"Images carrying evidence of {name}: {esc(v['figure'])}; 95% Wilson intervals in brackets."]
    if not v["face_detection"]:
        notes.append("Face detection has not run on this store: the shares count every image, whatever it shows.")
    p = v["precision"]
    if p["status"] == "unvalidated":
        notes.append("<b>Unvalidated</b>: no labelled sample of this store has been checked for "
                     f"{esc(v['country'])}; precision unknown (<code>provaudit sample</code>, then "
                     "<code>provaudit validate</code>).")
    else:
        tiers = "; ".join(f"{esc(t['tier'])}: " + (f"{t['estimate']:.2f} [{t['low']:.2f}–{t['high']:.2f}], "
                                                   f"n={t['labelled']}" if t["estimate"] is not None
                                                   else "not labelled") for t in p["tiers"] if t["size"])
        notes.append(f"Precision validated on a labelled sample (validation <code>{esc(p['validation_id'])}</code>, "
                     f"question: {esc(p['question'])}): {p['estimate']:.2f} [{p['low']:.2f}–{p['high']:.2f}] for "
                     f"strong and medium together, weighted by the tiers' sizes ({tiers})."
                     + (" Some tier with images has no labels: its precision is unknown." if p["status"] == "partial"
                        else ""))
    t = v.get("truth_precision")
    if t and t.get("n"):
        notes.append(f"Against the test web's ground truth, of those {t['n']:,} of these images that have one (photos "
                     f"of people; graphics have none), {esc(_pct_html(t))} are right.")
    parts.append(f'<p class="muted">{" ".join(notes)}</p>')
    return "".join(parts)


def _pct_html(r: dict[str, Any] | None) -> str:
    if not r or not r.get("n"):
        return "0/0"
    return f"{100 * r['value']:.1f}% ({r['hits']:,}/{r['n']:,}) [{100 * r['low']:.1f}–{100 * r['high']:.1f}]"
