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


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (stable for n in the thousands)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    lg = math.lgamma
    return min(1.0, sum(math.exp(lg(n + 1) - lg(i + 1) - lg(n - i + 1) + i * lp + (n - i) * lq)
                        for i in range(k + 1)))


def _bisect(f: Any, target: float) -> float:
    """The p in [0, 1] where the decreasing function ``f`` crosses ``target`` (to about 1e-12)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """The exact (Clopper-Pearson) ``1 - alpha`` interval of ``successes / n``: never narrower than the true
    coverage needs, whatever the proportion, so it is the safer choice for a small ``n``. ``(0.0, 0.0)`` when
    ``n`` is 0, like :func:`wilson`. With no success the lower end is 0, with all successes the upper end is 1."""
    if n <= 0:
        return (0.0, 0.0)
    k = max(0, min(successes, n))
    half = alpha / 2
    # lower end: P(X >= k | p) = alpha/2, i.e. 1 - cdf(k - 1) rises with p
    low = 0.0 if k == 0 else _bisect(lambda p: _binom_cdf(k - 1, n, p), 1 - half)
    high = 1.0 if k == n else _bisect(lambda p: _binom_cdf(k, n, p), half)
    return (low, high)


# Below this many answers a proportion's interval is exact (Clopper-Pearson), from it Wilson's: the Wilson interval's
# coverage dips under 95% for small n when the proportion is near 0 or 1 (a precision of 0.95 on 20 labels).
EXACT_BELOW = 40


def proportion_interval(successes: int, n: int) -> tuple[float, float, str]:
    """The 95% interval of ``successes / n`` and the method's name: ``"exact"`` (:func:`clopper_pearson`) when ``n``
    is under :data:`EXACT_BELOW`, else ``"wilson"`` (:func:`wilson`)."""
    if n < EXACT_BELOW:
        lo, hi = clopper_pearson(successes, n)
        return lo, hi, "exact"
    lo, hi = wilson(successes, n)
    return lo, hi, "wilson"
