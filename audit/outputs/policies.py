"""The deletion policies: which images count as a country's, as data. One tuple of names (:data:`POLICIES`' keys)
serves the sweep, the verification and the command line's choices; this module imports nothing heavy, so the CLI
can list them in its help.

A policy is the minimum attribution tier for the country, read from the image's own signals
(``direct_country``/``direct_tier``) or with near-duplicate propagation (``country``/``tier``), or ``any-signal``:
every image with at least one signal pointing to the country (view ``signal_countries``, any strength, propagated
included), even when the image is attributed elsewhere.

An order (:data:`ORDERS`) is what a country's data-protection authority ordered deleted, in its own words, and which
of the attribution's answers that wording asks for: *located* (people in the country: an image counts when its
capture answer or its residence answer names the country) or *residence* (residents: the residence answer only).
"""

from __future__ import annotations

from dataclasses import dataclass

TIER_RANK: dict[str, int] = {"strong": 3, "medium": 2, "weak": 1, "none": 0}
#: the levels the report counts an image at: its tier alone, or that tier or better
LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("strong", ("strong",)),
    ("medium", ("medium",)),
    ("weak", ("weak",)),
    ("strong or medium", ("strong", "medium")),
    ("any tier", ("strong", "medium", "weak")),
)


@dataclass(frozen=True, slots=True)
class Policy:
    """A deletion policy: which images count as the country's."""

    name: str
    description: str
    min_tier: str | None  # strong, medium or weak; None for any-signal
    propagated: bool  # use near-duplicate propagation (country/tier) rather than direct_country/direct_tier
    any_signal: bool = False

    def where(self) -> str:
        """SQL condition on ``attributions a`` selecting the images to delete (parameter ``$1``: the country)."""
        if self.any_signal:
            return ("a.sha256 IN (SELECT sha256 FROM signals WHERE (candidates IS NULL AND country = $1) "
                    "OR list_contains(candidates, $1))")
        col, tier_col = ("a.country", "a.tier") if self.propagated else ("a.direct_country", "a.direct_tier")
        tiers = [t for t, r in TIER_RANK.items() if r >= TIER_RANK[self.min_tier or "weak"] and r > 0]
        return f"{col} = $1 AND {tier_col} IN ({', '.join(repr(t) for t in tiers)})"


def _policies() -> dict[str, Policy]:
    out: dict[str, Policy] = {}
    for tier in ("strong", "medium", "weak"):
        better = "" if tier == "strong" else " or better"
        out[tier] = Policy(tier, f"attributed to the country, {tier}{better}, from the image's own signals", tier,
                           False)
        out[f"{tier}+nd"] = Policy(f"{tier}+nd", f"attributed to the country, {tier}{better}, with near-duplicate "
                                   "propagation", tier, True)
    out["any-signal"] = Policy("any-signal", "at least one signal of any strength points to the country "
                               "(propagated included), even if attributed elsewhere", None, True, any_signal=True)
    return out


POLICIES: dict[str, Policy] = _policies()
#: the names of the policies, in order: what ``--policy`` accepts
POLICY_NAMES: tuple[str, ...] = tuple(POLICIES)
#: the policy the sweep and the verification use unless told
DEFAULT_POLICY = "strong+nd"


def parse_policy(name: str) -> Policy:
    """The policy called ``name``; ValueError listing the valid names otherwise."""
    try:
        return POLICIES[name.strip()]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}: valid policies are {', '.join(POLICIES)}") from None


LOCATED = "located"  # the capture answer or the residence answer names the country
RESIDENCE = "residence"  # the residence answer names the country
#: the attribution's answers each basis reads (columns ``<answer>_country`` and ``<answer>_tier`` of attributions)
BASIS_ANSWERS: dict[str, tuple[str, ...]] = {LOCATED: ("capture", "residence"), RESIDENCE: ("residence",)}


@dataclass(frozen=True, slots=True)
class Order:
    """A deletion order of one country's data-protection authority: whose data it covers, quoted, and the basis that
    wording asks for (:data:`LOCATED` or :data:`RESIDENCE`); with the decision it is part of (year, name and date,
    fine) and the claim the report tests for that country (:class:`Claim`)."""

    country: str
    authority: str
    wording: str  # the order's own words for whose data is covered
    meaning: str  # the same in English
    basis: str
    year: int = 0  # the year of the decision
    decision: str = ""  # its name and date, as the authority published it
    fine: str = ""  # the fine it imposed, as stated by the authority
    short: str = ""  # the authority's short name, for sentences ("the CNIL's test")

    @property
    def name(self) -> str:
        """The authority's short name, or its full name when no short one is given."""
        return self.short or self.authority

    @property
    def answers(self) -> tuple[str, ...]:
        """The answers of the attribution that count for this order."""
        return BASIS_ANSWERS[self.basis]

    def where(self, tiers: tuple[str, ...]) -> str:
        """SQL condition on ``attributions a``: one of this order's answers names the country (parameter ``$1``)
        with a tier in ``tiers``: the images :func:`counts_for` accepts."""
        return located_where(self.answers, tiers)


def located_where(answers: tuple[str, ...], tiers: tuple[str, ...]) -> str:
    """SQL condition on ``attributions a``: one of ``answers`` (``capture``, ``residence``) names ``$1`` with a tier
    in ``tiers``. Never NULL (an answer without a country is false), so it can be negated."""
    listed = ", ".join(repr(t) for t in tiers if t in TIER_RANK and t != "none")
    if not listed:
        return "false"
    return "coalesce(" + " OR ".join(f"(a.{a}_country = $1 AND a.{a}_tier IN ({listed}))"
                                     for a in answers if a in ("capture", "residence")) + ", false)"


