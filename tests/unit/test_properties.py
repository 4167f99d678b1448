"""Property-based tests (hypothesis) of every signal extractor in ``audit.signals`` and of the HTML image-reference
parser: on generated, often hostile inputs they never raise, return the documented types, name countries as ISO
3166-1 alpha-2 upper case, and give weights in (0, 1].

Each test runs ``EXAMPLES`` (150) generated examples, the slower ones 30, derandomized so CI is reproducible; setting
``HYPOTHESIS_EXAMPLES`` (e.g. 3000) runs that many random, new examples. The file takes about 15 s on two cores."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import string
from typing import Any
from urllib.parse import urlsplit

import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.decode.html import MAX_TEXT, absolute_url, looks_like_image_url, parse_page, srcset_urls
from audit.decode.pagefacts import page_facts
from audit.derive.attribution import Evidence, attribute
from audit.records import ImageRecord
from audit.signals import OptOut, Signal, Strength, consent, countries, host, languages, network, page, text
from audit.signals import c2pa as c2pa_signals
from audit.signals import image as image_signals_mod

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "150"))
DERANDOMIZE = "HYPOTHESIS_EXAMPLES" not in os.environ  # fixed examples in CI; a longer run explores new ones
FEW = max(10, EXAMPLES // 5)  # for the slower extractors (language identification, C2PA SDK, HTML parsing)
PROFILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW_PROFILE = settings(PROFILE, max_examples=FEW)

ALPHA2 = frozenset(c.alpha_2 for c in pycountry.countries)
COUNTRY = re.compile(r"^[A-Z]{2}$")
HOSTILE_CHARS = "<>\"'&;:/\\?#=%@[]{}\x00\x1b\r\n\t\u202e\u200b\ufeff é中ß\U0001f600"

# text with the characters scraped strings carry: markup, quotes, controls, bidi overrides, non-BMP
hostile_text = st.text(alphabet=st.sampled_from(HOSTILE_CHARS) | st.characters(), max_size=200)
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | hostile_text
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(hostile_text | st.sampled_from(["address", "geo", "label", "data"]),
                                            inner, max_size=4), max_leaves=20)
# a value of the wrong JSON type, as a store written by an older version or edited by hand may hold
odd = st.sampled_from([0, 5, -1.5, float("nan"), True, {"a": 1}, {"": None}, ["x", 1], "x", [], {}])
json_value = odd | json_value


def check_signals(signals: Any) -> list[Signal]:
    """The invariants every extractor's output keeps."""
    assert isinstance(signals, list)
    for s in signals:
        assert isinstance(s, Signal)
        assert isinstance(s.kind, str) and s.kind
        assert isinstance(s.country, str) and COUNTRY.match(s.country) and s.country in ALPHA2, s.country
        assert isinstance(s.strength, Strength)
        assert isinstance(s.evidence, str)
        assert isinstance(s.weight, float | int) and 0 < s.weight <= 1 and math.isfinite(s.weight)
        assert isinstance(s.detail, dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in s.detail.items())
    return signals


def check_opt_outs(opt_outs: Any) -> list[OptOut]:
    assert isinstance(opt_outs, list)
    for o in opt_outs:
        assert isinstance(o, OptOut)
        assert all(isinstance(x, str) for x in (o.kind, o.value, o.evidence, o.applies_to))
        assert o.kind and o.value
    return opt_outs


def total_weight_per_kind(signals: list[Signal]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for s in signals:
        totals[s.kind] = totals.get(s.kind, 0.0) + s.weight
    return totals


# --- hosts -----------------------------------------------------------------------------------------------------

label = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20).filter(
    lambda x: not x.startswith("xn--"))
