"""A store read from another folder, or moved with its WARC: the WARC it names is found (as recorded, relative to
the store, or by name beside it), and one that is missing is said, not silently counted as "0 thumbnails"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from audit.store.db import Store
from audit.store.paths import locate
from conftest import provaudit


def test_a_crawl_records_its_warc_absolute(small_web, server, tmp_path):
    from conftest import crawl_args

    work = tmp_path / "work"
    work.mkdir()
    args = crawl_args(small_web, server, Path("rel.duckdb"), "--max-pages", "5")
    provaudit(*args, cwd=work)
    with Store.open(work / "rel.duckdb", read_only=True) as store:
        (warc,) = [Path(r[0]) for r in store.query("SELECT warc_path FROM crawls")]
    assert warc.is_absolute() and warc.is_file() and warc.parent == work.resolve()


def test_a_moved_store_finds_its_warc_beside_it_and_names_a_missing_one(audited_store, tmp_path):
    with Store.open(audited_store, read_only=True) as store:
        (warc,) = [Path(r[0]) for r in store.query("SELECT warc_path FROM crawls")]
    moved = tmp_path / "moved"
    moved.mkdir()
    db = moved / "store.duckdb"
    shutil.copy(audited_store, db)
    shutil.copy(warc, moved / warc.name)
    with Store.open(db) as store:  # the folder it was crawled in is gone
        store.con.execute("UPDATE crawls SET warc_path = ?", [str(tmp_path / "gone" / warc.name)])
    assert locate(str(tmp_path / "gone" / warc.name), db) == moved / warc.name

    out = tmp_path / "r"
    provaudit("report", "--db", str(db), "--country", "FR", "--thumbnails", "--out", str(out / "r.html"),
              cwd=tmp_path)
    thumbs = json.loads((out / "r.json").read_text(encoding="utf-8"))["thumbnails"]
    assert thumbs["found"] > 0 and thumbs["missing_warcs"] == []

    (moved / warc.name).unlink()
    proc = provaudit("report", "--db", str(db), "--country", "FR", "--thumbnails", "--out", str(out / "m.html"))
    thumbs = json.loads((out / "m.json").read_text(encoding="utf-8"))["thumbnails"]
    assert thumbs["found"] == 0 and thumbs["missing_warcs"] == [str(tmp_path / "gone" / warc.name)]
    assert "WARC file(s) the store names are missing" in " ".join(proc.stderr.split())
    assert "were not found" in (out / "m.html").read_text(encoding="utf-8")
