"""Country signals from the places named in an image's texts (``place_in_text``): "Chloé in Strasbourg",
"preschool in Perth", ``/2019/lille/``.

A name is looked up in the offline gazetteer (:mod:`audit.signals.gazetteer`) and resolved like a careful reader
would: a qualifier in the text wins ("Paris, Texas", "Perth, Scotland", "London, Ontario"), then the page's other
signals passed in as ``hints`` ("Valencia" on a ``.es`` page), then a population that dwarfs the others ("Perth" alone
is Perth, Australia). What stays ambiguous gives a weak ``1/n`` signal per candidate country (at most
:data:`MAX_CANDIDATES`, and in prose only after a locative preposition: "in Valencia"), or nothing.

Strength (never more than the kind's medium): a city, region or country named in alt text, a caption or a ``title``
attribute, qualified or unambiguous, is medium; everything else is weak: a name resolved by hints or population, a
demonym ("française"), anything in a URL, the page title or a heading, a destination ("flight to Rome"), and a region
or a city under :data:`BARE_CITY_MEDIUM_MIN` people named by a bare capitalised word (no locative before it, no
qualifier after it: "Hartford Slim-Fit Trousers"); a bare town under :data:`BARE_CITY_POPULATION_MIN` gives nothing
("Lucas — Liège": Lucas, Brazil), and so does an alternate name ("Gold" for Gold Coast) without a locative or a
qualifier, or in a URL.
Names that are also common words, brands or people (:data:`STOP_NAMES`: Nice, Reading, Bath, Mobile, Jordan,
Georgia...) give nothing unless a qualifier or a hint supports them, and the phrases of :data:`STOP_PHRASES` ("Paris
Hilton", "French fries", "Swiss army knife") are skipped. In prose a name must be capitalised as written, unless
it follows a locative preposition ("in wirral"). Each text is bounded: :data:`MAX_CHARS` characters,
:data:`MAX_TOKENS` words, :data:`MAX_SIGNALS` places.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from audit.signals.base import Signal, Strength
from audit.signals.gazetteer import MAX_NAME_TOKENS, Match, Place, fold, gazetteer, tokens

logger = logging.getLogger(__name__)

WHERE = ("alt", "caption", "title", "page_title", "heading", "url")
PROSE_MEDIUM = frozenset({"alt", "caption", "title"})  # where a resolved place can be medium
MAX_CHARS = 2000  # characters of one text read
MAX_TOKENS = 300  # words of one text read
MAX_SIGNALS = 5  # places reported from one text
MAX_CANDIDATES = 3  # an ambiguous name with more candidate countries gives nothing
DOMINANCE = 5  # a city this many times more populous than every other candidate wins
URL_CITY_POPULATION_MIN = 100_000  # a bare word of a URL path names a city only if it is this large
# A city named by a bare capitalised word (no locative before it, no qualifier after it) may be a person, a brand or
# a product ("Lucas", "Hartford Slim-Fit Trousers", "Barba Napoli shirt"): under BARE_CITY_POPULATION_MIN people it
# gives nothing, under BARE_CITY_MEDIUM_MIN it is weak.
BARE_CITY_POPULATION_MIN = 100_000
BARE_CITY_MEDIUM_MIN = 1_000_000

# Names that are also common words, brands, people or foods: they give nothing without a qualifier or a hint.
STOP_NAMES = frozenset({
    "nice", "reading", "bath", "mobile", "jordan", "georgia", "split", "orange", "best", "police", "sale", "chad",
    "turkey", "china", "victoria", "florence", "chihuahua", "hope", "opportunity", "independence", "liberty",
    "aurora", "eugene", "jackson", "lincoln", "charlotte", "austin", "regina", "marion", "of", "bar", "moody",
    "normal", "paradise", "surprise", "temple", "eagle", "buffalo", "phoenix", "mercedes", "boulder", "salem",
    "nancy", "troy", "angers", "tours", "grand", "man", "pop", "ede", "goes", "ham", "hamm", "sue", "gap", "bra",
    "como", "ma", "la", "none", "vice", "cork", "derby", "wells", "jersey", "guernsey", "kent", "essex", "indiana",
    "virginia", "carolina", "adelaide", "alexandria", "camden", "columbia", "hamilton", "kingston", "richmond",
    "santa", "san", "gold", "spring", "vista", "santos", "pool", "mary", "falcon", "store", "male", "island",
    "kawasaki", "hitachi", "toyota", "mango", "edison", "hollywood", "hampton", "george", "hartford", "central",
    "french", "swiss", "german", "spanish", "italian", "english", "dutch",
})

# Phrases whose place name names no place: their words are skipped.
STOP_PHRASES = frozenset(tuple(p.split()) for p in (
    "paris hilton", "french fries", "french fry", "french toast", "french press", "french kiss", "french horn",
    "french door", "french doors", "french bulldog", "french braid", "french manicure", "swiss army",
    "swiss cheese", "swiss roll", "air jordan", "jordan sneakers", "jordan shoes", "jordan retro", "michael jordan",
    "german shepherd", "danish pastry", "turkish delight", "brussels sprouts", "boston terrier", "great dane",
    "panama hat", "canada goose", "new york times", "peugeot", "brie", "champagne", "cologne water",
    "eau de cologne", "hamburger", "frankfurter", "berliner", "camembert", "parmesan", "bordeaux wine",
))

_STOP_PHRASES_BY_FIRST_WORD: dict[str, list[tuple[str, ...]]] = {}
for _phrase in STOP_PHRASES:
    _STOP_PHRASES_BY_FIRST_WORD.setdefault(_phrase[0], []).append(_phrase)

# Prepositions after which a name written in lower case is still read ("used Peugeot 108 in wirral-cheshire").
LOCATIVES = frozenset({"in", "at", "near", "à", "a", "en", "au", "aux", "dans", "bei", "im", "nel", "nella", "cerca",
                       "près", "vicino", "te", "nahe", "around"})  # case-folded, accents kept: "à" is not "a"
# ... except that the English article "a" does not make a lower-case word a place ("makes a save": Savé, Benin)
_LOWER_CASE_LOCATIVES = LOCATIVES - {"a"}

# "flight to Rome", "vol pour Rome", "Flug nach Rom": a destination, not where the photo was taken.
_DESTINATION_WORDS = frozenset({
    "flight", "flights", "fly", "flying", "trip", "trips", "travel", "travelling", "traveling", "journey", "going",
    "moving", "move", "tickets", "vol", "vols", "voyage", "billet", "billets", "flug", "fluge", "reise",
    "ticket", "viaje", "vuelo", "vuelos", "volo", "voli", "viaggio", "vlucht", "vluchten", "reis", "bound",
})
_DESTINATION_PREPOSITIONS = frozenset({"to", "pour", "vers", "nach", "a", "per", "naar", "en", "in", "for"})

_QUALIFIER_SEPARATOR = re.compile(r"\s*(?:,|\(|-|/|–)?\s*")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class _Span:
    start: int  # index of the first word
    end: int  # index after the last word
    written: str  # the name as written in the text
    matches: tuple[Match, ...]


_YEAR = re.compile(r"(?:19|20)\d\d")


def url_text(url: str) -> str:
    """The words of a URL's path: percent-decoded, split on ``-``, ``_``, ``/``, ``.`` and camelCase (host and query
    left out: the host has its own signals). A path that files its content by date (``/…/2018/03/…``) names, before
    the year, who files it: a shared CDN's tenant (``/montreal-express/2018/03/…`` is the publishing site's slug), a
    site's section; those segments are left out when they join several words, since a site's name that holds a city
    says where the publisher is, not where the photo was taken (``/2019/lille/…`` and a one-word section are read)."""
    try:
        path = unquote(urlsplit(url).path)
    except ValueError:
        return ""
    segments = path.split("/")
    year = next((i for i, seg in enumerate(segments) if _YEAR.fullmatch(seg)), None)
    if year is not None:
        segments = [seg for i, seg in enumerate(segments) if i >= year or not re.search(r"[-_+.]", seg)]
    return _CAMEL.sub(" ", re.sub(r"[-_/.+]+", " ", "/".join(segments)))


def _best_per_country(matches: Iterable[Match]) -> dict[str, Match]:
    rank = {"country": 0, "region": 1, "city": 2, "demonym": 3}
    best: dict[str, Match] = {}
    for m in matches:
        old = best.get(m.place.country)
        if old is None or (rank[m.place.kind], -m.place.population) < (rank[old.place.kind], -old.place.population):
            best[m.place.country] = m
    return best


def _qualifier_places(span: _Span | None) -> list[Place]:
    return [] if span is None else [m.place for m in span.matches if m.place.kind in ("country", "region")]


def _fits(place: Place, qualifier: Place) -> bool:
    if place.country != qualifier.country:
        return False
    if qualifier.kind != "region" or place.kind != "city":
        return True
    suffix = qualifier.region.partition("-")[2]  # GeoNames writes US states and GB nations as their ISO suffix
    return place.country not in ("US", "GB") or place.region == suffix


def _code_qualifier(word: str, matches: tuple[Match, ...]) -> list[Place]:
    """A qualifier written as a region code ("Paris, TX"): the regions of the candidates' countries it names."""
    if len(word) != 2 or not word.isupper():
        return []
    regions = gazetteer().region_codes
    return [r for c in {m.place.country for m in matches} if (r := regions.get(f"{c}-{word}")) is not None]


