"""The claim report on a real demo store: figures against independent computations, HTML self-contained and
escaped, report.json and HTML in agreement."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from audit.outputs.report import CLEARVIEW_CLAIM, build_report, write_report
from audit.outputs.report.render import link
from audit.signals.kinds import KINDS_BY_NAME
from audit.stats import wilson
from audit.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
OUTLINES = ROOT.parent / "shared" / "geo" / "ne_110m_admin_0_countries.json"
COUNTRY = "FR"
CHARTS = ("chart-headline", "chart-signals", "chart-threshold", "chart-map")
TIER_SETS = {"strong": {"strong"}, "medium": {"medium"}, "weak": {"weak"}, "strong or medium": {"strong", "medium"},
             "any tier": {"strong", "medium", "weak"}}
SEARCH_BLOCKING = {"noindex", "noimageindex", "none"}


@pytest.fixture(scope="module")
def written(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    html_path, json_path = write_report(store, COUNTRY, out, outlines=OUTLINES)
    return html_path.read_text(encoding="utf-8"), json.loads(json_path.read_text(encoding="utf-8"))


class Raw:
    """The store's rows, read once, for computations that share no code with the report."""

    def __init__(self, store: Store) -> None:
        self.att = {r[0]: r[1:] for r in store.query(
            "SELECT sha256, country, tier, direct_country, direct_tier, score, direct_score FROM attributions")}
        self.seen = Counter(sha for (sha,) in store.query("SELECT sha256 FROM sightings") if sha in self.att)
        self.signals = store.query("SELECT sha256, kind, country, via_sha256 FROM signal_countries")
        truth: dict[str, str] = {}
        for sha, res in store.query("SELECT sha256, residence_country FROM ground_truth"):
            if sha in self.att and res is not None:  # graphics have no subject: neither right nor wrong
                truth[sha] = res
        self.truth = truth
        self.optouts = store.query("SELECT sighting_id, kind, value, applies_to FROM opt_outs")
        self.sightings = store.query("SELECT sighting_id, sha256 FROM sightings WHERE sha256 IS NOT NULL")


@pytest.fixture(scope="module")
def raw(store) -> Raw:
    return Raw(store)


def check(rate: dict, hits: int, n: int) -> None:
    assert (rate["hits"], rate["n"]) == (hits, n)
    lo, hi = wilson(hits, n)
    assert rate["low"] == pytest.approx(lo, abs=1e-4) and rate["high"] == pytest.approx(hi, abs=1e-4)


def test_headline_matches_independent_computation(written, raw):
    _, data = written
    h = data["headline"]
    n_img, n_seen = len(raw.att), sum(raw.seen.values())
    assert (h["images"], h["sightings"]) == (n_img, n_seen)
    rows = {r["level"]: r for r in h["rows"]}
    for level, tiers in TIER_SETS.items():
        for mode, (ci, ti) in (("propagated", (0, 1)), ("direct", (2, 3))):
            chosen = {sha for sha, a in raw.att.items() if a[ci] == COUNTRY and a[ti] in tiers}
            check(rows[level][mode]["images"], len(chosen), n_img)
            check(rows[level][mode]["sightings"], sum(raw.seen[s] for s in chosen), n_seen)
    own = {sha for sha, _k, c, via in raw.signals if c == COUNTRY and via is None and sha in raw.att}
    every = {sha for sha, _k, c, _via in raw.signals if c == COUNTRY and sha in raw.att}
    check(rows["any signal (raw)"]["direct"]["images"], len(own), n_img)
    check(rows["any signal (raw)"]["propagated"]["images"], len(every), n_img)
    check(rows["any signal (raw)"]["propagated"]["sightings"], sum(raw.seen[s] for s in every), n_seen)
    assert rows["strong"]["direct"]["images"]["hits"] > 0, "the demo web has French GPS photos"


def test_truth_figures_match_independent_computation(written, raw):
    _, data = written
    t = data["headline"]["truth"]
    residents = {sha for sha, r in raw.truth.items() if r == COUNTRY}
    assert t["residents"] == len(residents) > 0
    rows = {r["level"]: r for r in t["rows"]}
    for level, tiers in TIER_SETS.items():
        for mode, (ci, ti) in (("propagated", (0, 1)), ("direct", (2, 3))):
            chosen = {sha for sha, a in raw.att.items() if a[ci] == COUNTRY and a[ti] in tiers and sha in raw.truth}
            check(rows[level][mode]["recall"], len(chosen & residents), len(residents))
            check(rows[level][mode]["wrong_residence"], len(chosen - residents), len(chosen))
    curve = {r["threshold"]: r for r in data["thresholds"]}
    for thr in (0.0, 0.5, 0.75):
        chosen = {sha for sha, a in raw.att.items() if a[0] == COUNTRY and a[1] != "none" and a[4] >= thr}
        # precision over the images whose subject's residence is known: a logo is neither right nor wrong
        check(curve[thr]["propagated"]["precision"], len(chosen & residents), len(chosen & raw.truth.keys()))
        check(curve[thr]["propagated"]["recall"], len(chosen & residents), len(residents))


