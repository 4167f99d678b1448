"""The set-wise audit (audit.derive.run) against the plain row-by-row one (audit.derive.reference): same tables, row
for row.

Also: the audit in worker processes equals the audit in one process, the robots.txt pre-filter never hides an
opt-out, and a store written with an older definition of the derived tables is rebuilt with the current one."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from protego import Protego

from audit.derive.attribution import Evidence, attribute
from audit.derive.reference import reference_audit
from audit.derive.run import run_audit
from audit.derive.sql import ROBOTS_URL_FILTER
from audit.derive.units import collapse, detail_json, signal_rows
from audit.schema import DERIVED
from audit.signals.base import Signal, Strength
from audit.signals.consent import DEFAULT_AGENTS, robots_opt_outs, robots_prefilter, robots_url_fragments
from audit.store.db import Store

KEYS = {
    "opt_outs": ("sighting_id", "sha256", "kind", "value", "applies_to", "origin", "evidence"),
    "clusters": ("sha256", "cluster_id", "size"),
    "attributions": ("sha256", "country", "score", "tier", "runner_up", "runner_up_score", "kinds", "propagated",
                     "direct_country", "direct_score", "direct_tier", "explanation",
                     "capture_country", "capture_score", "capture_tier", "capture_explanation",
                     "residence_country", "residence_score", "residence_tier", "residence_explanation"),
}


def _norm(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    if table == "signals":
        detail = row["detail"]
        detail = json.loads(detail) if isinstance(detail, str) else detail
        return (row["sha256"], row["sighting_id"], row["kind"], row["country"], tuple(row["candidates"] or ()),
                row["strength"], round(float(row["weight"]), 9), row["evidence"],
                json.dumps(detail, sort_keys=True) if detail else None, row["via_sha256"])
    return tuple(tuple(row[k]) if isinstance(row[k], list) else row[k] for k in KEYS[table])


def _tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table in DERIVED:
        cur = store.con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        out[table] = sorted((_norm(table, dict(zip(names, r, strict=True))) for r in cur.fetchall()), key=repr)
    return out


@pytest.fixture(scope="module")
def fast_tables(store_path) -> dict[str, list[tuple[Any, ...]]]:
    with Store.open(store_path, read_only=True) as store:
        return _tables(store)


def test_fast_audit_equals_the_plain_one(store_path, fast_tables):
    with Store.open(store_path, read_only=True) as store:
        _, plain = reference_audit(store)
    for table, rows in fast_tables.items():
        expected = sorted({_norm(table, r) for r in plain[table]}, key=repr)
        assert rows, f"the audited demo store has no {table}"
        assert len(rows) == len(expected), table
        assert rows == expected, table
    kinds = {r[2] for r in fast_tables["signals"]}
    assert {"exif_gps", "page_cctld", "html_lang"} <= kinds  # image, host and page signals all took part
    assert any(r[-1] is not None for r in fast_tables["signals"])  # and propagation did


def test_signal_ids_are_unique(store_path):
    with Store.open(store_path, read_only=True) as store:
        total, distinct = store.query("SELECT count(*), count(DISTINCT signal_id) FROM signals")[0]
        keys, distinct_keys = store.query(
            "SELECT count(*), count(DISTINCT (sighting_id, kind, value, applies_to, origin)) FROM opt_outs")[0]
    assert total == distinct > 0
    assert keys == distinct_keys > 0


def test_worker_processes_give_the_same_tables(store_path, fast_tables, tmp_path):
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    with Store.open(copy) as store:
        result = run_audit(store, workers=2)
        assert result.workers == 2
        assert _tables(store) == fast_tables


def test_old_derived_tables_are_rebuilt(store_path, fast_tables, tmp_path):
    """A store whose signals table still has the primary key of older versions is audited into the current one."""
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    with Store.open(copy) as store:
        store.con.execute("DROP TABLE signals")
        store.con.execute("CREATE TABLE signals (signal_id VARCHAR PRIMARY KEY, sha256 VARCHAR NOT NULL, "
                          "sighting_id VARCHAR, kind VARCHAR, country VARCHAR, candidates VARCHAR[], "
                          "strength VARCHAR, weight DOUBLE, evidence VARCHAR, detail JSON, via_sha256 VARCHAR)")
        run_audit(store, workers=1)
        constraints = store.query("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'signals' "
                                  "AND constraint_type = 'PRIMARY KEY'")[0][0]
        assert constraints == 0
        assert _tables(store) == fast_tables


def test_opt_outs_without_origin_are_rebuilt(store_path, fast_tables, tmp_path):
    """A store audited before opt-outs had an origin (old columns and primary key) is audited into the current
    table: the same directive from the page's publisher and from the image's host no longer collides."""
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    with Store.open(copy) as store:
        store.con.execute("DROP TABLE opt_outs")
        store.con.execute("CREATE TABLE opt_outs (sighting_id VARCHAR NOT NULL, sha256 VARCHAR, kind VARCHAR NOT NULL, "
                          "value VARCHAR NOT NULL, applies_to VARCHAR NOT NULL, evidence VARCHAR, "
                          "PRIMARY KEY (sighting_id, kind, value, applies_to))")
    with Store.open(copy) as store:  # an older store opened by this version gains the column, then is audited
        run_audit(store, workers=1)
        assert _tables(store) == fast_tables
        assert {r[0] for r in store.query("SELECT DISTINCT origin FROM opt_outs")} <= {"image host", "page publisher",
                                                                                      "image"}


def test_workers_must_be_positive(store_path, tmp_path):
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    with Store.open(copy) as store, pytest.raises(ValueError, match="workers"):
        run_audit(store, workers=0)


def _random_robots(rng: random.Random) -> str:
    words = ["Disallow", "disallow", "Allow", "Dissallow", "User-agent", "Crawl-delay", "Sitemap", "Disallow "]
    agents = ["*", "GPTBot", "CCBot", "Googlebot-Image", "googlebot", "Bingbot", "provaudit", "other"]
    paths = ["/", "/a", "/a/", "/a/b", "/img/", "/img/*.jpg", "/*.png$", "/private", "/%7Euser/", "/A/",
             "/search?q=", "", "*", "/img", "/a$", "/x/*/y"]
    lines = []
    for _ in range(rng.randint(1, 14)):
        word = rng.choice(words)
        if word == "User-agent":
            lines.append(f"User-agent: {rng.choice(agents)}")
        elif word in ("Crawl-delay", "Sitemap"):
            lines.append(f"{word}: 5")
        else:
            sep = rng.choice([": ", ":", " "])
            lines.append(f"{word}{sep}{rng.choice(paths)}" + rng.choice(["", "  # note", ""]))
    return "\n".join(lines) + "\n"


def test_robots_prefilter_never_hides_an_opt_out():
    """Property: whenever robots.txt forbids a URL to any of our agents, the pre-filter lets the URL through; and the
    opt-outs are exactly the agents protego refuses, asked one by one."""
    rng = random.Random(20261127)
    urls = ["http://h.example/", "http://h.example/a", "http://h.example/a/b/c.jpg", "http://h.example/img/x.jpg",
            "http://h.example/img/x.png", "http://h.example/private/p.jpg", "http://h.example/~user/p.jpg",
            "http://h.example/A/b.jpg", "http://h.example/search?q=cats", "http://h.example/x/1/y",
            "http://h.example/b.png", "http://h.example/a", "http://h.example/zzz"]
    blocked = skipped = 0
    for _ in range(400):
        text = _random_robots(rng)
        for url in urls:
            found = robots_opt_outs(text, url, DEFAULT_AGENTS)
            parser = Protego.parse(text)  # each agent asked on its own: the grouping of agents changes nothing
            assert [o.applies_to for o in found] == [a for a in DEFAULT_AGENTS if not parser.can_fetch(url, a)]
            passes = robots_prefilter(text, url)
            if found:
                blocked += 1
                assert passes, (text, url, found)
            elif not passes:
                skipped += 1
    assert blocked > 200 and skipped > 200  # both sides of the property were exercised


def test_attribution_ignores_order_and_repeats():
    rng = random.Random(7)
    pool = [Evidence("page_cctld", "FR", "medium"), Evidence("image_cctld", "FR", "medium", propagated=True),
            Evidence("html_lang", "BE", "weak", weight=0.5), Evidence("html_lang", "FR", "weak", weight=0.5),
            Evidence("exif_gps", "ES", "strong", border_km=2.0), Evidence("geo_position", "FR", "medium"),
            Evidence("icbm", "FR", "medium"), Evidence("phone", "BE", "medium"),
            Evidence("schema_address", "BE", "medium", propagated=True), Evidence("utc_offset", "FR", "weak", 0.25)]
    for _ in range(200):
        chosen = rng.sample(pool, rng.randint(1, len(pool)))
        shuffled = chosen + rng.sample(chosen, rng.randint(0, len(chosen)))
        rng.shuffle(shuffled)
        assert attribute(shuffled) == attribute(chosen)


def test_collapse_groups_one_value_and_drops_repeats():
    fr = [Signal("html_lang", c, Strength.WEAK, '<html lang="fr">', weight=1 / 3) for c in ("FR", "BE", "CH")]
    cc = Signal("page_cctld", "FR", Strength.MEDIUM, ".fr")
    out = collapse([*fr, cc, cc, *fr])
    assert len(out) == 2
    assert (cc, None) in out
    grouped = [c for s, c in out if s.kind == "html_lang"]
    assert grouped == [["BE", "CH", "FR"]]


def _collapse_by_runs(signals: list[Signal]) -> list[tuple[Signal, list[str] | None]]:
    """collapse as it was first written (itertools.groupby over runs, no memory of earlier runs): the oracle."""
    from itertools import groupby

    groups: dict[tuple[str, str, str, float], list[Signal]] = {}
    out: list[tuple[Signal, list[str] | None]] = []
    seen: set[tuple[str, str, str]] = set()
    for (kind, strength, evidence, weight), run in groupby(signals, lambda s: (s.kind, s.strength, s.evidence,
                                                                               s.weight)):
        if weight < 1.0:
            groups.setdefault((kind, str(strength), evidence, round(weight, 9)), []).extend(run)
            continue
        for s in run:
            if (s.kind, s.country, s.evidence) not in seen:
                seen.add((s.kind, s.country, s.evidence))
                out.append((s, None))
    out += [(g[0], None) if len(g) == 1 else (g[0], sorted({x.country for x in g})) for g in groups.values()]
    return out


def test_collapse_remembering_runs_equals_grouping_every_run():
    # long ambiguous runs (remembered) reused whole, cut short, copied by value, split by other signals and repeated
    rng = random.Random(11)
    countries = [f"{a}{b}" for a in "ABCDEFGHIJ" for b in "KLMNOPQRST"]
    runs = []
    for i in range(12):
        n = rng.choice([2, 3, 9, 20, 58])
        picked = rng.sample(countries, n)
        if i % 4 == 0:
            picked.append(picked[0])  # one country twice in a value's run
        runs.append([Signal("html_lang", c, Strength.WEAK, f'<html lang="x{i % 9}">', weight=1 / n) for c in picked])
    singles = [Signal("page_cctld", c, Strength.MEDIUM, f".{c.lower()}") for c in countries[:6]]
    for _ in range(400):
        signals: list[Signal] = []
        for _ in range(rng.randint(0, 6)):
            run = rng.choice(runs)
            how = rng.random()
            if how < 0.5:
                signals += run
            elif how < 0.7:
                signals += run[: rng.randint(1, len(run))]
            elif how < 0.85:
                signals += [Signal(s.kind, s.country, s.strength, s.evidence, s.weight) for s in run]
            else:
                cut = rng.randint(0, len(run))
                signals += run[:cut] + [rng.choice(singles)] + run[cut:]
            if rng.random() < 0.3:
                signals.append(rng.choice(singles))
        assert collapse(signals) == _collapse_by_runs(signals)


def test_reference_module_is_not_used_by_the_cli():
    """The plain audit is a test oracle only: the CLI and the library's audit never import it."""
    root = Path(__file__).resolve().parents[2] / "audit"
    users = [p.name for p in root.rglob("*.py") if p.name != "reference.py"
             and "reference import" in p.read_text(encoding="utf-8")]
    assert users == []


