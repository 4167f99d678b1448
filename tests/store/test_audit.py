"""`provaudit audit` on a crawled test web: offline, idempotent, and right where the ground truth can tell."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from audit.schema import DERIVED
from audit.signals.kinds import OPT_OUT_KINDS_BY_NAME, STRENGTH_RANK, Strength, signal_kind
from audit.store.db import Store
from audit.testbed.evaluate import evaluate
from conftest import ROOT, provaudit

# Run the CLI with an audit hook that records every attempt to reach another machine: connect, name lookups,
# sends, and binds to anything but loopback.
NO_NETWORK = """
import sys, json
events = []
LOOPBACK = ("127.", "::1", "localhost")
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg", "socket.gethostbyname"):
        events.append([event, repr(args[1:] if event.startswith("socket.") and len(args) > 1 else args)[:200]])
    elif event == "socket.bind":  # binding to loopback (urllib3 probes IPv6 on import) reaches nobody
        host = str(args[1][0]) if isinstance(args[1], tuple) else str(args[1])
        if not host.startswith(LOOPBACK):
            events.append([event, host])
sys.addaudithook(hook)
from audit.cli import main
try:
    main(sys.argv[2:], standalone_mode=False)
finally:
    with open(sys.argv[1], "w") as fh:
        json.dump(events, fh)
