"""Proportions and their confidence intervals, for every output that reports a rate: the evaluation against ground
truth, the policy sweep, the verification of a deletion and the report. Standard library only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Z95 = 1.959964  # the standard normal quantile of 0.975: a two-sided 95% interval


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``successes / n`` (95% with the default ``z``), clipped to
    [0, 1]. ``(0.0, 0.0)`` when ``n`` is 0 (nothing observed): callers show such a rate as empty, not as unknown."""
    if n <= 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True, slots=True)
class Rate:
    """``hits`` out of ``n``: its value (0.0 when ``n`` is 0) and its 95% Wilson interval."""

    hits: int
    n: int

    @property
    def value(self) -> float:
        return self.hits / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.hits, self.n)

    def as_dict(self) -> dict[str, Any]:
        """``hits``, ``n``, and ``value``, ``low``, ``high`` rounded to 4 decimals (the JSON and CSV outputs)."""
        lo, hi = self.interval
        return {"hits": self.hits, "n": self.n, "value": round(self.value, 4), "low": round(lo, 4),
                "high": round(hi, 4)}
