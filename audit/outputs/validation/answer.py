"""Which attribution answers a sample is drawn from and validated against, declared once.

The answers a country's deletion order counts (:data:`audit.outputs.policies.ORDERS`): under a *located* order
(CNIL, Garante, AP, HDPA) an image is in a tier's stratum when its capture answer or its residence answer names the
country at that tier (the better of the two), under a *residence* order (ICO, and any country without a declared
order) when its residence answer does. Sampling, validation, the demo's truth and the report all read it here."""

from __future__ import annotations

from dataclasses import dataclass

from audit.outputs.policies import BASIS_ANSWERS, basis_for


@dataclass(frozen=True, slots=True)
class Answer:
    basis: str  # audit.outputs.policies.LOCATED or RESIDENCE

    @property
    def answers(self) -> tuple[str, ...]:
        """The attribution's answers read: columns ``<answer>_country`` and ``<answer>_tier`` of attributions."""
        return BASIS_ANSWERS[self.basis]

    @property
    def name(self) -> str:
        """How the answer is named in the ``validations`` table, e.g. ``located: capture or residence answer``."""
        return f"{self.basis}: {' or '.join(self.answers)} answer"


def answer_for(country: str) -> Answer:
    """The answer the order of ``country`` counts."""
    return Answer(basis_for(country))


TIER_STRATA = ("strong", "medium", "weak")
NOT_ATTRIBUTED = "not attributed"
# every image is in exactly one stratum: its tier when the answer is the country, else "not attributed"
STRATA: tuple[str, ...] = (*TIER_STRATA, NOT_ATTRIBUTED)
QUESTIONS = ("located", "resides")


def stratum_sql(answer: Answer, param: str = "$1") -> str:
    """A SQL expression over ``attributions`` giving each image's stratum for the country bound to ``param``: the
    best tier at which one of ``answer``'s answers names the country, else ``not attributed``."""
    def named_at(tier: str) -> str:
        return " OR ".join(f"({a}_country = {param} AND {a}_tier = '{tier}')" for a in answer.answers)

    whens = " ".join(f"WHEN {named_at(t)} THEN '{t}'" for t in TIER_STRATA)
    return f"CASE {whens} ELSE '{NOT_ATTRIBUTED}' END"


def shown_sql(answer: Answer, param: str = "$1") -> tuple[str, str]:
    """SQL expressions for the country and tier a labelling sheet shows for an image: the country bound to
    ``param`` and the stratum's tier when the answer counts the image for it, else the residence answer."""
    stratum = stratum_sql(answer, param)
    return (f"CASE WHEN {stratum} <> '{NOT_ATTRIBUTED}' THEN {param} ELSE residence_country END",
            f"CASE WHEN {stratum} <> '{NOT_ATTRIBUTED}' THEN {stratum} ELSE residence_tier END")
