"""Language tags and the countries a language points to.

``LANGUAGE_COUNTRIES`` maps an ISO 639-1 code (or ISO 639-3 where no 639-1 code exists) to the sovereign states where
the language is official at national level, co-official at regional level (Catalan in Spain, German in Belgium,
Albanian in North Macedonia) or, for a regional language with no official status, spoken natively by an established
community (Breton, Corsican in France). Dependent territories with their own ISO code (Réunion, Greenland, Puerto Rico,
Hong Kong...) are left out of the bare-language lists: a bare ``fr`` already spreads over many countries; a region
subtag (``fr-RE``, ``zh-HK``) still names them. Languages spoken across too many places to say anything (Latin,
Esperanto) are absent on purpose: they yield no signal.

Sources: each country's constitution or language law as summarised in the CIA World Factbook "Languages" field and
Wikipedia's "List of official languages by country and territory" (2024). Recent changes applied: Mali (2023) and
Burkina Faso (2024) made French a working language only; Niger's 2025 charter did the same; Israel's 2018 nation-state
law gave Arabic a "special status" rather than official status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pycountry

MAX_TAG = 64  # longest language tag considered, in characters

_EN = (
    "GB US IE CA AU NZ MT AG BS BB BZ BW BI CM DM SZ FJ GM GH GD GY IN JM KE KI LS LR MW MH MU FM NA NR NG PK PW PG "
    "PH RW KN LC VC WS SC SL SG SB ZA SS SD TZ TO TT TV UG VU ZM ZW"
)
_FR = "FR BE CH CA LU MC BJ BI CM CF TD KM CG CD CI DJ GQ GA GN HT MG RW SN SC TG VU"
_ES = "ES MX CO AR PE VE CL EC GT CU BO DO HN PY SV NI CR PA UY GQ"
_AR = "DZ BH KM TD DJ EG IQ JO KW LB LY MR MA OM PS QA SA SO SD SY TN AE YE"

LANGUAGE_COUNTRIES: dict[str, tuple[str, ...]] = {
    code: tuple(countries.split())
    for code, countries in {
        # Romance
        "fr": _FR,
        "es": _ES,
        "pt": "PT BR AO MZ CV GW ST TL GQ",
        "it": "IT CH SM VA",
        "ro": "RO MD",
        "ca": "ES AD",
        "gl": "ES",
        "oc": "FR ES IT MC",
        "co": "FR",
        "wa": "BE",
        "rm": "CH",
        # Germanic
        "en": _EN,
        "de": "DE AT CH LI LU BE",
        "nl": "NL BE SR",
        "lb": "LU",
        "fy": "NL",
        "da": "DK",
        "sv": "SE FI",
        "nb": "NO",
        "nn": "NO",
        "no": "NO",
        "is": "IS",
        "af": "ZA NA",
        # Celtic
        "ga": "IE GB",
        "cy": "GB",
        "gd": "GB",
        "br": "FR",
        # Basque, Finno-Ugric, Baltic, Greek, Maltese
        "eu": "ES",
        "fi": "FI",
        "et": "EE",
        "hu": "HU",
        "lv": "LV",
        "lt": "LT",
        "el": "GR CY",
        "mt": "MT",
        "sq": "AL MK",
        # Slavic
        "pl": "PL",
        "cs": "CZ",
        "sk": "SK",
        "sl": "SI",
        "hr": "HR BA",
        "sr": "RS BA",
        "bs": "BA",
        "mk": "MK",
        "bg": "BG",
        "uk": "UA",
        "be": "BY",
        "ru": "RU BY KZ KG",
        # Caucasus, Turkic, Iranian
        "ka": "GE",
        "hy": "AM",
        "az": "AZ",
        "tr": "TR CY",
        "kk": "KZ",
        "ky": "KG",
        "uz": "UZ",
        "tk": "TM",
        "fa": "IR AF",
        "tg": "TJ",
        "ps": "AF",
        "ku": "IQ",
        # Semitic and African
        "ar": _AR,
        "he": "IL",
        "am": "ET",
        "sw": "TZ KE UG RW",
        "so": "SO",
        "rw": "RW",
        "mg": "MG",
        "zu": "ZA",
        "xh": "ZA",
        # South and East Asia, Pacific
        "hi": "IN",
        "bn": "BD IN",
        "ur": "PK IN",
        "pa": "IN PK",
        "ta": "IN LK SG",
        "te": "IN",
        "mr": "IN",
        "gu": "IN",
        "kn": "IN",
        "ml": "IN",
        "or": "IN",
        "as": "IN",
        "ne": "NP",
        "si": "LK",
        "dv": "MV",
        "zh": "CN TW SG",
        "ja": "JP",
        "ko": "KR KP",
        "mn": "MN",
        "vi": "VN",
        "th": "TH",
        "lo": "LA",
        "km": "KH",
        "my": "MM",
        "id": "ID",
        "ms": "MY BN SG",
        "tl": "PH",
        "fil": "PH",
        "jv": "ID",
        "su": "ID",
        "mi": "NZ",
        "sm": "WS",
        "to": "TO",
        "fj": "FJ",
        "qu": "PE BO EC",
        "gn": "PY BO",
        "ht": "HT",
    }.items()
}

# Deprecated or macro-language codes still seen in the wild.
_LANGUAGE_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "sh": "sr", "zsm": "ms", "fil": "tl"}
# Region subtags that are not ISO 3166-1 codes but are used for one: "en-UK" always means the United Kingdom.
_REGION_ALIASES = {"UK": "GB"}

_SUBTAG = re.compile(r"^[A-Za-z0-9]{1,8}$")


@dataclass(frozen=True, slots=True)
class LangTag:
    """A parsed language tag: ``language`` lower case (after aliases), ``region`` an ISO alpha-2 code or ``None``."""

    language: str
    region: str | None
    raw: str


@lru_cache(maxsize=4096)
def known_language(code: str) -> bool:
    """Whether ``code`` (lower case, 2-3 letters) is a real ISO 639 language code."""
    if code in LANGUAGE_COUNTRIES:
        return True
    if len(code) == 2:
        return pycountry.languages.get(alpha_2=code) is not None
    if len(code) == 3:
        return pycountry.languages.get(alpha_3=code) is not None
    return False


@lru_cache(maxsize=4096)
def country_code(code: str) -> str | None:
    """The ISO 3166-1 alpha-2 code ``code`` stands for (``UK`` -> ``GB``), or ``None`` if it is not a country."""
    code = _REGION_ALIASES.get(code.upper(), code.upper())
    if len(code) != 2 or not code.isalpha():
        return None
    return code if pycountry.countries.get(alpha_2=code) is not None else None


def parse_tag(raw: str | None) -> LangTag | None:
    """Parse a BCP 47 / POSIX language tag (``fr``, ``fr-BE``, ``fr_CA``, ``zh-Hant-TW``, ``de-CH-1996``).

    Returns ``None`` for ``x-default``, private-use and grandfathered tags, unknown languages (``xx``), unknown regions
    (``fr-ZZ``) and numeric regions (``es-419``: a group of countries, not one)."""
    if not raw:
        return None
    text = raw.strip()
    if not text or len(text) > MAX_TAG:
        return None
    text = text.split(".", 1)[0].split("@", 1)[0]  # POSIX locales: fr_FR.UTF-8@euro
    parts = re.split(r"[-_]", text)
    if any(not _SUBTAG.match(p) for p in parts):
        return None
    lang = parts[0].lower()
    if not (2 <= len(lang) <= 3 and lang.isalpha()):
        return None
    lang = _LANGUAGE_ALIASES.get(lang, lang)
    if not known_language(lang):
        return None
    region: str | None = None
    rest = parts[1:]
    i = 0
    while i < len(rest) and len(rest[i]) == 3 and rest[i].isalpha():  # extended language subtags (zh-yue)
        i += 1
    if i < len(rest) and len(rest[i]) == 4 and rest[i].isalpha():  # script (Hant, Latn)
        i += 1
    if i < len(rest):
        sub = rest[i]
        if len(sub) == 2 and sub.isalpha():
            region = country_code(sub)
            if region is None:
                return None
        elif len(sub) == 3 and sub.isdigit():
            return None
    return LangTag(language=lang, region=region, raw=raw.strip()[:MAX_TAG])


def language_countries(language: str) -> tuple[str, ...]:
    """The countries where ``language`` (ISO 639 code) is official or natively spoken, or ``()`` if unknown."""
    lang = language.strip().lower()
    lang = _LANGUAGE_ALIASES.get(lang, lang)
    return LANGUAGE_COUNTRIES.get(lang, ())
