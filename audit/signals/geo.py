"""Offline reverse geocoding: the country (ISO 3166-1 alpha-2) at a WGS84 position, and how close a border is.

The polygons are timezonefinder's copy of timezone-boundary-builder, which cuts zones along OpenStreetMap's country
borders (territorial waters included): every land zone lies in exactly one country, and backward-compatible zones
(Europe/Vaduz, Europe/Busingen, Arctic/Longyearbyen, ...) have their own polygons. A zone is mapped to its country
with tzdata's ``zone.tab``. The ocean zones (``Etc/GMT±N``, ``Etc/UTC``) are no country: :func:`country_at` returns
None there.

Near a border a GPS fix (a few metres to tens of metres off, more indoors) and the OSM-drawn border may disagree, so
:func:`country_at` also probes points on rings around the position and reports the approximate distance at which
another country appears (sea does not count).

Pure functions; the polygon data are opened once, lazily, by a module-level :class:`TimezoneFinder` that is safe
for concurrent read-only use (memory-mapped data, no per-call state). No network, no data download.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

BORDER_RADIUS_KM = 5.0
RING_RADII_KM: tuple[float, ...] = (0.5, 1.0, 2.5, BORDER_RADIUS_KM)  # probed in this order; the first hit wins
RING_BEARINGS = 16  # points per ring, every 22.5°
REFINE_TOLERANCE_KM = 0.05  # bisection step along a bearing that crossed a border
EARTH_RADIUS_KM = 6371.0088

# Zones timezone-boundary-builder draws that tzdata's zone.tab has dropped or may drop (backward links, each with
# its own polygon). zone.tab 2026 still lists all of them; this table keeps the mapping right if it stops doing so.
EXTRA_ZONE_COUNTRIES: dict[str, str] = {
    "Africa/Asmera": "ER",
    "Africa/Timbuktu": "ML",
    "America/Coral_Harbour": "CA",
    "America/Kralendijk": "BQ",
    "America/Lower_Princes": "SX",
    "America/Marigot": "MF",
    "America/St_Barthelemy": "BL",
    "Antarctica/McMurdo": "AQ",
    "Arctic/Longyearbyen": "SJ",
    "Asia/Calcutta": "IN",
    "Asia/Katmandu": "NP",
    "Asia/Rangoon": "MM",
    "Atlantic/Faeroe": "FO",
    "Atlantic/Jan_Mayen": "SJ",
    "Europe/Bratislava": "SK",
    "Europe/Busingen": "DE",
    "Europe/Guernsey": "GG",
    "Europe/Isle_of_Man": "IM",
    "Europe/Jersey": "JE",
    "Europe/Kiev": "UA",
    "Europe/Ljubljana": "SI",
    "Europe/Mariehamn": "AX",
    "Europe/Monaco": "MC",
    "Europe/Podgorica": "ME",
    "Europe/San_Marino": "SM",
    "Europe/Sarajevo": "BA",
    "Europe/Skopje": "MK",
    "Europe/Vaduz": "LI",
    "Europe/Vatican": "VA",
    "Europe/Zagreb": "HR",
}
OCEAN_ZONE_PREFIX = "Etc/"  # Etc/GMT±N and Etc/UTC: open sea (and nowhere else in the boundary data)


@dataclass(frozen=True, slots=True)
class GeoHit:
    """Where a position is: ``country`` (ISO alpha-2), ``zone`` (IANA) and, when another country lies within
    ``BORDER_RADIUS_KM``, ``border_km``: the approximate distance (km, to ~50 m) of the nearest point found in it
    by :func:`border_distance_km`; a border between two probe bearings can be closer than that."""

    country: str
    zone: str
    border_km: float | None = None

    @property
    def near_border(self) -> bool:
        return self.border_km is not None


# --- zone -> country ---------------------------------------------------------------------------------------------


def parse_zone_tab(text: str) -> dict[str, str]:
    """``{zone: alpha-2}`` from the text of tzdata's ``zone.tab`` (one country per zone)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 2 and parts[0].isalpha():
            out[parts[2].strip()] = parts[0].upper()
    return out


