"""The combination rule, on the cases the docs name."""

from __future__ import annotations

from audit.derive.attribution import Evidence, attribute


def E(kind: str, country: str, strength: str, **kw) -> Evidence:  # noqa: N802
    return Evidence(kind=kind, country=country, strength=strength, **kw)


def test_no_signal_no_attribution():
    a = attribute([])
    assert (a.country, a.tier, a.score) == (None, "none", 0.0)


def test_gps_alone_is_strong():
    a = attribute([E("exif_gps", "FR", "strong")])
    assert (a.country, a.tier) == ("FR", "strong")
    assert "exif_gps" in a.explanation


def test_repeated_evidence_of_one_kind_counts_once():
    once = attribute([E("page_cctld", "FR", "medium")])
    many = attribute([E("page_cctld", "FR", "medium")] * 50)
    assert once.score == many.score and once.tier == "medium"


def test_two_independent_medium_families_make_strong():
    a = attribute([E("page_cctld", "FR", "medium"), E("xmp_location", "FR", "medium"),
                   E("html_lang", "FR", "medium")])
    assert a.tier == "strong" and a.country == "FR"


def test_conflicts_lower_the_score():
    alone = attribute([E("page_cctld", "BE", "medium")])
    french_language_page_in_belgium = attribute([
        E("page_cctld", "BE", "medium"),
        *[E("html_lang", c, "weak", weight=1 / 6) for c in ("FR", "BE", "CH", "CA", "LU", "MC")],
    ])
    assert french_language_page_in_belgium.country == "BE"
    assert french_language_page_in_belgium.score < alone.score
    abroad = attribute([E("exif_gps", "ES", "strong"), E("page_cctld", "FR", "medium"), E("phone", "FR", "medium")])
    assert abroad.tier != "strong"  # GPS in Spain, a French page: not a defensible strong answer either way
    assert abroad.runner_up in ("ES", "FR")


def test_near_border_and_propagated_evidence_weigh_less():
    plain = attribute([E("exif_gps", "FR", "strong")])
    border = attribute([E("exif_gps", "FR", "strong", border_km=1.5)])
    via = attribute([E("exif_gps", "FR", "strong", propagated=True)])
    assert border.score < plain.score and via.score < plain.score
    assert "only via near-duplicates" in via.explanation
