"""The border probes of ``audit.signals.geo.border_distance_km`` as its docstring says them, each probe looked up on its
own (``destination``, then the zone at that point): the oracle the batched probes are checked against
(``tests/unit/test_geo.py``) and timed against (``bench/bench_border.py``)."""

from __future__ import annotations

from audit.signals import geo


def border_one_probe_at_a_time(lat: float, lon: float, country: str) -> float | None:
    """``border_distance_km(lat, lon, country)`` with the default rings, bearings and tolerance, one probe at a time."""
    inner = 0.0
    for radius in sorted(geo.RING_RADII_KM):
        hits = []
        for i in range(geo.RING_BEARINGS):
            bearing = 360.0 * i / geo.RING_BEARINGS
            other = geo.zone_country(geo.zone_at(*geo.destination(lat, lon, bearing, radius)))
            if other is not None and other != country:
                hits.append(bearing)
        if hits:
            best = radius
            for bearing in hits:
                lo, hi = inner, radius
                while hi - lo > geo.REFINE_TOLERANCE_KM:
                    mid = (lo + hi) / 2
                    other = geo.zone_country(geo.zone_at(*geo.destination(lat, lon, bearing, mid)))
                    lo, hi = (lo, mid) if other is not None and other != country else (mid, hi)
                best = min(best, hi)
            return round(best, 2)
        inner = radius
    return None
