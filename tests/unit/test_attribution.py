"""The combination rule, on the cases the docs name."""

from __future__ import annotations

import datetime as dt
import io
import random

import pytest
from PIL import Image

from audit.decode.imagefacts import analyse_image
from audit.derive.attribution import Evidence, answer_evidence, attribute, attribute_answers
from audit.outputs.inspection import inspect_record
from audit.outputs.policies import LOCATED, ORDERS, RESIDENCE, counts_for
from audit.records import ImageRecord
from audit.signals.image import utc_offset_signals
from audit.signals.kinds import KINDS, Answer, signal_kind
from audit.signals.page import page_signals


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


# --- issue 15: evidence spread over many countries never picks a winner ------------------------------------------

def _as_evidence(signals) -> list[Evidence]:
    return [Evidence(kind=s.kind, country=s.country, strength=str(s.strength), weight=s.weight) for s in signals]


def _bare_en() -> list[Evidence]:
    return _as_evidence(page_signals({"html_lang": "en"}, {}))


def test_a_bare_language_alone_names_no_country():
    """Real Wikipedia captures: a bare lang="en" spread over 58 countries used to give "AG" (Antigua and Barbuda),
    the alphabetically first of 58 equal rivals."""
    evidence = _bare_en()
    assert len(evidence) == 58 and {e.weight for e in evidence} == {1 / 58}
    a = attribute(evidence)
    assert (a.country, a.tier, a.score, a.runner_up) == (None, "none", 0.0, None)
    assert "only evidence spread over 58 countries" in a.explanation
    assert len(a.support) == 58  # the support stays visible


def test_a_bare_language_does_not_lower_a_country_domain():
    """data.gov.uk: the .uk domain and a page's own GB evidence earn strong; a bare "en" used to pull it to medium."""
    specific = [E("page_cctld", "GB", "medium"), E("schema_address", "GB", "medium"), E("image_cctld", "GB", "medium")]
    alone = attribute(specific)
    with_en = attribute(specific + _bare_en())
    assert (alone.country, alone.tier) == ("GB", "strong")
    assert (with_en.country, with_en.tier) == ("GB", "strong")
    # the .uk domain alone: medium, and still medium with "en" (it used to fall to weak)
    assert attribute([E("page_cctld", "GB", "medium")]).tier == "medium"
    assert attribute([E("page_cctld", "GB", "medium"), *_bare_en()]).tier == "medium"


def test_gps_keeps_its_strong_tier_next_to_spread_evidence():
    """Four GPS photos on a multi-country site lost their strong tier to a bare language and a UTC offset."""
    offset = _as_evidence(utc_offset_signals("-04:00", dt.datetime(2024, 7, 1, 12)))
    gps = E("exif_gps", "CA", "strong", border_km=3.0)  # near a border: 0.63 alone
    alone = attribute([gps])
    assert (alone.country, alone.tier) == ("CA", "medium")
    gps_plain = E("exif_gps", "US", "strong")
    for extra in (_bare_en(), offset, _bare_en() + offset):
        a = attribute([gps_plain, *extra])
        assert (a.country, a.tier) == ("US", "strong"), a.explanation
        assert a.country != "AG"
        b = attribute([gps, *extra])
        assert (b.country, b.tier) == ("CA", "medium"), b.explanation


def test_spread_evidence_may_support_a_named_country():
    """Spread evidence adds to a country that specific evidence names: a bare "fr" on a page that also says .be helps
    BE over a rival named only by a weaker signal, and the spread-only countries (CH, CA, ...) are never the answer."""
    fr = [E("html_lang", c, "weak", weight=1 / 6) for c in ("FR", "BE", "CH", "CA", "LU", "MC")]
    a = attribute([E("page_cctld", "BE", "medium"), *fr])
    assert a.country == "BE" and a.runner_up is None
    assert "5 countries of spread evidence only" in a.explanation
    # a tie between BE and DE broken by the language that fits only BE
    tie = [E("page_cctld", "BE", "medium"), E("schema_address", "DE", "medium")]
    assert attribute(tie).country is None
    broken = attribute(tie + [E("html_lang", c, "weak", weight=1 / 3) for c in ("NL", "BE", "SR")])
    assert (broken.country, broken.runner_up) == ("BE", "DE")


def test_an_exact_tie_is_no_country_never_the_alphabetically_first():
    a = attribute([E("page_cctld", "FR", "medium"), E("schema_address", "BE", "medium")])
    assert (a.country, a.tier, a.score) == (None, "none", 0.0)
    assert "tie for first place between BE, FR" in a.explanation
    # equal support reached through different kinds is a tie too
    b = attribute([E("page_cctld", "FR", "medium"), E("html_lang", "FR", "weak"),
                   E("schema_address", "BE", "medium"), E("og_locale", "BE", "weak")])
    assert b.country is None and "tie" in b.explanation
    # one more piece of specific evidence decides it
    c = attribute([E("page_cctld", "FR", "medium"), E("schema_address", "BE", "medium"), E("phone", "FR", "medium")])
    assert c.country == "FR"