@lru_cache(maxsize=1)
def zone_countries() -> dict[str, str]:
    """``{IANA zone: alpha-2}``: tzdata's zone.tab, completed with :data:`EXTRA_ZONE_COUNTRIES`."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    table = dict(EXTRA_ZONE_COUNTRIES)
    table.update(parse_zone_tab(text))
    return table


def zone_country(zone: str | None) -> str | None:
    """The country of a zone timezone-boundary-builder draws; None for ocean zones and unknown names."""
    if not zone or zone.startswith(OCEAN_ZONE_PREFIX):
        return None
    country = zone_countries().get(zone)
    if country is None:
        log.warning("time zone %r has no country in zone.tab", zone)
    return country


_ID_COUNTRIES: dict[int, str | None] = {}


def _zone_id_country(zone_id: int) -> str | None:
    """:func:`zone_country` of the zone :func:`finder` numbers ``zone_id`` (negative: no zone), once per id."""
    try:
        return _ID_COUNTRIES[zone_id]
    except KeyError:
        country = None if zone_id < 0 else zone_country(finder().zone_name_from_id(zone_id))
        _ID_COUNTRIES[zone_id] = country
        return country


# --- the polygon data --------------------------------------------------------------------------------------------

_finder: Any = None
_finder_lock = threading.Lock()


def finder() -> Any:
    """The module's :class:`timezonefinder.TimezoneFinder`, created on first use (double-checked lock)."""
    global _finder
    if _finder is None:
        with _finder_lock:
            if _finder is None:
                from timezonefinder import TimezoneFinder

                _finder = TimezoneFinder()
    return _finder


def valid_position(lat: float, lon: float) -> bool:
    """True for finite WGS84 degrees in range, except the 0/0 placeholder that broken GPS writers emit."""
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    return abs(lat) <= 90 and abs(lon) <= 180 and not (lat == 0 and lon == 0)


def zone_at(lat: float, lon: float) -> str | None:
    """The IANA zone whose polygon holds the position (ocean zones included); None for invalid positions."""
    if not valid_position(lat, lon):
        return None
    zone: str | None = finder().timezone_at(lng=float(lon), lat=float(lat))
    return zone


def _country_of_point(lat: float, lon: float) -> str | None:
    return zone_country(zone_at(lat, lon))


# --- geometry ----------------------------------------------------------------------------------------------------


def destination(lat: float, lon: float, bearing_deg: float, km: float) -> tuple[float, float]:
    """The point ``km`` from (lat, lon) along the initial ``bearing_deg`` (great circle on a sphere)."""
    phi1, theta, delta = math.radians(lat), math.radians(bearing_deg), km / EARTH_RADIUS_KM
    return _destination(math.sin(phi1), math.cos(phi1), math.radians(lon), math.sin(theta), math.cos(theta),
                        math.sin(delta), math.cos(delta))


def _destination(sin_phi1: float, cos_phi1: float, lam1: float, sin_theta: float, cos_theta: float,
                 sin_delta: float, cos_delta: float) -> tuple[float, float]:
    """:func:`destination` from the sines and cosines of its start latitude, bearing and angular distance, so that
    the probes of a ring (:func:`border_distance_km`) compute each of them once."""
    sin_phi2 = sin_phi1 * cos_delta + cos_phi1 * sin_delta * cos_theta
    phi2 = math.asin(max(-1.0, min(1.0, sin_phi2)))
    lam2 = lam1 + math.atan2(sin_theta * sin_delta * cos_phi1, cos_delta - sin_phi1 * sin_phi2)
    lon2 = (math.degrees(lam2) + 540.0) % 360.0 - 180.0
    return math.degrees(phi2), lon2