def place_signals(text: str | None, where: str, *, hints: Iterable[str] = (),
                  region_hints: Iterable[str] = ()) -> list[Signal]:
    """``place_in_text`` signals for the places ``text`` names (see the module's doc for the rules).

    ``where`` is one of :data:`WHERE` (``url``: a page or image URL, of which only the path is read); ``hints`` the
    countries (alpha-2) the page names itself by its domain or ``geo.region`` (:func:`page_hints`), used only to
    choose between candidates, and also the support a stop-listed name needs; ``region_hints`` the region subtags of
    the page's declared languages (``en-CA``, ``fr-BE``): they choose between candidates when ``hints`` do not, but
    never a city dwarfed (:data:`DOMINANCE` times) by another candidate (``en-US`` is many sites' default: "Valencia"
    on it is not Valencia, California), and they support no stop-listed name; a bare language (``fr``) is no hint.
    Pure: no I/O; bounded by :data:`MAX_CHARS`, :data:`MAX_TOKENS` and :data:`MAX_SIGNALS`."""
    if where not in WHERE:
        raise ValueError(f"unknown place text origin {where!r}: one of {WHERE}")
    if not text:
        return []
    text = text[:MAX_CHARS * 4] if where == "url" else text[:MAX_CHARS]
    if where == "url":
        text = url_text(text)[:MAX_CHARS]
    hint_set = frozenset(h.upper() for h in hints if isinstance(h, str))
    region_set = frozenset(h.upper() for h in region_hints if isinstance(h, str)) - hint_set
    return list(_read_places(text, where, hint_set, region_set))