CCTLDS = {"fr": "FR", "de": "DE", "it": "IT", "es": "ES", "be": "BE", "ch": "CH", "nl": "NL", "pl": "PL", "pt": "PT",
          "se": "SE", "jp": "JP", "br": "BR", "ca": "CA", "at": "AT", "ie": "IE", "dk": "DK", "fi": "FI", "no": "NO",
          "uk": "GB", "co.uk": "GB", "com.au": "AU", "co.jp": "JP", "gr": "GR", "cz": "CZ", "ro": "RO", "hu": "HU"}


@PROFILE
@given(hostile_text | st.from_regex(r"[a-z0-9.\-:\[\]]{0,80}", fullmatch=True), st.sampled_from(["page", "image"]))
def test_host_signals_never_raise(value, role):
    signals = check_signals(host.host_signals(value, role))
    assert all(s.kind in (f"{role}_cctld", f"{role}_geo_tld") for s in signals)
    assert all(s.strength is Strength.MEDIUM and s.weight == 1 for s in signals)
    normal = host.normalise_host(value)
    assert normal is None or (normal.isascii() and normal == normal.lower() and "." in normal)


@PROFILE
@given(st.lists(label, min_size=1, max_size=3), st.sampled_from(sorted(CCTLDS)), st.booleans(), st.booleans(),
       st.sampled_from(["", ":8080", ":443"]))
def test_a_cctld_host_gives_its_country(labels, tld, upper, trailing_dot, port):
    name = ".".join([*labels, tld]) + ("." if trailing_dot and not port else "") + port
    if upper:
        name = name.upper()
    signals = check_signals(host.host_signals(name, "page"))
    assert [(s.kind, s.country) for s in signals if s.kind == "page_cctld"] == [("page_cctld", CCTLDS[tld])]
    assert host.cctld_country(name) == (CCTLDS[tld], tld.rsplit(".", 1)[-1])


@PROFILE
@given(st.lists(label, min_size=1, max_size=3), st.sampled_from(["com", "org", "net", "io", "eu", "tv", "co"]))
def test_a_generic_tld_gives_no_country(labels, tld):
    assert host.host_signals(".".join([*labels, tld]), "image") == []


def test_host_signals_role_is_checked():
    with pytest.raises(ValueError):
        host.host_signals("example.fr", "server")


# --- network ---------------------------------------------------------------------------------------------------

@PROFILE
@given(st.ip_addresses().map(str) | hostile_text | st.none())
def test_server_ip_signals(ip):
    signals = check_signals(network.server_ip_signals(ip))
    assert len(signals) <= 1
    assert all(s.kind == "server_ip" and s.strength is Strength.WEAK for s in signals)


# --- languages and countries ------------------------------------------------------------------------------------

lang_tag = st.from_regex(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}(\.[A-Za-z0-9\-]{1,8})?(@[a-z]{1,6})?",
                         fullmatch=True)


@PROFILE
@given(lang_tag | hostile_text | st.none())
def test_parse_tag(raw):
    tag = languages.parse_tag(raw)
    if tag is not None:
        assert isinstance(tag, languages.LangTag)
        assert tag.language == tag.language.lower() and 2 <= len(tag.language) <= 3
        assert tag.region is None or tag.region in ALPHA2


@PROFILE
@given(hostile_text | st.from_regex(r"[A-Za-z]{2,3}", fullmatch=True))
def test_country_lookups(value):
    for got in (languages.country_code(value), countries.country_from_code(value), countries.country_from_name(value),
                page.address_country(value)):
        assert got is None or (isinstance(got, str) and got in ALPHA2)
    assert all(c in ALPHA2 for c in languages.language_countries(value))


@PROFILE
@given(st.sampled_from(["html_lang", "content_language", "og_locale", "hreflang"]),
       st.lists(st.tuples(lang_tag | hostile_text, hostile_text), max_size=8),
       st.sampled_from(list(Strength)))
def test_language_signals_weigh_one_in_total(kind, tags, strength):
    signals = check_signals(page.language_signals(kind, tags, region_strength=strength))
    assert all(s.kind == kind for s in signals)
    assert sum(s.weight for s in signals) <= 1 + 1e-9


