"""The registry of signal kinds: every kind of :class:`~audit.signals.base.Signal` an extractor can emit, and every
kind of :class:`~audit.signals.base.OptOut`, declared once, as data.

Everything else reads it: :class:`~audit.signals.base.Signal` refuses a kind not declared here, the attribution takes
each kind's family and evidence key from it, the audit's SQL the image columns a kind needs, the evaluation and the
report what a kind says, and ``python -m audit.docs`` writes the kinds table of docs/signals.md from it. Adding a
kind is one extractor plus one entry in :data:`KINDS`.

This module imports nothing of the project: it is safe to import from anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Strength(StrEnum):
    """How much one signal says about a country (the reasons per kind are in docs/signals.md).

    - strong: the value names a place directly and is rarely wrong about it (EXIF GPS, IPTC/XMP location,
      geo.position on a local page);
    - medium: points to a country but is often shared or copied (ccTLD, region-tagged language, schema.org address,
      national phone number);
    - weak: consistent with several countries or easily misleading (UTC offset, bare language, server IP).

    Each kind's strength (:attr:`SignalKind.strength`) is the most its extractor gives; it may give less."""

    STRONG = "strong"
    MEDIUM = "medium"
    WEAK = "weak"


STRENGTH_RANK = {Strength.WEAK: 0, Strength.MEDIUM: 1, Strength.STRONG: 2}


class Says(StrEnum):
    """Whose country a kind's country is. No kind says where a person lives: the residence is what the attribution
    infers from them."""

    CAPTURE_PLACE = "capture place"  # where the photo was taken (or the place its caption or claim names)
    PUBLISHER = "publisher"  # where the site showing the image is, as it declares or registers itself
    AUDIENCE = "audience"  # the language or market a page or a text is written for
    HOST = "host"  # where the file or page is served from, by registration or address


class Answer(StrEnum):
    """Which of the attribution's two answers a kind speaks for (docs/attribution.md, "Two answers"). The deletion
    orders ask either where people are *located* (the place a photo was taken counts) or where they *reside*."""

    CAPTURE = "capture"  # where the photo was taken
    RESIDENCE = "residence"  # where the person probably lives: the publisher's and the audience's country
    HOSTING = "hosting"  # where the file or page is served from: counts, weakly, toward residence


#: What each ``Says`` speaks for: the answer of a kind follows from whose country it gives.
ANSWER_OF_SAYS: Mapping[Says, Answer] = MappingProxyType({
    Says.CAPTURE_PLACE: Answer.CAPTURE,
    Says.PUBLISHER: Answer.RESIDENCE,
    Says.AUDIENCE: Answer.RESIDENCE,
    Says.HOST: Answer.HOSTING,
})


class Family(StrEnum):
    """Kinds of one family come from one source, often written by one tool at one time, so they are not independent
    evidence: the attribution's strong tier asks for two families (docs/attribution.md)."""

    IMAGE = "image"
    PAGE = "page"
    PAGE_HOST = "page_host"
    IMAGE_HOST = "image_host"
    TEXT = "text"
    PLACE = "place"
    NETWORK = "network"


FAMILY_DOCS: Mapping[Family, str] = MappingProxyType({
    Family.IMAGE: "the image's own metadata (EXIF, IPTC, XMP, C2PA), written by the same cameras and photographers' "
                  "tools",
    Family.PAGE: "what the page says about itself (languages, geo tags, address, phone), set by one publisher",
    Family.PAGE_HOST: "the page's host name",
    Family.IMAGE_HOST: "the image's host name",
    Family.TEXT: "the image's alt text and caption",
    Family.PLACE: "the places named in the image's alt text, caption and URL (offline gazetteer)",
    Family.NETWORK: "the address of the server that sent the page",
})