@lru_cache(maxsize=65_536)
def _read_places(text: str, where: str, hint_set: frozenset[str], region_set: frozenset[str]) -> tuple[Signal, ...]:
    """:func:`place_signals` of a text already cut (a URL already reduced to its path's words), once per process
    for a text, title or URL path met again (site templates, copies of a page, one path under many hosts)."""
    words = [m for _, m in zip(range(MAX_TOKENS), tokens(text), strict=False)]
    if not words:
        return ()
    keys = [fold(w.group()) for w in words]
    gaz = gazetteer()
    prose = where != "url"

    skipped: set[int] = set()
    for i, k in enumerate(keys):
        for phrase in _STOP_PHRASES_BY_FIRST_WORD.get(k, ()):
            if tuple(keys[i:i + len(phrase)]) == phrase:
                skipped.update(range(i, i + len(phrase)))

    spans: list[_Span] = []
    i = 0
    while i < len(words):
        found: _Span | None = None
        for n in range(min(MAX_NAME_TOKENS, len(words) - i), 0, -1):
            if any(j in skipped for j in range(i, i + n)):
                continue
            matches = gaz.lookup(" ".join(keys[i:i + n]))
            if matches:
                written = text[words[i].start():words[i + n - 1].end()]
                found = _Span(i, i + n, written, matches)
                break
        if found is None:
            i += 1
            continue
        spans.append(found)
        i = found.end

    signals: dict[str, Signal] = {}
    consumed: set[int] = set()  # spans used as another's qualifier
    for s_index, span in enumerate(spans):
        if s_index in consumed or len(signals) >= MAX_SIGNALS:
            continue
        first = words[span.start].group()
        before = keys[span.start - 1] if span.start else ""
        before_written = words[span.start - 1].group().casefold() if span.start else ""
        if prose and not first[:1].isupper() and before_written not in _LOWER_CASE_LOCATIVES \
                and not all(m.place.kind == "demonym" for m in span.matches):
            continue
        candidates = [m for m in span.matches if prose or m.place.kind != "demonym"]
        if any(m.primary for m in candidates):
            candidates = [m for m in candidates if m.primary]
        elif not prose:
            continue  # alternate names are not read in URLs
        if not candidates:
            continue

        # a qualifier right after the name: "Paris, Texas", "Paris, TX", "Perth (Scotland)", "wirral-cheshire"
        qualifiers: list[Place] = []
        nxt = spans[s_index + 1] if s_index + 1 < len(spans) else None
        gap = text[words[span.end - 1].end():words[span.end].start()] if span.end < len(words) else ""
        if span.end < len(words) and _QUALIFIER_SEPARATOR.fullmatch(gap):
            if nxt is not None and nxt.start == span.end:
                qualifiers = _qualifier_places(nxt)
            if not qualifiers:
                qualifiers = _code_qualifier(words[span.end].group(), tuple(candidates))
        resolved_by = ""
        if qualifiers:
            fitting = [m for m in candidates if any(_fits(m.place, q) for q in qualifiers)]
            if fitting:
                candidates, resolved_by = fitting, "qualifier"
                if nxt is not None and nxt.start == span.end:
                    consumed.add(s_index + 1)
        if not prose and not resolved_by:  # a bare word of a path: only large cities
            candidates = [m for m in candidates if m.place.kind != "city"
                          or m.place.population >= URL_CITY_POPULATION_MIN]
            if not candidates:
                continue
        by_country = _best_per_country(candidates)
        if not resolved_by and hint_set & set(by_country) and len(by_country) > 1:
            by_country = {c: m for c, m in by_country.items() if c in hint_set}
            resolved_by = "hint"
        if not resolved_by and region_set & set(by_country) and len(by_country) > 1:
            hinted = max((m for c, m in by_country.items() if c in region_set), key=lambda m: m.place.population)
            largest = max(m.place.population for m in by_country.values())
            if hinted.place.kind != "city" or hinted.place.population * DOMINANCE >= largest:
                by_country, resolved_by = {hinted.place.country: hinted}, "region_hint"
        if not resolved_by and len(by_country) == 1:
            resolved_by = "unique"  # a hint that agrees never lowers it
        if not resolved_by and all(m.place.kind == "city" for m in by_country.values()):
            ranked = sorted(by_country.values(), key=lambda m: -m.place.population)
            if ranked[0].place.population >= DOMINANCE * max(1, ranked[1].place.population):
                by_country, resolved_by = {ranked[0].place.country: ranked[0]}, "population"
        if len(by_country) == 1 and not resolved_by:
            resolved_by = "unique"
        supported = resolved_by in ("qualifier", "hint") or (resolved_by and hint_set >= set(by_country))
        stop = " ".join(keys[span.start:span.end]) in STOP_NAMES
        if stop and not supported:
            continue
        if not resolved_by and (len(by_country) > MAX_CANDIDATES or (prose and before_written not in LOCATIVES)):
            continue  # an unresolved name counts only after "in", "à", "bei"...: "Sunset over the bay" is no place

        destination = before in _DESTINATION_PREPOSITIONS and any(
            k in _DESTINATION_WORDS for k in keys[max(0, span.start - 4):span.start - 1])
        located = before_written in LOCATIVES or resolved_by == "qualifier"
        places = list(by_country.values())
        # an alternate name alone ("Gold" for Gold Coast, "Dual" for Douala) counts only in prose after a locative
        # ("in Firenze") or with a qualifier
        if not any(m.primary for m in places) and not (prose and located):
            continue
        bare = prose and not located and resolved_by not in ("hint", "region_hint")
        if bare and all(m.place.kind == "city" and m.place.population < BARE_CITY_POPULATION_MIN for m in places):
            continue  # "Lucas — Liège": Lucas, Brazil
        bare_weak = bare and any(m.place.kind == "region" or (m.place.kind == "city" and m.place.population
                                                             < BARE_CITY_MEDIUM_MIN) for m in places)
        medium = (where in PROSE_MEDIUM and resolved_by in ("qualifier", "unique") and not destination
                  and (not stop or resolved_by == "qualifier")
                  and not bare_weak and all(m.place.kind != "demonym" for m in places))
        strength = Strength.MEDIUM if medium else Strength.WEAK
        weight = 1.0 if resolved_by else 1 / len(by_country)
        ambiguity = str(len(_best_per_country(span.matches)))
        written = span.written[:60].replace('"', "'")
        for country, m in sorted(by_country.items()):
            place = m.place
            if resolved_by:
                evidence = (f'{where} "{written}": {place.kind} {place.name[:60]}, {country}'
                            + (f" (pop. {place.population})" if place.population else ""))
                detail = {"where": where, "matched": span.written[:100], "place": place.name[:100],
                          "place_kind": place.kind, "population": str(place.population), "candidates": ambiguity,
                          "resolved_by": resolved_by}
            else:  # one value, n candidates: the same evidence for each, so the audit stores it once
                listed = ", ".join(f"{p.place.name[:40]} {c}" for c, p in sorted(by_country.items()))
                evidence = f'{where} "{written}": ambiguous, {listed}'
                detail = {"where": where, "matched": span.written[:100], "candidates": ambiguity,
                          "resolved_by": "ambiguous"}
            if destination:
                detail["destination"] = "yes"
            signal = Signal(kind="place_in_text", country=country, strength=strength, evidence=evidence,
                            weight=weight, detail=detail)
            old = signals.get(country)
            if old is None or (old.strength == Strength.WEAK and strength == Strength.MEDIUM) \
                    or (old.strength == strength and old.weight < weight):
                signals[country] = signal
    return tuple(signals.values())