"""


@pytest.fixture(scope="module")
def audited(crawled, tmp_path_factory):
    db, _ = crawled
    copy = tmp_path_factory.mktemp("audit") / "store.duckdb"
    shutil.copy(db, copy)
    events = copy.with_suffix(".events.json")
    proc = subprocess.run([sys.executable, "-c", NO_NETWORK, str(events), "audit", "--db", str(copy)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return copy, json.loads(events.read_text())


def test_audit_opens_no_network_connection(audited):
    _, events = audited
    assert events == []


def test_audit_fills_the_derived_tables(audited):
    db, _ = audited
    with Store.open(db, read_only=True) as store:
        n_images = store.count("images")
        assert store.count("attributions") == n_images
        assert store.count("clusters") == n_images
        assert store.count("signals") > 0
        kinds = {r[0] for r in store.query("SELECT DISTINCT kind FROM signals")}
        assert {"exif_gps", "page_cctld", "html_lang"} <= kinds
        # no signal from a missing field: GPS signals only where GPS was decoded
        (bad,) = store.query("SELECT count(*) FROM signals s JOIN images i USING (sha256) "
                             "WHERE s.kind = 'exif_gps' AND s.via_sha256 IS NULL AND i.gps_lat IS NULL")[0]
        assert bad == 0
        # every propagated signal names its source copy, which is in the same cluster
        (stray,) = store.query("""
            SELECT count(*) FROM signals s JOIN clusters a ON a.sha256 = s.sha256
            JOIN clusters b ON b.sha256 = s.via_sha256
            WHERE s.via_sha256 IS NOT NULL AND (a.cluster_id <> b.cluster_id
                  OR s.evidence NOT LIKE 'via near-duplicate ' || s.via_sha256 || ' on %')""")[0]
        assert stray == 0
        # every cluster holds copies of one photo of a person only (a wrong merge would carry signals across
        # people), and no photo of a person shares a cluster with a graphic; graphics made from one template (share
        # icons, plain product shots on white) may look alike to the near-duplicate hash, as on the real web
        (impure,) = store.query("""
            SELECT count(*) FROM (SELECT c.cluster_id FROM clusters c JOIN ground_truth g ON g.sha256 = c.sha256
                                  GROUP BY 1 HAVING count(DISTINCT g.photo_id) FILTER (g.image_kind = 'photo') > 1
                                  OR bool_or(g.image_kind = 'photo') AND bool_or(g.image_kind <> 'photo'))""")[0]
        assert impure == 0


def test_opt_outs_come_from_every_source(audited, small_web):
    db, _ = audited
    reserving = {h for h, info in small_web.manifest["hosts"].items() if info.get("tdmrep")}
    assert reserving
    with Store.open(db, read_only=True) as store:
        policies = dict(store.query("SELECT host || ' ' || kind, status FROM host_policies"))
        kinds = {r[0] for r in store.query("SELECT DISTINCT kind FROM opt_outs")}
        tdm_hosts = {r[0] for r in store.query(
            "SELECT DISTINCT s.image_host FROM opt_outs o JOIN sightings s USING (sighting_id) "
            "WHERE o.kind = 'tdm_reservation' AND o.evidence LIKE '%tdmrep.json%' AND o.origin = 'image host'")}
        publishers = set(store.query(
            "SELECT DISTINCT s.page_host, s.image_host FROM opt_outs o JOIN sightings s USING (sighting_id) "
            "WHERE o.kind = 'tdm_reservation' AND o.evidence LIKE '%tdmrep.json%' AND o.origin = 'page publisher'"))
    # every crawled host's robots.txt and tdmrep.json were fetched and kept: 200 where published, 404 elsewhere
    for host in reserving & {k.split()[0] for k in policies}:
        assert policies[f"{host} tdmrep.json"] == 200
    assert 404 in policies.values()
    assert {"robots_txt", "tdm_reservation"} <= kinds
    assert tdm_hosts and tdm_hosts <= reserving
    # a publisher's tdmrep.json covers the images its pages show, those on hosts that reserve nothing too
    assert publishers and {page for page, _ in publishers} <= reserving
    assert {image for _, image in publishers} - reserving


def test_audit_is_idempotent(audited):
    db, _ = audited
    query = "SELECT * FROM attributions ORDER BY sha256"
    with Store.open(db, read_only=True) as store:
        before = store.query(query)
        counts = {t: store.count(t) for t in DERIVED}
    provaudit("audit", "--db", str(db))
    with Store.open(db, read_only=True) as store:
        assert store.query(query) == before
        assert {t: store.count(t) for t in counts} == counts


def test_evaluation_against_ground_truth(audited):
    db, _ = audited
    with Store.open(db, read_only=True) as store:
        ev = evaluate(store)
    assert ev.gps_images > 0 and ev.gps_right == ev.gps_images
    strong = next(r for r in ev.rows if r["group"] == "tier" and r["name"] == "strong")
    assert strong["coverage"]["hits"] > 0
    assert strong["precision_residence"]["value"] >= 0.9
    proc = provaudit("evaluate", "--db", str(db), "--json")
    assert json.loads(proc.stdout)["images"] == ev.images


def test_stored_kinds_are_registered_and_no_stronger_than_declared(audited):
    """What the audit stores follows the registry: every kind declared, no signal stronger than its kind's strength,
    and the evaluation's kind rows say what each kind says."""
    db, _ = audited
    with Store.open(db, read_only=True) as store:
        stored = store.query("SELECT DISTINCT kind, strength FROM signals")
        opt_outs = {k for (k,) in store.query("SELECT DISTINCT kind FROM opt_outs")}
        ev = evaluate(store)
    assert len({k for k, _ in stored}) >= 10  # the test web exercises most kinds
    for kind, strength in stored:
        declared = signal_kind(kind)
        assert STRENGTH_RANK[Strength(strength)] <= STRENGTH_RANK[declared.strength], (kind, strength)
    assert opt_outs and opt_outs <= set(OPT_OUT_KINDS_BY_NAME)
    rows = [r for r in ev.rows if r["group"] == "kind"]
    assert {r["name"] for r in rows} <= {k for k, _ in stored}
    for r in rows:
        assert (r["family"], r["says"]) == (signal_kind(r["name"]).family, signal_kind(r["name"]).says)


def test_evaluate_without_ground_truth_is_a_clear_error(tmp_path):
    db = tmp_path / "empty.duckdb"
    Store.open(db).close()
    proc = provaudit("evaluate", "--db", str(db), check=False)
    assert proc.returncode == 1 and "no ground truth" in proc.stderr


