"""Page, host, text and network signals on hand-written pages and on the built-in test web."""

from __future__ import annotations

import pytest

from audit.decode.pagefacts import page_facts
from audit.signals.base import Signal, Strength
from audit.signals.host import host_signals
from audit.signals.languages import LANGUAGE_COUNTRIES, parse_tag
from audit.signals.network import server_ip_signals
from audit.signals.page import page_signals
from audit.signals.text import text_language_signals

BELGIAN = """<html lang="fr-BE"><head>
<meta property="og:locale" content="fr_BE">
<meta name="geo.region" content="BE-WLG">
<link rel="alternate" hreflang="fr-BE" href="https://www.liege-info.be/">
<link rel="alternate" hreflang="nl-BE" href="https://www.liege-info.be/nl/">
<link rel="alternate" hreflang="de-DE" href="https://www.liege-info.de/">
</head><body><p>Tél. <a href="tel:+3242200000">04 220 00 00</a></p></body></html>"""

FRENCH_COM = """<html lang="fr"><head>
<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [{"@type": "Organization",
 "address": {"@type": "PostalAddress", "addressCountry": "FR"}}]}</script>
</head><body><p>Contact : +33 4 78 00 00 00 — standard 01 45 00 00 00</p></body></html>"""

SWISS = """<html lang="de-CH"><head>
<meta name="geo.position" content="47.3769;8.5417">
<meta name="ICBM" content="47.3769, 8.5417">
</head><body><p>Telefon 044 642 70 26</p></body></html>"""

CANADIAN = """<html lang="en"><head><meta property="og:locale" content="en_CA"></head>
<body><footer>Call <a href="tel:+1-514-555-0123">+1 514 555-0123</a></footer></body></html>"""

BOGUS = """<html lang="xx-ZZ"><head>
<meta property="og:locale" content="zz_ZZ">
<meta name="geo.region" content="ZZ-99">
<meta name="geo.position" content="91;200">
<meta name="ICBM" content="0, 0">
<link rel="alternate" hreflang="x-default" href="http://narnia.example/">
<script type="application/ld+json">{"address": {"addressCountry": "Narnia"}}</script>
</head><body><a href="tel:123">123</a> <p>phone 00 00 00 00 00</p></body></html>"""


def kinds(signals: list[Signal]) -> set[tuple[str, str, Strength]]:
    return {(s.kind, s.country, s.strength) for s in signals}


def test_belgian_french_page() -> None:
    facts = page_facts(BELGIAN, "https://www.liege-info.be/")
    signals = page_signals(facts, {"Content-Language": ["fr-BE"]})
    assert kinds(signals) == {
        ("html_lang", "BE", Strength.MEDIUM), ("content_language", "BE", Strength.MEDIUM),
        ("og_locale", "BE", Strength.WEAK), ("hreflang", "BE", Strength.MEDIUM),
        ("geo_region", "BE", Strength.MEDIUM), ("phone", "BE", Strength.MEDIUM),
    }  # the de-DE alternate is another page: no DE
    ev = {s.kind: s.evidence for s in signals}
    assert ev["html_lang"] == '<html lang="fr-BE">'
    assert ev["content_language"] == "Content-Language: fr-BE"
    assert ev["geo_region"] == '<meta name="geo.region" content="BE-WLG">'
    assert ev["phone"].startswith("phone +324")
    assert host_signals("www.liege-info.be", "page")[0].country == "BE"


def test_french_publisher_on_dot_com() -> None:
    facts = page_facts(FRENCH_COM, "https://www.lemag-hebdo.com/")
    signals = page_signals(facts, {})
    assert kinds([s for s in signals if s.strength != Strength.WEAK]) == {
        ("schema_address", "FR", Strength.MEDIUM), ("phone", "FR", Strength.MEDIUM)}
    phone = next(s for s in signals if s.kind == "phone")
    assert phone.evidence == "phone +33 4 78 00 00 00" and phone.detail["e164"] == "+33478000000"
    # national 01 45... without a ccTLD region says nothing; only one FR phone signal
    assert sum(1 for s in signals if s.kind == "phone") == 1
    lang = [s for s in signals if s.kind == "html_lang"]
    assert {s.country for s in lang} == set(LANGUAGE_COUNTRIES["fr"]) and {"FR", "BE", "CH", "CA"} <= {
        s.country for s in lang}
    assert all(s.strength == Strength.WEAK and s.weight == pytest.approx(1 / len(lang)) for s in lang)
    assert host_signals("www.lemag-hebdo.com", "page") == []


def test_swiss_page_with_position() -> None:
    facts = page_facts(SWISS, "https://www.limmat-post.ch/")
    signals = page_signals(facts, {"content-language": ["de-CH, fr-CH"]})
    got = kinds(signals)
    assert ("html_lang", "CH", Strength.MEDIUM) in got
    assert ("content_language", "CH", Strength.MEDIUM) in got
    assert ("phone", "CH", Strength.MEDIUM) in got  # national number, .ch default region
    assert ("geo_position", "CH", Strength.MEDIUM) in got and ("icbm", "CH", Strength.MEDIUM) in got
    pos = next(s for s in signals if s.kind == "geo_position")
    assert pos.evidence == '<meta name="geo.position" content="47.3769;8.5417">'
    assert {s.country for s in signals} == {"CH"}