def text_place_signals(alt_text: str | None, caption: str | None, *, heading: str | None = None,
                       hints: Iterable[str] = (), region_hints: Iterable[str] = ()) -> list[Signal]:
    """``place_in_text`` signals of a sighting's alt text, caption and nearest heading, at most one per country: the
    stronger (then the heavier, then the alt text's, then the caption's) when several name one. A heading is read
    as ``heading`` (weak at most: it names what a section is about) unless it repeats the alt text or caption.
    Same guarantees as :func:`place_signals`."""
    hints, region_hints = tuple(hints), tuple(region_hints)
    best: dict[str, Signal] = {}
    seen: set[str] = set()
    for where, text in (("alt", alt_text), ("caption", caption), ("heading", heading)):
        if not text or text in seen:
            continue
        seen.add(text)
        for s in place_signals(text, where, hints=hints, region_hints=region_hints):
            old = best.get(s.country)
            if old is None or (s.strength == Strength.MEDIUM and old.strength == Strength.WEAK) \
                    or (s.strength == old.strength and s.weight > old.weight):
                best[s.country] = s
    return list(best.values())


def page_hints(host: str | None, langs: Iterable[str | None] = (), geo_region: str | None = None) \
        -> tuple[frozenset[str], frozenset[str]]:
    """The ``hints`` and ``region_hints`` of :func:`place_signals` for a text on a page: the countries its host's
    ccTLD (:func:`host_hints`) and its ``<meta name="geo.region">`` (``CA-ON``, ``FR``) name, and the regions of its
    declared language tags ``langs`` (``<html lang>``, ``Content-Language``: ``en-GB`` -> ``GB``; a bare ``en``
    names none). Garbage is ignored."""
    from audit.signals.languages import country_code, parse_tag

    hints = set(host_hints(host))
    if geo_region and isinstance(geo_region, str):
        code = country_code(geo_region.strip()[:2]) if re.match(r"^[A-Za-z]{2}(?:$|[-_ ])", geo_region.strip()) \
            else None
        if code:
            hints.add(code)
    regions: set[str] = set()
    for raw in langs:
        for part in (raw or "").split(",")[:10]:  # Content-Language may list several
            tag = parse_tag(part)
            if tag is not None and tag.region:
                regions.add(tag.region)
    return frozenset(hints), frozenset(regions - hints)


@lru_cache(maxsize=4096)
def host_hints(host: str | None) -> frozenset[str]:
    """The countries a page host names by its ccTLD or geographic gTLD (``www.example.es`` -> ``{"ES"}``), as the
    ``hints`` of :func:`place_signals`; empty for a generic or unknown host."""
    if not host:
        return frozenset()
    from audit.signals.host import host_signals

    return frozenset(s.country for s in host_signals(host, "page") if s.weight == 1.0)
