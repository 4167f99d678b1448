"""Country signals from a page's facts (:func:`audit.decode.pagefacts.page_facts`) and its response headers.

Declared language tags, geo.* meta tags, schema.org addresses and phone numbers. Each signal quotes the raw value it
came from. A tag naming a region (``fr-BE``) points at that country (MEDIUM); a bare language (``fr``) is consistent
with every country where the language is official, so it yields one WEAK signal per such country with weight 1/n.
A phone number in national format is read in the ccTLD's region or, on a page without one, in the regions the page's
own tags name (:func:`phone_hints`): MEDIUM when they agree, WEAK otherwise.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
import pycountry

from audit.httputil import header_values
from audit.signals.base import Signal, Strength
from audit.signals.host import cctld_country
from audit.signals.kinds import signal_kind
from audit.signals.languages import LangTag, country_code, language_countries, parse_tag

logger = logging.getLogger(__name__)

MAX_TAGS = 20  # language tags read from one header or field
MAX_VALUE = 500
NEAR_BORDER_KM = 25.0

# Country names as written in their own languages, which pycountry (English names) does not know.
NATIVE_COUNTRY_NAMES = {
    "deutschland": "DE", "österreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "svizra": "CH",
    "belgique": "BE", "belgië": "BE", "belgie": "BE", "belgien": "BE", "nederland": "NL", "españa": "ES",
    "espana": "ES", "italia": "IT", "polska": "PL", "česko": "CZ", "česká republika": "CZ", "slovensko": "SK",
    "magyarország": "HU", "sverige": "SE", "norge": "NO", "danmark": "DK", "suomi": "FI", "ísland": "IS",
    "éire": "IE", "portugal": "PT", "brasil": "BR", "méxico": "MX", "ελλάδα": "GR", "hrvatska": "HR",
    "slovenija": "SI", "românia": "RO", "lëtzebuerg": "LU", "luxemburg": "LU", "türkiye": "TR", "uk": "GB",
    "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "usa": "US", "u.s.a.": "US", "united states of america": "US", "россия": "RU", "україна": "UA",
}


def _clip(value: str, limit: int = 120) -> str:
    value = re.sub(r"\s+", " ", value).strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _str(value: Any) -> str | None:
    return value[:MAX_VALUE] if isinstance(value, str) and value.strip() else None


def _list(value: Any) -> list[Any]:
    """A facts field that should be a list (JSON array); anything else (a stray string, dict, number) counts as
    empty."""
    return list(value) if isinstance(value, list | tuple) else []


def _split_tags(value: str) -> list[str]:
    """``fr-CH, de-CH;q=0.8`` -> ``["fr-CH", "de-CH"]``."""
    tags = []
    for part in value.split(",")[:MAX_TAGS]:
        tag = part.split(";", 1)[0].strip()
        if tag:
            tags.append(tag)
    return tags


def language_signals(
    kind: str, tags: Iterable[tuple[str, str]], *, region_strength: Strength | None = None
) -> list[Signal]:
    """Signals for language tags given as ``(tag, evidence)`` pairs, all from one field.

    Region-tagged values name their country (``region_strength``, by default the kind's registered strength:
    MEDIUM, WEAK for ``og_locale``) -- unless they name several countries, which then share a weight of 1 as WEAK
    signals; bare languages spread WEAK signals over their countries. A field's signals weigh 1 in total.
    """
    if region_strength is None:
        region_strength = signal_kind(kind).strength
    # A site writes the same few values on every page: each distinct field is worked out once (Signals are frozen).
    return list(_language_signals(kind, tuple(tags), region_strength))


@lru_cache(maxsize=16384)
def _language_signals(kind: str, tags: tuple[tuple[str, str], ...], region_strength: Strength) -> tuple[Signal, ...]:
    return tuple(_language_signals_uncached(kind, tags, region_strength))


def _language_signals_uncached(kind: str, tags: tuple[tuple[str, str], ...], region_strength: Strength
                               ) -> list[Signal]:
    parsed: list[tuple[LangTag, str]] = []
    for raw, evidence in tags:
        tag = parse_tag(raw)
        if tag is None:
            logger.debug("%s: ignoring language tag %r", kind, raw[:60])
            continue
        if tag.region is None and not language_countries(tag.language):
            continue
        parsed.append((tag, evidence))
    regional: dict[str, str] = {}
    for tag, evidence in parsed:
        if tag.region is not None:
            regional.setdefault(tag.region, evidence)
    if regional:
        if len(regional) == 1:
            (country, evidence), = regional.items()
            return [Signal(kind=kind, country=country, strength=region_strength, evidence=evidence)]
        n = len(regional)
        return [Signal(kind=kind, country=c, strength=Strength.WEAK, evidence=e, weight=1 / n,
                       detail={"candidates": str(n)}) for c, e in regional.items()]
    bare: dict[str, str] = {}
    for tag, evidence in parsed:
        bare.setdefault(tag.language, evidence)
    signals: list[Signal] = []
    for language, evidence in bare.items():
        countries = language_countries(language)
        weight = 1 / (len(countries) * len(bare))
        signals += [Signal(kind=kind, country=c, strength=Strength.WEAK, evidence=evidence, weight=weight,
                           detail={"language": language, "candidates": str(len(countries))}) for c in countries]
    return signals


def _header_values(headers: Mapping[str, Any], name: str) -> list[str]:
    return header_values(headers, name, max_length=MAX_VALUE, max_values=MAX_TAGS)


def _norm_url(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    return f"{netloc}{path}?{parts.query}" if parts.query else f"{netloc}{path}"


def _hreflang_signals(facts: Mapping[str, Any]) -> list[Signal]:
    pairs = [p for p in _list(facts.get("hreflang")) if isinstance(p, list | tuple) and len(p) == 2
             and isinstance(p[0], str)][:50]
    if not pairs:
        return []
    selves = {u for u in (_norm_url(x) for x in (_str(facts.get("url")), _str(facts.get("canonical"))) if x) if u}
    if selves:
        # Only the entries pointing at this page say what this page is; the others describe its alternates.
        pairs = [p for p in pairs if isinstance(p[1], str) and _norm_url(p[1]) in selves]
    tags = [(p[0], f'<link rel="alternate" hreflang="{_clip(p[0], 40)}">') for p in pairs]
    return language_signals("hreflang", tags)


def _parse_position(value: str) -> tuple[float, float] | None:
    parts = [p for p in re.split(r"[;,\s]+", value.strip()) if p]
    if len(parts) != 2:
        return None
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:  # "Null Island": an unset default, not a place
        return None
    return lat, lon


def _position_signal(kind: str, value: str, evidence: str) -> list[Signal]:
    return list(_position_signal_cached(kind, value, evidence))


@lru_cache(maxsize=16384)
def _position_signal_cached(kind: str, value: str, evidence: str) -> tuple[Signal, ...]:
    return tuple(_position_signal_uncached(kind, value, evidence))


def _position_signal_uncached(kind: str, value: str, evidence: str) -> list[Signal]:
    pos = _parse_position(value)
    if pos is None:
        return []
    try:
        from audit.signals.geo import country_at  # another module; imported lazily
    except ImportError:
        logger.warning("audit.signals.geo is not available: %s ignored", kind)
        return []
    hit = country_at(*pos)
    if hit is None:
        return []
    code = country_code(hit.country)
    if code is None:
        return []
    detail = {"position": f"{pos[0]:.5f},{pos[1]:.5f}"}
    if hit.border_km is not None and hit.border_km <= NEAR_BORDER_KM:
        detail["near_border_km"] = f"{hit.border_km:.1f}"
    return [Signal(kind=kind, country=code, strength=Strength.MEDIUM, evidence=evidence, detail=detail)]


@lru_cache(maxsize=4096)
def _geo_region_signals(value: str) -> tuple[Signal, ...]:
    m = re.fullmatch(r"\s*([A-Za-z]{2})(?:-([A-Za-z0-9]{1,3}))?\s*", value)
    if m is None:
        return ()
    code = country_code(m.group(1))
    if code is None:
        return ()
    detail = {}
    if m.group(2):
        sub = f"{code}-{m.group(2).upper()}"
        detail["subdivision"] = sub
        detail["known_subdivision"] = "yes" if pycountry.subdivisions.get(code=sub) is not None else "no"
    return (Signal(kind="geo_region", country=code, strength=Strength.MEDIUM,
                   evidence=f'<meta name="geo.region" content="{_clip(value, 40)}">', detail=detail),)


@lru_cache(maxsize=16384)
def address_country(value: str) -> str | None:
    """The ISO alpha-2 code a schema.org ``addressCountry`` value stands for (code, alpha-3 or name), or ``None``."""
    text = value.strip()
    if not text or len(text) > 100:
        return None
    if text.lower().startswith(("http://", "https://")):  # e.g. https://www.wikidata.org/... or .../Country/FR
        text = text.rstrip("/").rsplit("/", 1)[-1]
    if len(text) == 2 and text.isalpha():
        return country_code(text)
    native = NATIVE_COUNTRY_NAMES.get(text.lower())
    if native:
        return native
    if not any(ch.isalpha() for ch in text):
        return None  # numeric codes are too easily something else (a postal code)
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        return None
    return str(country.alpha_2)


# Kinds whose countries a page declares about itself (a region subtag, a geo.region, a postal address): the region
# hints a national-format phone number is read with on a page without a country domain. og:locale is left out: CMSs
# write en_US on sites of any country.
PHONE_HINT_KINDS = frozenset({"html_lang", "content_language", "hreflang", "geo_region", "schema_address"})
_STRENGTH_RANK = {Strength.STRONG: 0, Strength.MEDIUM: 1, Strength.WEAK: 2}


def phone_hints(signals: Iterable[Signal]) -> frozenset[str]:
    """The countries a page's own signals name (``PHONE_HINT_KINDS``; a bare language names none): the regions a
    national-format phone number on a page without a country domain is tried in."""
    return frozenset(s.country for s in signals if s.kind in PHONE_HINT_KINDS and "language" not in s.detail)


def phone_signals(phones: Iterable[str], default_region: str | None,
                  hints: Iterable[str] = ()) -> list[Signal]:
    """``phone`` signals for candidates that parse as valid numbers, at most one per country (the strongest).

    International numbers (``+``, ``00``) name their country (MEDIUM). A national-format number is read in
    ``default_region`` (the page's ccTLD) when there is one (MEDIUM). Without one it is read in each region of
    ``hints`` (:func:`phone_hints`): MEDIUM only when the hints agree (one country) and the number is valid there;
    otherwise WEAK, spread with weight 1/n over the n countries it is valid in. Without either, it says nothing."""
    hint_set = frozenset(h for h in hints if isinstance(h, str))
    best: dict[str, Signal] = {}
    for raw in list(phones)[:20]:
        if not isinstance(raw, str) or len(raw) > 60:
            continue
        for signal in _phone_read(raw, default_region, hint_set):
            current = best.get(signal.country)
            if current is None or _phone_rank(signal) < _phone_rank(current):
                best[signal.country] = signal
    return list(best.values())


def _phone_rank(signal: Signal) -> tuple[int, float]:
    return _STRENGTH_RANK[signal.strength], -signal.weight


@lru_cache(maxsize=65536)
def _phone_read(raw: str, default_region: str | None, hints: frozenset[str]) -> tuple[Signal, ...]:
    """The signals of one phone number on one page (a site repeats its number on every page, so each is read
    once)."""
    signal = _phone_signal(raw, default_region)
    if signal is not None:
        return (signal,)
    if default_region is not None or not hints or _international(raw):
        return ()
    found: dict[str, str] = {}
    for hint in sorted(hints):
        try:
            number = phonenumbers.parse(raw, hint)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        region = phonenumbers.region_code_for_number(number)
        code = country_code(region) if region and region != "001" else None
        if code is not None:
            found.setdefault(code, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    if not found:
        return ()
    agree = len(hints) == 1 and set(found) == set(hints)
    listed = ", ".join(sorted(hints))
    if agree:
        (code, e164), = found.items()
        return (Signal(kind="phone", country=code, strength=Strength.MEDIUM, evidence=f"phone {_clip(raw, 40)}",
                       detail={"e164": e164, "format": f"national (region hint {listed})"}),)
    n = len(found)
    return tuple(Signal(kind="phone", country=code, strength=Strength.WEAK, evidence=f"phone {_clip(raw, 40)}",
                        weight=1 / n, detail={"e164": e164, "format": f"national (region hints {listed} disagree)",
                                              "candidates": str(n)})
                 for code, e164 in found.items())


def _international(raw: str) -> bool:
    return raw.strip().startswith(("+", "00"))


@lru_cache(maxsize=65536)
def _phone_signal(raw: str, default_region: str | None) -> Signal | None:
    """The signal of one phone number read in ``default_region`` (or international), or ``None``."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    region = phonenumbers.region_code_for_number(number)
    code = country_code(region) if region and region != "001" else None
    if code is None:
        return None
    international = _international(raw)
    detail = {"e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
              "format": "international" if international else f"national (region {default_region})"}
    return Signal(kind="phone", country=code, strength=Strength.MEDIUM, evidence=f"phone {_clip(raw, 40)}",
                  detail=detail)


def page_signals(facts: Mapping[str, Any], headers: Mapping[str, Any]) -> list[Signal]:
    """Every country signal of one page: ``html_lang``, ``content_language``, ``og_locale``, ``hreflang``,
    ``geo_region``, ``geo_position``, ``icbm``, ``schema_address``, ``phone``."""
    facts = facts or {}
    signals: list[Signal] = []

    lang = _str(facts.get("html_lang"))
    if lang:
        signals += language_signals("html_lang", [(lang, f'<html lang="{_clip(lang, 40)}">')])

    tags: list[tuple[str, str]] = []
    for value in _header_values(headers or {}, "content-language"):
        tags += [(t, f"Content-Language: {_clip(value, 60)}") for t in _split_tags(value)]
    meta_language = _str(facts.get("meta_language"))
    if meta_language and not tags:  # the header wins over its <meta http-equiv> copy
        evidence = f'<meta http-equiv="content-language" content="{_clip(meta_language, 60)}">'
        tags = [(t, evidence) for t in _split_tags(meta_language)]
    if tags:
        signals += language_signals("content_language", tags[:MAX_TAGS])

    og = _str(facts.get("og_locale"))
    if og:
        # og:locale is WEAK even with a region (its registered strength): CMSs and Facebook's own default write
        # en_US on sites of any country
        signals += language_signals("og_locale", [(og, f'<meta property="og:locale" content="{_clip(og, 40)}">')])

    signals += _hreflang_signals(facts)

    region = _str(facts.get("geo_region"))
    if region:
        signals += _geo_region_signals(region)
    position = _str(facts.get("geo_position"))
    if position:
        signals += _position_signal("geo_position", position,
                                    f'<meta name="geo.position" content="{_clip(position, 60)}">')
    icbm = _str(facts.get("icbm"))
    if icbm:
        signals += _position_signal("icbm", icbm, f'<meta name="ICBM" content="{_clip(icbm, 60)}">')

    seen: set[str] = set()
    for value in _list(facts.get("addresses"))[:20]:
        if not isinstance(value, str):
            continue
        code = address_country(value)
        if code is None or code in seen:
            continue
        seen.add(code)
        signals.append(Signal(kind="schema_address", country=code, strength=Strength.MEDIUM,
                              evidence=f'schema.org addressCountry "{_clip(value, 60)}"'))

    phones = [p for p in _list(facts.get("phones")) if isinstance(p, str)]
    if phones:
        url = _str(facts.get("url"))
        try:
            host = urlsplit(url).hostname if url else None
        except ValueError:
            host = None
        cc = cctld_country(host)
        signals += phone_signals(phones, cc[0] if cc else None, () if cc else phone_hints(signals))
    return signals
