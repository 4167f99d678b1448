"""The report's section on the attribution's two answers: where the photos were taken (capture) and where their
subjects probably live (residence), and which of them the country's deletion order asks for
(:data:`audit.outputs.policies.ORDERS`): *located* counts an image when either answer names the country,
*residence* only when the residence answer does.

:func:`answer_figures` computes the JSON-safe figures (``report.json``'s ``answers``), :func:`answers_html` renders
them; every figure is over images, with near-duplicate propagation, like the attribution's ``country``/``tier``.
"""

from __future__ import annotations

from typing import Any

from audit.outputs.policies import BASIS_ANSWERS, LEVELS, LOCATED, TIER_RANK, basis_for, located_where, order_for
from audit.stats import Rate
from audit.store.db import Store
from audit.textsafe import html_text as esc

ANSWERS = ("capture", "residence")
TRUTH_SQL = """SELECT sha256, any_value(capture_country) AS capture, any_value(residence_country) AS residence
    FROM ground_truth WHERE sha256 IN (SELECT sha256 FROM attributions) AND residence_country IS NOT NULL
    GROUP BY sha256"""  # graphics (no subject, no country in the truth) are neither right nor wrong


def _rate(hits: Any, n: Any) -> dict[str, Any]:
    return Rate(int(hits or 0), int(n or 0)).as_dict()


def _at_level(answers: tuple[str, ...], tiers: tuple[str, ...]) -> str:
    """SQL condition: the best tier among ``answers`` that name ``$1`` is one of ``tiers`` (a level of
    :data:`LEVELS`: one tier, or a tier and every better one). An image whose capture answer is strong and residence
    answer weak counts once, as strong."""
    low, high = min(TIER_RANK[t] for t in tiers), max(TIER_RANK[t] for t in tiers)
    at_least = tuple(t for t, r in TIER_RANK.items() if r >= low)
    better = tuple(t for t, r in TIER_RANK.items() if r > high)
    cond = located_where(answers, at_least)
    return f"({cond} AND NOT {located_where(answers, better)})" if better else cond


def answer_figures(store: Store, cc: str, truth: bool) -> dict[str, Any]:
    """Per tier level: images whose capture answer names ``cc``, whose residence answer does, and that count for
    ``cc`` under its order's basis (at the best tier of the answers that name it); with ground truth, the precision
    of each against the truth of the same question (capture country, residence country; for the order: either, when
    located). ``available`` is false for a store audited before the attribution had two answers."""
    order = order_for(cc)
    basis = basis_for(cc)
    out: dict[str, Any] = {
        "order": None if order is None else {"authority": order.authority, "wording": order.wording,
                                             "meaning": order.meaning, "basis": order.basis},
        "basis": basis, "answers_used": list(BASIS_ANSWERS[basis]), "rows": [],
        "available": {f"{a}_country" for a in ANSWERS} <= store.columns.get("attributions", frozenset()),
    }
    if not out["available"]:
        return out
    n_img = int(store.query("SELECT count(*) FROM attributions")[0][0])
    truth_join = f"LEFT JOIN ({TRUTH_SQL}) t USING (sha256)" if truth else ""
    order_truth = ("(t.capture = $1 OR t.residence = $1)" if basis == LOCATED else "t.residence = $1") if truth \
        else "false"
    for level, tiers in LEVELS:
        conds = {a: _at_level((a,), tiers) for a in ANSWERS}
        conds["order"] = _at_level(BASIS_ANSWERS[basis], tiers)
        right = {"capture": "t.capture = $1", "residence": "t.residence = $1", "order": order_truth} if truth \
            else dict.fromkeys(conds, "false")
        known = "t.sha256 IS NOT NULL" if truth else "false"
        select = ", ".join(f"count(*) FILTER (WHERE {c}), count(*) FILTER (WHERE {c} AND {known}), "
                           f"count(*) FILTER (WHERE {c} AND {right[k]})" for k, c in conds.items())
        values = store.query(f"SELECT {select} FROM attributions a {truth_join}", [cc])[0]
        row: dict[str, Any] = {"level": level}
        for i, key in enumerate(conds):
            n, judged, ok = values[3 * i], values[3 * i + 1], values[3 * i + 2]
            row[key] = {"images": _rate(n, n_img), "precision": _rate(ok, judged) if truth else None}
        out["rows"].append(row)
    return out


def _pct(r: dict[str, Any] | None) -> str:
    if not r:
        return "—"
    if not r["n"]:
        return '<span class="muted">0/0</span>'
    return (f'{100 * r["value"]:.1f}% <span class="muted">({r["hits"]:,}/{r["n"]:,}) '
            f'[{100 * r["low"]:.1f}–{100 * r["high"]:.1f}]</span>')


def answers_html(d: dict[str, Any]) -> str:
    """The section's HTML from the report's figures (``d["answers"]``); every string escaped."""
    a = d["answers"]
    cc = esc(d["country"])
    order = a["order"]
    if order is None:
        said = (f"<p>No deletion order for {cc} is declared (<code>audit.outputs.policies.ORDERS</code>): the "
                f"figures below count by the residence answer, the narrower reading.</p>")
    else:
        reading = ("an image counts when its capture answer <em>or</em> its residence answer names the country"
                   if order["basis"] == LOCATED else "an image counts when its residence answer names the country")
        said = (f'<p id="order-basis">The order of the {esc(order["authority"])} covers «{esc(order["wording"])}» '
                f'({esc(order["meaning"])}): it uses the <b>{esc(order["basis"])}</b> answer; {reading}.</p>')
    if not a["available"]:
        return said + ('<p class="muted">This store was audited before the attribution gave two answers: run '
                       "<code>provaudit audit</code> again to see them.</p>")
    truth = d["ground_truth"]
    head = ["level", "capture answer names " + d["country"], "residence answer names " + d["country"],
            f"counts under the order ({a['basis']})"]
    if truth:
        head += ["precision: capture", "precision: residence", "precision: order"]
    body = []
    for r in a["rows"]:
        line = [esc(r["level"]), _pct(r["capture"]["images"]), _pct(r["residence"]["images"]),
                _pct(r["order"]["images"])]
        if truth:
            line += [_pct(r["capture"]["precision"]), _pct(r["residence"]["precision"]),
                     _pct(r["order"]["precision"])]
        body.append(line)
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in line) + "</tr>" for line in body)
    note = ('<p class="muted">Capture answer: the attribution rule on the signals of where the photo was taken (GPS, '
            "IPTC/XMP/C2PA location, places named in text, UTC offset). Residence answer: the same rule on the "
            "publisher's and audience's signals (domain, address, phone, languages), hosting counted as weak. Shares "
            "of all images, with near-duplicate propagation; cumulative levels as above."
            + (" Precision: against the test web's capture country, residence country, and for the order either "
               "one (located) or the residence." if truth else "") + "</p>")
    return f'{said}<table id="answers-table"><thead><tr>{h}</tr></thead><tbody>{rows}</tbody></table>{note}'
