from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
from geocheck import border_one_probe_at_a_time

from audit.signals import geo
from audit.signals.geo import BORDER_RADIUS_KM, GeoHit, country_at, zone_countries, zone_country
from audit.testbed.testweb import build_web

# (name, lat, lon, country, near a border within BORDER_RADIUS_KM?) — None: not asserted (see the comments)
LANDMARKS = [
    ("Strasbourg", 48.5734, 7.7521, "FR", True),  # the Rhine (DE) ~3.5 km east
    ("Kehl", 48.5762, 7.8155, "DE", True),
    ("Geneva", 46.2044, 6.1432, "CH", True),
    ("Annemasse", 46.1934, 6.2342, "FR", True),
    ("Baarle-Hertog (given point)", 51.4386, 4.9296, "BE", True),  # 0.1 km from NL
    ("Baarle-Hertog (enclave H1, centre)", 51.4360, 4.9305, "BE", True),  # ~0.4 km from NL, the deepest point
    ("Baarle-Nassau", 51.4452, 4.9283, "NL", True),
    ("Lille", 50.6292, 3.0573, "FR", False),  # Belgium ~10 km away: beyond the 5 km radius
    ("Tournai", 50.6056, 3.3878, "BE", False),  # France ~7 km away
    ("Basel", 47.5596, 7.5886, "CH", True),
    ("Lörrach", 47.6156, 7.6614, "DE", True),
    ("Saint-Louis", 47.5903, 7.5606, "FR", True),
    ("Vaduz", 47.1410, 9.5210, "LI", True),
    ("Büsingen", 47.6970, 8.6900, "DE", True),  # German exclave in Switzerland (zone Europe/Busingen)
    ("Monaco", 43.7384, 7.4246, "MC", True),
    ("Vatican", 41.9029, 12.4534, "VA", True),
    ("Paris", 48.8566, 2.3522, "FR", False),
    ("Berlin", 52.5200, 13.4050, "DE", False),
    ("Rome", 41.9028, 12.4964, "IT", None),  # the Vatican is 3.6 km away but too small for the ring probes
    ("London", 51.5074, -0.1278, "GB", False),
    ("Madrid", 40.4168, -3.7038, "ES", False),
    ("Montreal", 45.5017, -73.5673, "CA", False),
    ("Toronto", 43.6532, -79.3832, "CA", False),
    ("New York", 40.7128, -74.0060, "US", False),
    ("Longyearbyen", 78.2232, 15.6267, "SJ", False),
]


@pytest.mark.parametrize(("name", "lat", "lon", "country", "near"), LANDMARKS, ids=[x[0] for x in LANDMARKS])
def test_landmarks(name, lat, lon, country, near):
    hit = country_at(lat, lon)
    assert hit is not None, name
    assert hit.country == country, (name, hit)
    if near is not None:
        assert hit.near_border is near, (name, hit)
    if hit.border_km is not None:
        assert 0 < hit.border_km <= BORDER_RADIUS_KM


def test_enclave_points_are_close_to_the_border():
    for lat, lon in ((51.4386, 4.9296), (51.4452, 4.9283)):
        hit = country_at(lat, lon)
        assert hit is not None and hit.border_km is not None and hit.border_km <= 0.5


def test_no_border_probe_when_not_asked():
    assert country_at(48.5734, 7.7521, border=False) == GeoHit("FR", "Europe/Paris", None)


@pytest.mark.parametrize(("lat", "lon"), [(45.0, -30.0), (0.0, -140.0), (-40.0, 80.0), (36.0, -40.0)])
def test_sea_is_no_country(lat, lon):
    assert country_at(lat, lon) is None


@pytest.mark.parametrize(("lat", "lon"), [(0.0, 0.0), (math.nan, 2.0), (48.0, math.inf), (90.5, 2.0),
                                          (48.0, -180.5), (-91.0, 0.0)])
def test_invalid_positions(lat, lon):
    assert country_at(lat, lon) is None


def test_every_zone_maps_to_a_country_or_is_ocean():
    names = geo.finder().timezone_names
    assert len(names) > 400
    for name in names:
        country = zone_country(name)
        if name.startswith("Etc/"):
            assert country is None, name
        else:
            assert country is not None and len(country) == 2 and country.isupper(), name


def test_backward_zones():
    expected = {"Europe/Vaduz": "LI", "Europe/Busingen": "DE", "Europe/San_Marino": "SM", "Europe/Vatican": "VA",
                "Europe/Monaco": "MC", "Arctic/Longyearbyen": "SJ", "Europe/Mariehamn": "AX", "Europe/Zagreb": "HR",
                "America/Marigot": "MF", "Europe/Jersey": "JE"}
    for zone, country in expected.items():
        assert zone_country(zone) == country
    assert zone_country("Etc/GMT+2") is None and zone_country("Etc/UTC") is None and zone_country(None) is None
    assert zone_countries()["Europe/Paris"] == "FR"


def test_finder_is_a_lazy_singleton_safe_from_threads():
    assert geo.finder() is geo.finder()
    points = [(lat, lon) for lat, lon, *_ in LANDMARKS] * 4
    expected = [country_at(*p) for p in points]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda p: country_at(*p), points)) == expected


def test_destination_and_distance_agree():
    for bearing in (0, 45, 90, 200, 315):
        lat, lon = geo.destination(48.85, 2.35, bearing, 2.5)
        assert geo.haversine_km(48.85, 2.35, lat, lon) == pytest.approx(2.5, rel=1e-6)


def test_ground_truth_gps_of_the_test_web(tmp_path_factory):
    web = build_web(tmp_path_factory.mktemp("geo-web"), photos=200, seed=3)
    rows = [r for r in web.ground_truth() if r["gps"] is not None]
    assert rows
    for row in rows:
        hit = country_at(*row["gps"])
        assert hit is not None and hit.country == row["capture_country"], row


def test_test_web_baarle_hertog_city_point_lies_in_a_dutch_counter_enclave():
    # audit.testbed.testweb.world places the city "Baarle-Hertog" (BE) at 51.4420, 4.9290: OSM puts that point in the
    # Netherlands, ~60 m from Belgium. The geocoder says so, and flags the border.
    hit = country_at(51.4420, 4.9290)
    assert hit is not None and hit.country == "NL" and hit.border_km is not None and hit.border_km < 0.2


def test_batched_border_probes_agree_with_probing_one_point_at_a_time():
    # a grid over the Benelux, the Rhine and the Alps (borders, enclaves, lakes), and the landmarks
    points = [(45.9 + 0.037 * i, 2.9 + 0.061 * j) for i in range(70) for j in range(95) if (i * 95 + j) % 11 == 0]
    points += [(lat, lon) for _name, lat, lon, *_ in LANDMARKS]
    near = 0
    for lat, lon in points:
        country = zone_country(geo.zone_at(lat, lon))
        if country is None:
            continue
        expected = border_one_probe_at_a_time(lat, lon, country)
        assert geo.border_distance_km(lat, lon, country) == expected, (lat, lon)
        near += expected is not None
    assert near >= 20  # the grid does cross borders