# --- page -------------------------------------------------------------------------------------------------------

facts_strategy = st.fixed_dictionaries({}, optional={
    "url": st.sampled_from(["https://www.example.fr/a", "http://news.example.co.uk/", "https://x.test/"])
    | hostile_text,
    "canonical": hostile_text,
    "html_lang": lang_tag | hostile_text | json_value,
    "meta_language": st.lists(lang_tag, max_size=4).map(", ".join) | hostile_text,
    "og_locale": lang_tag | hostile_text,
    "hreflang": st.lists(st.lists(lang_tag | hostile_text | json_value, min_size=0, max_size=3), max_size=6)
    | json_value,
    "geo_region": st.from_regex(r"\s*[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?\s*", fullmatch=True) | hostile_text,
    "geo_position": st.tuples(st.floats(-100, 100), st.floats(-200, 200)).map(lambda p: f"{p[0]};{p[1]}")
    | hostile_text,
    "icbm": st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)).map(lambda p: f"{p[0]}, {p[1]}")
    | hostile_text,
    "addresses": st.lists(st.sampled_from(["FR", "fra", "France", "Deutschland", "https://schema.org/Country/BE", "75"])
                          | hostile_text | json_value, max_size=6) | json_value,
    "phones": st.lists(st.from_regex(r"\+?[0-9 ().\-]{6,20}", fullmatch=True) | hostile_text | json_value,
                       max_size=6),
    "robots_meta": st.lists(st.lists(hostile_text | st.sampled_from(["robots", "googlebot", "noai, noindex"]),
                                     min_size=2, max_size=2), max_size=4) | json_value,
    "tdm_reservation": st.sampled_from(["1", "0"]) | hostile_text | json_value,
    "tdm_policy": hostile_text | json_value,
})
header_value = hostile_text | st.lists(hostile_text, max_size=3) | st.binary(max_size=40)
headers_strategy = st.dictionaries(
    st.sampled_from(["Content-Language", "content-language", "X-Robots-Tag", "x-robots-tag", "tdm-reservation",
                     "TDM-Policy", "Server"]) | hostile_text, header_value, max_size=5)


@PROFILE
@given(facts_strategy, headers_strategy)
def test_page_signals(facts, headers):
    signals = check_signals(page.page_signals(facts, headers))
    assert {s.kind for s in signals} <= {"html_lang", "content_language", "og_locale", "hreflang", "geo_region",
                                         "geo_position", "icbm", "schema_address", "phone"}
    for kind, total in total_weight_per_kind(signals).items():
        if kind in ("html_lang", "content_language", "og_locale", "hreflang"):
            assert total <= 1 + 1e-9, (kind, total)


@PROFILE
@given(st.lists(st.from_regex(r"(\+|00)?[0-9 ().\-]{6,20}", fullmatch=True) | hostile_text, max_size=10),
       st.sampled_from([None, "FR", "GB", "DE", "US"]))
def test_phone_signals(phones, region):
    signals = check_signals(page.phone_signals(phones, region))
    assert len({s.country for s in signals}) == len(signals)  # one signal per country


@PROFILE
@given(st.lists(st.from_regex(r"(\+|00)?[0-9 ().\-]{6,20}", fullmatch=True) | hostile_text, max_size=10),
       st.sets(st.sampled_from(["FR", "GB", "DE", "US", "CA", "DK", "NO"]), max_size=3))
def test_phone_signals_with_region_hints(phones, hints):
    signals = check_signals(page.phone_signals(phones, None, hints))
    assert len({s.country for s in signals}) == len(signals)  # one signal per country
    assert all(s.strength == Strength.WEAK for s in signals if s.weight < 1)  # spread is weak
    if len(hints) != 1:  # hints that disagree make national numbers weak
        assert all(s.strength == Strength.WEAK or s.detail.get("format") == "international" for s in signals)


# --- opt-outs (consent) ----------------------------------------------------------------------------------------

