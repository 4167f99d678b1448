"""Issue 15: evidence spread over many countries never picks a country, in the audit itself (the set-wise SQL path
and the plain reference agree), on pages like the real captures that showed the bug."""

from __future__ import annotations

import io
import json
import random

from PIL import Image
from warcio.warcwriter import WARCWriter
from warcs import write_response

from audit.derive.reference import reference_audit
from audit.derive.run import run_audit
from audit.ingest.run import ingest
from audit.store.db import Store

WIKI = b'<html lang="en"><body><img src="/a.png" alt="A painting"></body></html>'
GOV_UK = (b'<html lang="en"><head><script type="application/ld+json">{"@type": "GovernmentOrganization", '
          b'"address": {"addressCountry": "GB"}}</script></head><body><img src="/b.png"></body></html>')
TIE = (b'<html lang="en"><head><meta name="geo.region" content="BE"><script type="application/ld+json">'
       b'{"address": {"addressCountry": "FR"}}</script></head><body><img src="/c.png"></body></html>')
PHONE = b'<html lang="en-US"><body><a href="tel:(206) 555-0143">(206) 555-0143</a><img src="/d.png"></body></html>'


def noise_png(seed: int) -> bytes:
    """A 64x64 PNG of random pixels: unlike plain colours, two seeds are not near-duplicates of each other."""
    rng = random.Random(seed)
    image = Image.new("RGB", (64, 64))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64 * 64)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_spread_evidence_in_the_audit(tmp_path):
    warc = tmp_path / "captures.warc.gz"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, page, image, seed in (
                ("http://en.wiki.example.org/wiki/A", WIKI, "http://en.wiki.example.org/a.png", 1),
                ("http://www.data.gov.uk/", GOV_UK, "http://www.data.gov.uk/b.png", 2),
                ("http://shop.example.com/", TIE, "http://shop.example.com/c.png", 3),
                ("http://coffee.example.com/", PHONE, "http://coffee.example.com/d.png", 4)):
            write_response(w, url, "text/html", page)
            write_response(w, image, "image/png", noise_png(seed))
    with Store.open(tmp_path / "s.duckdb") as store:
        ingest(store, [warc], workers=1)
        run_audit(store)
        assert store.query("SELECT count(*) FROM clusters WHERE size > 1") == [(0,)]
        rows = {page: (country, tier, explanation) for page, country, tier, explanation in store.query(
            "SELECT s.page_url, a.country, a.tier, a.explanation FROM attributions a "
            "JOIN sightings s ON s.sha256 = a.sha256")}
        fast = sorted(store.query("SELECT sha256, country, score, tier, runner_up, explanation FROM attributions"))
        _, plain = reference_audit(store)
    assert fast == sorted((r["sha256"], r["country"], r["score"], r["tier"], r["runner_up"], r["explanation"])
                          for r in plain["attributions"])
    # a bare lang="en": 58 equal candidates, no country (it used to be AG, Antigua and Barbuda)
    country, tier, explanation = rows["http://en.wiki.example.org/wiki/A"]
    assert (country, tier) == (None, "none") and "only evidence spread over 58 countries" in explanation
    # .uk host, .uk image host and a GB address: strong, and a bare "en" no longer pulls it to medium
    assert rows["http://www.data.gov.uk/"][:2] == ("GB", "strong")
    # FR against BE, equally supported: no country, never the alphabetically first
    country, tier, explanation = rows["http://shop.example.com/"]
    assert (country, tier) == (None, "none") and "tie for first place between BE, FR" in explanation
    # a national US number on a .com page that says en-US: read with that hint
    assert rows["http://coffee.example.com/"][0] == "US"
    with Store.open(tmp_path / "s.duckdb", read_only=True) as store:
        (detail,), = store.query("SELECT detail FROM signals WHERE kind = 'phone'")
    assert json.loads(detail)["format"] == "national (region hint US)"
