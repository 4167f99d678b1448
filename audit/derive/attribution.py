"""Combine an image's signals into one country attribution, with a score, a tier and an explanation.

The rule, in full (also in docs/attribution.md):

1. Each signal contributes ``BASE[strength] × weight`` to its country (``weight`` is 1/n for a value that fits n
   countries), times 0.7 for GPS within a few km of a border, times 0.8 for a signal carried over from a
   near-duplicate copy.
2. Per country and signal kind only the largest contribution counts: fifty pages of one site saying ``.fr`` are one
   piece of evidence, not fifty (``geo.position`` and ``ICBM``, written together by one plugin, count as one kind:
   ``SignalKind.evidence_key``).
3. A country's support is the noisy-OR of its kinds' contributions: ``p = 1 - Π(1 - c)``.
4. Only a country named by *specific* evidence (``weight`` 1) can be the answer. Evidence spread over several
   countries (a bare ``en``, a UTC offset) adds to the support of the countries it fits, but never picks one by
   itself: with no specific evidence the image has no country (tier ``none``, "only evidence spread over N
   countries"). The answer is the best supported named country; a tie for first place between named countries is
   no country (tier ``none``, the explanation names the tie), never the alphabetically first.
5. Its score is ``p_best × p_best / Σ p`` over every supported country: full support with no rival gives a score
   near ``p_best``, a rival of equal support halves it. Conflicting signals (a French resident's photo with GPS in
   Spain) thus lower the score, and so does spread evidence that mostly fits other countries (a French-language
   page in Belgium scores lower than the Belgian domain alone).
6. Tier: ``strong`` when the score is at least 0.75 and the country is backed by a strong signal or by two
   independent families of medium ones (e.g. the image's metadata and its page; ``SignalKind.family``); ``medium``
   from 0.45; ``weak`` for any other support. Spread evidence never lowers a tier: when rules 1-6 applied to the
   specific evidence alone give an answer with a better tier than all the evidence gives, that answer and tier are
   kept (the explanation says so; the score stays that of all the evidence). ``none`` without signals, with spread
   evidence only, or for a tie.

Every kind must be declared in :mod:`audit.signals.kinds`: evidence of any other kind raises ``ValueError``.

Two answers (:func:`attribute_answers`): the same rule run on the evidence of the kinds that speak for where the photo
was taken (``capture``) and on those that speak for where the person probably lives (``residence``: publisher and
audience kinds, plus hosting kinds capped at ``weak``), as declared in the registry (``SignalKind.answer``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from audit.signals.kinds import Answer, signal_kind

BASE = {"strong": 0.9, "medium": 0.5, "weak": 0.15}
BORDER_KM = 5.0
BORDER_FACTOR = 0.7
PROPAGATED_FACTOR = 0.8
STRONG_SCORE = 0.75
MEDIUM_SCORE = 0.45
# Hosting evidence (a server's address, an image host's ccTLD) counts toward residence, at most as weak evidence: a
# host in a country hints at a local publisher, but CDNs and clouds serve every country from a few.
HOSTING_STRENGTH = "weak"
# Which kinds count as one piece of evidence (rule 2: ``SignalKind.evidence_key``, e.g. ICBM with geo.position, which
# one plugin writes together) and which kinds share a family (rule 5: ``SignalKind.family``, e.g. EXIF, IPTC, XMP and
# C2PA locations of one image) is declared in audit.signals.kinds, the registry of kinds.


@dataclass(frozen=True, slots=True)
class Evidence:
    """The part of a stored signal that the attribution reads."""

    kind: str
    country: str
    strength: str
    weight: float = 1.0
    border_km: float | None = None
    propagated: bool = False


@dataclass(frozen=True, slots=True)
class Attribution:
    country: str | None
    score: float
    tier: str
    runner_up: str | None = None
    runner_up_score: float | None = None
    kinds: tuple[str, ...] = ()
    propagated: bool = False
    explanation: str = "no signal"
    support: dict[str, float] = field(default_factory=dict)


NONE = Attribution(country=None, score=0.0, tier="none")


def contribution(ev: Evidence) -> float:
    c = BASE.get(ev.strength, 0.0) * max(0.0, min(1.0, ev.weight))
    if ev.border_km is not None and ev.border_km < BORDER_KM:
        c *= BORDER_FACTOR
    if ev.propagated:
        c *= PROPAGATED_FACTOR
    return c


def _rank(ev: Evidence) -> tuple[bool, int, str]:
    """Tie-break between two pieces of evidence with equal contributions, so that the result does not depend on the
    order they come in: the image's own before a copy's, the stronger before the weaker."""
    return (ev.propagated, _STRENGTH_ORDER.get(ev.strength, 3), ev.kind)


_STRENGTH_ORDER = {"strong": 0, "medium": 1, "weak": 2}


_TIER_ORDER = {"strong": 0, "medium": 1, "weak": 2, "none": 3}

# Kinds kept per country: {country: {evidence key: (contribution, evidence)}}.
_Kept = dict[str, dict[str, tuple[float, Evidence]]]


def is_specific(ev: Evidence) -> bool:
    """Whether ``ev`` names one country (``weight`` 1) rather than spreading over several (a bare language, a UTC
    offset: ``weight`` 1/n)."""
    return ev.weight >= 1.0


def _keep(kept: _Kept, key: str, ev: Evidence, c: float) -> None:
    current = kept[ev.country].get(key)
    if current is None or c > current[0] or (c == current[0] and _rank(ev) < _rank(current[1])):
        kept[ev.country][key] = (c, ev)


def _support(kept: _Kept) -> dict[str, float]:
    """Rule 3: each country's noisy-OR of its kinds' contributions."""
    support: dict[str, float] = {}
    for country, kinds in kept.items():
        miss = 1.0
        for c in sorted(c for c, _ in kinds.values()):  # a fixed order: the same float result every time
            miss *= 1.0 - c
        support[country] = 1.0 - miss
    return support


def _total(support: dict[str, float]) -> float:
    """``Σ p`` in a fixed order (best first), so that the float does not depend on the order evidence came in."""
    return sum(p for _, p in sorted(support.items(), key=lambda kv: (-kv[1], kv[0])))


def _tied(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _tier(score: float, kinds: dict[str, tuple[float, Evidence]]) -> str:
    """Rule 6: the tier a score earns with the evidence backing the country."""
    strong_backing = any(ev.strength == "strong" for _, ev in kinds.values())
    medium_families = {signal_kind(k).family for k, (_, ev) in kinds.items() if ev.strength in ("strong", "medium")}
    if score >= STRONG_SCORE and (strong_backing or len(medium_families) >= 2):
        return "strong"
    if score >= MEDIUM_SCORE:
        return "medium"
    return "weak"


def _detail(kinds: dict[str, tuple[float, Evidence]]) -> str:
    return ", ".join(f"{k} {c:.2f}" for k, (c, _) in sorted(kinds.items(), key=lambda kv: (-kv[1][0], kv[0])))


def _specific_answer(specific: _Kept) -> tuple[str | None, str]:
    """The country and tier the specific evidence alone earns (rules 1-6 on it), or ``(None, "none")`` for a tie."""
    support = _support(specific)
    ranked = sorted(support.items(), key=lambda kv: (-kv[1], kv[0]))
    country, p = ranked[0]
    if len(ranked) > 1 and _tied(ranked[1][1], p):
        return None, "none"
    return country, _tier(p * p / _total(support), specific[country])


def attribute(evidence: Iterable[Evidence]) -> Attribution:
    """The attribution of one image from all its evidence (its own and, if given, its copies'). The result depends
    on the set of evidence only: neither its order nor repeats of one piece change it. Only a country named by
    specific evidence (``weight`` 1) can be the answer: evidence spread over several countries alone gives no country,
    a tie for first place gives no country, and spread evidence never lowers the tier the specific evidence earns
    alone. Evidence of a kind not declared in :mod:`audit.signals.kinds` raises ``ValueError``."""
    kept: _Kept = defaultdict(dict)
    specific: _Kept = defaultdict(dict)
    for ev in evidence:
        key = signal_kind(ev.kind).evidence_key  # ValueError for an unregistered kind
        if not ev.country:
            continue
        c = contribution(ev)
        if c <= 0:
            continue
        _keep(kept, key, ev, c)
        if is_specific(ev):
            _keep(specific, key, ev, c)
    if not kept:
        return NONE
    support = _support(kept)
    rounded = {k: round(v, 4) for k, v in support.items()}
    if not specific:
        spread = ", ".join(sorted({k for kinds in kept.values() for k in kinds}))
        return Attribution(country=None, score=0.0, tier="none", support=rounded,
                           explanation=f"only evidence spread over {len(support)} countries ({spread}): "
                                       "no country named → none")
    ranked = sorted(((c, p) for c, p in support.items() if c in specific), key=lambda kv: (-kv[1], kv[0]))
    others = len(support) - len(ranked)
    rest = f" + {others} {'country' if others == 1 else 'countries'} of spread evidence only" if others else ""
    total = _total(support)
    country, p_best = ranked[0]
    tie = len(ranked) > 1 and _tied(ranked[1][1], p_best)
    score = p_best * p_best / total if total > 0 else 0.0
    tier = "none" if tie else _tier(score, kept[country])
    kept_tier = ""
    alone, alone_tier = _specific_answer(specific)
    if alone is not None and _TIER_ORDER[alone_tier] < _TIER_ORDER[tier]:
        # spread evidence never lowers (nor takes away) what the specific evidence alone earns
        country, p_best, tie = alone, support[alone], False
        score = p_best * p_best / total
        tier, kept_tier = alone_tier, f" (the tier of the specific evidence alone: {alone_tier})"
    if tie:
        tied = sorted(c for c, p in ranked if _tied(p, p_best))
        named = [f"{c} {p:.2f} ({_detail(kept[c])})" for c, p in ranked[:4]]
        return Attribution(country=None, score=0.0, tier="none", support=rounded,
                           explanation=f"{' vs '.join(named)}{rest}; tie for first place between "
                                       f"{', '.join(tied)} → none")
    kinds = kept[country]
    propagated = all(ev.propagated for _, ev in kinds.values())
    rivals = [(c, p) for c, p in ranked if c != country][:3]
    named = [f"{c} {p:.2f} ({_detail(kept[c])})" for c, p in [(country, p_best), *rivals]]
    explanation = (f"{' vs '.join(named)}{rest}; score {p_best:.2f}×{p_best:.2f}/{total:.2f} = {score:.2f} → {tier}"
                   + kept_tier + (" (only via near-duplicates)" if propagated else ""))
    return Attribution(
        country=country, score=round(score, 4), tier=tier,
        runner_up=rivals[0][0] if rivals else None,
        runner_up_score=round(rivals[0][1], 4) if rivals else None,
        kinds=tuple(sorted(kinds)), propagated=propagated, explanation=explanation, support=rounded,
    )


@dataclass(frozen=True, slots=True)
class Answers:
    """The three answers for one image: all the evidence (``combined``, the ``country``/``score``/``tier`` columns),
    where the photo was taken (``capture``) and where the person probably lives (``residence``)."""

    combined: Attribution
    capture: Attribution
    residence: Attribution


def answer_evidence(evidence: Iterable[Evidence], answer: Answer | str) -> list[Evidence]:
    """The evidence that counts toward ``answer``: for ``capture``, the kinds that speak for the capture place; for
    ``residence``, the publisher and audience kinds plus the hosting kinds with their strength capped at
    :data:`HOSTING_STRENGTH`. ``ValueError`` for an unregistered kind or for ``hosting``, which is no answer."""
    wanted = Answer(answer)
    if wanted == Answer.HOSTING:
        raise ValueError("hosting is no answer of its own: it counts toward residence")
    out: list[Evidence] = []
    for ev in evidence:
        own = signal_kind(ev.kind).answer
        if own == wanted:
            out.append(ev)
        elif wanted == Answer.RESIDENCE and own == Answer.HOSTING:
            capped = ev.strength if _STRENGTH_ORDER.get(ev.strength, 3) >= _STRENGTH_ORDER[HOSTING_STRENGTH] \
                else HOSTING_STRENGTH
            out.append(replace(ev, strength=capped))
    return out


def attribute_answers(evidence: Iterable[Evidence]) -> Answers:
    """:func:`attribute` on all of ``evidence``, on its capture evidence only and on its residence evidence only
    (:func:`answer_evidence`); each answer follows rules 1-6 and depends on the set of evidence only."""
    every = list(evidence)
    return Answers(combined=attribute(every), capture=attribute(answer_evidence(every, Answer.CAPTURE)),
                   residence=attribute(answer_evidence(every, Answer.RESIDENCE)))
