"""The combination rule, on the cases the docs name."""

from __future__ import annotations

import pytest

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


def test_locations_of_one_image_are_one_family_whatever_wrote_them():
    """IPTC, XMP and C2PA locations of one image come from the same photographer's tools: two of them are one family,
    so medium ones alone never reach the strong tier (a C2PA location used to count as a family of its own)."""
    iptc_xmp = attribute([E("iptc_location", "FR", "medium"), E("xmp_location", "FR", "medium")])
    iptc_c2pa = attribute([E("iptc_location", "FR", "medium"), E("c2pa_location", "FR", "medium")])
    assert iptc_xmp.score >= 0.75 and iptc_c2pa.score == iptc_xmp.score
    assert iptc_xmp.tier == "medium"
    assert iptc_c2pa.tier == iptc_xmp.tier
    # a second family (the page) is what makes it strong
    assert attribute([E("iptc_location", "FR", "medium"), E("c2pa_location", "FR", "medium"),
                      E("phone", "FR", "medium")]).tier == "strong"


def test_icbm_and_geo_position_are_one_piece_of_evidence():
    both = attribute([E("geo_position", "FR", "medium"), E("icbm", "FR", "medium")])
    one = attribute([E("geo_position", "FR", "medium")])
    assert both.score == one.score and both.kinds == ("geo_position",)


def test_an_unregistered_kind_is_an_error_not_a_family_of_its_own():
    with pytest.raises(ValueError, match="unknown signal kind 'c2pa'"):
        attribute([E("iptc_location", "FR", "medium"), E("c2pa", "FR", "medium")])
    with pytest.raises(ValueError, match="camera_model"):  # declared nowhere: nothing emits it
        attribute([E("camera_model", "", "weak")])  # even evidence that would be skipped is checked