@lru_cache(maxsize=8)
def _bearings(n: int) -> tuple[tuple[float, float, float], ...]:
    """``n`` bearings evenly spaced from 0°, each with its sine and cosine."""
    out = []
    for i in range(n):
        bearing = 360.0 * i / n
        theta = math.radians(bearing)
        out.append((bearing, math.sin(theta), math.cos(theta)))
    return tuple(out)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _other_country(lat: float, lon: float, bearing: float, km: float, country: str) -> bool:
    plat, plon = destination(lat, lon, bearing, km)
    other = _country_of_point(plat, plon)
    return other is not None and other != country


def border_distance_km(lat: float, lon: float, country: str, *, radii_km: tuple[float, ...] = RING_RADII_KM,
                       bearings: int = RING_BEARINGS, tolerance_km: float = REFINE_TOLERANCE_KM) -> float | None:
    """Approximate distance to the nearest point found in a country other than ``country``; None if none is found
    within the largest ring.

    Probes ``bearings`` points on each ring, smallest ring first; at the first ring where a probe lands in another
    country, each such bearing is bisected between the previous ring and this one (to ``tolerance_km``) and the
    smallest crossing is returned. Probes landing at sea (ocean zones) are not a border. A border crossed by no probe
    (a thin sliver, a small enclave between two bearings) is missed: the value is a proximity flag and an estimate,
    never a measurement."""
    # Every probe of every ring is computed first (the same arithmetic as destination(), each sine and cosine once)
    # and looked up in one batch: most photos are far from a border and need all of them, and a batch lookup costs
    # a fraction of the scalar ones (bench/bench_border.py; docs/benchmarks.md, "Audit at 1M and 10M sightings").
    phi1 = math.radians(lat)
    sin_phi1, cos_phi1, lam1 = math.sin(phi1), math.cos(phi1), math.radians(lon)
    radii = sorted(radii_km)
    ring = _bearings(bearings)
    lats: list[float] = []
    lons: list[float] = []
    for radius in radii:
        delta = radius / EARTH_RADIUS_KM
        sin_delta, cos_delta = math.sin(delta), math.cos(delta)
        for _bearing, sin_theta, cos_theta in ring:
            plat, plon = _destination(sin_phi1, cos_phi1, lam1, sin_theta, cos_theta, sin_delta, cos_delta)
            lats.append(plat)
            lons.append(plon)
    ids = finder().timezone_ids_at(lngs=lons, lats=lats).tolist()
    inner = 0.0
    for r, radius in enumerate(radii):
        hits = []
        for j, (bearing, _sin, _cos) in enumerate(ring):
            k = r * bearings + j
            if lats[k] == 0 and lons[k] == 0:  # the 0/0 placeholder is no position (valid_position)
                continue
            other = _zone_id_country(ids[k])
            if other is not None and other != country:
                hits.append(bearing)
        if hits:
            best = radius
            for bearing in hits:
                lo, hi = inner, radius  # lo: taken as still inside (or at sea), hi: in another country
                while hi - lo > tolerance_km:
                    mid = (lo + hi) / 2
                    if _other_country(lat, lon, bearing, mid, country):
                        hi = mid
                    else:
                        lo = mid
                best = min(best, hi)
            return round(best, 2)
        inner = radius
    return None


# --- the geocoder --------------------------------------------------------------------------------------------------


def country_at(lat: float, lon: float, *, border: bool = True) -> GeoHit | None:
    """The country at (lat, lon) with its zone and border proximity; None at sea or for an invalid position.

    ``border=False`` skips the ring probes (``border_km`` is then always None; see docs/signals-image.md for speeds)."""
    if not valid_position(lat, lon):
        return None
    zone = zone_at(lat, lon)
    country = zone_country(zone)
    if zone is None or country is None:
        return None
    border_km = border_distance_km(float(lat), float(lon), country) if border else None
    return GeoHit(country=country, zone=zone, border_km=border_km)
