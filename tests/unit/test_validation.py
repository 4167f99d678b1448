"""The validation loop's pure parts: allocation of a stratified sample, exact intervals, reading a filled labelling
sheet (bad rows named by line number), the estimators, and the escaping of the labelling sheet and the report's
validation paragraph."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from audit.errors import LabelsError
from audit.outputs.report.render import _validation
from audit.outputs.validation.estimate import estimate_rows
from audit.outputs.validation.labels import read_labels
from audit.outputs.validation.sample import Sample, SampleItem, allocate
from audit.outputs.validation.sheet import CSP, SCRIPT, render_sheet
from audit.stats import clopper_pearson, proportion_interval, wilson

SHA = "ab" * 32
HEADER = "sample_id,sha256,country,seed,stratum,stratum_size,weight,page_urls,image_urls,located,resides\n"


def test_allocation_is_proportional_with_a_minimum_per_stratum():
    sizes = {"strong": 50, "medium": 20, "weak": 10, "not attributed": 920}
    alloc = allocate(sizes, 200)
    assert sum(alloc.values()) == 200
    # minimum min(30, 200 // 4) = 30, capped at the stratum's size; the rest to the largest proportional deficit
    assert alloc == {"strong": 30, "medium": 20, "weak": 10, "not attributed": 140}
    # no minimum binding: plain proportional allocation
    assert allocate({"strong": 500, "medium": 0, "weak": 0, "not attributed": 500}, 100, minimum=0) == {
        "strong": 50, "medium": 0, "weak": 0, "not attributed": 50}
    # fewer images than asked: all of them
    assert allocate({"strong": 3, "medium": 0, "weak": 1, "not attributed": 6}, 200) == {
        "strong": 3, "medium": 0, "weak": 1, "not attributed": 6}
    # a small n: the minimum shrinks to n // non-empty strata, every non-empty stratum still gets one
    small = allocate({"strong": 10, "medium": 10, "weak": 10, "not attributed": 10_000}, 5)
    assert sum(small.values()) == 5 and min(small.values()) >= 1


def test_exact_interval_matches_hand_computed_values():
    # k = 0 and k = n have closed forms: 1 - (alpha/2)^(1/n) and (alpha/2)^(1/n)
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025 ** 0.1), abs=1e-9)
    assert clopper_pearson(10, 10) == pytest.approx((0.025 ** 0.1, 1.0), abs=1e-9)
    # textbook values (Clopper-Pearson 95%, 5 of 10 and 1 of 20)
    assert tuple(round(x, 4) for x in clopper_pearson(5, 10)) == (0.1871, 0.8129)
    assert tuple(round(x, 4) for x in clopper_pearson(1, 20)) == (0.0013, 0.2487)
    assert clopper_pearson(0, 0) == (0.0, 0.0)


def test_proportion_interval_is_exact_for_small_n_and_wilson_from_40():
    assert proportion_interval(19, 20)[2] == "exact"
    assert proportion_interval(19, 20)[:2] == pytest.approx(clopper_pearson(19, 20))
    assert proportion_interval(38, 40) == (*wilson(38, 40), "wilson")


def _label_file(tmp_path, rows: list[str]):
    path = tmp_path / "labels.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_labels_are_read_with_answers_normalised(tmp_path):
    path = _label_file(tmp_path, [
        f'FR-1-0001,{SHA},FR,1,strong,22,2.2,"http://a.example/1\nhttp://a.example/2",,yes,No',
        f"FR-1-0002,{'cd' * 32},FR,1,not attributed,73,3.3,,,can't tell,",
        f"FR-1-0003,{'ef' * 32},fr,1,Strong,22,2.2,,,Y,?",
    ])
    labels = read_labels(path)
    assert [(lab.sample_id, lab.located, lab.resides, lab.line) for lab in labels] == [
        ("FR-1-0001", "yes", "no", 2), ("FR-1-0002", "unknown", None, 4), ("FR-1-0003", "yes", "unknown", 5)]
    assert labels[2].country == "FR" and labels[2].stratum == "strong" and labels[0].seed == 1


def test_bad_label_rows_are_named_by_line_number_and_nothing_is_read(tmp_path):
    path = _label_file(tmp_path, [
        f'FR-1-0001,{SHA},FR,1,strong,22,2.2,"http://a.example/1\nhttp://a.example/2",,yes,no',  # lines 2-3: good
        f"FR-1-0002,{SHA[:10]},FR,1,strong,22,2.2,,,yes,no",  # line 4: short sha256
        f"FR-1-0003,{'cd' * 32},FR,1,strong,22,2.2,,,perhaps,no",  # line 5: unknown answer
        f"FR-1-0001,{'ef' * 32},FR,1,strong,22,2.2,,,yes,no",  # line 6: sample_id again
        f"FR-1-0004,{'ef' * 32},FR,1,strong,21,2.2,,,yes,no",  # line 7: another size for the stratum
        f"FR-1-0005,{'ef' * 32},FR,1,tier9,21,2.2,,,yes,no",  # line 8: no such stratum
        f"FR-1-0006,{'ef' * 32},DE,1,weak,3,1,,,yes,no",  # line 9: another country
        "",  # line 10: blank, skipped
        f"FR-1-0007,{'ef' * 32},FR,1,weak,3,1,,,no,nope",  # line 11: unknown answer
    ])
    with pytest.raises(LabelsError) as err:
        read_labels(path)
    message = str(err.value)
    assert "7 bad row(s), nothing stored" in message
    for line, what in ((4, "sha256"), (5, "located is 'perhaps'"), (6, "already on line 2"),
                       (7, "size 21 here but 22 on line 2"), (8, "stratum 'tier9'"), (9, "country DE but FR"),
                       (11, "resides is 'nope'")):
        assert re.search(rf"line {line}: [^;]*{re.escape(what)}", message), (line, message)
    assert "; line 2:" not in message and ": line 2:" not in message and "line 3:" not in message


def test_a_sheet_nobody_answered_is_refused(tmp_path):
    with pytest.raises(LabelsError, match="no row has an answer"):
        read_labels(_label_file(tmp_path, [f"FR-1-0001,{SHA},FR,1,strong,22,2.2,,,,"]))


def test_labels_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("sha256,located\n" + SHA + ",yes\n", encoding="utf-8")
    with pytest.raises(LabelsError, match="line 1: the header lacks the column"):
        read_labels(path)


def test_estimates_match_hand_computed_values(tmp_path):
    rows = [f"FR-1-{i:04d},{i:064x},FR,1,strong,40,2,,,{'yes' if i < 19 else 'no'},yes" for i in range(20)]
    rows += [f"FR-1-{100 + i:04d},{100 + i:064x},FR,1,not attributed,1000,20,,,"
             f"{'yes' if i < 5 else 'unknown' if i < 8 else 'no'},no" for i in range(50)]
    figures = {(r["question"], r["stratum"]): r for r in estimate_rows(read_labels(_label_file(tmp_path, rows)))}
    strong = figures[("located", "strong")]
    assert (strong["hits"], strong["labelled"], strong["estimate"], strong["method"]) == (19, 20, 0.95, "exact")
    assert (round(strong["low"], 4), round(strong["high"], 4)) == (0.7513, 0.9987)  # Clopper-Pearson 19/20
    assert strong["missed"] is None
    missed = figures[("located", "not attributed")]
    # 5 yes of 47 answered (3 can't tell left out), in a stratum of 1000: 1000 x 5/47, Wilson (n >= 40)
    assert (missed["hits"], missed["labelled"], missed["unknown"], missed["method"]) == (5, 47, 3, "wilson")
    lo, hi = wilson(5, 47)
    assert missed["missed"] == pytest.approx(1000 * 5 / 47)
    assert (missed["missed_low"], missed["missed_high"]) == pytest.approx((1000 * lo, 1000 * hi))
    assert figures[("resides", "not attributed")]["missed"] == 0
    assert figures[("located", "medium")]["estimate"] is None and figures[("located", "medium")]["labelled"] == 0


def _hostile_sample() -> Sample:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    item = SampleItem(sample_id="FR-7-0001", sha256=SHA, stratum="strong", stratum_size=3, weight=3.0,
                      country="FR", tier="strong", score=0.9, explanation=evil,
                      sightings=[{"image_url": "javascript:alert(1)", "page_url": 'http://a.example/"><script>',
                                  "alt_text": evil, "caption": evil}],
                      sighting_count=1,
                      signals=[{"kind": "place_in_text", "country": "FR", "strength": "medium", "evidence": evil,
                                "via_sha256": None}],
                      thumbnail="http://tracker.example/pixel.gif")
    return Sample(country="FR", seed=7, n=1, population=3, sizes={"strong": 3}, allocation={"strong": 1},
                  items=[item], answer="country/tier", drawn_at="2026-01-01T00:00:00+00:00")


def test_the_labelling_sheet_escapes_scraped_text_and_loads_nothing():
    html = render_sheet(_hostile_sample())
    assert html.count("<script") == 1 and "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html and "tracker.example" not in html  # a non-data: thumbnail is dropped
    # the one inline script is the sheet's own, allowed by its hash and nothing else
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in CSP and f"<script>{SCRIPT}</script>" in html
    assert "default-src 'none'" in CSP and CSP in html
    assert 'name="located-FR-7-0001" value="yes"' in html and 'name="resides-FR-7-0001" value="unknown"' in html


def test_the_report_says_plainly_when_its_figures_are_unvalidated():
    text = _validation({"country": "FR", "validation": None})
    assert "unvalidated" in text and "provaudit validate" in text


def test_the_report_shows_the_latest_validation():
    row = {"question": "located", "stratum": "strong", "stratum_size": 500, "labelled": 200, "unknown": 0,
           "hits": 192, "estimate": 0.96, "low": 0.9145, "high": 0.9812, "method": "wilson", "missed": None,
           "missed_low": None, "missed_high": None}
    missed = {**row, "stratum": "not attributed", "stratum_size": 9000, "labelled": 100, "hits": 2, "estimate": 0.02,
              "low": 0.0055, "high": 0.0700, "missed": 180.0, "missed_low": 49.5, "missed_high": 630.0}
    v = {"validation_id": "<b>x</b>", "validated_at": "2026-12-03T00:00:00+00:00", "answer": "country/tier",
         "sample": 200, "rows": [row, missed]}
    text = _validation({"country": "FR", "validation": v})
    assert "Validated on a labelled sample of 200" in text and "unvalidated" not in text
    assert "strong precision 0.96 [0.91–0.98]" in text
    assert "about 180 [50–630] of the 9,000 images not attributed to FR" in text
    assert "<b>x</b>" not in text
