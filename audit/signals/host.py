"""Country signals from a host name: its country-code TLD or its geographic gTLD (``.paris``, ``.bzh``, ``.london``).

The public suffix is found with the bundled Public Suffix List snapshot of ``tldextract`` (never fetched), so
``co.uk`` and ``com.au`` are read as the UK and Australia."""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache

import tldextract

from audit.signals.base import Signal, Strength
from audit.signals.languages import country_code

logger = logging.getLogger(__name__)

MAX_HOST = 253

# ccTLDs marketed and used worldwide for their letters, not their country (.io, .tv, .me...), and the free ones
# (.tk, .ml, .ga, .cf, .gq) mostly used by spammers: a host under them says nothing about where the publisher is.
GENERIC_CCTLDS = frozenset(
    "ac ai am as bz cc cd cf cx dj fm ga gg gq gs im io la ly me ml ms nu pw sh so st su tk tm to tv vc vg ws "
    "co".split()
)
# Not a country: .eu (the European Union), .su (the Soviet Union, now mostly generic), .uk handled by the alias.
NOT_COUNTRIES = frozenset({"eu", "su", "xn--e1a4c", "xn--qxa6a", "xn--90ae"})

# Internationalised ccTLDs (punycode) -> ISO 3166-1 alpha-2.
IDN_CCTLDS = {
    "xn--p1ai": "RU", "xn--90ais": "BY", "xn--j1amh": "UA", "xn--d1alf": "MK", "xn--90a3ac": "RS", "xn--node": "GE",
    "xn--y9a3aq": "AM", "xn--fiqs8s": "CN", "xn--fiqz9s": "CN", "xn--kprw13d": "TW", "xn--kpry57d": "TW",
    "xn--3e0b707e": "KR", "xn--wgbh1c": "EG", "xn--mgbaam7a8h": "AE", "xn--mgberp4a5d4ar": "SA", "xn--h2brj9c": "IN",
    "xn--qxam": "GR", "xn--o3cw4h": "TH", "xn--mgbtx2b": "IQ", "xn--lgbbat1ad8j": "DZ", "xn--mgbc0a9azcg": "MA",
    "xn--pgbs0dh": "TN", "xn--mgba3a4f16a": "IR", "xn--80ao21a": "KZ", "xn--mix891f": "MO", "xn--j6w193g": "HK",
}

# Geographic gTLDs whose registrants must have a link with one place, in one country. Cultural/linguistic TLDs that
# span a border (.cat: Spain, Andorra, France; .eus: Spain and France) and continent-wide ones (.africa, .lat) are
# left out.
GEO_TLDS: dict[str, str] = {
    "paris": "FR", "bzh": "FR", "alsace": "FR", "corsica": "FR",
    "berlin": "DE", "hamburg": "DE", "bayern": "DE", "koeln": "DE", "cologne": "DE", "nrw": "DE", "ruhr": "DE",
    "saarland": "DE",
    "london": "GB", "wales": "GB", "cymru": "GB", "scot": "GB",
    "amsterdam": "NL", "frl": "NL",
    "brussels": "BE", "vlaanderen": "BE", "gent": "BE",
    "swiss": "CH", "zuerich": "CH",
    "wien": "AT", "tirol": "AT",
    "barcelona": "ES", "bcn": "ES", "madrid": "ES", "gal": "ES",
    "quebec": "CA",
    "nyc": "US", "boston": "US", "miami": "US", "vegas": "US",
    "istanbul": "TR", "ist": "TR",
    "moscow": "RU", "tatar": "RU", "xn--80adxhks": "RU",
    "tokyo": "JP", "osaka": "JP", "nagoya": "JP", "yokohama": "JP", "kyoto": "JP", "okinawa": "JP", "ryukyu": "JP",
    "melbourne": "AU", "sydney": "AU",
    "capetown": "ZA", "durban": "ZA", "joburg": "ZA",
    "taipei": "TW", "rio": "BR", "abudhabi": "AE", "dubai": "AE",
}


@lru_cache(maxsize=1)
def suffix_extractor() -> tldextract.TLDExtract:
    """The process's public-suffix reader, built on first use from tldextract's bundled list."""
    # Bundled snapshot only: no list URL to fetch and no cache directory to write.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def normalise_host(host: str | None) -> str | None:
    """Lower-case ASCII (punycode) host without port or trailing dot; ``None`` for IP literals and junk."""
    if not host:
        return None
    h = host.strip().lower()
    if not h or len(h) > MAX_HOST + 10:
        return None
    if h.startswith("["):  # [IPv6]:port
        return None
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    h = h.rstrip(".")
    try:
        ipaddress.ip_address(h)
        return None
    except ValueError:
        pass
    if not h.isascii():
        try:
            h = h.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(h) > MAX_HOST or "." not in h:
        return None
    if any(not label or len(label) > 63 for label in h.split(".")):
        return None
    return h


@lru_cache(maxsize=65536)
def _suffix(host: str) -> str:
    return suffix_extractor()(host).suffix


@lru_cache(maxsize=65536)  # a pure function of the host, asked once per page of a site
def cctld_country(host: str | None) -> tuple[str, str] | None:
    """``(country, tld)`` for a host under a country-code TLD that means its country, else ``None``."""
    h = normalise_host(host)
    if h is None:
        return None
    suffix = _suffix(h)
    if not suffix:
        return None
    tld = suffix.rsplit(".", 1)[-1]
    if tld in NOT_COUNTRIES or tld in GENERIC_CCTLDS:
        return None
    if tld in IDN_CCTLDS:
        return IDN_CCTLDS[tld], tld
    if len(tld) != 2:
        return None
    code = country_code(tld)
    return (code, tld) if code else None


def geo_tld_country(host: str | None) -> tuple[str, str] | None:
    """``(country, tld)`` for a host under a geographic gTLD (``.paris`` -> FR), else ``None``."""
    h = normalise_host(host)
    if h is None:
        return None
    suffix = _suffix(h)
    tld = suffix.rsplit(".", 1)[-1] if suffix else ""
    country = GEO_TLDS.get(tld)
    return (country, tld) if country else None


def host_signals(host: str, role: str) -> list[Signal]:
    """``{role}_cctld`` and ``{role}_geo_tld`` signals (MEDIUM) of a page's or an image's host; role is ``page`` or
    ``image``."""
    if role not in ("page", "image"):
        raise ValueError(f"role must be 'page' or 'image', not {role!r}")
    h = normalise_host(host)
    if h is None:
        return []
    signals: list[Signal] = []
    cc = cctld_country(h)
    if cc is not None:
        country, tld = cc
        signals.append(Signal(kind="page_cctld" if role == "page" else "image_cctld", country=country,
                              strength=Strength.MEDIUM, evidence=f"host {h} (ccTLD .{tld})"))
    geo = geo_tld_country(h)
    if geo is not None:
        country, tld = geo
        signals.append(Signal(kind="page_geo_tld" if role == "page" else "image_geo_tld", country=country,
                              strength=Strength.MEDIUM, evidence=f"host {h} (geographic TLD .{tld})"))
    return signals
