"""Border probes of a GPS position: ``audit.signals.geo.border_distance_km`` (every probe of every ring looked up in
one batch) side by side with the same probes looked up one point at a time (``destination``, then the zone at that
point: ``tests/geocheck.py``), as it was before. Both give the same distances; this prints the time per position of
each, alternating.

    python bench/bench_border.py [--repeat 5] [--store STORE.duckdb]

Positions: a grid over western and central Europe (most far from a border, as most photos are), and with
``--store`` the GPS positions of a store's images (the synthetic stores place many near borders).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from geocheck import border_one_probe_at_a_time  # noqa: E402

from audit.signals import geo  # noqa: E402


def _on_land(points: list[tuple[float, float]]) -> list[tuple[float, float, str]]:
    out = []
    for lat, lon in points:
        country = geo.zone_country(geo.zone_at(lat, lon))
        if country is not None:
            out.append((lat, lon, country))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--store", help="also the GPS positions of this store's images (up to 5,000)")
    args = ap.parse_args()
    sets = {"grid over Europe": _on_land([(36.0 + 0.25 * i, -9.0 + 0.4 * j) for i in range(90) for j in range(100)
                                          if (i + j) % 4 == 0])}
    if args.store:
        import duckdb

        with duckdb.connect(args.store, read_only=True, config={"enable_external_access": False}) as con:
            rows = con.execute("SELECT gps_lat, gps_lon FROM images WHERE gps_lat IS NOT NULL LIMIT 5000").fetchall()
        sets["store's GPS positions"] = _on_land([(float(a), float(b)) for a, b in rows])
    for name, points in sets.items():
        ways: dict[str, Callable[[float, float, str], float | None]] = {
            "one at a time": border_one_probe_at_a_time, "batched": geo.border_distance_km}
        answers = {label: [f(*p) for p in points] for label, f in ways.items()}  # also warms the polygons
        assert answers["batched"] == answers["one at a time"], "the batched probes changed a distance"
        times: dict[str, list[float]] = {label: [] for label in ways}
        for _ in range(args.repeat):
            for label, f in ways.items():
                t = time.perf_counter()
                for p in points:
                    f(*p)
                times[label].append((time.perf_counter() - t) / len(points) * 1e6)
        near = sum(a is not None for a in answers["batched"])
        old, new = (statistics.median(times[k]) for k in ("one at a time", "batched"))
        print(f"{name}: {len(points):,} positions ({near:,} within {geo.BORDER_RADIUS_KM:g} km of a border): "
              f"one at a time {old:.0f} us, batched {new:.0f} us per position (medians of {args.repeat}) -> "
              f"{new / old:.2f}x the time")


if __name__ == "__main__":
    main()