robots_line = st.sampled_from(["User-agent: *", "User-agent: Googlebot-Image", "User-agent: GPTBot", "Disallow: /",
                               "Disallow: /img/", "Allow: /img/ok", "Dissalow: /x*$", "Crawl-delay: 5",
                               "Sitemap: https://x/s.xml", "", "#", "Disallow: *.jpg$"]) | hostile_text
url_strategy = st.sampled_from(["https://example.fr/", "https://example.fr/img/a.jpg", "http://x/img/ok?q=1",
                                "https://[::1]:8080/p", "http://x:99999/"]) | hostile_text


@PROFILE
@given(st.lists(robots_line, max_size=12).map("\n".join), url_strategy)
def test_robots_opt_outs(robots_txt, url):
    opt_outs = check_opt_outs(consent.robots_opt_outs(robots_txt, url))
    assert all(o.kind == "robots_txt" and o.value == "disallow" for o in opt_outs)
    assert isinstance(consent.robots_prefilter(robots_txt, url), bool)


@PROFILE
@given(headers_strategy, facts_strategy)
def test_header_and_meta_opt_outs(headers, facts):
    for o in check_opt_outs(consent.header_opt_outs(headers)):
        assert o.kind in ("x_robots_tag", "tdm_reservation", "tdm_policy")
    for o in check_opt_outs(consent.meta_opt_outs(facts)):
        assert o.kind in ("meta_robots", "tdm_reservation", "tdm_policy")


tdm_rule = st.fixed_dictionaries({}, optional={"location": st.sampled_from(["/", "/img/*", "*.jpg$", "https://x/a"])
                                               | hostile_text | json_value,
                                               "tdm-reservation": st.sampled_from([1, "1", 0, "0"]) | json_value,
                                               "tdm-policy": hostile_text | json_value})


@PROFILE
@given(st.lists(tdm_rule | json_value, max_size=5).map(json.dumps) | hostile_text, url_strategy)
def test_tdmrep_opt_outs(tdmrep_json, url):
    check_opt_outs(consent.tdmrep_opt_outs(tdmrep_json, url))


# --- text language ----------------------------------------------------------------------------------------------

SENTENCES = ["La tour Eiffel au coucher du soleil, vue depuis le Trocadéro à Paris",
             "Der Kölner Dom im Winter, fotografiert vom Rheinufer aus gesehen",
             "A rainy afternoon at the harbour with the fishing boats coming home", "東京の夜景と桜の花"]


@FEW_PROFILE
@given(st.sampled_from(SENTENCES) | hostile_text | st.none(), st.sampled_from(SENTENCES) | hostile_text | st.none())
def test_text_language_signals(alt, caption):
    signals = check_signals(text.text_language_signals(alt, caption))
    assert all(s.kind == "alt_language" and s.strength is Strength.WEAK for s in signals)
    assert sum(s.weight for s in signals) <= 1 + 1e-9


# --- image metadata ---------------------------------------------------------------------------------------------

coordinate = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-1000, 1000) | st.none()
offset_text = st.from_regex(r"[+\-]?[0-9]{1,2}(:?[0-9]{2})?", fullmatch=True) | hostile_text | st.none()
naive_datetime = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))


@PROFILE
@given(coordinate, coordinate, coordinate)
def test_gps_signals(lat, lon, alt):
    signals = check_signals(image_signals_mod.gps_signals(lat, lon, alt))
    assert len(signals) <= 1
    if signals:
        assert -90 <= lat <= 90 and -180 <= lon <= 180 and signals[0].strength is Strength.STRONG


def test_gps_signal_of_a_known_place():
    (s,) = check_signals(image_signals_mod.gps_signals(48.8584, 2.2945))
    assert (s.kind, s.country) == ("exif_gps", "FR")


