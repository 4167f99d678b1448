"""page_facts: the bounded raw facts of hand-written pages."""

from __future__ import annotations

import json

from parsel import Selector

from audit.decode.pagefacts import MAX_PHONES, MAX_VALUE, page_facts

BELGIAN = """<!DOCTYPE html>
<html lang="fr-BE"><head>
<meta charset="utf-8">
<title>Liège Info</title>
<link rel="canonical" href="/">
<meta property="og:locale" content="fr_BE">
<meta property="og:locale:alternate" content="nl_BE">
<meta property="og:locale:alternate" content="de_BE">
<meta http-equiv="Content-Language" content="fr-BE">
<meta name="geo.region" content="BE-WLG">
<meta name="geo.placename" content="Liège">
<meta name="geo.position" content="50.6326;5.5797">
<meta name="ICBM" content="50.6326, 5.5797">
<meta name="robots" content="noai, noimageai">
<meta name="googlebot" content="noimageindex">
<meta name="description" content="not a robots tag">
<meta name="tdm-reservation" content="1">
<meta name="tdm-policy" content="https://www.liege-info.be/tdm-policy.json">
<link rel="alternate" hreflang="fr-BE" href="/">
<link rel="alternate" hreflang="nl-BE" href="/nl/">
<link rel="alternate" hreflang="x-default" href="/">
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebSite", "name": "Liège Info"},
  {"@type": "NewsMediaOrganization", "name": "Liège Info",
   "address": {"@type": "PostalAddress", "addressLocality": "Liège", "addressCountry": "BE"},
   "department": [{"@type": "Organization", "location": {"address": {"addressCountry": {"@type": "Country",
     "name": "Belgium"}}}}],
   "telephone": "+32 4 220 00 00"}
]}
</script>
<script type="application/ld+json">{ this is not json </script>
</head><body>
<p>Rédaction : <a href="tel:+3242200001">04 220 00 01</a></p>
<p>Publié le 01.02.2024 — 1 200 lecteurs — code 123</p>
<script>var phone = "+33 1 00 00 00 00";</script>
</body></html>"""

MICRODATA = """<html><head><title>x</title></head><body>
<div itemscope itemtype="https://schema.org/PostalAddress">
  <span itemprop="streetAddress">1 rue de la Paix</span>
  <span itemprop="addressCountry">France</span>
</div>
<div itemscope itemtype="https://schema.org/PostalAddress"><meta itemprop="addressCountry" content="CH"></div>
<p>Call us: +41 22 123 45 67 or (514) 555-0123.</p>
</body></html>"""


def test_belgian_page_facts() -> None:
    f = page_facts(BELGIAN, "https://www.liege-info.be/")
    assert f["url"] == "https://www.liege-info.be/"
    assert f["canonical"] == "https://www.liege-info.be/"
    assert f["html_lang"] == "fr-BE"
    assert f["og_locale"] == "fr_BE"
    assert f["og_locale_alternate"] == ["nl_BE", "de_BE"]
    assert f["meta_language"] == "fr-BE"
    assert f["hreflang"] == [["fr-BE", "https://www.liege-info.be/"], ["nl-BE", "https://www.liege-info.be/nl/"],
                             ["x-default", "https://www.liege-info.be/"]]
    assert f["geo_region"] == "BE-WLG"
    assert f["geo_placename"] == "Liège"
    assert f["geo_position"] == "50.6326;5.5797"
    assert f["icbm"] == "50.6326, 5.5797"
    assert f["addresses"] == ["BE", "Belgium"]  # nested @graph, lists and Country objects
    assert "+32 4 220 00 00" in f["phones"] and "+3242200001" in f["phones"] and "04 220 00 01" in f["phones"]
    assert not any("+33" in p for p in f["phones"])  # script text is not visible text
    assert not any("2024" in p or p == "123" for p in f["phones"])  # dates and short numbers are not phones
    assert f["robots_meta"] == [["robots", "noai, noimageai"], ["googlebot", "noimageindex"]]
    assert f["tdm_reservation"] == "1"
    assert f["tdm_policy"] == "https://www.liege-info.be/tdm-policy.json"
    json.dumps(f)  # JSON-safe


def test_microdata_and_text_phones_and_selector_input() -> None:
    f = page_facts(Selector(text=MICRODATA), "http://example.com/a")
    assert f["addresses"] == ["France", "CH"]
    assert "+41 22 123 45 67" in f["phones"] and "(514) 555-0123" in f["phones"]
    assert "html_lang" not in f and "hreflang" not in f and "robots_meta" not in f


def test_national_numbers_in_visible_text() -> None:
    """Issue 15: "514 555 0199" stands alone (North American groups); "22 12 34 56" only after a phone label, since
    unlabelled pairs of digits are scores, dates and prices as often as phone numbers."""
    html = ("<html><body><p>Tlf. 22 12 34 56</p><p>Phone: (0)20 7946 0000</p><p>Appelez le 514 555 0199</p>"
            "<p>Score 22 12 34 56, le 12 03 2024</p></body></html>")
    f = page_facts(html, "http://x.example/")
    assert f["phones"] == ["514 555 0199", "22 12 34 56", "(0)20 7946 0000"]
    assert page_facts("<p>Résultats 22 12 34 56 et 100 555 0199</p>", "http://x.example/").get("phones") is None


def test_empty_and_hostile_inputs_are_bounded() -> None:
    assert page_facts("", "http://x.example/") == {"url": "http://x.example/"}
    long = "x" * 10_000
    phones = " ".join(f"+33 1 23 45 {i:02d} {j:02d}" for i in range(10) for j in range(10))
    deep = "[" * 5000 + "]" * 5000
    html = (f'<html lang="{long}"><head><meta name="geo.placename" content="{long}">'
            f'<script type="application/ld+json">{deep}</script></head><body><p>{phones}</p></body></html>')
    f = page_facts(html, "http://x.example/")
    assert len(f["html_lang"]) <= MAX_VALUE and len(f["geo_placename"]) == MAX_VALUE
    assert len(f["phones"]) == MAX_PHONES
    assert "addresses" not in f