# The decisions as the authorities published them (checked against their publications and the press of the time;
# docs/report.md#the-verdict): CNIL, deliberation SAN-2022-019 of 17 October 2022 (published 20 October 2022);
# Garante, ordinanza ingiunzione no. 50 of 10 February 2022 (announced 9 March 2022); HDPA, decision 35/2022 of
# 13 July 2022; AP, decision imposing fines and orders subject to penalty, published 3 September 2024; ICO, monetary
# penalty notice and enforcement notice of May 2022 (appealed by Clearview).
ORDERS: dict[str, Order] = {o.country: o for o in (
    Order("FR", "CNIL", "personnes se trouvant en France", "people located in France", LOCATED, 2022,
          "deliberation of the restricted committee SAN-2022-019 of 17 October 2022", "EUR 20 million", "CNIL"),
    Order("IT", "Garante per la protezione dei dati personali", "che si trovano in Italia",
          "who are located in Italy", LOCATED, 2022,
          "ordinanza ingiunzione no. 50 of 10 February 2022", "EUR 20 million", "Garante"),
    Order("NL", "Autoriteit Persoonsgegevens (AP)", "die zich op het Nederlandse grondgebied bevinden",
          "who are located on Dutch territory", LOCATED, 2024,
          "decision imposing fines and orders subject to penalty, published 3 September 2024", "EUR 30.5 million",
          "AP"),
    Order("GR", "Hellenic Data Protection Authority (HDPA)", "located in Greece", "people located in Greece",
          LOCATED, 2022, "decision 35/2022 of 13 July 2022", "EUR 20 million", "HDPA"),
    Order("GB", "Information Commissioner's Office (ICO)", "UK residents", "people residing in the UK", RESIDENCE,
          2022, "monetary penalty notice and enforcement notice of May 2022, appealed by Clearview",
          "GBP 7,552,800", "ICO"),
)}
#: the basis for a country whose order is not declared here: the narrower reading
DEFAULT_BASIS = RESIDENCE


def order_for(country: str) -> Order | None:
    """The declared order of ``country`` (ISO alpha-2, any case), or ``None``."""
    return ORDERS.get(country.strip().upper())


def basis_for(country: str) -> str:
    """The basis the country's order uses (:data:`DEFAULT_BASIS` without a declared order)."""
    order = order_for(country)
    return order.basis if order is not None else DEFAULT_BASIS


def counts_for(country: str, capture: tuple[str | None, str], residence: tuple[str | None, str], *,
               basis: str | None = None, min_tier: str = "weak") -> bool:
    """Whether an image whose capture answer is ``(country, tier)`` and residence answer ``(country, tier)`` counts
    for ``country`` under ``basis`` (default: the basis of the country's order, :func:`basis_for`), at ``min_tier`` or
    better. The row-by-row twin of :func:`located_where`."""
    cc = country.strip().upper()
    answers = {"capture": capture, "residence": residence}
    return any(answers[a][0] == cc and TIER_RANK.get(answers[a][1], 0) >= max(1, TIER_RANK[min_tier])
               for a in BASIS_ANSWERS[basis or basis_for(cc)])


#: what Clearview AI answered the CNIL's order (its CEO, to AFP, October 2022): the claim the report tests for France
CLEARVIEW_CLAIM = (
    "there is no way to determine if a person has French citizenship purely from a public photo from the "
    "internet, therefore it is impossible to delete data from French residents"
)
#: how the other countries' people are named in the same argument (adjective of citizenship, residents)
_PEOPLE: dict[str, tuple[str, str]] = {"IT": ("Italian", "Italian residents"), "GR": ("Greek", "Greek residents"),
                                       "NL": ("Dutch", "Dutch residents"), "GB": ("British", "UK residents")}


@dataclass(frozen=True, slots=True)
class Claim:
    """The claim a report tests: ``kind`` is ``quote`` (Clearview's own words, France), ``paraphrase`` (the same
    argument applied to another country with an order: not a quote), ``question`` (a country without a known order:
    a neutral question, not anyone's claim) or ``given`` (``--claim``)."""

    text: str
    kind: str
    source: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "kind": self.kind, "source": self.source}


def claim_for(country: str, given: str | None = None) -> Claim:
    """The claim tested for ``country`` (ISO alpha-2): ``given`` when there is one (``--claim``), Clearview's answer
    to the CNIL for FR, that argument applied to the country's people where an order is declared (said to be a
    paraphrase), and a neutral question elsewhere."""
    cc = country.strip().upper()
    if given is not None:
        return Claim(given, "given", None)
    order = order_for(cc)
    if cc == "FR" and order is not None:
        return Claim(CLEARVIEW_CLAIM, "quote", f"Clearview AI, answering the {order.name}'s {order.year} order to "
                     "delete the data of people in France")
    if order is not None and cc in _PEOPLE:
        adjective, residents = _PEOPLE[cc]
        return Claim(f"The claim tested: there is no way to determine if a person has {adjective} citizenship purely "
                     f"from a public photo from the internet, therefore it is impossible to delete data from "
                     f"{residents}.", "paraphrase",
                     f"A paraphrase, not a quote: the argument Clearview AI made to the CNIL in 2022, applied to the "
                     f"people covered by the {order.name}'s {order.year} order ({order.decision}).")
    return Claim(f"Can images of people located in {cc} be told apart from a public photo's signals?", "question",
                 f"No deletion order for {cc} is declared here: a neutral question, not a claim anyone made.")
