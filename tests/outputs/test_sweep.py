"""The deletion sweep against an independent computation on a real demo store."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audit.outputs.sweep import POLICIES, Policy, SweepResult, compare_policies, parse_policy, sweep, write_sweep
from audit.store.db import Store
from audit.testweb_marker import BANNER

ROOT = Path(__file__).resolve().parents[2]
COUNTRY = "FR"
RANK = {"strong": 3, "medium": 2, "weak": 1, "none": 0}


def expected(store: Store, policy: str) -> dict[str, object]:
    """The sweep recomputed in Python from the raw rows."""
    attributions = store.query("SELECT sha256, country, tier, direct_country, direct_tier FROM attributions")
    pointing = {sha for (sha,) in store.query("SELECT sha256 FROM signal_countries WHERE country = ?", [COUNTRY])}
    sightings = Counter(sha for (sha,) in store.query("SELECT sha256 FROM sightings WHERE sha256 IS NOT NULL"))
    residence: dict[str, set[str]] = {}
    images = {sha for (sha,) in store.query("SELECT sha256 FROM images")}
    for sha, res in store.query("SELECT sha256, residence_country FROM ground_truth"):
        if sha in images and res is not None:  # graphics have no subject: neither right nor wrong
            residence.setdefault(sha, set()).add(res)
    assert all(len(v) == 1 for v in residence.values()), "copies with the same bytes show one subject"
    truth = {sha: next(iter(v)) for sha, v in residence.items()}
    minimum = {"strong": 3, "medium": 2, "weak": 1}.get(policy.split("+")[0], 0)
    deleted = set()
    for sha, country, tier, dcountry, dtier in attributions:
        if policy == "any-signal":
            keep = sha in pointing
        elif policy.endswith("+nd"):
            keep = country == COUNTRY and RANK[tier] >= minimum
        else:
            keep = dcountry == COUNTRY and RANK[dtier] >= minimum
        if keep:
            deleted.add(sha)
    residents = {sha for sha, r in truth.items() if r == COUNTRY}
    judged = [sha for sha in deleted if sha in truth]
    right = sum(1 for sha in judged if truth[sha] == COUNTRY)
    return {"images": len(deleted), "sightings": sum(sightings[s] for s in deleted), "deleted": deleted,
            "precision": (right, len(judged)), "recall": (len(residents & deleted), len(residents)),
            "collateral": (len(judged) - right, len(judged)),
            "left_behind": (len(residents - deleted), len(residents))}


@pytest.mark.parametrize("policy", list(POLICIES))
def test_sweep_matches_independent_computation(store, policy):
    result = sweep(store, COUNTRY, policy)
    want = expected(store, policy)
    assert result.images == want["images"]
    assert result.sightings == want["sightings"]
    assert {r["sha256"] for r in result.rows} == want["deleted"]
    for name in ("precision", "recall", "collateral", "left_behind"):
        rate = getattr(result, name)
        assert rate is not None
        assert (rate.hits, rate.n) == want[name], name
    for row in result.rows[:20]:
        assert row["sightings"] >= 1 and row["image_urls"] and row["evidence"]
        if policy != "any-signal":
            assert f"signals for {COUNTRY}" in row["evidence"]


def test_policies_are_ordered_sensibly(store):
    rows = {r["policy"]: r for r in compare_policies(store, COUNTRY)}
    assert list(rows) == list(POLICIES)
    for own in ("strong", "medium", "weak"):
        assert rows[own]["images"] <= rows["any-signal"]["images"]
    assert rows["strong"]["images"] <= rows["medium"]["images"] <= rows["weak"]["images"]
    assert rows["weak+nd"]["recall"]["hits"] <= rows["any-signal"]["recall"]["hits"]


def test_invalid_policy_lists_the_valid_ones(store):
    with pytest.raises(ValueError) as exc:
        parse_policy("strongest")
    for name in POLICIES:
        assert name in str(exc.value)
    with pytest.raises(ValueError):
        sweep(store, COUNTRY, "everything")
    assert parse_policy("medium+nd") == POLICIES["medium+nd"]


def _fake(rows: list[dict[str, object]]) -> SweepResult:
    return SweepResult(country=COUNTRY, policy=Policy("t", "test", "strong", False), rows=rows, images=len(rows))


def test_csv_escapes_formulas(tmp_path):
    evil = ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"]
    guarded = ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2", "'@SUM(A1)", "'\tx", "'\nx"]  # CR is written as LF
    rows = [{"sha256": e, "country": "FR", "score": 0.5, "tier": "strong", "direct_country": "FR",
             "direct_tier": "strong", "sightings": 1, "image_urls": [e, "http://a/b.jpg"], "page_urls": [],
             "evidence": e} for e in evil]
    rows.append({"sha256": "abc", "country": "FR", "score": -0.5, "tier": "weak", "direct_country": None,
                 "direct_tier": "none", "sightings": 2, "image_urls": ["http://a/c.jpg"], "page_urls": ["http://a/"],
                 "evidence": "plain, with \"quotes\"; and =1+1 after a semicolon"})
    path = write_sweep(_fake(rows), tmp_path / "s.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    for row, g in zip(got, guarded, strict=False):
        assert row["sha256"] == g
        assert row["evidence"] == g
        assert row["image_urls"].startswith("'")
    last = got[-1]
    assert last["sha256"] == "abc" and last["evidence"] == "plain, with \"quotes\"; and =1+1 after a semicolon"
    assert last["score"] == "'-0.5"  # a negative number starts with '-': escaped as well
    assert last["page_urls"] == "http://a/" and last["direct_country"] == ""


def test_real_sweep_csv_and_parquet_round_trip(store, tmp_path):
    result = sweep(store, COUNTRY, "medium+nd")
    assert result.rows
    table = pq.read_table(write_sweep(result, tmp_path / "s.parquet"))
    # the demo store is a crawl of the test web: every row carries the banner, and so does the file's metadata
    assert result.test_web
    assert table.to_pylist() == [r | {"test_web_banner": BANNER} for r in result.rows]
    assert table.schema.metadata[b"provaudit.policy"] == b"medium+nd"
    assert table.schema.metadata[b"provaudit.test_web"] == BANNER.encode()
    with write_sweep(result, tmp_path / "s.csv").open(newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert [r["sha256"] for r in got] == [r["sha256"] for r in result.rows]
    assert {r["test_web_banner"] for r in got} == {BANNER}
    assert got[0]["image_urls"].split("\n") == result.rows[0]["image_urls"]
    with pytest.raises(ValueError):
        write_sweep(result, tmp_path / "s.xlsx")


def test_evidence_names_each_signal_once_with_how_often_it_was_seen(store):
    result = sweep(store, COUNTRY, "weak+nd")
    repeated = 0
    for row in result.rows:
        listed = row["evidence"].split(f"signals for {COUNTRY}: ", 1)[-1].split(" | ")
        texts = [re.sub(r" \(×\d+\)$", "", e) for e in listed]
        assert len(texts) == len(set(texts)), row["evidence"]
        repeated += sum(1 for e in listed if re.search(r" \(×\d+\)$", e))
    # the demo web repeats its page facts (geo metas, lang) on every page an image is seen: the count is shown
    assert repeated