def test_canadian_phone() -> None:
    facts = page_facts(CANADIAN, "https://www.example.com/")
    signals = page_signals(facts, {})
    assert ("phone", "CA", Strength.MEDIUM) in kinds(signals)
    assert ("og_locale", "CA", Strength.WEAK) in kinds(signals)


def test_bogus_values_yield_nothing() -> None:
    facts = page_facts(BOGUS, "http://narnia.example/")
    assert facts["addresses"] == ["Narnia"]
    assert page_signals(facts, {"Content-Language": ["klingon, x-default"]}) == []


def test_multi_country_region_tags_are_weak() -> None:
    signals = page_signals({"html_lang": "en"}, {"Content-Language": ["en-GB, en-US"]})
    cl = [s for s in signals if s.kind == "content_language"]
    assert {(s.country, s.strength, s.weight) for s in cl} == {("GB", Strength.WEAK, 0.5), ("US", Strength.WEAK, 0.5)}


def test_language_tags() -> None:
    assert parse_tag("fr_CA").region == "CA"  # type: ignore[union-attr]
    assert parse_tag("zh-Hant-TW").region == "TW"  # type: ignore[union-attr]
    assert parse_tag("en-UK").region == "GB"  # type: ignore[union-attr]
    for bogus in ("xx-ZZ", "x-default", "fr-ZZ", "es-419", "", "fr-BE-" + "x" * 100):
        assert parse_tag(bogus) is None


@pytest.mark.parametrize(("host", "kind", "country"), [
    ("www.lyon-actu.fr", "page_cctld", "FR"),
    ("news.bbc.co.uk", "page_cctld", "GB"),
    ("www.abc.net.au", "page_cctld", "AU"),
    ("www.paris-quartiers.paris", "page_geo_tld", "FR"),
    ("blog.breizh.bzh", "page_geo_tld", "FR"),
])
def test_host_signals(host: str, kind: str, country: str) -> None:
    [signal] = host_signals(host, "page")
    assert (signal.kind, signal.country, signal.strength) == (kind, country, Strength.MEDIUM)
    assert host_signals(host, "image")[0].kind == kind.replace("page", "image")


def test_host_evidence_and_nothing_hosts() -> None:
    assert host_signals("www.lyon-actu.fr", "page")[0].evidence == "host www.lyon-actu.fr (ccTLD .fr)"
    for host in ("x.io", "a.co", "b.tv", "c.me", "d.ai", "e.eu", "img.cdnstatic.net", "f.app", "localhost",
                 "127.0.0.1", "", "a..b.fr"):
        assert host_signals(host, "page") == [], host
    with pytest.raises(ValueError):
        host_signals("x.fr", "other")


def test_alt_language() -> None:
    signals = text_language_signals("Camille Martin lors de la fête du quartier à Lyon", None)
    assert {s.country for s in signals} == set(LANGUAGE_COUNTRIES["fr"])
    assert all(s.kind == "alt_language" and s.strength == Strength.WEAK for s in signals)
    assert signals[0].evidence.startswith('alt language fr (p=0.9')
    assert text_language_signals("IMG_1234.jpg", "photo") == []
    assert text_language_signals(None, None) == []


def test_server_ip() -> None:
    [s] = server_ip_signals("2a01:e0a::1")
    assert (s.kind, s.country, s.strength) == ("server_ip", "FR", Strength.WEAK)
    for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "not an ip", None):
        assert server_ip_signals(ip) == []


def test_test_web(tmp_path) -> None:
    from audit.testbed.testweb import build_web

    web = build_web(tmp_path, photos=60, seed=5)
    hosts = web.manifest["hosts"]
    assert isinstance(hosts, dict)
    checked = 0
    for host, info in hosts.items():
        hs = host_signals(host, "page")
        if info["kind"] in ("cdn", "static"):
            assert hs == [], host
            continue
        if host.endswith(".fr"):
            assert [(s.kind, s.country) for s in hs] == [("page_cctld", "FR")]
        if host.endswith(".paris"):
            assert [(s.kind, s.country) for s in hs] == [("page_geo_tld", "FR")]
        for s in hs:
            assert s.country == info["country"], host
        index = web.www / host / "index.html"
        facts = page_facts(index.read_text(encoding="utf-8"), f"http://{host}/")
        signals = page_signals(facts, {})
        country = info["country"]
        strong = {s.country for s in signals if s.strength != Strength.WEAK}
        if country is None:
            assert strong <= {"US"}, host  # global platforms: en / en_US defaults only
        else:
            # every non-weak page signal names the site's own country
            assert strong <= {country}, (host, strong)
        if info["geo_meta"]:
            got = kinds(signals)
            for kind in ("geo_region", "geo_position", "icbm"):
                assert (kind, country, Strength.MEDIUM) in got, (host, kind)
        if info["json_ld"] and country:
            assert ("schema_address", country, Strength.MEDIUM) in kinds(signals), host
        if info["meta_robots"]:
            assert ["robots", info["meta_robots"]] in facts["robots_meta"]
        lang = str(info["lang"] or "")
        if "-" in lang:
            assert ("html_lang", lang.split("-")[1], Strength.MEDIUM) in kinds(signals), host
        checked += 1
    assert checked >= 20


