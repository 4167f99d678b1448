"""Combine an image's signals into one country attribution, with a score, a tier and an explanation.

The rule, in full (also in docs/attribution.md):

1. Each signal contributes ``BASE[strength] × weight`` to its country (``weight`` is 1/n for a value that fits n
   countries), times 0.7 for GPS within a few km of a border, times 0.8 for a signal carried over from a
   near-duplicate copy.
2. Per country and signal kind only the largest contribution counts: fifty pages of one site saying ``.fr`` are one
   piece of evidence, not fifty (``geo.position`` and ``ICBM``, written together by one plugin, count as one kind:
   ``SignalKind.evidence_key``).
3. A country's support is the noisy-OR of its kinds' contributions: ``p = 1 - Π(1 - c)``.
4. The attributed country is the best supported one; its score is ``p_best × p_best / Σ p``: full support with no
   rival gives a score near ``p_best``, a rival of equal support halves it. Conflicting signals (a French-language
   page in Belgium, a French resident's photo with GPS in Spain) thus lower the score.
5. Tier: ``strong`` when the score is at least 0.75 and the country is backed by a strong signal or by two
   independent families of medium ones (e.g. the image's metadata and its page; ``SignalKind.family``); ``medium``
   from 0.45; ``weak`` for any other support; ``none`` without signals.

Every kind must be declared in :mod:`audit.signals.kinds`: evidence of any other kind raises ``ValueError``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from audit.signals.kinds import signal_kind

BASE = {"strong": 0.9, "medium": 0.5, "weak": 0.15}
BORDER_KM = 5.0
BORDER_FACTOR = 0.7
PROPAGATED_FACTOR = 0.8
STRONG_SCORE = 0.75
MEDIUM_SCORE = 0.45
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


def attribute(evidence: Iterable[Evidence]) -> Attribution:
    """The attribution of one image from all its evidence (its own and, if given, its copies'). The result depends
    on the set of evidence only: neither its order nor repeats of one piece change it. Evidence of a kind not declared
    in :mod:`audit.signals.kinds` raises ``ValueError``."""
    best_per_kind: dict[str, dict[str, tuple[float, Evidence]]] = defaultdict(dict)
    for ev in evidence:
        kind = signal_kind(ev.kind).evidence_key  # ValueError for an unregistered kind
        if not ev.country:
            continue
        c = contribution(ev)
        if c <= 0:
            continue
        current = best_per_kind[ev.country].get(kind)
        if current is None or c > current[0] or (c == current[0] and _rank(ev) < _rank(current[1])):
            best_per_kind[ev.country][kind] = (c, ev)
    if not best_per_kind:
        return NONE
    support: dict[str, float] = {}
    for country, kinds in best_per_kind.items():
        miss = 1.0
        for c in sorted(c for c, _ in kinds.values()):  # a fixed order: the same float result every time
            miss *= 1.0 - c
        support[country] = 1.0 - miss
    ranked = sorted(support.items(), key=lambda kv: (-kv[1], kv[0]))
    country, p_best = ranked[0]
    total = sum(p for _, p in ranked)
    score = p_best * p_best / total if total > 0 else 0.0
    kinds = best_per_kind[country]
    strong_backing = any(ev.strength == "strong" for _, ev in kinds.values())
    medium_families = {signal_kind(k).family for k, (_, ev) in kinds.items() if ev.strength in ("strong", "medium")}
    if score >= STRONG_SCORE and (strong_backing or len(medium_families) >= 2):
        tier = "strong"
    elif score >= MEDIUM_SCORE:
        tier = "medium"
    else:
        tier = "weak"
    runner = ranked[1] if len(ranked) > 1 else None
    propagated = all(ev.propagated for _, ev in kinds.values())
    parts = []
    for c_name, p in ranked[:4]:
        detail = ", ".join(f"{k} {c:.2f}" for k, (c, _) in sorted(best_per_kind[c_name].items(),
                                                                  key=lambda kv: (-kv[1][0], kv[0])))
        parts.append(f"{c_name} {p:.2f} ({detail})")
    explanation = (f"{' vs '.join(parts)}; score {p_best:.2f}×{p_best:.2f}/{total:.2f} = {score:.2f} → {tier}"
                   + (" (only via near-duplicates)" if propagated else ""))
    return Attribution(
        country=country, score=round(score, 4), tier=tier,
        runner_up=runner[0] if runner else None, runner_up_score=round(runner[1], 4) if runner else None,
        kinds=tuple(sorted(kinds)), propagated=propagated, explanation=explanation,
        support={k: round(v, 4) for k, v in support.items()},
    )
