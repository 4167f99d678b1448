"""The same photos audited through a crawl and through a LAION-style table of the same web
(``provaudit testweb export --format laion``): where the same evidence is present, the same signals and the same
attribution; the table sees none of the page and none of the bytes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from audit.derive.attribution import Evidence, attribute
from audit.derive.run import run_audit
from audit.ingest.datasets import ingest_tables
from audit.ingest.tables import reference_key
from audit.store.db import Store
from audit.testbed.exports import export_laion
from conftest import provaudit

# what a URL + alt-text row can carry: its image host, and the places and language of its text and URL path
VISIBLE = ("(kind IN ('image_cctld', 'image_geo_tld', 'alt_language') "
           "OR (kind = 'place_in_text' AND detail->>'where' IN ('alt', 'caption', 'url')))")
TLD = "regexp_extract({h}, '[.]([^.]*)$', 1)"


@pytest.fixture(scope="module")
def laion_db(small_web, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("laion")
    counts = export_laion(small_web, out / "table", shard_rows=150)
    assert counts["shards"] >= 2 and counts["rows"] > counts["images"] > 0
    db = out / "laion.duckdb"
    with Store.open(db) as store:
        assert ingest_tables(store, [out / "table"]).bad_rows == 0
        run_audit(store)
    return db


def _signals(con: duckdb.DuckDBPyConnection, schema: str, urls: list[str]) -> dict[str, set[tuple[str, str]]]:
    rows = con.execute(f"""
        SELECT s.image_url, g.kind, coalesce(g.country, array_to_string(list_sort(g.candidates), ','))
        FROM {schema}.signals g JOIN {schema}.sightings s USING (sighting_id)
        WHERE g.via_sha256 IS NULL AND {VISIBLE.replace('kind', 'g.kind').replace('detail', 'g.detail')}
          AND s.image_url IN (SELECT unnest($1))""", [urls]).fetchall()
    out: dict[str, set[tuple[str, str]]] = {u: set() for u in urls}
    for url, kind, cc in rows:
        out[url].add(("place_in_text" if kind == "place_in_text" else kind, cc))
    return out


def test_a_table_of_the_web_agrees_with_its_crawl_where_the_evidence_is_the_same(
        audited_store: Path, laion_db: Path) -> None:
    con = duckdb.connect(str(audited_store), read_only=True)
    con.execute(f"ATTACH '{laion_db}' AS d (READ_ONLY)")
    table_urls = [u for (u,) in con.execute("SELECT DISTINCT image_url FROM d.sightings ORDER BY 1").fetchall()]
    # images whose every page is under the image host's TLD: the crawl reads a text's place hints from the page's
    # host, the table (no page) from the image's, so only there is the evidence the same
    same = {u for (u,) in con.execute(f"""
        SELECT image_url FROM sightings WHERE image_url IN (SELECT unnest($1)) GROUP BY 1
        HAVING bool_and({TLD.format(h='page_host')} = {TLD.format(h='image_host')})""", [table_urls]).fetchall()}
    assert len(same) >= len(table_urls) // 3
    crawl, table = _signals(con, "main", sorted(same)), _signals(con, "d", sorted(same))
    # the crawl reads the alt text as "alt", the table's TEXT is its caption: the same text, the same places
    assert sum(1 for u in same if crawl[u]) >= len(same) // 2
    assert {u: crawl[u] for u in same} == {u: table[u] for u in same}

    # the attribution the table gives each image is the one the crawl's own evidence of those kinds gives
    evidence: dict[str, set[tuple[str, str, str, float]]] = {u: set() for u in same}
    for url, kind, cc, strength, weight in con.execute(f"""
            SELECT s.image_url, g.kind, g.country, g.strength, coalesce(nullif(g.weight, 0), 1.0)
            FROM signal_countries g JOIN sightings s USING (sighting_id)
            WHERE g.via_sha256 IS NULL AND {VISIBLE.replace('kind', 'g.kind').replace('detail', 'g.detail')}
              AND s.image_url IN (SELECT unnest($1))""", [sorted(same)]).fetchall():
        evidence[url].add((kind, cc, strength, float(weight)))
    attributed = dict(((u, (c, t)) for u, c, t in con.execute("""
        SELECT s.image_url, a.direct_country, a.direct_tier FROM d.sightings s JOIN d.attributions a USING (sha256)
        WHERE s.image_url IN (SELECT unnest($1))""", [sorted(same)]).fetchall()))
    for url in same:
        expected = attribute(Evidence(kind=k, country=c, strength=s, weight=w) for k, c, s, w in evidence[url])
        assert attributed[url] == (expected.country, expected.tier), url
    assert sum(1 for u in same if attributed[u][0]) >= len(same) // 3


def test_the_table_has_no_page_and_no_bytes_and_the_report_says_so(laion_db: Path, tmp_path: Path) -> None:
    with Store.open(laion_db, read_only=True) as store:
        assert store.query("SELECT count(*) FROM sightings WHERE page_url IS NOT NULL OR sha256 NOT LIKE 'ref:%'"
                           )[0][0] == 0
        assert store.query("SELECT count(*) FROM signals WHERE NOT " + VISIBLE)[0][0] == 0
        url = store.query("SELECT image_url, sha256 FROM sightings LIMIT 1")[0]
        assert url[1] == reference_key(url[0])
    html = tmp_path / "report.html"
    provaudit("report", "--db", str(laion_db), "--country", "FR", "--out", str(html))
    text = html.read_text(encoding="utf-8")
    assert 'id="basis-key"' in text and "known by reference only" in text and "EXIF GPS" in text


def test_the_agreement_figures_the_demo_prints_are_those_counted_here(audited_store: Path, laion_db: Path) -> None:
    from audit.testbed.agreement import table_agreement

    got = table_agreement(audited_store, laion_db, "FR")
    con = duckdb.connect(str(laion_db), read_only=True)
    urls = con.execute("SELECT count(DISTINCT image_url) FROM sightings").fetchone()
    assert urls is not None and got["urls"] == urls[0]
    assert got["same_tld_same"] == got["same_tld_urls"] > 0 and got["same"] <= got["urls"]
    assert got["table"]["images"] == got["urls"] and got["crawl"]["images"] > got["urls"] // 2


# what a WAT's JSON can carry of a page and its image links (no body text, JSON-LD or headings)
WAT_VISIBLE = ("(g.kind IN ('image_cctld', 'image_geo_tld', 'alt_language', 'page_cctld', 'page_geo_tld', 'html_lang', "
               "'og_locale', 'hreflang', 'geo_region', 'geo_position', 'icbm') OR (g.kind = 'place_in_text' AND "
               "g.detail->>'where' IN ('alt', 'url', 'page_title')))")


def test_a_wat_of_the_web_agrees_with_its_crawl_for_the_links_a_wat_lists(
        small_web, audited_store: Path, tmp_path: Path) -> None:
    from audit.testbed.exports import export_wat

    assert export_wat(small_web, tmp_path / "wat")["pages"] > 0
    db = tmp_path / "wat.duckdb"
    provaudit("ingest", str(tmp_path / "wat" / "testweb.warc.wat.gz"), "--db", str(db))
    provaudit("audit", "--db", str(db))
    con = duckdb.connect(str(audited_store), read_only=True)
    con.execute(f"ATTACH '{db}' AS d (READ_ONLY)")
    sets = ("SELECT s.image_url, list_sort(list(DISTINCT g.kind || ':' || coalesce(g.country, "
            "array_to_string(list_sort(g.candidates), ',')))) AS sig FROM {s}.signals g JOIN {s}.sightings s "
            f"USING (sighting_id) WHERE g.via_sha256 IS NULL AND {WAT_VISIBLE} GROUP BY 1")
    # the images the crawl saw only through references a WAT lists (IMG@/src, backgrounds, posters, og:image, ...)
    total, same, nonempty = con.execute(f"""
        WITH u AS (SELECT image_url FROM main.sightings GROUP BY 1
                   HAVING bool_and(sha256 IS NOT NULL AND ref_kind IN (SELECT DISTINCT ref_kind FROM d.sightings))),
             a AS ({sets.format(s='main')}), b AS ({sets.format(s='d')})
        SELECT count(*), count(*) FILTER (WHERE coalesce(a.sig, []) = coalesce(b.sig, [])),
               count(*) FILTER (WHERE len(coalesce(a.sig, [])) > 0)
        FROM u LEFT JOIN a USING (image_url) LEFT JOIN b USING (image_url)""").fetchall()[0]
    assert total > 20 and nonempty > total // 2
    assert same == total


def test_img2dataset_of_the_web_keeps_the_gps_its_resized_bytes_lost(
        small_web, audited_store: Path, tmp_path: Path) -> None:
    from audit.testbed.exports import export_img2dataset

    counts = export_img2dataset(small_web, tmp_path / "i2d", layout="webdataset")
    db = tmp_path / "i2d.duckdb"
    provaudit("ingest", str(tmp_path / "i2d" / "images"), "--db", str(db))
    provaudit("audit", "--db", str(db))
    con = duckdb.connect(str(audited_store), read_only=True)
    con.execute(f"ATTACH '{db}' AS d (READ_ONLY)")
    assert con.execute("SELECT count(DISTINCT image_url) FROM d.sightings").fetchone() == (counts["samples"],)
    # img2dataset re-encodes: no sample keeps EXIF GPS in its bytes
    assert con.execute("SELECT count(*) FROM d.images WHERE gps_lat IS NOT NULL").fetchone() == (0,)
    crawl_gps = dict(con.execute("""
        SELECT s.image_url, any_value(g.country) FROM main.signals g JOIN main.sightings s USING (sha256)
        WHERE g.kind = 'exif_gps' AND g.via_sha256 IS NULL AND s.image_url IN (SELECT image_url FROM d.sightings)
        GROUP BY 1""").fetchall())
    table_gps = dict(con.execute("""
        SELECT s.image_url, any_value(g.country) FROM d.signals g JOIN d.sightings s USING (sha256)
        WHERE g.kind = 'dataset_exif_gps' AND g.via_sha256 IS NULL GROUP BY 1""").fetchall())
    assert crawl_gps, "the small web has photos whose GPS its pages serve"
    assert table_gps == crawl_gps