def test_signal_kinds_hosts_and_opt_outs(written, raw, store):
    _, data = written
    per_kind: dict[str, set[str]] = {}
    for sha, kind, c, _via in raw.signals:
        if c == COUNTRY and sha in raw.att:
            per_kind.setdefault(kind, set()).add(sha)
    got = {k["kind"]: k["images"] for k in data["signal_kinds"]}
    assert got == {k: len(v) for k, v in per_kind.items()}
    hosts = store.query("SELECT page_host, sha256 FROM sightings WHERE sha256 IS NOT NULL")
    for row in data["hosts"]["rows"][:5]:
        shas = {sha for h, sha in hosts if (h or "(no page)") == row["host"]}
        assert row["images"] == len(shas)
        assert row["attributed"]["hits"] == sum(1 for s in shas if raw.att[s][0] == COUNTRY and raw.att[s][1] != "none")
    blocked = {sid for sid, kind, value, agent in raw.optouts
               if (kind == "robots_txt" and value == "disallow" and agent == "Googlebot-Image")
               or (kind in ("x_robots_tag", "meta_robots") and value in SEARCH_BLOCKING
                   and agent.lower() in ("*", "googlebot", "googlebot-image", "robots"))}
    by_image: dict[str, list[bool]] = {}
    for sid, sha in raw.sightings:
        if sha in raw.att:
            by_image.setdefault(sha, []).append(sid in blocked)
    se = data["opt_outs"]["search_engine"]["all"]
    check(se["every_sighting_blocked"], sum(all(v) for v in by_image.values()), len(by_image))
    check(se["some_sighting_blocked"], sum(any(v) for v in by_image.values()), len(by_image))
    assert data["opt_outs"]["table"], "the demo web serves robots.txt rules and noimageindex"
    origins: dict[tuple[str, str, str], set[str]] = {}
    for kind, value, agent, origin in store.query("SELECT kind, value, applies_to, origin FROM opt_outs"):
        origins.setdefault((kind, value, agent), set()).add(origin)
    for row in data["opt_outs"]["table"]:  # whose declarations they were
        assert row["origins"] == sorted(origins[(row["kind"], row["value"], row["applies_to"])])


def test_sweep_and_crawls_sections(written, store):
    html, data = written
    assert [r["policy"] for r in data["sweep"]][:2] == ["strong", "strong+nd"]
    n_crawl_images = store.query("SELECT count(DISTINCT sha256) FROM sightings")[0][0]
    assert sum(c["images"] for c in data["crawls"]) == n_crawl_images
    for r in data["sweep"]:
        assert f"<code>{r['policy']}</code>" in html
        assert f"{r['precision']['hits']:,}/{r['precision']['n']:,}" in html


def test_json_and_html_agree(written, store):
    html, data = written
    again = json.loads(json.dumps(build_report(store, COUNTRY, outlines=OUTLINES).data))
    assert data == again | {"generated_at": data["generated_at"]}, "report.json holds the report's figures"
    assert data["generated_at"] in html
    assert data["claim"]["text"] == CLEARVIEW_CLAIM
    assert "there is no way to determine if a person has French citizenship" in html
    for row in data["headline"]["rows"]:
        for mode in ("direct", "propagated"):
            for what in ("images", "sightings"):
                r = row[mode][what]
                assert f"{100 * r['value']:.1f}% <span class=\"muted\">({r['hits']:,}/{r['n']:,})</span>" in html
    for k in data["signal_kinds"]:
        assert f"<td>{k['kind']}</td>" in html
    # the legend: what each kind says and its family, from the registry of kinds
    legend = html.split('id="kinds-legend"', 1)[1].split("</table>", 1)[0]
    assert data["signal_kinds"]
    for k in data["signal_kinds"]:
        declared = KINDS_BY_NAME[k["kind"]]
        assert (k["family"], k["says"]) == (declared.family, declared.says)
        assert f"<td><code>{k['kind']}</code></td><td>{declared.says}</td><td>{declared.family}</td>" in legend
    for item in data["sample"]:
        assert item["sha256"] in html
    assert f"{data['gps']['images']:,} images carry EXIF GPS" in html