@PROFILE
@given(offset_text, naive_datetime | st.none() | st.datetimes(timezones=st.timezones()))
def test_utc_offset_signals(offset, taken_at):
    signals = check_signals(image_signals_mod.utc_offset_signals(offset, taken_at))
    assert sum(s.weight for s in signals) <= 1 + 1e-9


location_block = st.fixed_dictionaries({}, optional={
    k: st.sampled_from(["FR", "FRA", "fr", "France", "Deutschland", "XX", ""]) | hostile_text | json_value
    for k in ("country_code", "country", "city", "province", "sublocation", "source",
              "Iptc4xmpCore:CountryCode", "photoshop:Country", "photoshop:City", "2:100", "2:101", "2:90",
              "Iptc4xmpExt:LocationCreated", "Iptc4xmpExt:LocationShown", "Iptc4xmpExt:CountryCode")})


@PROFILE
@given(location_block | st.none(), location_block | st.none(), location_block | st.none())
def test_location_signals(location, iptc, xmp):
    signals = check_signals(image_signals_mod.location_signals(location, iptc, xmp))
    assert len(signals) <= 2
    assert all(s.kind in ("xmp_location", "iptc_location") for s in signals)


@PROFILE
@given(st.builds(
    ImageRecord, sha256=st.just("0" * 64), size=st.integers(0, 10**9), gps_lat=coordinate, gps_lon=coordinate,
    gps_alt=coordinate, taken_at=naive_datetime | st.none(), utc_offset=offset_text,
    exif=st.dictionaries(st.sampled_from(["EXIF OffsetTimeOriginal", "EXIF OffsetTime", "GPS GPSTimeStamp",
                                          "Image Model"]) | hostile_text, json_value, max_size=4) | st.none(),
    iptc=location_block | st.none(), xmp=location_block | st.none(), location=location_block | st.none(),
    c2pa=st.none() | json_value.filter(lambda v: isinstance(v, dict))))
def test_image_signals(record):
    signals = check_signals(image_signals_mod.image_signals(record))
    assert len([s for s in signals if s.kind == "exif_gps"]) <= 1


# --- C2PA -------------------------------------------------------------------------------------------------------

place = st.fixed_dictionaries({}, optional={
    "address": st.fixed_dictionaries({}, optional={"addressCountry": st.sampled_from(["FR", "DEU", "Italy"])
                                                   | hostile_text | json_value}) | json_value,
    "geo": st.fixed_dictionaries({}, optional={"latitude": coordinate | hostile_text,
                                               "longitude": coordinate | hostile_text}) | json_value})
assertion = st.fixed_dictionaries({
    "label": st.sampled_from(["stds.schema-org.CreativeWork", "stds.exif", "c2pa.metadata.v2",
                              "c2pa.training-mining__1", "cawg.training-mining"]) | hostile_text,
    "data": st.fixed_dictionaries({}, optional={
        "locationCreated": place | st.lists(place, max_size=3) | json_value,
        "contentLocation": place | json_value,
        "exif:GPSLatitude": st.sampled_from(["48,51.5N", "91,0N", "10.5S"]) | hostile_text | json_value,
        "exif:GPSLongitude": st.sampled_from(["2,17.6E", "181W"]) | hostile_text | json_value,
        "Iptc4xmpCore:CountryCode": st.sampled_from(["FR", "gbr"]) | hostile_text | json_value,
        "photoshop:Country": st.sampled_from(["France", "Belgique"]) | hostile_text | json_value,
        "entries": st.dictionaries(hostile_text | st.sampled_from(["c2pa.ai_training", "c2pa.data_mining"]),
                                   st.fixed_dictionaries({"use": st.sampled_from(["notAllowed", "constrained",
                                                                                  "allowed"]) | json_value})
                                   | json_value, max_size=4) | json_value,
    }) | json_value})