@dataclass(frozen=True, slots=True)
class SignalKind:
    """One kind of country signal.

    ``strength`` is what an unambiguous, uncontradicted value gets; an extractor may only lower it (a bare language,
    IPTC contradicting XMP, an invalid C2PA manifest). ``needs`` lists stored values, as ``table.column``, at least
    one of which is set whenever the kind can fire: the audit reads only the images that have one of the
    ``images.*`` ones. ``same_evidence_as`` names a kind this one is a copy of (written by one setting at once): the
    attribution counts the two as one piece of evidence."""

    name: str
    family: Family
    strength: Strength
    says: Says
    needs: tuple[str, ...]
    doc: str
    same_evidence_as: str | None = None

    @property
    def answer(self) -> Answer:
        """Which answer of the attribution this kind's evidence counts toward (:data:`ANSWER_OF_SAYS`)."""
        return ANSWER_OF_SAYS[self.says]

    @property
    def evidence_key(self) -> str:
        """The name the attribution counts this kind's evidence under (rule 2 of docs/attribution.md)."""
        return self.same_evidence_as or self.name


@dataclass(frozen=True, slots=True)
class OptOutKind:
    """One kind of opt-out or consent signal (:class:`~audit.signals.base.OptOut`)."""

    name: str
    doc: str