def test_html_is_self_contained_with_every_chart(written):
    html, data = written
    for chart in CHARTS:
        assert re.search(rf'<svg id="{chart}"[^>]*>.*?</svg>', html, re.S), chart
    assert "<path d=" in re.search(r'<svg id="chart-map".*?</svg>', html, re.S).group(0), "country outlines drawn"
    assert "<script" not in html.lower()
    assert not re.search(r"<link\b", html, re.I)
    assert not re.search(r"\bsrc\s*=\s*[\"']?(?!data:)", html, re.I), "only data: URIs may be embedded"
    assert "@import" not in html and "url(" not in html
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I), "no inline event handler"
    assert "<img" not in html, "no thumbnail unless asked"
    assert data["thumbnails"]["enabled"] is False and all(i["thumbnail"] is None for i in data["sample"])


def test_bundled_outlines_by_default(store):
    svg = re.search(r'<svg id="chart-map".*?</svg>', build_report(store, COUNTRY, sample_size=1).html, re.S)
    assert svg and svg.group(0).count("<path") > 5  # the shipped Natural Earth outlines


def test_plain_scatter_without_outlines(store):
    report = build_report(store, COUNTRY, sample_size=3, outlines=None)
    svg = re.search(r'<svg id="chart-map".*?</svg>', report.html, re.S)
    assert svg and "<path" not in svg.group(0) and "<circle" in svg.group(0)
    assert len(report.data["sample"]) == 3


def test_thumbnails_only_on_request_from_the_warc(store):
    report = build_report(store, COUNTRY, sample_size=2, thumbnails=True)
    th = report.data["thumbnails"]
    assert th["enabled"] and th["warcs"] >= 1 and th["found"] == th["wanted"] == 2
    imgs = re.findall(r'<img src="([^"]+)"', report.html)
    assert len(imgs) == 2 and all(u.startswith("data:image/jpeg;base64,") for u in imgs)
    assert "personal data" in report.html


def test_link_only_for_http():
    assert link("javascript:alert(1)") == '<span class="url">javascript:alert(1)</span>'
    assert "href" not in link(" JavaScript:alert(1)") and "href" not in link("data:text/html,x")
    a = link('http://x.test/"onmouseover="alert(1)')
    assert a.startswith('<a href="http://x.test/&quot;onmouseover=&quot;alert(1)"')


def test_scraped_strings_are_escaped(store_path, tmp_path):
    copy = tmp_path / "xss.duckdb"
    shutil.copy(store_path, copy)
    evil = "<script>alert(1)</script>"
    with Store.open(copy) as s:
        (sha, crawl_id), = s.query("""
            SELECT a.sha256, any_value(x.crawl_id) FROM attributions a JOIN sightings x USING (sha256)
            WHERE a.country = 'FR' AND a.tier <> 'none' GROUP BY a.sha256 HAVING count(*) = 1 LIMIT 1""")
        s.insert("sightings", [{
            "sighting_id": "xss-test", "crawl_id": crawl_id, "sha256": sha, "image_url": f"http://evil.test/{evil}.jpg",
            "page_url": "javascript:alert(1)", "image_host": "evil.test", "page_host": evil, "alt_text": evil,
            "caption": f'"><img src=x onerror=alert(1)>{evil}', "ref_kind": "img"}])
        s.insert("signals", [{
            "signal_id": "xss-signal", "sha256": sha, "sighting_id": "xss-test", "kind": "alt_language",
            "country": "FR", "strength": "strong", "weight": 1.0, "evidence": evil}])
    with Store.open(copy, read_only=True) as s:
        html = build_report(s, COUNTRY, sample_size=10_000, outlines=OUTLINES).html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert 'href="javascript:' not in html.lower()
    assert "javascript:alert(1)" in html  # shown as text
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I)


