"""The people view: every output limited to images showing people (``--faces-only``), on a store made from real
photos (../shared/corpora/faces: people and negatives; ../shared/corpora/photos: camera photos with GPS), with face
detection on, checked against sets computed here from the raw ``faces`` and ``attributions`` rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audit.derive.run import run_audit
from audit.errors import NoFaceDetection
from audit.ingest.run import ingest
from audit.outputs.lookup import lookup
from audit.outputs.people import People, people_or_none
from audit.outputs.report.figures import compute
from audit.outputs.report.render import render
from audit.outputs.sweep import sweep
from audit.outputs.verify import verify
from audit.store.db import Store
from conftest import CORPORA, provaudit

FACES = CORPORA / "faces"
LABELS = [json.loads(line) for line in (FACES / "boxes.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def people_db(tmp_path_factory) -> Path:
    if not FACES.is_dir():
        pytest.fail(f"the shared test corpora are missing: expected {FACES}")
    db = tmp_path_factory.mktemp("people") / "people.duckdb"
    with Store.open(db) as store:
        ingest(store, [FACES / "images", CORPORA / "photos"], faces=True, workers=2)
        run_audit(store)
    return db


@pytest.fixture(scope="module")
def people_store(people_db):
    with Store.open(people_db, read_only=True) as store:
        yield store


def showing(store: Store, height: int) -> set[str]:
    """The audited images with a detected face at least ``height`` px high, from the raw rows."""
    audited = {sha for (sha,) in store.query("SELECT sha256 FROM attributions")}
    return {sha for sha, h in store.query("SELECT sha256, box_height FROM faces") if h >= height} & audited


def country_with_people(store: Store) -> str:
    """A country that at least one signal of an image showing people points to (the real photos hold a few)."""
    rows = store.query(f"""SELECT country, count(DISTINCT sha256) FROM signal_countries
        WHERE {People(40).where()} GROUP BY country ORDER BY 2 DESC, 1""")
    assert rows, "no image of people in the corpora carries a signal: the sweep could not be tested"
    return str(rows[0][0])


def test_people_are_the_images_with_a_face_of_the_minimum_height(people_store):
    for height in (1, 40, 120):
        cov = compute(people_store, "FR", min_face_height=height)["people"]["coverage"]
        assert cov["showing_people"] == len(showing(people_store, height))
    cov = compute(people_store, "FR")["people"]["coverage"]
    assert cov["showing_people"] > 0
    assert cov["detected"] == people_store.query("SELECT count(*) FROM attributions a JOIN images i USING (sha256) "
                                                 "WHERE i.face_count IS NOT NULL")[0][0]
    assert cov["detectors"] and all("(" in d for d in cov["detectors"]), "the detector and its version are named"
    assert cov["detected"] + cov["failed"] + cov["undecoded"] + cov["not_run"] == cov["images"]
    assert cov["undecoded"] == people_store.query("SELECT count(*) FROM images WHERE error IS NOT NULL")[0][0] > 0
    assert cov["not_run"] == 0, "the whole store went through detection"


def test_report_headline_for_people_counts_only_them(people_store):
    cc = country_with_people(people_store)
    data = compute(people_store, cc)
    people = showing(people_store, 40)
    head = data["people"]["headline"]
    assert head["images"] == len(people)
    pointing = {sha for (sha,) in people_store.query(
        "SELECT sha256 FROM signal_countries WHERE country = ?", [cc])}
    raw = {r["level"]: r for r in head["rows"]}["any signal (raw)"]["propagated"]["images"]
    assert (raw["hits"], raw["n"]) == (len(pointing & people), len(people))
    attributed = {sha for (sha,) in people_store.query(
        "SELECT sha256 FROM attributions WHERE country = ? AND tier <> 'none'", [cc])}
    any_tier = {r["level"]: r for r in head["rows"]}["any tier"]["propagated"]["images"]
    assert any_tier["hits"] == len(attributed & people)
    assert 0 <= any_tier["low"] <= any_tier["value"] <= any_tier["high"] <= 1
    # distinct photos: clusters counted once
    clusters = dict(people_store.query("SELECT sha256, cluster_id FROM clusters"))
    assert data["people"]["photos"]["photos"] == len({clusters.get(sha, sha) for sha in people})
    html = render(data)
    assert 'id="people-table"' in html and 'id="people-key"' in html and "40 px" in html


def test_sweep_and_verify_faces_only_are_the_policy_limited_to_people(people_store):
    cc = country_with_people(people_store)
    people = showing(people_store, 40)
    everything = {r["sha256"] for r in sweep(people_store, cc, "any-signal").rows}
    limited = sweep(people_store, cc, "any-signal", People(40))
    got = {r["sha256"] for r in limited.rows}
    assert got == everything & people and got, "some image of people carries a signal for the country"
    assert limited.summary()["faces_only"] and limited.summary()["min_face_height"] == 40
    assert everything - people, "the limit removed images that show no person"
    v = verify(people_store, people_store, cc, "any-signal", people=People(40))
    assert set(v.should_be_gone) == got and v.summary()["faces_only"]


def test_lookup_faces_only_returns_only_images_of_people(people_store):
    with_face = next(e["file"] for e in LABELS if e["faces"] and max(b[3] for b in e["faces"]) >= 80)
    negative = next(e["file"] for e in LABELS if e["negative"])
    photos = [FACES / "images" / with_face, FACES / "images" / negative]
    plain = lookup(people_store, photos)
    assert all(any(m.kind == "exact" for m in r.matches) for r in plain)
    limited = lookup(people_store, photos, people=People(40))
    assert any(m.kind == "exact" for m in limited[0].matches), "the photo with a face is found"
    assert limited[1].matches == [], "the negative is in the store but shows no person"


def test_faces_only_without_detection_is_a_clear_error(people_db, tmp_path):
    copy = tmp_path / "nofaces.duckdb"
    shutil.copy(people_db, copy)
    with Store.open(copy) as store:
        store.query("UPDATE images SET face_count = NULL")
        store.query("DELETE FROM faces")
        with pytest.raises(NoFaceDetection, match="audit --faces"):
            people_or_none(store, True)
        assert people_or_none(store, False) is None
        data = compute(store, "FR")
        assert data["people"]["headline"] is None and data["people"]["coverage"]["detected"] == 0
        assert "Face detection has not run" in render(data)
    proc = provaudit("sweep", "--db", str(copy), "--country", "FR", "--faces-only", check=False)
    assert proc.returncode == 1 and "provaudit audit --faces" in proc.stderr
    proc = provaudit("sweep", "--db", str(people_db), "--country", "GB", "--policy", "any-signal", "--faces-only",
                     "--json")
    assert json.loads(proc.stdout)["faces_only"] is True
    proc = provaudit("report", "--db", str(people_db), "--country", "GB", "--min-face-height", "0", check=False)
    assert proc.returncode != 0 and "min-face-height" in proc.stderr


def test_export_without_face_boxes_keeps_counts_and_drops_every_box(people_db, people_store, tmp_path):
    import pyarrow.parquet as pq

    n_faces = people_store.query("SELECT count(*) FROM faces")[0][0]
    assert n_faces > 0
    full, bare = tmp_path / "full", tmp_path / "bare"
    provaudit("export", "--db", str(people_db), "--out", str(full))
    assert json.loads((full / "manifest.json").read_text())["tables"]["faces"]["rows"] == n_faces
    provaudit("export", "--db", str(people_db), "--out", str(bare), "--no-face-boxes")
    manifest = json.loads((bare / "manifest.json").read_text())
    assert manifest["tables"]["faces"] == {"rows": 0, "files": []} and "faces" in manifest["omitted"]
    assert not (bare / "faces").exists()
    for path in bare.rglob("*.parquet"):
        assert not {"box_left", "box_top", "box_width", "box_height"} & set(pq.read_schema(path).names), path
    counts = {r["sha256"]: r["face_count"] for r in pq.read_table(bare / "images").to_pylist()}
    assert counts == dict(people_store.query("SELECT sha256, face_count FROM images"))
    back = tmp_path / "back.duckdb"
    provaudit("ingest", str(bare), "--db", str(back))
    with Store.open(back, read_only=True) as store:
        assert store.query("SELECT count(*) FROM faces")[0][0] == 0
        assert dict(store.query("SELECT sha256, face_count FROM images")) == counts


def test_a_store_from_before_face_detection_still_reports(people_db, tmp_path):
    """An older store (no faces table, no face columns), opened read-only: the report says detection did not run;
    --faces-only is refused in one line."""
    copy = tmp_path / "old.duckdb"
    shutil.copy(people_db, copy)
    import duckdb

    con = duckdb.connect(str(copy))
    con.execute("DROP TABLE faces")
    con.execute("ALTER TABLE images DROP COLUMN face_count")
    con.execute("ALTER TABLE images DROP COLUMN face_error")
    con.close()
    out = tmp_path / "r" / "report.html"
    provaudit("report", "--db", str(copy), "--country", "GB", "--out", str(out))
    assert json.loads((out.parent / "report.json").read_text())["people"]["coverage"]["detected"] == 0
    assert "Face detection has not run" in out.read_text()
    proc = provaudit("lookup", str(FACES / "images" / LABELS[0]["file"]), "--db", str(copy), "--faces-only",
                     check=False)
    assert proc.returncode == 1 and "audit --faces" in proc.stderr and "Traceback" not in proc.stderr