manifest_store = st.fixed_dictionaries({
    "active_manifest": st.just("m") | json_value,
    "manifests": st.fixed_dictionaries({"m": st.fixed_dictionaries({
        "assertions": st.lists(assertion | json_value, max_size=4) | json_value,
        "signature_info": st.fixed_dictionaries({}, optional={"issuer": hostile_text | json_value}) | json_value,
    })}) | json_value,
    "validation_state": st.sampled_from(["Trusted", "Valid", "Invalid"]) | json_value,
    "validation_status": st.lists(st.fixed_dictionaries({"code": st.sampled_from(["signingCredential.untrusted"])
                                                         | json_value}) | json_value, max_size=2) | json_value,
})


@PROFILE
@given(manifest_store | json_value.filter(lambda v: isinstance(v, dict)))
def test_c2pa_location_signals_and_training_opt_outs(manifest_json):
    signals = check_signals(c2pa_signals.location_signals(manifest_json))
    assert all(s.kind == "c2pa_location" for s in signals)
    for o in check_opt_outs(c2pa_signals.training_opt_outs(manifest_json)):
        assert o.kind == "c2pa_training"


@settings(PROFILE, max_examples=max(5, EXAMPLES // 15))
@given(st.binary(max_size=512), st.sampled_from([None, "image/jpeg", "image/png", "application/octet-stream"]))
def test_c2pa_on_random_bytes(data, mime):
    check_signals(c2pa_signals.c2pa_signals(data, mime))
    check_opt_outs(c2pa_signals.c2pa_opt_outs(data, mime))


@PROFILE
@given(hostile_text | json_value | st.floats(allow_nan=True))
def test_parse_xmp_coordinate(value):
    got = c2pa_signals.parse_xmp_coordinate(value)
    assert got is None or (isinstance(got, float) and math.isfinite(got))


# --- the HTML image-reference parser -----------------------------------------------------------------------------

src = st.sampled_from(["a.jpg", "/img/b.png", "//cdn.example.net/c.webp?x=1#frag", "https://other.test/d.JPG",
                       "javascript:alert(1)", "data:image/png;base64,AAAA", " ", "", "http://[::1", "http://%zz",
                       "../../../../e.gif", "mailto:x@y", "ftp://x/y.jpg", "http:///nohost.jpg"]) | hostile_text
attr_value = hostile_text | src


def _attr(name: str, value: str) -> str:
    return f'{name}="{value.replace(chr(34), "&quot;")}"'


@st.composite
def html_page(draw: st.DrawFn) -> str:
    parts = ["<html", f" lang=\"{draw(lang_tag)}\">" if draw(st.booleans()) else ">", "<head>"]
    if draw(st.booleans()):
        parts.append(f"<base {_attr('href', draw(src))}>")
    parts.append(f"<title>{draw(hostile_text)}</title>")
    for _ in range(draw(st.integers(0, 3))):
        parts.append(f"<meta {_attr('property', draw(st.sampled_from(['og:image', 'twitter:image', 'x'])))} "
                     f"{_attr('content', draw(src))}>")
    parts.append("</head><body>")
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["img", "figure", "picture", "a", "text", "broken"]))
        attrs = " ".join(_attr(n, draw(attr_value)) for n in draw(st.lists(
            st.sampled_from(["src", "data-src", "srcset", "alt", "title", "data-x", "onerror"]), max_size=5)))
        if kind == "img":
            parts.append(f"<img {_attr('src', draw(src))} {attrs}>")
        elif kind == "figure":
            parts.append(f"<figure><img {attrs}><figcaption>{draw(hostile_text)}</figcaption></figure>")
        elif kind == "picture":
            parts.append(f"<picture><source {_attr('srcset', draw(src) + ' 2x, ' + draw(src))}><img {attrs}></picture>")
        elif kind == "a":
            parts.append(f"<a {_attr('href', draw(src))}>{draw(hostile_text)}</a>")
        elif kind == "text":
            parts.append(draw(hostile_text))
        else:
            parts.append(draw(st.sampled_from(["<img", "<a href=", "<picture><source srcset=", "</figure>", "<!--"])))
    return "".join(parts)