def test_robots_sql_filter_lets_every_prefiltered_url_through():
    """Property: the audit's SQL test of a URL against its robots.txt's fragments passes every URL the Python
    pre-filter passes (percent-encoding, case, controls and non-ASCII included)."""
    rng = random.Random(99)
    paths = ["/", "/a", "/A/b.jpg", "/img/x.jpg", "/%7Euser/p.jpg", "/~user/p.jpg", "/private/%41.jpg", "/pr%69vate",
             "/search?q=cats", "/x/1/y", "/\u00e9t\u00e9/p.jpg", "/\u212a/k.jpg", "/a\tb/c", "/IMG/X.PNG", "//img/x",
             "/private#frag", "/zzz", "/a b/c", "/\u0130/i.jpg"]
    cases: list[tuple[str, str, str]] = []
    for _ in range(300):
        text = _random_robots(rng) + rng.choice(["", "Disallow: /\u00e9t\u00e9/\n", "Disallow: /%C4%B0\n",
                                                 "Disallow: /%7euser\n", "Disallow: /IMG\n"])
        fragments = robots_url_fragments(text)
        for path in paths:
            url = "http://h.example" + path
            for fragment in fragments:
                cases.append((url, fragment, text))
            if robots_prefilter(text, url):
                assert fragments, (text, url)
    con = duckdb.connect()
    con.execute("CREATE TABLE c (url VARCHAR, fragment VARCHAR, body VARCHAR)")
    con.executemany("INSERT INTO c VALUES (?, ?, ?)", cases)
    passed = {(u, b) for u, b in con.execute(
        f"SELECT DISTINCT url, body FROM c WHERE {ROBOTS_URL_FILTER.format(url='url', fragment='fragment')}"
    ).fetchall()}
    checked = 0
    for url, _fragment, text in cases:
        if robots_prefilter(text, url):
            checked += 1
            assert (url, text) in passed, (text, url)
    assert checked > 500 and len(passed) < len({(u, b) for u, _f, b in cases})  # both sides exercised


