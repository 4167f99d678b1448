"""verify + simulate on a real demo store: numbers checked against SQL and the test web's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from audit.outputs.verify import (
    POLICIES,
    Match,
    Remaining,
    SightingRef,
    Verification,
    should_delete,
    verify,
    write_verification,
)
from audit.store.db import Store
from audit.testbed.simulate import simulate_deletion, sloppy_vendor

ROOT = Path(__file__).resolve().parents[2]
COUNTRY = "FR"


@pytest.fixture(scope="module")
def demo(demo_out) -> Path:
    return demo_out / "provenance.duckdb"


def _sql(before: Path, after: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect()
    con.execute(f"ATTACH '{before}' AS b (READ_ONLY)")
    con.execute(f"ATTACH '{after}' AS a (READ_ONLY)")
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


NEAR_SQL = """
SELECT DISTINCT ai.sha256, bi.sha256 FROM b.images bi, a.images ai
WHERE list_contains(?::VARCHAR[], bi.sha256) AND ai.sha256 <> bi.sha256
  AND bi.phash IS NOT NULL AND ai.phash IS NOT NULL AND (
   (bit_count(xor(ai.phash, bi.phash)) <= 10 AND bit_count(xor(ai.dhash, bi.dhash)) <= 14)
OR (bit_count(xor(ai.phash_mirror, bi.phash)) <= 10 AND bit_count(xor(ai.dhash_mirror, bi.dhash)) <= 14)
OR (bit_count(xor(ai.phash, bi.phash_mirror)) <= 10 AND bit_count(xor(ai.dhash, bi.dhash_mirror)) <= 14))
"""


def test_should_delete_follows_the_definition(demo):
    with Store.open(demo, read_only=True) as store:
        sets = {p: should_delete(store, COUNTRY, p) for p in POLICIES}
        assert sets["strong"] <= sets["medium"] <= sets["weak"]
        assert sets["strong+nd"] <= sets["medium+nd"] <= sets["weak+nd"]
        assert sets["strong"] == {r[0] for r in store.query(
            "SELECT sha256 FROM attributions WHERE direct_country = 'FR' AND direct_tier = 'strong'")}
        assert sets["medium+nd"] == {r[0] for r in store.query(
            "SELECT sha256 FROM attributions WHERE country = 'FR' AND tier IN ('strong', 'medium')")}
        assert sets["any-signal"] == {r[0] for r in store.query(
            "SELECT sha256 FROM signal_countries WHERE country = 'FR'")}
        assert sets["strong"], "the demo web has French photos with GPS"
        with pytest.raises(ValueError):
            should_delete(store, COUNTRY, "strongest")


@pytest.mark.parametrize("policy", ["strong", "strong+nd", "medium+nd", "any-signal"])
def test_sloppy_vendor_is_caught(demo, tmp_path, policy):
    after_path = tmp_path / "after.duckdb"
    with Store.open(demo, read_only=True) as before:
        named = should_delete(before, COUNTRY, policy)
        deleted = sloppy_vendor(before, COUNTRY, policy, seed=7)
    assert deleted <= named
    removed = simulate_deletion(demo, after_path, deleted)
    assert removed["images"] == len(deleted)
    with Store.open(demo, read_only=True) as before, Store.open(after_path, read_only=True) as after:
        assert not after.query("SELECT 1 FROM images WHERE list_contains(?::VARCHAR[], sha256)", [sorted(deleted)])
        assert after.count("images") == before.count("images") - len(deleted)
        assert after.count("ground_truth") == before.count("ground_truth")
        v = verify(before, after, COUNTRY, policy)

    assert v.should_be_gone == sorted(named)
    # exact matches: the sha256 intersection, in SQL
    exact = {r[0] for r in _sql(demo, after_path,
                                "SELECT sha256 FROM a.images WHERE list_contains(?::VARCHAR[], sha256)",
                                [sorted(named)])}
    assert exact == named - deleted
    assert {r.sha256 for r in v.remaining if r.kind == "exact"} == exact
    assert v.still_exact == len(exact)
    # near-duplicates: the same rule written in SQL, independently
    near = _sql(demo, after_path, NEAR_SQL, [sorted(named)])
    found = {(r.sha256, m.before_sha256) for r in v.remaining for m in r.matches if m.kind == "near-duplicate"}
    assert found == set(near)
    assert v.still_near_duplicates == len({a for a, _ in near} - named)
    # ground truth: every remaining copy of a should-be-gone photo of a person that the hashes can match is found,
    # and every near-duplicate found of such a photo is a copy of the same photo (no false match); graphics drawn
    # from one template (plain product shots on white) may match each other, as on the real web, but never a photo
    truth = dict(_sql(demo, after_path, "SELECT sha256, any_value(photo_id) FROM b.ground_truth "
                                        "WHERE image_kind = 'photo' GROUP BY 1"))
    gone_photos = {truth[s] for s in named if s in truth}
    matchable = {a for a, _ in near} | exact
    copies = {s for s in matchable if truth.get(s) in gone_photos}
    assert copies <= {r.sha256 for r in v.remaining}
    for r in v.remaining:
        for m in r.matches:
            assert truth.get(r.sha256) == truth.get(m.before_sha256)
            assert m.before_explanation
    covered = exact | {b for _, b in near}
    assert v.really_gone == len(named) - len(covered)
    share, lo, hi = v.share_remaining
    assert share == pytest.approx(len(covered) / len(named))
    assert lo <= share <= hi
    # every remaining image carries the after-store's sightings
    for r in v.remaining:
        n = _sql(demo, after_path, "SELECT count(*) FROM a.sightings WHERE sha256 = ?", [r.sha256])[0][0]
        assert len(r.sightings) == n
    if policy == "strong":
        # a vendor that deleted every named file exactly still leaves the copies other hosts re-posted
        assert not exact
    if policy == "any-signal":
        assert v.remaining, "the sloppy vendor leaves images behind"

    html_path, json_path = write_verification(v, tmp_path / "report" / "check.html")
    page = html_path.read_text(encoding="utf-8")
    assert "<style>" in page and "http-equiv" not in page and "<script" not in page.lower()
    assert "src=" not in page and "stylesheet" not in page
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["summary"]["should_be_gone"] == len(named)
    assert data["summary"]["really_gone"] == v.really_gone


def test_nothing_deleted(demo, tmp_path):
    after_path = tmp_path / "same.duckdb"
    assert simulate_deletion(demo, after_path, set())["images"] == 0
    with Store.open(demo, read_only=True) as before, Store.open(after_path, read_only=True) as after:
        v = verify(before, after, COUNTRY, "medium+nd")
    assert v.should_be_gone
    assert v.really_gone == 0
    assert v.still_exact == len(v.should_be_gone)
    assert v.share_remaining[0] == 1.0


def test_everything_deleted(demo, tmp_path):
    after_path = tmp_path / "empty.duckdb"
    with Store.open(demo, read_only=True) as before:
        everything = {r[0] for r in before.query("SELECT sha256 FROM images")}
    removed = simulate_deletion(demo, after_path, everything)
    assert removed["images"] == len(everything)
    with Store.open(demo, read_only=True) as before, Store.open(after_path, read_only=True) as after:
        assert after.count("images") == 0
        assert after.count("signals") == 0 and after.count("attributions") == 0
        assert after.count("pages") == before.count("pages")
        v = verify(before, after, COUNTRY, "any-signal")
    assert v.should_be_gone and not v.remaining
    assert v.really_gone == len(v.should_be_gone)
    assert v.share_remaining[0] == 0.0


def test_report_escapes_scraped_text(tmp_path):
    v = Verification(country="FR", policy="strong", before_path="<b>", after_path="a&b", phash_threshold=10,
                     dhash_threshold=14, should_be_gone=["x" * 64])
    evil = '"><script>alert(1)</script>'
    v.remaining.append(Remaining(
        "x" * 64, "exact",
        [Match("x" * 64, "exact", 0, 0, False, "FR", "strong", "FR", "strong", evil)],
        [SightingRef("javascript:alert(1)", "http://example.fr/p?a=1&b=" + evil, "example.fr", evil, None, None)]))
    html_path, json_path = write_verification(v, tmp_path / "r.html")
    page = html_path.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert 'href="javascript' not in page
    assert 'href="http://example.fr/p?a=1&amp;b=&quot;&gt;&lt;script&gt;' in page
    assert json.loads(json_path.read_text(encoding="utf-8"))["remaining"][0]["sightings"][0]["alt_text"] == evil
