"""Country tables shared by the signal extractors: ISO 3166-1 codes and names (pycountry) to alpha-2.

Matching is exact after case folding and collapsing blanks: no fuzzy matching, no prefixes, no guessing. A value that
could name two countries ("Congo" alone is pycountry's name of CG, so kept; "Korea", "Guinea"... are not names here)
resolves to nothing. ``OTHER_NAMES`` adds the exonyms and endonyms met in captions of the countries the audit cares
about most; a name that is already a pycountry name of another country is refused when the table is built.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import pycountry

log = logging.getLogger(__name__)

# Codes outside ISO 3166-1 that are still used for one country: "UK" (ISO exceptionally reserved for GB, and the
# United Kingdom's own usage) and "EL" (the EU's code for Greece).
CODE_ALIASES: dict[str, str] = {"UK": "GB", "EL": "GR"}

# Other names (native, other-language, usual short forms) -> alpha-2. Only unambiguous names.
OTHER_NAMES: dict[str, str] = {
    # France
    "Frankreich": "FR", "Francia": "FR", "Frankrijk": "FR", "França": "FR", "République française": "FR",
    # Germany
    "Deutschland": "DE", "Allemagne": "DE", "Germania": "DE", "Alemania": "DE", "Duitsland": "DE", "Alemanha": "DE",
    "Bundesrepublik Deutschland": "DE",
    # Italy
    "Italia": "IT", "Italie": "IT", "Italien": "IT", "Italië": "IT",
    # Spain
    "España": "ES", "Espana": "ES", "Espagne": "ES", "Spanien": "ES", "Spagna": "ES", "Spanje": "ES", "Espanha": "ES",
    # Belgium
    "Belgique": "BE", "België": "BE", "Belgie": "BE", "Belgien": "BE", "Belgio": "BE", "Bélgica": "BE",
    # Switzerland
    "Suisse": "CH", "Schweiz": "CH", "Svizzera": "CH", "Svizra": "CH", "Suiza": "CH", "Zwitserland": "CH",
    "Confoederatio Helvetica": "CH",
    # Netherlands
    "Nederland": "NL", "Pays-Bas": "NL", "Niederlande": "NL", "Paesi Bassi": "NL", "Países Bajos": "NL",
    "Holland": "NL", "The Netherlands": "NL",
    # United Kingdom
    "Royaume-Uni": "GB", "UK": "GB", "U.K.": "GB", "Great Britain": "GB", "Vereinigtes Königreich": "GB",
    "Regno Unito": "GB", "Reino Unido": "GB", "Verenigd Koninkrijk": "GB", "Britain": "GB",
    # United States
    "USA": "US", "U.S.A.": "US", "US": "US", "U.S.": "US", "United States of America": "US",
    "États-Unis": "US", "Etats-Unis": "US", "Vereinigte Staaten": "US", "Stati Uniti": "US", "Estados Unidos": "US",
    # Canada, Portugal, Luxembourg, Austria, Monaco, Ireland
    "Kanada": "CA", "Portogallo": "PT", "Luxemburg": "LU", "Lussemburgo": "LU", "Lëtzebuerg": "LU",
    "Österreich": "AT", "Autriche": "AT", "Austria": "AT", "Monaco": "MC", "Irlande": "IE", "Irland": "IE",
    "Éire": "IE",
}


def normalise(text: str) -> str:
    """``text`` case-folded, with runs of blanks collapsed to one space and the ends stripped."""
    return re.sub(r"\s+", " ", text).strip().casefold()


@lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    """``{normalised name: alpha-2}`` from pycountry (name, official and common names) and :data:`OTHER_NAMES`."""
    table: dict[str, str] = {}
    clashes: set[str] = set()
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if not value:
                continue
            key = normalise(value)
            if table.get(key, country.alpha_2) != country.alpha_2:
                clashes.add(key)
            table[key] = country.alpha_2
    for name, code in OTHER_NAMES.items():
        key = normalise(name)
        if table.get(key, code) != code:
            log.warning("country name %r is %s in pycountry, not %s: left out", name, table[key], code)
            clashes.add(key)
        table.setdefault(key, code)
    for key in clashes:
        table.pop(key, None)
    return table


def country_from_code(code: str | None) -> str | None:
    """Alpha-2 from an ISO 3166-1 alpha-2 or alpha-3 code (any case), or "UK"/"EL"; None otherwise."""
    if not code:
        return None
    text = code.strip().upper()
    if text in CODE_ALIASES:
        return CODE_ALIASES[text]
    if not text.isascii() or not text.isalpha():
        return None
    found = None
    if len(text) == 2:
        found = pycountry.countries.get(alpha_2=text)
    elif len(text) == 3:
        found = pycountry.countries.get(alpha_3=text)
    return str(found.alpha_2) if found is not None else None


def country_from_name(name: str | None) -> str | None:
    """Alpha-2 from a country name matched exactly (case-insensitive) against :func:`country_names`."""
    if not name:
        return None
    return country_names().get(normalise(name))