def test_a_candidate_country_with_a_comma_is_refused_not_split_in_two():
    # the unit tables keep a signal's candidates joined by commas; a value that would not split back is an error
    odd = [Signal("html_lang", c, Strength.WEAK, '<html lang="x">', weight=0.5) for c in ("FR", "B,E")]
    with pytest.raises(ValueError, match="comma"):
        signal_rows(("k",), odd)
    fine = [Signal("html_lang", c, Strength.WEAK, '<html lang="x">', weight=0.5) for c in ("FR", "BE")]
    assert signal_rows(("k",), fine)[0][3] == "BE,FR"


def test_a_details_json_is_json_dumps_of_it_every_time():
    """detail_json remembers each detail it has written: the text must still be json.dumps's for every detail, in
    its key order, and for values that are equal as dict keys but not as JSON (1, 1.0, True)."""
    details: list[dict[str, Any]] = [{"candidates": "58"}, {"near_border_km": "2.1", "candidates": "3"},
                                     {"candidates": "3", "near_border_km": "2.1"}, {"a": 1}, {"a": 1.0}, {"a": True},
                                     {"a": "1"}, {"a": ["x"]}, {"a": None}, {"é": "ü\u2028"}]
    for _ in range(2):  # written, then remembered
        for detail in details:
            assert detail_json(detail) == json.dumps(detail), detail
    assert {json.loads(detail_json(d))["a"].__class__ for d in details if "a" in d} == {int, float, bool, str, list,
                                                                                         type(None)}
