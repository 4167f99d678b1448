"""ISO 3166-1 alpha-2 codes, checked (audit.countries), and the claim each country's report tests
(audit.outputs.policies.claim_for)."""

from __future__ import annotations

import pycountry
import pytest

from audit.countries import ASSIGNED, check_country, suggestions
from audit.outputs.policies import CLEARVIEW_CLAIM, ORDERS, claim_for


def test_the_written_out_list_is_the_249_assigned_codes():
    assert len(ASSIGNED) == 249
    assert ASSIGNED == {c.alpha_2 for c in pycountry.countries}


@pytest.mark.parametrize(("given", "meant"), [("UK", "GB"), ("uk", "GB"), ("EL", "GR"), ("FRA", "FR"), ("RF", "FR")])
def test_common_mistakes_are_refused_with_the_code_meant(given, meant):
    with pytest.raises(ValueError) as err:
        check_country(given)
    assert str(err.value) == f"{given.upper()} is not an ISO 3166-1 alpha-2 code; did you mean {meant}?"


def test_a_user_assigned_code_is_refused_without_a_guess():
    with pytest.raises(ValueError) as err:
        check_country("XX")
    assert str(err.value).startswith("XX is not an ISO 3166-1 alpha-2 code")
    assert "did you mean" not in str(err.value)
    assert suggestions("XX") == []


@pytest.mark.parametrize("bad", ["", "F", "F1", "F R", "ÉS", "france"])
def test_anything_else_is_refused(bad):
    with pytest.raises(ValueError, match="is not an ISO 3166-1 alpha-2 code"):
        check_country(bad)


@pytest.mark.parametrize(("given", "code"), [("fr", "FR"), (" FR ", "FR"), ("gb", "GB"), ("Gr", "GR"), ("aq", "AQ")])
def test_assigned_codes_are_accepted_in_any_case(given, code):
    assert check_country(given) == code


def test_the_claim_for_france_is_clearviews_own_words():
    claim = claim_for("fr")
    assert (claim.kind, claim.text) == ("quote", CLEARVIEW_CLAIM)
    assert "CNIL" in (claim.source or "") and "2022" in (claim.source or "")


@pytest.mark.parametrize(("cc", "people"), [("IT", "Italian"), ("GR", "Greek"), ("NL", "Dutch"), ("GB", "British")])
def test_other_orders_get_the_same_argument_said_to_be_a_paraphrase(cc, people):
    claim = claim_for(cc)
    order = ORDERS[cc]
    assert claim.kind == "paraphrase"
    assert claim.text.startswith("The claim tested: ") and f"{people} citizenship" in claim.text
    assert "paraphrase, not a quote" in (claim.source or "") and "CNIL" in (claim.source or "")
    assert f"{order.short}'s {order.year} order" in (claim.source or "")


def test_the_orders_state_their_authority_year_and_fine():
    assert {cc: (o.short, o.year) for cc, o in ORDERS.items()} == {
        "FR": ("CNIL", 2022), "IT": ("Garante", 2022), "GR": ("HDPA", 2022), "NL": ("AP", 2024), "GB": ("ICO", 2022)}
    assert ORDERS["NL"].fine == "EUR 30.5 million" and ORDERS["GB"].fine.startswith("GBP 7,5")


def test_a_country_without_an_order_gets_a_neutral_question_and_a_given_claim_wins():
    claim = claim_for("DE")
    assert claim.kind == "question"
    assert claim.text == "Can images of people located in DE be told apart from a public photo's signals?"
    given = claim_for("FR", "Nobody in France can be found.")
    assert (given.kind, given.text, given.source) == ("given", "Nobody in France can be found.", None)


def test_a_country_name_points_to_its_code():
    import pytest

    from audit.countries import check_country

    for name, code in (("France", "FR"), ("united  kingdom", "GB"), ("Greece", "GR")):
        with pytest.raises(ValueError, match=f"did you mean {code}\\?"):
            check_country(name)
    with pytest.raises(ValueError, match=r"two letters"):
        check_country("Atlantis")