def test_audit_reads_places_named_in_captions(audited):
    """The test web captions its photos with the city they were taken in ("Marché à Lyon"): the audit turns them
    into ``place_in_text`` signals, and the resolved ones name the photo's capture country."""
    db, _ = audited
    with Store.open(db, read_only=True) as store:
        rows = store.query("""
            SELECT s.strength, s.country, s.evidence, g.capture_country
            FROM signals s
            JOIN sightings x ON x.sighting_id = s.sighting_id
            JOIN ground_truth g ON g.image_url = x.image_url
            WHERE s.kind = 'place_in_text' AND s.via_sha256 IS NULL AND s.country IS NOT NULL
            AND g.image_kind = 'photo'""")
    assert rows, "no place_in_text signal on a test web whose captions name cities"
    medium = [r for r in rows if r[0] == "medium"]
    assert medium
    right = sum(1 for r in medium if r[1] == r[3])
    assert right / len(medium) >= 0.95, [r for r in medium if r[1] != r[3]][:5]


def test_page_host_is_the_hint_for_an_ambiguous_place(crawled, tmp_path):
    """"Fiesta in Valencia" names cities of Venezuela, Spain, the US and Ecuador: on a ``.es`` page the audit reads
    it as Spain's; on a ``.com`` page it gives nothing. The row-by-row reference audit agrees."""
    from audit.derive.reference import reference_audit
    from audit.derive.run import run_audit

    db, _ = crawled
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    with Store.open(copy) as store:
        hosts = [h for (h,) in store.query("SELECT DISTINCT page_host FROM sightings WHERE sha256 IS NOT NULL "
                                           "AND (page_host LIKE '%.es' OR page_host LIKE '%.com')")]
        assert any(h.endswith(".es") for h in hosts) and any(h.endswith(".com") for h in hosts)
        store.con.execute("UPDATE sightings SET alt_text = 'Fiesta in Valencia', caption = NULL "
                          "WHERE page_host LIKE '%.es' OR page_host LIKE '%.com'")
        run_audit(store, workers=1)
        rows = store.query("""
            SELECT x.page_host, s.country, s.weight, s.candidates FROM signals s
            JOIN sightings x ON x.sighting_id = s.sighting_id
            WHERE s.kind = 'place_in_text' AND s.via_sha256 IS NULL AND s.evidence LIKE '%"Valencia"%'""")
        _, plain = reference_audit(store)
    assert rows and {(country, weight) for host, country, weight, _ in rows} == {("ES", 1.0)}
    assert all(host.endswith(".es") for host, *_ in rows)
    plain_rows = [s for s in plain["signals"] if s["kind"] == "place_in_text" and '"Valencia"' in s["evidence"]
                  and not s.get("via_sha256")]
    assert len(plain_rows) == len(rows)


def test_audit_reads_places_in_image_urls(audited):
    """Image file names on the test web carry the caption's slug (``lea-paris-5e23dc-800.jpg``): weak signals that
    name the capture country."""
    db, _ = audited
    with Store.open(db, read_only=True) as store:
        rows = store.query("""
            SELECT s.strength, s.country, g.capture_country
            FROM signals s
            JOIN sightings x ON x.sighting_id = s.sighting_id
            JOIN ground_truth g ON g.image_url = x.image_url
            WHERE s.kind = 'place_in_text' AND s.via_sha256 IS NULL AND s.evidence LIKE 'url "%'
            AND g.image_kind = 'photo'""")
    assert rows and {r[0] for r in rows} == {"weak"}
    resolved = [r for r in rows if r[1] is not None]
    assert sum(1 for r in resolved if r[1] == r[2]) / len(resolved) >= 0.9


