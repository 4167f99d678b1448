"""Which attribution answer a sample is drawn from and validated against, declared once.

Today the answer is ``attributions.country`` with its ``tier``. When the attribution gives separate capture and
residence answers, switching the columns here switches sampling, validation and the report's validated figures."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    country: str  # the attributions column holding the answer's country
    tier: str  # the attributions column holding its tier

    @property
    def name(self) -> str:
        """How the answer is named in the ``validations`` table: ``country/tier``."""
        return f"{self.country}/{self.tier}"


ANSWER = Answer(country="country", tier="tier")

TIER_STRATA = ("strong", "medium", "weak")
NOT_ATTRIBUTED = "not attributed"
# every image is in exactly one stratum: its tier when the answer is the country, else "not attributed"
STRATA: tuple[str, ...] = (*TIER_STRATA, NOT_ATTRIBUTED)
QUESTIONS = ("located", "resides")


def stratum_sql(answer: Answer = ANSWER, param: str = "$1") -> str:
    """A SQL expression over ``attributions`` giving each image's stratum for the country bound to ``param``."""
    tiers = ", ".join(f"'{t}'" for t in TIER_STRATA)
    return (f"CASE WHEN {answer.country} = {param} AND {answer.tier} IN ({tiers}) THEN {answer.tier} "
            f"ELSE '{NOT_ATTRIBUTED}' END")