KINDS: tuple[SignalKind, ...] = (
    # --- the image's own bytes (docs/signals-image.md, docs/signals-c2pa.md) ---
    SignalKind("exif_gps", Family.IMAGE, Strength.STRONG, Says.CAPTURE_PLACE, ("images.gps_lat",),
               "The GPS position (EXIF, else XMP), reverse-geocoded offline; `near_border_km` within 5 km of a "
               "border."),
    SignalKind("xmp_location", Family.IMAGE, Strength.STRONG, Says.CAPTURE_PLACE, ("images.xmp", "images.location"),
               "The XMP location's country code or name (Iptc4xmpCore/photoshop, else LocationCreated, else "
               "LocationShown)."),
    SignalKind("iptc_location", Family.IMAGE, Strength.STRONG, Says.CAPTURE_PLACE, ("images.iptc", "images.location"),
               "The IPTC IIM country code (2:100) or name (2:101); medium when it contradicts XMP."),
    SignalKind("c2pa_location", Family.IMAGE, Strength.STRONG, Says.CAPTURE_PLACE, ("images.c2pa",),
               "A place signed into the active C2PA manifest (CreativeWork location, EXIF GPS, country); medium when "
               "the manifest does not validate."),
    SignalKind("dataset_exif_gps", Family.IMAGE, Strength.STRONG, Says.CAPTURE_PLACE, ("sightings.attributes",),
               "The GPS position of the EXIF img2dataset recorded of the original (a sample's `.json`), used only "
               "when the bytes it kept carry no GPS (it re-encodes them): read and checked like `exif_gps`.",
               same_evidence_as="exif_gps"),
    SignalKind("utc_offset", Family.IMAGE, Strength.WEAK, Says.CAPTURE_PLACE, ("images.utc_offset",),
               "The capture time's UTC offset: one 1/n signal per country using it at that date (camera clocks are "
               "often stale)."),
    # --- the page (docs/signals-page.md) ---
    SignalKind("html_lang", Family.PAGE, Strength.MEDIUM, Says.AUDIENCE, ("pages.facts",),
               "`<html lang>`: a region subtag names its country; a bare language spreads weak 1/n signals over the "
               "countries where it is official."),
    SignalKind("content_language", Family.PAGE, Strength.MEDIUM, Says.AUDIENCE, ("pages.headers", "pages.facts"),
               "The `Content-Language` header (else its `<meta http-equiv>` copy), read like `html_lang`."),
    SignalKind("og_locale", Family.PAGE, Strength.WEAK, Says.AUDIENCE, ("pages.facts",),
               "`og:locale`: weak even with a region, `en_US` being a default of many CMSs."),
    SignalKind("hreflang", Family.PAGE, Strength.MEDIUM, Says.AUDIENCE, ("pages.facts",),
               "The `<link hreflang>` entries that point at the page itself, read like `html_lang`."),
    SignalKind("geo_region", Family.PAGE, Strength.MEDIUM, Says.PUBLISHER, ("pages.facts",),
               "`<meta name=\"geo.region\">`: the publisher's declared region."),
    SignalKind("geo_position", Family.PAGE, Strength.MEDIUM, Says.PUBLISHER, ("pages.facts",),
               "`<meta name=\"geo.position\">`, reverse-geocoded: a position set once in the site's theme."),
    SignalKind("icbm", Family.PAGE, Strength.MEDIUM, Says.PUBLISHER, ("pages.facts",),
               "`<meta name=\"ICBM\">`, reverse-geocoded; the plugins that write it write `geo.position` too.",
               same_evidence_as="geo_position"),
    SignalKind("schema_address", Family.PAGE, Strength.MEDIUM, Says.PUBLISHER, ("pages.facts",),
               "A schema.org `addressCountry` (JSON-LD, microdata, RDFa): the organisation's address."),
    SignalKind("phone", Family.PAGE, Strength.MEDIUM, Says.PUBLISHER, ("pages.facts",),
               "A valid phone number on the page (`tel:` links, JSON-LD, text): the publisher's contact."),
    # --- host names and the server ---
    SignalKind("page_cctld", Family.PAGE_HOST, Strength.MEDIUM, Says.PUBLISHER, ("sightings.page_host",),
               "The page host's country-code TLD (`.fr`, `.co.uk`); ccTLDs used for their letters (`.io`, `.tv`) "
               "give nothing."),
    SignalKind("page_geo_tld", Family.PAGE_HOST, Strength.MEDIUM, Says.PUBLISHER, ("sightings.page_host",),
               "The page host's geographic gTLD (`.paris`, `.berlin`)."),
    SignalKind("image_cctld", Family.IMAGE_HOST, Strength.MEDIUM, Says.HOST, ("sightings.image_host",),
               "The image host's country-code TLD."),
    SignalKind("image_geo_tld", Family.IMAGE_HOST, Strength.MEDIUM, Says.HOST, ("sightings.image_host",),
               "The image host's geographic gTLD."),
    SignalKind("server_ip", Family.NETWORK, Strength.WEAK, Says.HOST, ("pages.server_ip",),
               "The RIR delegation country of the address that served the page: for CDNs and clouds, the "
               "provider's."),
    # --- the alt text and caption ---
    SignalKind("alt_language", Family.TEXT, Strength.WEAK, Says.AUDIENCE, ("sightings.alt_text", "sightings.caption"),
               "The confidently detected language of the alt text or caption, spread 1/n over its countries."),
    SignalKind("place_in_text", Family.PLACE, Strength.MEDIUM, Says.CAPTURE_PLACE,
               ("sightings.alt_text", "sightings.caption", "sightings.heading", "sightings.image_url",
                "pages.title"),
               "A city, region, country or demonym named in the alt text, caption, nearest heading, page title or "
               "image URL path (GeoNames cities15000, ISO 3166): medium when qualified or unambiguous in alt text or "
               "caption, weak when resolved by population or the page's hints (ccTLD, geo.region, region subtags), "
               "a destination, in a heading, the page title (what the page is about) or a URL; an ambiguous name "
               "gives 1/n over at most 3 countries; stop-listed names need a qualifier or hint."),
)

OPT_OUT_KINDS: tuple[OptOutKind, ...] = (
    OptOutKind("robots_txt", "A robots.txt rule disallowing the URL to a crawler (`applies_to` names it)."),
    OptOutKind("x_robots_tag", "An `X-Robots-Tag` header directive (`noindex`, `noimageindex`, `noai`, ...)."),
    OptOutKind("meta_robots", "A `<meta name=\"robots\">` (or crawler-specific) directive."),
    OptOutKind("tdm_reservation", "A TDMRep reservation of text-and-data-mining rights (header, meta tag or "
                                  "`tdmrep.json`)."),
    OptOutKind("tdm_policy", "The TDMRep policy URL given with a reservation."),
    OptOutKind("c2pa_training", "A C2PA training-and-mining entry whose use is `notAllowed` or `constrained`."),
)



