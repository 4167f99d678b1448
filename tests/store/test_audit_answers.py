"""Issue 15, section 3: the audit gives two answers per image, where the photo was taken and where its subject
probably lives, and the report counts each country by the answer its deletion order uses ("located": either
answer; "residence": the residence answer only). The set-wise SQL path and the plain reference agree."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

from PIL import Image
from warcio.warcwriter import WARCWriter
from warcs import write_response

from audit.derive.reference import reference_audit
from audit.derive.run import run_audit
from audit.ingest.run import ingest
from audit.outputs.policies import ORDERS
from audit.outputs.report import write_report
from audit.outputs.sweep import sweep, write_sweep
from audit.store.db import Store
from audit.testbed.testweb.writers import build_exif

MADRID = (40.4168, -3.7038)
LONDON = (51.5072, -0.1276)
ANSWERS = ("capture_country", "capture_tier", "residence_country", "residence_tier")


def gps_jpeg(seed: int, gps: tuple[float, float]) -> bytes:
    """A 64x64 JPEG of random pixels (no two seeds are near-duplicates) with an EXIF GPS position."""
    rng = random.Random(seed)
    image = Image.new("RGB", (64, 64))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64 * 64)])
    out = io.BytesIO()
    image.save(out, "JPEG", exif=build_exif(make=None, model=None, taken_at=None, offset=None, gps=gps).tobytes())
    return out.getvalue()


def page(image: str) -> bytes:
    return (f'<html lang="fr-FR"><head><script type="application/ld+json">{{"@type": "Organization", "address": '
            f'{{"addressCountry": "FR"}}}}</script></head><body><img src="{image}"></body></html>').encode()


def audited_store(tmp_path: Path) -> Path:
    """A store of two pages of French sites, each with a photo whose GPS is abroad (Madrid, London), audited."""
    warc = tmp_path / "captures.warc.gz"
    with warc.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, image, seed, gps in (("http://www.boulangerie.fr/madrid", "/madrid.jpg", 1, MADRID),
                                      ("http://www.fromagerie.fr/londres", "/londres.jpg", 2, LONDON)):
            write_response(w, url, "text/html", page(image))
            write_response(w, url.rsplit("/", 1)[0] + image, "image/jpeg", gps_jpeg(seed, gps))
    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        ingest(store, [warc], workers=1)
        run_audit(store)
    return db


def test_gps_abroad_on_a_french_page(tmp_path):
    db = audited_store(tmp_path)
    with Store.open(db) as store:
        rows = {page_url.rsplit("/", 1)[1]: (country, tier, *answers) for page_url, country, tier, *answers in
                store.query(f"SELECT s.page_url, a.country, a.tier, {', '.join('a.' + c for c in ANSWERS)} "
                            "FROM attributions a JOIN sightings s USING (sha256)")}
        fast = sorted(store.query(f"SELECT sha256, {', '.join(ANSWERS)}, capture_score, residence_score, "
                                  "capture_explanation, residence_explanation FROM attributions"))
        _, plain = reference_audit(store)
    assert fast == sorted((r["sha256"], *(r[c] for c in ANSWERS), r["capture_score"], r["residence_score"],
                           r["capture_explanation"], r["residence_explanation"]) for r in plain["attributions"])
    # GPS in Spain, a French page (domain, language, address): taken in ES, lives in FR
    country, tier, *answers = rows["madrid"]
    assert answers == ["ES", "strong", "FR", "strong"]
    assert tier != "strong"  # the combined answer is a conflict, as before
    assert rows["londres"][2:] == ("GB", "strong", "FR", "strong")

    with Store.open(db, read_only=True) as store:
        # FR's order ("personnes se trouvant en France") uses "located": both images count, by their residence
        html, js = write_report(store, "FR", tmp_path / "fr" / "report.html", outlines=None)
        fr = json.loads(js.read_text(encoding="utf-8"))["answers"]
        # ES has no declared order: the narrower reading, residence; its capture answer still shows
        _, js = write_report(store, "ES", tmp_path / "es" / "report.html", outlines=None)
        es = json.loads(js.read_text(encoding="utf-8"))["answers"]
        # GB's order (ICO, UK residents) uses residence: the London photo of a French page does not count
        gb_html, js = write_report(store, "GB", tmp_path / "gb" / "report.html", outlines=None)
        gb = json.loads(js.read_text(encoding="utf-8"))["answers"]
        result = sweep(store, "FR", "weak+nd")
        write_sweep(result, tmp_path / "sweep.csv")
    any_tier = {name: next(r for r in figures["rows"] if r["level"] == "any tier") for name, figures in
                (("FR", fr), ("ES", es), ("GB", gb))}
    assert fr["basis"] == "located" and fr["answers_used"] == ["capture", "residence"]
    assert fr["order"]["wording"] == "personnes se trouvant en France"
    assert (any_tier["FR"]["capture"]["images"]["hits"], any_tier["FR"]["residence"]["images"]["hits"],
            any_tier["FR"]["order"]["images"]["hits"]) == (0, 2, 2)
    assert es["order"] is None and es["basis"] == "residence"
    assert (any_tier["ES"]["capture"]["images"]["hits"], any_tier["ES"]["order"]["images"]["hits"]) == (1, 0)
    assert gb["basis"] == "residence" and gb["order"]["wording"] == ORDERS["GB"].wording
    assert (any_tier["GB"]["capture"]["images"]["hits"], any_tier["GB"]["order"]["images"]["hits"]) == (1, 0)
    # the HTML says which answer the order uses and shows both
    section = html.read_text(encoding="utf-8").split('<section id="answers">', 1)[1].split("</section>", 1)[0]
    assert "personnes se trouvant en France" in section and "<b>located</b>" in section
    assert 'id="answers-table"' in section and "capture answer names FR" in section
    assert "<b>residence</b>" in gb_html.read_text(encoding="utf-8").split('<section id="answers">', 1)[1]
    # the sweep lists both answers per image
    assert {(r["capture_country"], r["residence_country"]) for r in result.rows} == {("ES", "FR"), ("GB", "FR")}
    assert result.by_answer["residence"]["strong"] == 2 and result.by_answer["capture"]["strong"] == 0
    header = (tmp_path / "sweep.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith(",capture_country,capture_tier,residence_country,residence_tier")


def test_a_store_audited_before_the_two_answers(tmp_path):
    """Opened read-only, a store whose attributions lack the answers' columns still gives a report (which says to
    audit again) and a sweep (answers empty)."""
    db = audited_store(tmp_path)
    old = tmp_path / "old.duckdb"
    shutil.copy(db, old)
    with Store.open(old) as store:
        for answer in ("capture", "residence"):
            for column in ("country", "score", "tier", "explanation"):
                store.con.execute(f"ALTER TABLE attributions DROP COLUMN {answer}_{column}")
    with Store.open(old, read_only=True) as store:
        html, js = write_report(store, "FR", tmp_path / "old" / "report.html", outlines=None)
        result = sweep(store, "FR", "weak+nd")
    answers = json.loads(js.read_text(encoding="utf-8"))["answers"]
    assert answers["available"] is False and answers["rows"] == [] and answers["basis"] == "located"
    assert "audited before the attribution gave two answers" in html.read_text(encoding="utf-8")
    assert result.rows and all(r["capture_country"] is None and r["residence_tier"] is None for r in result.rows)
