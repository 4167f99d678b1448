"""verify + simulate on a real demo store: numbers checked against SQL and the test web's ground truth."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import duckdb
import pytest

from audit.errors import NotAudited
from audit.outputs.verify import (
    POLICIES,
    Coverage,
    CrawlRef,
    HostCoverage,
    Match,
    Place,
    Remaining,
    SightingRef,
    Verification,
    should_delete,
    verify,
    write_verification,
)
from audit.store.db import Store
from audit.testbed.simulate import simulate_deletion, sloppy_vendor
from audit.testbed.testweb import TestWebServer
from conftest import crawl_args, provaudit

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
    # the coverage and the crawls quote scraped URLs, hosts, server errors and crawl sources too
    v.should_be_gone.append("y" * 64)
    v.coverage = Coverage(
        hosts=[HostCoverage(evil, 3, 1, 1, 1)],
        places={"javascript:alert(2)": Place("javascript:alert(2)", "image", evil, "not visited"),
                "http://example.fr/" + evil: Place("http://example.fr/" + evil, "page", "example.fr", "not reached",
                                                   503, evil)},
        image_places={"y" * 64: ["javascript:alert(2)", "http://example.fr/" + evil]})
    v.before_crawls = [CrawlRef(evil, "crawl", evil, None, None)]
    html_path, json_path = write_verification(v, tmp_path / "r.html")
    page = html_path.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert 'href="javascript' not in page
    assert 'href="http://example.fr/p?a=1&amp;b=&quot;&gt;&lt;script&gt;' in page
    assert page.count("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;") >= 8  # host, places, error, crawl id, source
    assert "<code>javascript:alert(2)</code>" in page
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["remaining"][0]["sightings"][0]["alt_text"] == evil
    assert data["coverage"]["hosts"][0]["host"] == evil and data["before_crawls"][0]["source"] == evil
    assert data["not_checked"] == ["y" * 64] and data["summary"]["verdict"] == "deletion incomplete"


# --- coverage, verdict and exit status, on real re-crawls of the test web over loopback ------------------------------

POLICY = "strong+nd"


def _verify(before: Path, after: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    """Run `provaudit verify` as a user does; its exit status, the JSON it wrote and what it printed."""
    proc = provaudit("verify", "--before", str(before), "--after", str(after), "--country", COUNTRY, "--policy",
                     POLICY, "--out", str(out / "verify.html"), *extra, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    data = json.loads((out / "verify.json").read_text(encoding="utf-8")) if (out / "verify.json").exists() else {}
    return proc.returncode, data, proc.stdout + proc.stderr


def _delete_from_web(web, store_path: Path, root: Path):
    """A copy of ``web`` in ``root`` after a thorough deletion: its server answers 404 for every image URL whose bytes
    the policy names for the country, or a near-duplicate copy of one (their files removed); pages are unchanged.
    Returns the copy and the sha256s deleted."""
    with Store.open(store_path, read_only=True) as store:
        doomed = {r.sha256 for r in verify(store, store, COUNTRY, POLICY).remaining}
        urls = {u for row in store.query("SELECT url, final_url FROM fetches WHERE sha256 IN "
                                         "(SELECT unnest(?::VARCHAR[]))", [sorted(doomed)]) for u in row if u}
    assert doomed and urls
    shutil.copytree(web.root, root)
    copy = dataclasses.replace(web, root=root)
    removed = 0
    for url in urls:
        parts = urlsplit(url)
        target = copy.www / (parts.hostname or "") / unquote(parts.path).lstrip("/")
        if target.is_file():
            target.unlink()
            removed += 1
    assert removed
    return copy, doomed


@pytest.fixture(scope="module")
def deleted_web(small_web, audited_store, tmp_path_factory):
    web, doomed = _delete_from_web(small_web, audited_store, tmp_path_factory.mktemp("deleted-web") / "web")
    with TestWebServer(web) as srv:
        yield web, srv, doomed


@pytest.fixture(scope="module")
def recrawl(deleted_web, tmp_path_factory):
    """Crawl the web after the deletion, with extra crawl options; a fresh store each time."""
    web, srv, _ = deleted_web

    def crawl(name: str, sites: list[str] | None = None) -> Path:
        """Only ``sites`` (start URLs), and only pages of their hosts, when given."""
        db = tmp_path_factory.mktemp(name) / "after.duckdb"
        part = web if sites is None else dataclasses.replace(
            web, start_urls=sites, allowed_domains=sorted({urlsplit(u).hostname or "" for u in sites}))
        provaudit(*crawl_args(part, srv, db))
        return db

    return crawl


def test_verify_refuses_an_unaudited_before_store(crawled, audited_store, tmp_path):
    db, _ = crawled  # crawled, never audited
    status, data, said = _verify(db, audited_store, tmp_path)
    assert status == 1
    assert "has not been audited" in said and "provaudit audit --db" in said
    assert not data and not (tmp_path / "verify.html").exists()  # no "0 of 0 should be gone" page
    with Store.open(db, read_only=True) as before, pytest.raises(NotAudited):
        verify(before, before, COUNTRY, POLICY)


def test_verify_refuses_a_store_changed_since_its_audit(audited_store, tmp_path):
    db = tmp_path / "changed.duckdb"
    shutil.copy(audited_store, db)
    with Store.open(db) as store:
        store.insert("images", [{"sha256": "f" * 64}])  # an image added after the audit: it has no attribution
    status, _, said = _verify(db, audited_store, tmp_path)
    assert status == 1 and "changed since its audit" in said and "1 of" in said


def test_verify_refuses_a_bad_country_code(audited_store, tmp_path):
    proc = provaudit("verify", "--before", str(audited_store), "--after", str(audited_store), "--country", "FRA",
                     "--out", str(tmp_path / "v.html"), check=False)
    assert proc.returncode == 1 and "alpha-2" in proc.stderr


def test_verify_nothing_deleted_is_incomplete(audited_store, crawled, tmp_path):
    after, _ = crawled  # the same web crawled again, nothing deleted
    status, data, said = _verify(audited_store, after, tmp_path)
    s = data["summary"]
    assert status == 3 and s["verdict"] == "deletion incomplete" and s["exit_status"] == 3
    assert s["should_be_gone_still_present"] == s["should_be_gone"] > 0
    assert s["really_gone"] == 0 and s["not_checked"] == 0
    assert "deletion incomplete" in said


def test_verify_a_complete_deletion_is_confirmed(audited_store, deleted_web, recrawl, tmp_path):
    _, _, doomed = deleted_web
    after = recrawl("complete")
    status, data, said = _verify(audited_store, after, tmp_path)
    s = data["summary"]
    assert status == 0, said
    assert s["verdict"] == "deletion confirmed" and "deletion confirmed" in said
    assert s["should_be_gone_still_present"] == 0 and not data["remaining"]
    assert s["checked_share"] >= s["min_coverage"] == 0.95
    assert s["really_gone"] + s["not_checked"] == s["should_be_gone"] > 0
    assert set(data["gone"]) | set(data["not_checked"]) == set(data["should_be_gone"]) <= doomed
    # the bounds: among all should-be-gone images, from "the unchecked are gone" to "the unchecked remain"
    assert s["share_remaining_all_low"] == 0.0 and s["share_remaining_all_high"] > 0
    # a deleted image URL answered 404: its place counts as re-fetched
    assert s["places_refetched"] > 0
    page = (tmp_path / "verify.html").read_text(encoding="utf-8")
    assert "Verdict: deletion confirmed" in page and "exit status of <code>provaudit verify</code>: 0" in page


def test_verify_a_partial_recrawl_is_not_checkable(audited_store, small_web, recrawl, tmp_path):
    after = recrawl("partial", small_web.start_urls[::2])  # every other site of the web: the others never visited
    status, data, said = _verify(audited_store, after, tmp_path)
    s = data["summary"]
    assert status == 4, said
    assert s["verdict"] == "not checkable" and "not checkable" in said
    assert s["should_be_gone_still_present"] == 0
    # what the re-crawl did not go back to is not counted as gone, what it went back to is
    assert 0 < s["not_checked"] and 0 < s["really_gone"] < s["should_be_gone"]
    assert s["checked_share"] < s["min_coverage"]
    assert s["places_not_visited"] > 0 and s["before_pages_refetched"] < s["before_pages"]
    assert s["share_remaining_all_high"] >= s["not_checked"] / s["should_be_gone"]
    # an image counted as gone was seen (with its copies) only on pages the partial re-crawl fetched again, and every
    # image not checked was seen on at least one it did not: checked here in SQL, on both stores
    after_pages = {r[0] for r in _sql(audited_store, after, "SELECT url FROM a.pages WHERE error IS NULL "
                                                            "OR status IN (404, 410)")}
    kinds = {p["url"]: p["kind"] for p in data["coverage"]["places"]}
    places = {sha: {u for u in urls if kinds[u] == "page"} for sha, urls in data["coverage"]["image_places"].items()}
    before_pages = {sha: {r[0] for r in _sql(audited_store, after,
                                             "SELECT DISTINCT s.page_url FROM b.sightings s JOIN b.clusters c "
                                             "USING (sha256) WHERE s.page_url IS NOT NULL AND c.cluster_id = "
                                             "(SELECT cluster_id FROM b.clusters WHERE sha256 = ?)", [sha])}
                    for sha in data["should_be_gone"]}
    for sha in data["gone"]:
        assert places[sha] == before_pages[sha] and before_pages[sha] <= after_pages
    for sha in data["not_checked"]:
        assert before_pages[sha] - after_pages
    # hosts: the per-host table adds up to the before-store's pages
    hosts = data["coverage"]["hosts"]
    assert sum(h["pages"] for h in hosts) == s["before_pages"]
    assert all(h["refetched"] + h["not_reached"] + h["not_visited"] == h["pages"] for h in hosts)
    assert any(h["refetched"] == 0 for h in hosts)
    page = (tmp_path / "verify.html").read_text(encoding="utf-8")
    assert "Verdict: not checkable" in page and "Places not checked" in page
    # the same re-crawl, with a least coverage it meets: no longer "not checkable"
    low = f"{max(math.floor(s['checked'] / s['should_be_gone'] * 10_000) / 10_000, 0.0001):.4f}"
    status, data, said = _verify(audited_store, after, tmp_path / "low", "--min-coverage", low)
    assert status == 0 and data["summary"]["verdict"] == "deletion confirmed", said
    assert data["summary"]["not_checked"] == s["not_checked"] and "not checked" in data["summary"]["reason"]


def _recrawl_refused_by(web, hosts: set[str], tmp_path: Path) -> Path:
    """Crawl ``web`` again after ``hosts`` have put up a robots.txt that forbids every crawler; the new store."""
    for host in hosts:
        (web.www / host / "robots.txt").write_text("User-agent: *\nDisallow: /\n", encoding="utf-8")
    after = tmp_path / "after.duckdb"
    with TestWebServer(web) as srv:
        provaudit(*crawl_args(web, srv, after))
    return after


def test_verify_sites_that_refuse_the_recrawl_are_not_reached(audited_store, small_web, tmp_path):
    """The deletion done, but every other site's robots.txt now forbids crawling it: its pages are requested and
    refused, "not reached", and what was seen only there is not checked."""
    web, _ = _delete_from_web(small_web, audited_store, tmp_path / "web")
    refusing = {urlsplit(u).hostname or "" for u in web.start_urls[1::2]}
    status, data, said = _verify(audited_store, _recrawl_refused_by(web, refusing, tmp_path), tmp_path)
    s = data["summary"]
    assert status == 4 and s["verdict"] == "not checkable", said
    assert s["places_not_reached"] > 0 and s["not_checked"] > 0 and s["should_be_gone_still_present"] == 0
    not_reached = [p for p in data["coverage"]["places"] if p["state"] == "not reached"]
    assert {p["host"] for p in not_reached} <= refusing
    assert all("robots.txt" in (p["error"] or "") for p in not_reached), not_reached[:3]
    hosts = {h["host"]: h for h in data["coverage"]["hosts"]}
    assert all(hosts[h]["refetched"] == 0 and hosts[h]["not_reached"] > 0 for h in refusing if h in hosts)
    page = (tmp_path / "verify.html").read_text(encoding="utf-8")
    assert "not reached" in page and "robots.txt" in page


def test_verify_image_urls_a_recrawled_page_still_names_but_cannot_read_are_not_checked(audited_store, small_web,
                                                                                        tmp_path):
    """The deletion done, every page re-fetched, but the image hosts (hosts of no start page) now refuse crawlers in
    their robots.txt: a page that still names one of their image URLs does not show that the image is gone."""
    web, _ = _delete_from_web(small_web, audited_store, tmp_path / "web")
    sites = {urlsplit(u).hostname for u in web.start_urls}
    image_hosts = {p.name for p in web.www.iterdir() if p.is_dir() and p.name not in sites}
    assert image_hosts
    status, data, said = _verify(audited_store, _recrawl_refused_by(web, image_hosts, tmp_path), tmp_path)
    s = data["summary"]
    places = {p["url"]: p for p in data["coverage"]["places"]}
    refused = {u for u, p in places.items() if p["state"] == "not reached"}
    assert refused and all(places[u]["kind"] == "image" and places[u]["host"] in image_hosts for u in refused)
    assert all("robots.txt" in (places[u]["error"] or "") for u in refused)
    assert s["before_pages_refetched"] == s["before_pages"]  # every page was fetched again...
    assert s["not_checked"] > 0  # ...yet what was seen through a refused image URL is not counted as gone
    for sha in data["not_checked"]:
        assert set(data["coverage"]["image_places"][sha]) & refused
    for sha in data["gone"]:
        assert not set(data["coverage"]["image_places"][sha]) & refused
    assert status == (4 if s["checked_share"] < s["min_coverage"] else 0) and s["should_be_gone_still_present"] == 0


def test_verify_a_policy_naming_nothing_is_not_checkable(audited_store, tmp_path):
    proc = provaudit("verify", "--before", str(audited_store), "--after", str(audited_store), "--country", "AQ",
                     "--out", str(tmp_path / "verify.html"), "--json", check=False)
    s = json.loads(proc.stdout)
    assert proc.returncode == 4 and s["verdict"] == "not checkable" and s["should_be_gone"] == 0
    assert "names no image" in s["reason"]  # never "0 of 0 should be gone" read as a success


def test_verify_faces_only_on_the_demo(demo_out, tmp_path):
    """--faces-only and --min-face-height keep working with the verdict: the demo's sloppy vendor, limited to the
    images showing people."""
    status, data, said = _verify(demo_out / "provenance.duckdb", demo_out / "after-sloppy-vendor.duckdb", tmp_path,
                                 "--faces-only", "--min-face-height", "40")
    s = data["summary"]
    assert s["faces_only"] and s["min_face_height"] == 40
    with Store.open(demo_out / "provenance.duckdb", read_only=True) as before:
        all_images = should_delete(before, COUNTRY, POLICY)
    assert set(data["should_be_gone"]) < all_images
    expected = (3 if s["should_be_gone_still_present"] else 0 if s["checked_share"] >= s["min_coverage"] else 4)
    assert status == s["exit_status"] == expected
    assert s["not_checked"] == 0  # the simulated after-store keeps every page: all is checked
    # without --faces-only, the same deletion leaves named images behind (the sloppy vendor's weaker attributions)
    status, data, _ = _verify(demo_out / "provenance.duckdb", demo_out / "after-sloppy-vendor.duckdb",
                              tmp_path / "all")
    assert status == 3 and data["summary"]["should_be_gone"] > s["should_be_gone"]
    assert "Limited to images showing people" in (tmp_path / "verify.html").read_text(encoding="utf-8")