class Origin(StrEnum):
    """Whose declaration an opt-out is (the ``origin`` column of ``opt_outs``). One directive met in two places (the
    page publisher's tdmrep.json and the image host's) is two opt-outs, one per origin."""

    IMAGE_HOST = "image host"
    PAGE_PUBLISHER = "page publisher"
    IMAGE = "image"


ORIGIN_DOCS: Mapping[Origin, str] = MappingProxyType({
    Origin.IMAGE_HOST: "the host serving the image: its robots.txt and `/.well-known/tdmrep.json` applied to the "
                       "image URL, and the headers of the image response",
    Origin.PAGE_PUBLISHER: "the site of the page showing the image: its robots.txt and `/.well-known/tdmrep.json` "
                           "applied to the page URL, and the page's headers and meta tags (also when the image is "
                           "hosted elsewhere, on a CDN)",
    Origin.IMAGE: "the image itself: the training-and-mining assertions of its C2PA manifest, wherever it is found",
})

KINDS_BY_NAME: Mapping[str, SignalKind] = MappingProxyType({k.name: k for k in KINDS})
OPT_OUT_KINDS_BY_NAME: Mapping[str, OptOutKind] = MappingProxyType({k.name: k for k in OPT_OUT_KINDS})


def signal_kind(name: str) -> SignalKind:
    """The registered kind called ``name``; ``ValueError`` for any other name (an unknown kind is a bug, never a
    family of its own)."""
    try:
        return KINDS_BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown signal kind {name!r}: not declared in audit.signals.kinds.KINDS") from None


def opt_out_kind(name: str) -> OptOutKind:
    """The registered opt-out kind called ``name``; ``ValueError`` for any other name."""
    try:
        return OPT_OUT_KINDS_BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown opt-out kind {name!r}: not declared in audit.signals.kinds.OPT_OUT_KINDS") \
            from None


def kinds_of(family: Family | str) -> tuple[SignalKind, ...]:
    """The kinds of one family, in registry order (empty for a name that is no family)."""
    return tuple(k for k in KINDS if k.family == family)


def needed_columns(table: str) -> tuple[str, ...]:
    """The columns of ``table`` that some kind needs (``SignalKind.needs``), each once, in registry order."""
    out: dict[str, None] = {}
    for k in KINDS:
        for need in k.needs:
            t, _, column = need.partition(".")
            if t == table:
                out.setdefault(column)
    return tuple(out)


def _check(kinds: tuple[SignalKind, ...], opt_outs: tuple[OptOutKind, ...]) -> None:
    names = [k.name for k in kinds] + [o.name for o in opt_outs]
    if len(set(names)) != len(names):
        raise ValueError(f"a kind is declared twice: {sorted(n for n in names if names.count(n) > 1)}")
    by_name = {k.name: k for k in kinds}
    for k in kinds:
        same = by_name.get(k.same_evidence_as or k.name)
        if same is None or same.family != k.family or same.same_evidence_as is not None:
            raise ValueError(f"{k.name}: same_evidence_as must name a plain kind of the same family")
        if not k.needs or any(t.count(".") != 1 for t in k.needs):
            raise ValueError(f"{k.name}: needs must list table.column names")


_check(KINDS, OPT_OUT_KINDS)  # at import: a malformed registry never runs
if set(ANSWER_OF_SAYS) != set(Says):  # pragma: no cover - a registry edit that forgot one
    raise ValueError("every Says needs its answer in ANSWER_OF_SAYS")
if set(ORIGIN_DOCS) != set(Origin):  # pragma: no cover - a registry edit that forgot one
    raise ValueError("every opt-out origin needs its entry in ORIGIN_DOCS")