def test_the_spread_rule_does_not_depend_on_order_or_repeats():
    evidence = (_bare_en() + _as_evidence(utc_offset_signals("-04:00", dt.datetime(2024, 7, 1, 12)))
                + [E("page_cctld", "CA", "medium"), E("schema_address", "US", "medium"), E("phone", "CA", "weak"),
                   E("exif_gps", "US", "strong", propagated=True)])
    first = attribute(evidence)
    rng = random.Random(15)
    for _ in range(20):
        shuffled = evidence + rng.sample(evidence, 10)
        rng.shuffle(shuffled)
        assert attribute(shuffled) == first
    for spread_only in (_bare_en(), _bare_en()[::-1] * 3):
        assert attribute(spread_only) == attribute(_bare_en())


def test_a_single_country_value_is_specific():
    """A value that fits one country (weight 1) is specific evidence, however weak."""
    a = attribute([E("utc_offset", "NP", "weak")])
    assert (a.country, a.tier) == ("NP", "weak")


def test_inspect_gives_no_country_for_a_utc_offset_alone():
    """`provaudit inspect` used to print "country AG" for a photo whose only clue was the offset -04:00."""
    record = ImageRecord(sha256="0" * 64, size=100, format="JPEG", width=10, height=10,
                         taken_at=dt.datetime(2024, 7, 1, 12), utc_offset="-04:00")
    obj = inspect_record("photo.jpg", record)
    assert {s["kind"] for s in obj["signals"]} == {"utc_offset"} and len(obj["signals"]) > 1
    assert obj["country"] is None
    assert obj["attribution"]["tier"] == "none"
    assert "only evidence spread over" in obj["attribution"]["explanation"]


def test_inspect_of_a_real_jpeg_with_only_an_offset_names_no_country():
    """The same through the decoder: a JPEG whose EXIF says OffsetTimeOriginal -04:00 and nothing else."""
    image = Image.new("RGB", (32, 32), (120, 30, 30))
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)  # the EXIF sub-IFD
    sub[0x9003] = "2024:07:01 12:00:00"  # DateTimeOriginal
    sub[0x9011] = "-04:00"  # OffsetTimeOriginal
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    obj = inspect_record("offset.jpg", analyse_image(out.getvalue()))
    assert obj["utc_offset"] == "-04:00" and len(obj["signals"]) == 34
    assert (obj["country"], obj["attribution"]["tier"]) == (None, "none")
    assert obj["attribution"]["explanation"].startswith("only evidence spread over 34 countries (utc_offset)")


def test_spread_evidence_cannot_take_an_answer_away_from_specific_evidence():
    """GPS in FR (strong) against a Belgian page (domain, address, phone): the specific evidence alone says FR,
    medium. Five spread values fitting BE and NL (a language, an offset, ...) push BE past FR, but only to weak: the
    specific evidence's answer and tier stay."""
    specific = [E("exif_gps", "FR", "strong"), E("page_cctld", "BE", "medium"), E("schema_address", "BE", "medium"),
                E("phone", "BE", "medium")]
    alone = attribute(specific)
    assert (alone.country, alone.tier) == ("FR", "medium")
    spread = [E(kind, c, "weak", weight=0.5) for kind in ("html_lang", "content_language", "hreflang", "alt_language",
                                                        "utc_offset") for c in ("BE", "NL")]
    a = attribute(specific + spread)
    assert a.support["BE"] > a.support["FR"]  # spread evidence did support BE ...
    assert (a.country, a.tier, a.runner_up) == ("FR", "medium", "BE")  # ... but cannot lower what FR earned
    assert a.explanation.endswith("(the tier of the specific evidence alone: medium)")


# --- issue 15 section 3: two answers, capture place and residence --------------------------------------------------


def test_gps_in_spain_on_a_french_page_gives_both_answers():
    """A photo with GPS in Spain on a .fr page with a French phone number: taken in ES, its subject probably lives in
    FR. All the evidence together is a conflict; each answer on its own evidence is clear."""
    evidence = [E("exif_gps", "ES", "strong"), E("page_cctld", "FR", "medium"), E("phone", "FR", "medium")]
    answers = attribute_answers(evidence)
    assert answers.combined == attribute(evidence)  # the combined answer is unchanged
    assert answers.combined.tier != "strong"
    assert (answers.capture.country, answers.capture.tier) == ("ES", "strong")
    assert (answers.residence.country, answers.residence.tier) == ("FR", "strong")
    assert "exif_gps" in answers.capture.explanation and "page_cctld" not in answers.capture.explanation
    capture = (answers.capture.country, answers.capture.tier)
    residence = (answers.residence.country, answers.residence.tier)
    # located (CNIL's "personnes se trouvant en France"): the image counts for ES and for FR
    assert counts_for("ES", capture, residence, basis=LOCATED)
    assert counts_for("FR", capture, residence, basis=LOCATED)
    assert counts_for("FR", capture, residence)  # FR's order is declared "located"
    # residence only (ICO: "UK residents"): not for ES, still for FR
    assert not counts_for("ES", capture, residence, basis=RESIDENCE)
    assert counts_for("FR", capture, residence, basis=RESIDENCE, min_tier="strong")