# --- issue 15: national-format phone numbers on pages without a country domain, read with the page's hints ------

def _page(lang: str, phone: str, head: str = "") -> str:
    return (f'<html lang="{lang}"><head>{head}</head><body><p>Call us: <a href="tel:{phone}">{phone}</a></p>'
            "</body></html>")


def _phones(html: str, url: str = "https://www.example.com/") -> list[Signal]:
    return [s for s in page_signals(page_facts(html, url), {}) if s.kind == "phone"]


@pytest.mark.parametrize(("phone", "lang", "country"), [
    ("(206) 555-0143", "en-US", "US"), ("22 12 34 56", "da-DK", "DK"), ("22 12 34 56", "nb-NO", "NO"),
    ("514 555 0199", "fr-CA", "CA"),
])
def test_national_phone_read_with_an_agreeing_hint_is_medium(phone, lang, country) -> None:
    (signal,) = _phones(_page(lang, phone))
    assert (signal.country, signal.strength, signal.weight) == (country, Strength.MEDIUM, 1.0)
    assert signal.detail["format"] == f"national (region hint {country})"


@pytest.mark.parametrize("phone", ["(206) 555-0143", "22 12 34 56", "514 555 0199"])
def test_national_phone_without_hints_says_nothing(phone) -> None:
    """A bare language is no region hint (and og:locale, which CMSs write anywhere, is none either)."""
    assert _phones(_page("en", phone, '<meta property="og:locale" content="en_US">')) == []


def test_national_phone_with_disagreeing_hints_is_weak() -> None:
    # 22 12 34 56 is a valid number in Denmark and in Norway: the page says both, so neither is picked
    head = ('<link rel="alternate" hreflang="da-DK" href="https://www.example.com/">'
            '<link rel="alternate" hreflang="nb-NO" href="https://www.example.com/">')
    signals = _phones(_page("en", "22 12 34 56", head))
    assert kinds(signals) == {("phone", "DK", Strength.WEAK), ("phone", "NO", Strength.WEAK)}
    assert all(s.weight == 0.5 for s in signals)
    # a Montreal number on a page whose only hint is the US: the number's own country, weak
    (ca,) = _phones(_page("en-US", "514 555 0199"))
    assert (ca.country, ca.strength, ca.weight) == ("CA", Strength.WEAK, 1.0)
    # two hints that disagree, the number valid in one of them: weak
    (us,) = _phones(_page("en-US", "(206) 555-0143", '<meta name="geo.region" content="CA-QC">'))
    assert (us.country, us.strength) == ("US", Strength.WEAK)
    assert us.detail["format"] == "national (region hints CA, US disagree)"


def test_national_phone_on_a_country_domain_is_unchanged() -> None:
    """The ccTLD is the region a national number is read in, whatever the other hints say."""
    (signal,) = _phones(_page("en-US", "22 12 34 56"), "https://www.example.dk/")
    assert (signal.country, signal.strength, signal.detail["format"]) == ("DK", Strength.MEDIUM, "national (region DK)")
    assert _phones(_page("en-US", "(206) 555-0143"), "https://www.example.dk/") == []


def test_spread_phone_evidence_picks_no_country() -> None:
    from audit.derive.attribution import Evidence, attribute

    head = ('<link rel="alternate" hreflang="da-DK" href="https://www.example.com/">'
            '<link rel="alternate" hreflang="nb-NO" href="https://www.example.com/">')
    signals = page_signals(page_facts(_page("en", "22 12 34 56", head), "https://www.example.com/"), {})
    a = attribute(Evidence(kind=s.kind, country=s.country, strength=str(s.strength), weight=s.weight)
                  for s in signals)
    assert a.country is None and a.tier == "none"


@pytest.mark.parametrize(("text", "lang", "country"), [
    ("Tlf. 22 12 34 56", "da-DK", "DK"), ("Telefon: 22 12 34 56", "nb-NO", "NO"),
    ("Appelez le 514 555 0199", "fr-CA", "CA"),
])
def test_national_phone_in_visible_text_is_read_with_the_hint(text, lang, country) -> None:
    html = f'<html lang="{lang}"><body><p>{text}</p></body></html>'
    (signal,) = _phones(html)
    assert (signal.country, signal.strength) == (country, Strength.MEDIUM)
