"""URL + caption tables (LAION-style datasets) ingested as reference-only sightings: the real LAION rows of
../shared/corpora/datasets/laion, CSV/TSV shards with bad rows, a folder of shards, a truncated file, published
hashes, and the audit and report on top."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.derive.run import run_audit
from audit.errors import IngestError
from audit.ingest.datasets import ingest_tables
from audit.ingest.tables import is_reference_key, reference_key
from audit.outputs.report.figures import compute
from audit.store.db import Store
from conftest import CORPORA, ROOT

LAION = CORPORA / "datasets" / "laion" / "test_1000.parquet"


def _laion_rows() -> list[dict[str, object]]:
    return pq.read_table(LAION).to_pylist()


def _plain_url(url: object) -> bool:
    """The rows the ingest must keep, decided apart from its code: an http(s) URL with a host and no control
    character (a space is allowed: it is kept as %20)."""
    return isinstance(url, str) and re.match(r"(?i)^https?://[^/?#\s]+", url.strip()) is not None \
        and not re.search(r"[\x00-\x1f\x7f]", url)


@pytest.fixture(scope="module")
def laion_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("laion") / "laion.duckdb"
    with Store.open(db) as store:
        result = ingest_tables(store, [LAION])
        assert result.bad_files == 0
        run_audit(store)
    return db


def test_every_real_laion_row_with_a_url_is_a_reference_only_sighting(laion_store: Path) -> None:
    rows = _laion_rows()
    expected = [r for r in rows if _plain_url(r["URL"])]
    assert 0 < len(expected) <= len(rows)
    with Store.open(laion_store, read_only=True) as store:
        got = store.query("SELECT image_url, caption, attributes, sha256, page_url, ref_kind FROM sightings")
        images = dict(store.query("SELECT sha256, reference_only FROM images"))
    assert len({(r["URL"].strip().replace(" ", "%20"), " ".join(str(r["TEXT"] or "").split()) or None)
                for r in expected}) == len(got)
    by_url = {u: (c, json.loads(a), sha, page, kind) for u, c, a, sha, page, kind in got}
    for r in expected[:200]:
        url = r["URL"].strip().replace(" ", "%20")
        caption, attrs, sha, page, kind = by_url[url]
        assert sha == reference_key(url) and is_reference_key(sha) and images[sha] is True
        assert page is None and kind == "dataset"
        assert attrs["file"] == LAION.name and isinstance(attrs["row"], int)
        assert rows[attrs["row"] - 1]["URL"] == r["URL"]  # the row number points back to the row
        if r["TEXT"]:
            assert caption == " ".join(r["TEXT"].split())[:2000]


def test_reingest_adds_nothing_and_names_no_error(laion_store: Path) -> None:
    with Store.open(laion_store) as store:
        before = store.count("sightings"), store.count("images")
        again = ingest_tables(store, [LAION])
        assert (store.count("sightings"), store.count("images")) == before
        assert again.rows == len(_laion_rows()) and again.bad_files == 0


def test_captions_and_hosts_give_signals_and_the_report_says_what_references_cannot_show(laion_store: Path) -> None:
    with Store.open(laion_store, read_only=True) as store:
        # a caption naming a German city (found with SQL here, not with the gazetteer) gives a DE place signal
        rows = store.query("""SELECT s.sha256 FROM sightings s WHERE s.caption ILIKE '%Dresden%'""")
        assert rows, "the real sample names Dresden in a caption"
        kinds = store.query("SELECT DISTINCT kind, country FROM signals WHERE sha256 = ?", [rows[0][0]])
        assert ("place_in_text", "DE") in kinds
        # an image host under .uk gives a GB host signal
        uk = store.query("SELECT sha256 FROM sightings WHERE image_host LIKE '%.uk' LIMIT 1")
        assert uk
        assert store.query("SELECT count(*) FROM signals WHERE sha256 = ? AND kind = 'image_cctld' AND country = 'GB'",
                           [uk[0][0]])[0][0] == 1
        assert store.query("SELECT count(*) FROM signals WHERE kind LIKE 'exif%' OR kind LIKE 'page%'")[0][0] == 0
        data = compute(store, "GB")
    basis = data["basis"]
    assert basis["images_with_bytes"] == 0 and basis["reference_only"] == data["headline"]["images"]
    assert basis["reference_only_cannot_show"]
    any_tier = {r["level"]: r for r in basis["rows"]}["any tier"]["reference_only"]
    assert any_tier == {r["level"]: r for r in data["headline"]["rows"]}["any tier"]["propagated"]["images"]
    assert data["people"]["coverage"]["reference_only"] == basis["reference_only"]
    assert data["people"]["coverage"]["not_run"] == 0


def test_csv_and_tsv_shards_with_bad_rows_name_file_and_row(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.csv").write_text(
        "url,caption,sha256\n"
        "https://img.example.fr/a.jpg,Vacances à Lyon,"
        + "AB" * 32 + "\n"
        "ftp://files.example.org/b.jpg,not http,\n"
        "https://img.example.de/c.jpg,too,many,fields,here\n"
        ",empty url,\n"
        "https://img.example.it/d.jpg,\"Roma, \"\"centro\"\"\",nothex\n", encoding="utf-8")
    (shards / "b.tsv").write_text("URL\tTEXT\tLANGUAGE\nhttp://x.example.es/e.png\tPlaya de Valencia\tes\n",
                                  encoding="utf-8")
    (shards / "_stats.json").write_text("{}")
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest_tables(store, [shards])
        assert result.files == 2 and result.rows == 5  # the row of too many fields is not a row
        assert result.bad_rows == 3
        text = "\n".join(result.errors)
        assert f"{shards / 'a.csv'}: row 2: no http(s) image URL" in text
        assert f"{shards / 'a.csv'}: row 3: 5 fields where the header has 3" in text
        assert f"{shards / 'a.csv'}: row 4: no http(s) image URL in column 'url' (empty)" in text
        got = dict(store.query("SELECT image_url, caption FROM sightings"))
        assert got == {"https://img.example.fr/a.jpg": "Vacances à Lyon", "https://img.example.it/d.jpg":
                       'Roma, "centro"', "http://x.example.es/e.png": "Playa de Valencia"}
        published = dict(store.query("SELECT sha256, published_sha256 FROM images"))
        assert published[reference_key("https://img.example.fr/a.jpg")] == "ab" * 32
        assert published[reference_key("https://img.example.it/d.jpg")] is None  # not a SHA-256: kept as metadata
        attrs = json.loads(store.query("SELECT attributes FROM sightings WHERE image_url LIKE '%d.jpg'")[0][0])
        assert attrs["sha256"] == "nothex" and attrs["row"] == 5
        lang = json.loads(store.query("SELECT attributes FROM sightings WHERE image_url LIKE '%e.png'")[0][0])
        assert lang["LANGUAGE"] == "es" and lang["file"] == "b.tsv"


def test_a_truncated_parquet_keeps_the_rows_of_other_files_and_names_the_break(tmp_path: Path) -> None:
    data = LAION.read_bytes()
    (tmp_path / "broken.parquet").write_bytes(data[: len(data) // 2])
    half = pq.read_table(LAION).slice(0, 100)
    pq.write_table(half, tmp_path / "good.parquet")
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest_tables(store, [tmp_path / "broken.parquet", tmp_path / "good.parquet"])
        assert result.bad_files == 1 and result.files == 2
        assert any(e.startswith(f"{tmp_path / 'broken.parquet'}: cannot read on") for e in result.errors)
        assert store.count("sightings") == sum(1 for r in half.to_pylist() if _plain_url(r["URL"]))


def test_columns_mapping_and_its_errors(tmp_path: Path) -> None:
    table = pa.table({"link": ["https://a.example.nl/1.jpg", "https://a.example.nl/2.jpg"],
                      "beschrijving": ["Amsterdam bij nacht", None], "md5sum": ["0" * 32, "xyz"]})
    pq.write_table(table, tmp_path / "nl.parquet")
    with Store.open(tmp_path / "s.duckdb") as store:
        with pytest.raises(IngestError, match="no image URL column"):
            ingest_tables(store, [tmp_path / "nl.parquet"])
        result = ingest_tables(store, [tmp_path / "nl.parquet"],
                               columns={"url": "link", "caption": "beschrijving", "md5": "md5sum"})
        assert result.sightings == 2
        assert dict(store.query("SELECT image_url, caption FROM sightings")) == {
            "https://a.example.nl/1.jpg": "Amsterdam bij nacht", "https://a.example.nl/2.jpg": None}
        assert sorted(r[0] or "" for r in store.query("SELECT published_md5 FROM images")) == ["", "0" * 32]
    run = [sys.executable, "-m", "audit.cli", "ingest", str(tmp_path / "nl.parquet"), "--db", str(tmp_path / "c.db")]
    bad = subprocess.run([*run, "--columns", "picture=link"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1 and "unknown role 'picture'" in bad.stderr
    missing = subprocess.run([*run, "--columns", "url=nope"], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 1 and "no column 'nope' for url" in missing.stderr
    ok = subprocess.run([*run, "--columns", "url=link,caption=beschrijving"], capture_output=True, text=True,
                        cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "reference-only" in ok.stdout
    con = duckdb.connect(str(tmp_path / "c.db"), read_only=True)
    assert con.execute("SELECT count(*) FROM sightings WHERE ref_kind = 'dataset'").fetchone() == (2,)
    assert con.execute("SELECT kind FROM crawls").fetchone() == ("dataset",)