def test_for_gb_only_the_residence_answer_counts():
    """GPS in GB on a French page: located in GB (the capture answer), but the ICO's order is about UK residents."""
    answers = attribute_answers([E("exif_gps", "GB", "strong"), E("page_cctld", "FR", "medium")])
    capture = (answers.capture.country, answers.capture.tier)
    residence = (answers.residence.country, answers.residence.tier)
    assert capture == ("GB", "strong") and residence == ("FR", "medium")
    assert not counts_for("GB", capture, residence)
    assert counts_for("GB", capture, residence, basis=LOCATED)
    # and a .uk page counts for GB whatever the GPS says
    on_uk = attribute_answers([E("exif_gps", "FR", "strong"), E("page_cctld", "GB", "medium")])
    assert counts_for("GB", (on_uk.capture.country, on_uk.capture.tier),
                      (on_uk.residence.country, on_uk.residence.tier))


def test_each_kind_speaks_for_one_answer():
    assert signal_kind("exif_gps").answer == Answer.CAPTURE
    assert signal_kind("place_in_text").answer == Answer.CAPTURE
    assert signal_kind("utc_offset").answer == Answer.CAPTURE
    assert {signal_kind(k).answer for k in ("page_cctld", "html_lang", "phone", "schema_address", "geo_position",
                                            "alt_language")} == {Answer.RESIDENCE}
    assert {signal_kind(k).answer for k in ("server_ip", "image_cctld")} == {Answer.HOSTING}
    assert {k.answer for k in KINDS} == set(Answer)


def test_hosting_counts_toward_residence_as_weak_evidence_only():
    image_host = [E("image_cctld", "DE", "medium")]
    answers = attribute_answers(image_host)
    assert (answers.capture.country, answers.capture.tier) == (None, "none")
    assert (answers.residence.country, answers.residence.tier) == ("DE", "weak")  # not medium: capped
    assert answers.combined.tier == "medium"  # the combined answer counts it as before
    assert [e.strength for e in answer_evidence(image_host, Answer.RESIDENCE)] == ["weak"]
    # a French page served from a US cloud: the residence answer is the page's, as the combined one is
    page = attribute_answers([E("page_cctld", "FR", "medium"), E("schema_address", "FR", "medium"),
                              E("server_ip", "US", "weak")])
    assert (page.residence.country, page.residence.tier) == ("FR", "medium") == (page.combined.country,
                                                                                 page.combined.tier)
    assert page.residence.runner_up == "US"
    with pytest.raises(ValueError, match="hosting"):
        answer_evidence(image_host, Answer.HOSTING)


def test_spread_capture_evidence_alone_names_no_capture_country():
    answers = attribute_answers([*[E("utc_offset", c, "weak", weight=1 / 3) for c in ("FR", "BE", "NL")],
                                 E("page_cctld", "BE", "medium")])
    assert (answers.capture.country, answers.capture.tier) == (None, "none")
    assert (answers.residence.country, answers.residence.tier) == ("BE", "medium")


def test_orders_declare_their_basis_with_their_wording():
    assert {cc for cc, o in ORDERS.items() if o.basis == LOCATED} == {"FR", "IT", "NL", "GR"}
    assert ORDERS["GB"].basis == RESIDENCE and ORDERS["GB"].answers == ("residence",)
    assert ORDERS["FR"].wording == "personnes se trouvant en France"
    assert ORDERS["IT"].wording == "che si trovano in Italia"
    assert ORDERS["NL"].wording == "die zich op het Nederlandse grondgebied bevinden"
    assert ORDERS["FR"].answers == ("capture", "residence")
    assert ORDERS["FR"].where(("strong",)) == ("coalesce((a.capture_country = $1 AND a.capture_tier IN ('strong')) "
                                               "OR (a.residence_country = $1 AND a.residence_tier IN ('strong')), "
                                               "false)")


def test_inspect_shows_both_answers():
    record = ImageRecord(sha256="0" * 64, size=100, format="JPEG", width=10, height=10, gps_lat=40.4168,
                         gps_lon=-3.7038)  # Madrid
    obj = inspect_record("madrid.jpg", record)
    assert obj["country"] == "ES"
    capture, residence = obj["attribution"]["capture"], obj["attribution"]["residence"]
    assert (capture["country"], capture["tier"]) == ("ES", "strong") and "exif_gps" in capture["explanation"]
    assert (residence["country"], residence["tier"]) == (None, "none")