def test_evaluation_has_both_answers(audited, monkeypatch):
    """`provaudit evaluate` scores the capture answer against the capture country and the residence answer against
    the residence country, per tier, computed here from the raw rows."""
    db, _ = audited
    with Store.open(db, read_only=True) as store:
        ev = evaluate(store)
        att = {sha: (cc, ct, rc, rt) for sha, cc, ct, rc, rt in store.query(
            "SELECT sha256, capture_country, capture_tier, residence_country, residence_tier FROM attributions")}
        truth = {sha: (cap, res) for sha, cap, res in store.query(
            "SELECT sha256, any_value(capture_country), any_value(residence_country) FROM ground_truth "
            "WHERE sha256 IN (SELECT sha256 FROM images) AND residence_country IS NOT NULL GROUP BY sha256")}
    rows = {r["name"]: r for r in ev.rows if r["group"] == "answer"}
    assert set(rows) == {f"{a} {t}" for a in ("capture", "residence") for t in
                         ("strong", "medium or better", "weak or better")}
    for i, (answer, tiers) in enumerate((("capture", {"strong", "medium", "weak"}),
                                         ("residence", {"strong", "medium", "weak"}))):
        chosen = [sha for sha in truth if att[sha][2 * i + 1] in tiers]
        right = sum(1 for sha in chosen if att[sha][2 * i] == truth[sha][i])
        row = rows[f"{answer} weak or better"]
        assert (row["coverage"]["hits"], row[f"precision_{answer}"]["hits"]) == (len(chosen), right)
        assert row[f"recall_{answer}"]["n"] == ev.images
    assert rows["capture strong"]["precision_capture"]["value"] >= 0.9  # GPS and camera locations: right place
    assert rows["residence weak or better"]["coverage"]["hits"] > 0
    monkeypatch.setenv("COLUMNS", "300")  # the table's labels on one line
    proc = provaudit("evaluate", "--db", str(db))
    assert "answer: capture strong" in proc.stdout and "answer: residence strong" in proc.stdout


def test_audit_reads_places_in_page_titles_and_headings(crawled, tmp_path):
    """A crawl keeps each page's ``<title>`` and the heading nearest each image; the audit reads the places they name
    as weak ``place_in_text`` signals (``page_title`` for every image of the page, ``heading`` for the images under
    it), and the row-by-row reference audit agrees."""
    from audit.derive.reference import reference_audit
    from audit.derive.run import run_audit

    db, _ = crawled
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    with Store.open(copy) as store:
        (titled,), = store.query("SELECT count(*) FROM pages WHERE title IS NOT NULL AND title <> ''")
        (headed,), = store.query("SELECT count(*) FROM sightings WHERE heading IS NOT NULL AND heading <> ''")
        assert titled > 0 and headed > 0  # the crawl filled both
        page, host = store.query("SELECT page_url, page_host FROM sightings WHERE sha256 IS NOT NULL "
                                 "AND page_host LIKE '%.com' ORDER BY sighting_id LIMIT 1")[0]
        store.con.execute("UPDATE sightings SET alt_text = NULL, caption = NULL, heading = NULL")
        store.con.execute("UPDATE pages SET title = NULL")
        store.con.execute("UPDATE pages SET title = 'Our weekend in Strasbourg' WHERE url = ?", [page])
        store.con.execute("UPDATE sightings SET heading = 'Day two: Marseille' "
                          "WHERE page_host = ? AND sha256 IS NOT NULL", [host])
        run_audit(store, workers=1)
        rows = store.query("""
            SELECT x.page_url, s.country, s.strength, s.evidence, s.detail->>'where' FROM signals s
            JOIN sightings x ON x.sighting_id = s.sighting_id
            WHERE s.kind = 'place_in_text' AND s.via_sha256 IS NULL AND s.evidence NOT LIKE 'url "%'""")
        (on_page,), = store.query("SELECT count(*) FROM sightings WHERE page_url = ? AND sha256 IS NOT NULL", [page])
        (on_host,), = store.query("SELECT count(*) FROM sightings WHERE page_host = ? AND sha256 IS NOT NULL",
                                  [host])
        _, plain = reference_audit(store)
    titles = [r for r in rows if r[4] == "page_title"]
    headings = [r for r in rows if r[4] == "heading"]
    assert {(r[1], r[2]) for r in titles} == {("FR", "weak")} and {r[0] for r in titles} == {page}
    assert len(titles) == on_page
    assert {(r[1], r[2]) for r in headings} == {("FR", "weak")} and len(headings) == on_host
    plain_rows = [s for s in plain["signals"] if s["kind"] == "place_in_text" and not s.get("via_sha256")
                  and not s["evidence"].startswith('url "')]
    assert sorted((s["country"], s["strength"], s["evidence"]) for s in plain_rows) \
        == sorted((r[1], r[2], r[3]) for r in rows)


