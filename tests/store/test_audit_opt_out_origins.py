"""Whose declaration an opt-out is (``opt_outs.origin``): a publisher's tdmrep.json reserving ``/`` covers the photos
its pages show from a CDN (``page publisher``), beside what the CDN itself declares (``image host``); the same
directive from both is two rows. The set-wise audit and the reference agree on every such store (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from audit.derive.reference import reference_audit
from audit.derive.run import run_audit
from audit.store.db import Store
from audit.store.export import export_store, import_export

CRAWL = "c1"
PAGE = "https://www.journal.example.fr/article/1"
IMAGE = "https://cdn.photos.example.net/i/1.jpg"
SHA = "a" * 64
RESERVE_ALL = json.dumps([{"location": "/", "tdm-reservation": 1, "tdm-policy": "https://journal.example.fr/tdm"}])


def _store(path: Path, *, page_tdmrep: str | None, image_tdmrep: str | None) -> Path:
    """A store with one page on the publisher's host showing one image from a CDN, and the tdmrep.json files given
    (``None``: the host answered 404)."""
    with Store.open(path) as store:
        store.insert("crawls", [{"crawl_id": CRAWL}])
        store.insert("images", [{"sha256": SHA}])
        store.insert("pages", [{"crawl_id": CRAWL, "url": PAGE}])
        store.insert("sightings", [{"sighting_id": "s1", "crawl_id": CRAWL, "sha256": SHA, "image_url": IMAGE,
                                    "page_url": PAGE, "image_host": "cdn.photos.example.net",
                                    "page_host": "www.journal.example.fr"}])
        store.insert("host_policies", [
            {"crawl_id": CRAWL, "host": host, "kind": "tdmrep.json", "url": f"https://{host}/.well-known/tdmrep.json",
             "status": 200 if body is not None else 404, "body": body if body is not None else "not found"}
            for host, body in (("www.journal.example.fr", page_tdmrep), ("cdn.photos.example.net", image_tdmrep))])
    return path


def _audited(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The opt-outs of the set-wise audit and of the reference, as (kind, value, origin, evidence), sorted."""
    with Store.open(path) as store:
        run_audit(store, workers=1)
        fast = sorted(store.query("SELECT kind, value, origin, evidence FROM opt_outs"))
        _, tables = reference_audit(store)
    plain = sorted((r["kind"], r["value"], r["origin"], r["evidence"]) for r in tables["opt_outs"])
    return fast, plain


def test_a_publishers_reservation_covers_its_photos_on_a_cdn(tmp_path):
    fast, plain = _audited(_store(tmp_path / "s.duckdb", page_tdmrep=RESERVE_ALL, image_tdmrep=None))
    assert fast == plain
    reservations = [r for r in fast if r[0] == "tdm_reservation"]
    assert len(reservations) == 1
    kind, value, origin, evidence = reservations[0]
    assert (value, origin) == ("reserved", "page publisher")
    assert evidence.startswith("https://www.journal.example.fr/.well-known/tdmrep.json location \"/\"")
    assert ("tdm_policy", "https://journal.example.fr/tdm", "page publisher") in [r[:3] for r in fast]


def test_publisher_and_image_host_both_reserving_are_two_opt_outs(tmp_path):
    fast, plain = _audited(_store(tmp_path / "s.duckdb", page_tdmrep=RESERVE_ALL, image_tdmrep=RESERVE_ALL))
    assert fast == plain
    reservations = sorted((r[2], r[3].split(" ")[0]) for r in fast if r[0] == "tdm_reservation")
    assert reservations == [("image host", "https://cdn.photos.example.net/.well-known/tdmrep.json"),
                            ("page publisher", "https://www.journal.example.fr/.well-known/tdmrep.json")]


def test_only_the_image_hosts_reservation(tmp_path):
    fast, plain = _audited(_store(tmp_path / "s.duckdb", page_tdmrep=None, image_tdmrep=RESERVE_ALL))
    assert fast == plain
    assert [r[2] for r in fast if r[0] == "tdm_reservation"] == ["image host"]


def test_a_reservation_of_other_paths_is_none(tmp_path):
    rules = json.dumps([{"location": "/private/*", "tdm-reservation": 1}, {"location": "/", "tdm-reservation": 0}])
    fast, plain = _audited(_store(tmp_path / "s.duckdb", page_tdmrep=rules, image_tdmrep=rules))
    assert fast == plain == []


def test_a_store_audited_before_origins_exports_and_imports(tmp_path):
    """An older store's opt-outs (no origin column) are exported with a NULL origin, and such an export imports."""
    path = _store(tmp_path / "s.duckdb", page_tdmrep=RESERVE_ALL, image_tdmrep=None)
    with Store.open(path) as store:
        run_audit(store, workers=1)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE old_opt_outs AS SELECT * EXCLUDE (origin) FROM opt_outs")
    con.execute("DROP TABLE opt_outs")
    con.execute("ALTER TABLE old_opt_outs RENAME TO opt_outs")
    con.close()
    with Store.open(path, read_only=True) as store:
        export_store(store, tmp_path / "export", fmt="parquet")
    with Store.open(tmp_path / "new.duckdb") as store:
        result = import_export(store, tmp_path / "export")
        assert result.added["opt_outs"] == 2
        assert sorted(store.query("SELECT kind, origin FROM opt_outs")) == [("tdm_policy", None),
                                                                             ("tdm_reservation", None)]