@pytest.mark.timeout(120)
def test_thumbnails_read_only_archives_from_the_paths_a_store_names(store_path, tmp_path):
    """A store is hostile: the WARC paths in `crawls` may name any local file (a password file, a FIFO). The report
    reads only regular files, only as framed archive records; nothing of such a file reaches the report or its log,
    and no path makes it hang or fail."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET-MARKER-1234:/root:/bin/bash\n" * 50)
    fifo = tmp_path / "fifo.warc.gz"
    os.mkfifo(fifo)
    copy = tmp_path / "paths.duckdb"
    shutil.copy(store_path, copy)
    with Store.open(copy) as s:
        (crawl_id,) = s.query("SELECT crawl_id FROM crawls LIMIT 1")[0]
        s.query("UPDATE crawls SET warc_path = ?", [str(secret)])  # the crawl's own WARC is not named any more
        for n, path in enumerate((fifo, tmp_path / "missing.warc.gz", tmp_path)):
            s.insert("crawls", [{"crawl_id": f"{crawl_id}-hostile{n}", "source": "x", "kind": "crawl",
                                 "warc_path": str(path)}])
    out = tmp_path / "r.html"
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "-v", "report", "--db", str(copy), "--country",
                           COUNTRY, "--thumbnails", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for text in (proc.stdout, proc.stderr, out.read_text(), (tmp_path / "r.json").read_text()):
        assert "SECRET-MARKER" not in text
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["thumbnails"]["wanted"] > 0 and data["thumbnails"]["found"] == 0


def test_both_answers_and_the_order_basis(written, store):
    """The answers section: per level, images whose capture answer, residence answer, or either (FR's order uses
    "located") names the country, with precision against the truth of the same question; in the HTML too."""
    html, data = written
    a = data["answers"]
    assert a["available"] and a["basis"] == "located" and a["answers_used"] == ["capture", "residence"]
    assert a["order"]["authority"] == "CNIL" and a["order"]["wording"] in html
    att = store.query("SELECT sha256, capture_country, capture_tier, residence_country, residence_tier "
                      "FROM attributions")
    truth = {sha: (cap, res) for sha, cap, res in store.query(
        "SELECT sha256, any_value(capture_country), any_value(residence_country) FROM ground_truth "
        "WHERE residence_country IS NOT NULL GROUP BY sha256")}
    rank = {"strong": 3, "medium": 2, "weak": 1, "none": 0}
    # under "located", an image counts at the best tier of the answers that name the country
    best = {sha: max((t for c, t in ((cc, ct), (rc, rt)) if c == COUNTRY), key=rank.__getitem__, default="none")
            for sha, cc, ct, rc, rt in att}
    rows = {r["level"]: r for r in a["rows"]}
    for level, tiers in TIER_SETS.items():
        cap = {sha for sha, cc, ct, _rc, _rt in att if cc == COUNTRY and ct in tiers}
        res = {sha for sha, _cc, _ct, rc, rt in att if rc == COUNTRY and rt in tiers}
        either = {sha for sha, t in best.items() if t in tiers}
        check(rows[level]["capture"]["images"], len(cap), len(att))
        check(rows[level]["residence"]["images"], len(res), len(att))
        check(rows[level]["order"]["images"], len(either), len(att))
        check(rows[level]["capture"]["precision"], sum(1 for s in cap if truth.get(s, (None,))[0] == COUNTRY),
              len(cap & truth.keys()))
        check(rows[level]["order"]["precision"], sum(1 for s in either if COUNTRY in truth.get(s, ())),
              len(either & truth.keys()))
        r = rows[level]["order"]["images"]
        assert f"{100 * r['value']:.1f}% <span class=\"muted\">({r['hits']:,}/{r['n']:,})" in html
    assert rows["any tier"]["order"]["images"]["hits"] == sum(rows[t]["order"]["images"]["hits"]
                                                              for t in ("strong", "medium", "weak"))
    assert rows["any tier"]["order"]["images"]["hits"] == len(
        {sha for sha, cc, ct, rc, rt in att if (cc == COUNTRY and ct != "none") or (rc == COUNTRY and rt != "none")})
    assert rows["any tier"]["capture"]["images"]["hits"] > 0, "the demo web has French GPS photos"


def test_each_strength_of_a_signal_kind_is_shown(written, store):
    html, data = written
    several = 0
    for k in data["signal_kinds"]:
        expected = store.query(
            "SELECT strength, count(DISTINCT sha256) FROM signals WHERE ((candidates IS NULL AND country = ?) OR "
            "list_contains(candidates, ?)) AND sha256 IN (SELECT sha256 FROM attributions) AND kind = ? "
            "GROUP BY strength", [COUNTRY, COUNTRY, k["kind"]])
        assert {s["strength"]: s["images"] for s in k["strengths"]} == dict(expected), k["kind"]
        if len(k["strengths"]) > 1:
            several += 1
            cell = ", ".join(f'{s["strength"]} {s["images"]:,}' for s in k["strengths"])
            assert f"<td>{k['kind']}</td><td>{cell}</td>" in html
    assert several  # the demo web has kinds (html_lang, place_in_text) read at more than one strength