page_url = st.sampled_from(["https://www.example.fr/news/1.html", "http://example.co.uk/", "https://x.test/a/b?c=d"])


@FEW_PROFILE
@given(html_page() | hostile_text, page_url)
def test_parse_page(html, url):
    parsed = parse_page(html, url)
    assert parsed.url == url
    urls = [r.image_url for r in parsed.image_refs]
    assert len(urls) == len(set(urls))
    for ref in parsed.image_refs:
        parts = urlsplit(ref.image_url)
        assert parts.scheme in ("http", "https") and parts.hostname and not parts.fragment
        assert ref.page_url == url
        assert ref.ref_kind in ("img", "srcset", "picture", "og:image", "link", "lazy", "css", "background", "input",
                                "icon", "link-image", "poster", "svg", "microdata", "json-ld")
        for value in (ref.alt_text, ref.caption):
            assert value is None or (isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value == value.strip())
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in ref.attributes.items())
    for link in parsed.links:
        assert urlsplit(link).scheme in ("http", "https") and not looks_like_image_url(link)
    assert parsed.lang is None or isinstance(parsed.lang, str)


@FEW_PROFILE
@given(html_page() | hostile_text, page_url)
def test_page_facts_then_page_signals(html, url):
    facts = page_facts(html, url)
    json.dumps(facts)  # JSON-safe, as documented
    check_signals(page.page_signals(facts, {}))
    check_opt_outs(consent.meta_opt_outs(facts))


@PROFILE
@given(page_url | hostile_text, src)
def test_absolute_url(base, href):
    got = absolute_url(base, href)
    if got is not None:
        parts = urlsplit(got)
        assert parts.scheme in ("http", "https") and parts.hostname and "#" not in got
    assert isinstance(looks_like_image_url(got or "http://x/"), bool)


@PROFILE
@given(hostile_text | st.none())
def test_srcset_urls(value):
    urls = srcset_urls(value)
    assert all(isinstance(u, str) and u and not any(c.isspace() for c in u) for u in urls)


# --- attribution: spread evidence never picks or lowers (issue 15) -----------------------------------------------

_TIERS = {"strong": 0, "medium": 1, "weak": 2, "none": 3}
_EVIDENCE = st.builds(
    lambda kind, country, strength, weight, border, propagated: Evidence(
        kind=kind, country=country, strength=strength, weight=weight, border_km=border, propagated=propagated),
    st.sampled_from(["exif_gps", "page_cctld", "image_cctld", "schema_address", "phone", "html_lang", "hreflang",
                     "og_locale", "utc_offset", "alt_language", "xmp_location"]),
    st.sampled_from(["FR", "BE", "NL", "DE", "AG"]), st.sampled_from(["strong", "medium", "weak"]),
    st.sampled_from([1.0, 1.0, 0.5, 1 / 3, 1 / 58]), st.sampled_from([None, 2.0]), st.booleans())


@PROFILE
@given(st.lists(_EVIDENCE, max_size=12), st.randoms(use_true_random=False))
def test_attribution_spread_evidence_never_picks_nor_lowers(evidence, rnd):
    a = attribute(evidence)
    assert (a.country is None) == (a.tier == "none")
    specific = [e for e in evidence if e.weight >= 1]
    if a.country is not None:  # the answer is always a country specific evidence names
        assert any(e.country == a.country for e in specific)
    if not specific:
        assert a.tier == "none"
    alone = attribute(specific)
    assert _TIERS[a.tier] <= _TIERS[alone.tier], (a.explanation, alone.explanation)  # never lowers a tier
    if a.country is not None and a.runner_up is not None:
        assert a.runner_up != a.country and any(e.country == a.runner_up for e in specific)
    shuffled = evidence + rnd.sample(evidence, len(evidence) // 2)
    rnd.shuffle(shuffled)
    assert attribute(shuffled) == a  # order and repeats change nothing
