"""The deletion policies: which images count as a country's, as data. One tuple of names (:data:`POLICIES`' keys)
serves the sweep, the verification and the command line's choices; this module imports nothing heavy, so the CLI
can list them in its help.

A policy is the minimum attribution tier for the country, read from the image's own signals
(``direct_country``/``direct_tier``) or with near-duplicate propagation (``country``/``tier``), or ``any-signal``:
every image with at least one signal pointing to the country (view ``signal_countries``, any strength, propagated
included), even when the image is attributed elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

TIER_RANK: dict[str, int] = {"strong": 3, "medium": 2, "weak": 1, "none": 0}


@dataclass(frozen=True, slots=True)
class Policy:
    """A deletion policy: which images count as the country's."""

    name: str
    description: str
    min_tier: str | None  # strong, medium or weak; None for any-signal
    propagated: bool  # use near-duplicate propagation (country/tier) rather than direct_country/direct_tier
    any_signal: bool = False

    def where(self) -> str:
        """SQL condition on ``attributions a`` selecting the images to delete (parameter ``$1``: the country)."""
        if self.any_signal:
            return ("a.sha256 IN (SELECT sha256 FROM signals WHERE (candidates IS NULL AND country = $1) "
                    "OR list_contains(candidates, $1))")
        col, tier_col = ("a.country", "a.tier") if self.propagated else ("a.direct_country", "a.direct_tier")
        tiers = [t for t, r in TIER_RANK.items() if r >= TIER_RANK[self.min_tier or "weak"] and r > 0]
        return f"{col} = $1 AND {tier_col} IN ({', '.join(repr(t) for t in tiers)})"


def _policies() -> dict[str, Policy]:
    out: dict[str, Policy] = {}
    for tier in ("strong", "medium", "weak"):
        better = "" if tier == "strong" else " or better"
        out[tier] = Policy(tier, f"attributed to the country, {tier}{better}, from the image's own signals", tier,
                           False)
        out[f"{tier}+nd"] = Policy(f"{tier}+nd", f"attributed to the country, {tier}{better}, with near-duplicate "
                                   "propagation", tier, True)
    out["any-signal"] = Policy("any-signal", "at least one signal of any strength points to the country "
                               "(propagated included), even if attributed elsewhere", None, True, any_signal=True)
    return out


POLICIES: dict[str, Policy] = _policies()
#: the names of the policies, in order: what ``--policy`` accepts
POLICY_NAMES: tuple[str, ...] = tuple(POLICIES)
#: the policy the sweep and the verification use unless told
DEFAULT_POLICY = "strong+nd"


def parse_policy(name: str) -> Policy:
    """The policy called ``name``; ValueError listing the valid names otherwise."""
    try:
        return POLICIES[name.strip()]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}: valid policies are {', '.join(POLICIES)}") from None