def test_page_languages_and_geo_region_are_hints_for_an_ambiguous_place(crawled, tmp_path):
    """"Fiesta in Valencia" on ``.com`` pages: Spain's where the page declares ``es-ES``, Venezuela's where it declares
    ``es-VE``; "Autumn walk in London" is Ontario's on a page whose ``geo.region`` is ``CA-ON``. The hints reach the
    alt text, the heading and the page title alike, and the row-by-row reference audit agrees."""
    from audit.derive.reference import reference_audit
    from audit.derive.run import run_audit

    db, _ = crawled
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    with Store.open(copy) as store:
        pages = [u for (u,) in store.query(
            "SELECT DISTINCT page_url FROM sightings WHERE sha256 IS NOT NULL AND page_host LIKE '%.com' "
            "ORDER BY page_url LIMIT 3")]
        assert len(pages) == 3
        es, ve, on = pages
        store.con.execute("UPDATE sightings SET alt_text = NULL, caption = NULL, heading = NULL")
        store.con.execute("UPDATE pages SET title = NULL")
        store.con.execute("UPDATE sightings SET alt_text = 'Fiesta in Valencia' WHERE page_url IN (?, ?)", [es, ve])
        store.con.execute("UPDATE sightings SET heading = 'Autumn walk in London' WHERE page_url = ?", [on])
        store.con.execute("UPDATE pages SET lang = 'es-ES' WHERE url = ?", [es])
        store.con.execute("UPDATE pages SET lang = 'es-VE', title = 'Fiesta in Valencia' WHERE url = ?", [ve])
        store.con.execute("UPDATE pages SET lang = 'en-CA', facts = json_merge_patch(coalesce(facts, '{}'), "
                          "'{\"geo_region\": \"CA-ON\"}') WHERE url = ?", [on])
        run_audit(store, workers=1)
        rows = store.query("""
            SELECT x.page_url, s.detail->>'where', s.country, s.evidence FROM signals s
            JOIN sightings x ON x.sighting_id = s.sighting_id
            WHERE s.kind = 'place_in_text' AND s.via_sha256 IS NULL AND s.evidence NOT LIKE 'url "%'""")
        _, plain = reference_audit(store)
    got = {(page, where, country) for page, where, country, _ in rows}
    assert got == {(es, "alt", "ES"), (ve, "alt", "VE"), (ve, "page_title", "VE"), (on, "heading", "CA")}
    plain_rows = [s for s in plain["signals"] if s["kind"] == "place_in_text" and not s.get("via_sha256")
                  and not s["evidence"].startswith('url "')]
    assert sorted((s["country"], s["evidence"]) for s in plain_rows) == sorted((r[2], r[3]) for r in rows)


def test_evaluate_reports_the_place_family_and_the_hard_cases_of_the_captions(audited):
    """`evaluate` has a row per signal family (``place`` among them, with its precision against the capture or the
    residence country) and a row per hard case of the test web's captions: the names that are words, brands, people
    or foods give no signal, a destination none above weak, and the places they name are read right."""
    db, _ = audited
    with Store.open(db, read_only=True) as store:
        ev = evaluate(store)
    families = {r["name"]: r for r in ev.rows if r["group"] == "family"}
    assert "place" in families and "image" in families
    place = families["place"]
    assert place["coverage"]["hits"] > 0 and "precision_capture_or_residence" in place
    kind = next(r for r in ev.rows if r["group"] == "kind" and r["name"] == "place_in_text")
    assert kind["precision_capture_or_residence"]["value"] >= kind["precision_capture"]["value"]
    cases = {c["name"]: c for c in ev.place_cases}
    assert "ordinary" in cases and len(cases) >= 3, cases
    for case in cases.values():
        if not case["names_place"]:
            assert case["with_signal"]["hits"] == 0, case
        if case["name"].startswith("destination:"):
            assert case["above_weak"] == 0, case
    read = [c for c in cases.values() if c["names_place"] and not c["name"].startswith("destination:")]
    assert sum(c["precision_named"]["hits"] for c in read) >= 0.95 * sum(c["precision_named"]["n"] for c in read)
    assert ev.as_dict()["place_cases"] == ev.place_cases
