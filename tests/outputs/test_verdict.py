"""The report's verdict (issue 18): the claim, the order's legal test, the shares under it, the validated precision or
a plain "unvalidated", and one quotable sentence, first in the report; checked against computations on the demo
store's own rows. Also the test-web banner on every output of the demo store (a crawl of the built-in test web),
per-country output names, and the ISO 3166-1 check of every ``--country``."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from audit.outputs.report import build_report
from audit.stats import wilson
from audit.store.db import Store
from audit.testweb_marker import BANNER
from audit.textsafe import html_text
from conftest import provaudit

RANK = {"strong": 3, "medium": 2, "weak": 1, "none": 0}


def best_tiers(store: Store, cc: str, answers: tuple[str, ...], people: bool = False) -> tuple[dict[str, str], int]:
    """Per image, the best tier at which one of ``answers`` names ``cc`` (computed in Python from the raw rows), and
    how many images there are (of images showing people only, with ``people``: a face of 40 px or more)."""
    rows = store.query("SELECT sha256, capture_country, capture_tier, residence_country, residence_tier "
                       "FROM attributions")
    if people:
        shown = {s for (s,) in store.query("SELECT DISTINCT sha256 FROM faces WHERE box_height >= 40")}
        rows = [r for r in rows if r[0] in shown]
    best = {}
    for sha, cc_c, ct, rc, rt in rows:
        named = {"capture": (cc_c, ct), "residence": (rc, rt)}
        tiers = [named[a][1] for a in answers if named[a][0] == cc]
        best[sha] = max(tiers, key=RANK.__getitem__, default="none")
    return best, len(rows)


def check(rate: dict, hits: int, n: int) -> None:
    assert (rate["hits"], rate["n"]) == (hits, n)
    lo, hi = wilson(hits, n)
    assert rate["low"] == pytest.approx(lo, abs=1e-4) and rate["high"] == pytest.approx(hi, abs=1e-4)


@pytest.fixture(scope="module")
def fr(store):
    report = build_report(store, "FR")
    return report.html, report.data


def test_the_verdict_counts_strong_or_medium_under_the_cnils_located_test(fr, store):
    html, data = fr
    v = data["verdict"]
    assert v["basis"] == "located" and v["order"]["short"] == "CNIL" and v["order"]["year"] == 2022
    best, m = best_tiers(store, "FR", ("capture", "residence"))
    n = sum(1 for t in best.values() if t in ("strong", "medium"))
    assert n > 0, "the demo web has French photos"
    assert v["images"] == m == data["headline"]["images"]
    assert v["contradicted"] == n
    check(v["share"], n, m)
    levels = {r["level"]: r["images"] for r in v["levels"]}
    for level, tiers in (("strong", {"strong"}), ("medium", {"medium"}), ("weak", {"weak"}),
                         ("any tier", {"strong", "medium", "weak"})):
        check(levels[level], sum(1 for t in best.values() if t in tiers), m)
    # the sentence, with the figures in it
    share = v["share"]
    assert v["sentence"].startswith(f"The claim is contradicted for at least {n:,} images: "
                                    f"{100 * share['value']:.1f}% [{100 * share['low']:.1f}–"
                                    f"{100 * share['high']:.1f}] of the {m:,} distinct images collected carry "
                                    "strong or medium evidence of France under the CNIL's test (located), with ")
    assert html_text(v["sentence"]) in html  # escaped (the apostrophe of "CNIL's")


def test_the_people_shares_count_images_with_a_large_enough_face(fr, store):
    _, data = fr
    people = data["verdict"]["people"]
    assert data["people"]["coverage"]["detected"], "the demo crawls with face detection on"
    best, m = best_tiers(store, "FR", ("capture", "residence"), people=True)
    assert people["images"] == m > 0
    levels = {r["level"]: r["images"] for r in people["levels"]}
    check(levels["strong or medium"], sum(1 for t in best.values() if t in ("strong", "medium")), m)


def test_the_precision_is_the_latest_validation_weighted_by_tier(fr, store):
    html, data = fr
    p = data["verdict"]["precision"]
    (vid,) = store.query("SELECT validation_id FROM validations WHERE country = 'FR' "
                         "ORDER BY validated_at DESC, validation_id DESC LIMIT 1")[0]
    rows = store.query("SELECT stratum, stratum_size, estimate, low, high FROM validations WHERE validation_id = $1 "
                       "AND question = 'located' AND stratum IN ('strong', 'medium') AND estimate IS NOT NULL", [vid])
    assert rows, "the demo validates FR on a sample labelled from the truth"
    size = sum(r[1] for r in rows)
    assert p["validation_id"] == vid and p["question"] == "located"
    assert p["estimate"] == pytest.approx(sum(r[1] * r[2] for r in rows) / size, abs=1e-4)
    assert p["low"] == pytest.approx(sum(r[1] * r[3] for r in rows) / size, abs=1e-4)
    assert p["low"] <= p["estimate"] <= p["high"]
    assert f"with precision {p['estimate']:.2f} [{p['low']:.2f}–{p['high']:.2f}]" in data["verdict"]["sentence"]
    assert "Precision validated on a labelled sample" in html


def test_without_a_labelled_sample_precision_is_said_to_be_unknown(store_path, tmp_path):
    copy = tmp_path / "unvalidated.duckdb"
    shutil.copy(store_path, copy)
    with Store.open(copy) as s:
        s.con.execute("DELETE FROM validations")
    with Store.open(copy, read_only=True) as s:
        report = build_report(s, "FR")
    v = report.data["verdict"]
    assert v["precision"]["status"] == "unvalidated" and v["precision"]["estimate"] is None
    assert v["sentence"].endswith("with precision not yet validated.")
    assert "unvalidated" in report.html.lower() and "precision unknown" in report.html


def test_the_verdict_opens_the_report_after_the_title_and_the_banner(fr):
    html, data = fr
    body = html[html.index("<body>"):]
    assert body.index('id="testweb-banner"') < body.index("<h1>") < body.index('<section id="verdict">') \
        < body.index("<nav>") < body.index('<section id="claim">')
    verdict = body[body.index('<section id="verdict">'):body.index("<nav>")]
    assert "personnes se trouvant en France" in verdict and "SAN-2022-019" in verdict
    assert "there is no way to determine if a person has French citizenship" in verdict


def test_the_uk_order_uses_the_residence_answer_and_the_icos_name(store):
    data = build_report(store, "GB").data
    v = data["verdict"]
    assert v["basis"] == "residence" and v["order"]["short"] == "ICO"
    assert data["claim"]["kind"] == "paraphrase" and "British citizenship" in data["claim"]["text"]
    best, m = best_tiers(store, "GB", ("residence",))
    n = sum(1 for t in best.values() if t in ("strong", "medium"))
    assert v["contradicted"] == n
    assert "the ICO's test (residence)" in v["sentence"]


def test_no_order_gives_a_question_and_no_evidence_says_so(store):
    de = build_report(store, "DE").data["verdict"]
    assert de["claim"]["kind"] == "question" and de["order"] is None
    assert "no deletion order for DE is declared" in de["sentence"]
    aq = build_report(store, "AQ", claim="Nobody in Antarctica can be found.").data["verdict"]
    assert aq["contradicted"] == 0
    assert aq["sentence"].startswith("The data give no contradiction of the claim: none of the")


def test_the_claim_and_everything_in_the_verdict_is_escaped(store):
    hostile = "<script>alert(1)</script>\u202e«"
    report = build_report(store, "FR", claim=hostile)
    assert "<script>alert" not in report.html and "\u202e" not in report.html
    verdict = report.html[report.html.index('<section id="verdict">'):report.html.index("<nav>")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in verdict
    assert report.data["verdict"]["claim"]["text"] == hostile


def test_the_demo_store_is_test_web_on_every_output(fr, store_path, demo_out, tmp_path):
    html, data = fr
    assert data["test_web"] is True and data["banner"] == BANNER
    assert html.count(BANNER) == 2  # the page, and the top margin of every printed page
    assert f'@top-center{{content:"{BANNER}"' in html, "repeated on every printed page"
    assert ".testweb-banner{display:none!important}" in html  # printed in the margin, not twice
    # report, sweep and verify on the command line: the banner in the terminal, the JSON and every file
    proc = provaudit("report", "--db", str(store_path), "--country", "fr", cwd=tmp_path)
    assert BANNER in proc.stdout and data["verdict"]["sentence"].split(":")[0] in proc.stdout
    assert json.loads((tmp_path / "report-FR.json").read_text())["test_web"] is True
    proc = provaudit("sweep", "--db", str(store_path), "--country", "FR", "--out", str(tmp_path / "list.csv"))
    assert BANNER in proc.stdout
    with (tmp_path / "list.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["test_web_banner"] == BANNER for r in rows)
    summary = json.loads(provaudit("sweep", "--db", str(store_path), "--country", "FR", "--json").stdout)
    assert summary["test_web"] is True and summary["banner"] == BANNER
    proc = provaudit("verify", "--before", str(store_path), "--after", str(demo_out / "after-sloppy-vendor.duckdb"),
                     "--country", "FR", cwd=tmp_path, check=False)
    assert proc.returncode in (0, 3, 4) and BANNER in proc.stdout
    page = (tmp_path / "verify-FR.html").read_text(encoding="utf-8")
    assert 'id="testweb-banner"' in page and f'@top-center{{content:"{BANNER}"' in page
    assert json.loads((tmp_path / "verify-FR.json").read_text())["summary"]["test_web"] is True


def test_reports_of_two_countries_share_a_folder(store_path, tmp_path):
    provaudit("report", "--db", str(store_path), "--country", "FR", cwd=tmp_path)
    provaudit("report", "--db", str(store_path), "--country", "IT", cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["provaudit-fixity.json", "report-FR.html", "report-FR.json",
                                                          "report-IT.html", "report-IT.json"]
    # both reports are recorded for fixity, neither overwrote the other
    assert provaudit("fixity", str(tmp_path)).returncode == 0
    assert json.loads((tmp_path / "report-FR.json").read_text())["country"] == "FR"
    assert json.loads((tmp_path / "report-IT.json").read_text())["claim"]["kind"] == "paraphrase"
    provaudit("report", "--db", str(store_path), "--country", "FR", "--out", str(tmp_path / "x" / "mine.html"))
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["mine.html", "mine.json", "provaudit-fixity.json"]


def test_verify_and_sample_are_named_after_the_country_too(store_path, demo_out, tmp_path):
    provaudit("sample", "--db", str(store_path), "--country", "fr", "--n", "5", "--seed", "1", cwd=tmp_path)
    assert sorted(p.name for p in (tmp_path / "sample-FR").iterdir()) == ["provaudit-fixity.json", "sample.csv",
                                                                       "sample.html", "sample.json"]
    provaudit("verify", "--before", str(store_path), "--after", str(demo_out / "after-sloppy-vendor.duckdb"),
              "--country", "FR", "--out", str(tmp_path / "v" / "check.html"), check=False)
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["check.html", "check.json", "provaudit-fixity.json"]


@pytest.mark.parametrize("command", ["report", "sweep", "sample", "verify", "fetch"])
@pytest.mark.parametrize(("code", "message"), [
    ("UK", "--country: UK is not an ISO 3166-1 alpha-2 code; did you mean GB?"),
    ("XX", "--country: XX is not an ISO 3166-1 alpha-2 code"),
])
def test_every_country_option_refuses_codes_that_are_not_iso(command, code, message, store_path, tmp_path):
    db = str(store_path)
    args = {"report": ["report", "--db", db], "sweep": ["sweep", "--db", db], "sample": ["sample", "--db", db],
            "verify": ["verify", "--before", db, "--after", db], "fetch": ["fetch", "--db", db, "--all"]}[command]
    proc = provaudit(*args, "--country", code, cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir()), "nothing written"
