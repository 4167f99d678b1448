"""audit.stats: the Wilson interval and rates every output reports."""

from __future__ import annotations

import pytest

from audit.stats import Z95, Rate, wilson


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3 (score)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_the_textbook_values(k, n, low, high):
    lo, hi = wilson(k, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_of_nothing_observed_is_empty():
    assert wilson(0, 0) == (0.0, 0.0)
    assert wilson(3, -1) == (0.0, 0.0)


@pytest.mark.parametrize("n", [1, 10, 1000])
def test_wilson_at_the_ends_has_the_closed_form(n):
    z2 = Z95 * Z95
    lo, hi = wilson(n, n)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(n / (n + z2))
    lo, hi = wilson(0, n)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(z2 / (n + z2))


def test_wilson_holds_the_proportion_and_narrows_with_n():
    widths = []
    for n in (10, 100, 1000):
        lo, hi = wilson(n // 5, n)
        assert 0.0 <= lo < 0.2 < hi <= 1.0
        widths.append(hi - lo)
    assert widths == sorted(widths, reverse=True)
    assert wilson(5, 10, z=1.0)[1] - wilson(5, 10, z=1.0)[0] < wilson(5, 10)[1] - wilson(5, 10)[0]


def test_rate():
    r = Rate(81, 263)
    assert r.value == pytest.approx(81 / 263)
    assert r.interval == wilson(81, 263)
    assert r.as_dict() == {"hits": 81, "n": 263, "value": 0.308, "low": 0.2553, "high": 0.3662}
    assert Rate(0, 0).as_dict() == {"hits": 0, "n": 0, "value": 0.0, "low": 0.0, "high": 0.0}
