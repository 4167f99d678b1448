"""lookup on a real demo store: a served photo file, a mirrored and resized copy, an unrelated photo, a non-image."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from rich.console import Console

from audit.outputs.lookup import LookupMatch, LookupResult, SightingInfo, lookup, lookup_json, lookup_table
from audit.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
UNRELATED = ROOT.parent / "shared" / "corpora" / "photos" / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg"


@pytest.fixture(scope="module")
def demo(demo_out) -> Path:
    return demo_out


@pytest.fixture(scope="module")
def photo(demo) -> tuple[Path, str, str]:
    """A served image file of a photo (of a person: not a logo or an icon) seen on several pages: (file, image
    sha256, photo_id)."""
    with Store.open(demo / "provenance.duckdb", read_only=True) as store:
        url, sha, photo_id = store.query(
            "SELECT image_url, sha256, photo_id FROM ground_truth WHERE sha256 IN (SELECT sha256 FROM images) "
            "AND image_url LIKE 'http://%' AND image_kind = 'photo' ORDER BY len(page_urls) DESC, image_url "
            "LIMIT 1")[0]
    path = demo / "testweb" / "www" / url.removeprefix("http://")
    assert path.is_file()
    return path, sha, photo_id


def _cluster_sightings(store: Store, sha: str) -> set[tuple[str, str, str]]:
    return {(r[0], r[1], r[2]) for r in store.query(
        "SELECT s.sha256, s.image_url, s.page_url FROM sightings s JOIN clusters c USING (sha256) "
        "WHERE c.cluster_id = (SELECT cluster_id FROM clusters WHERE sha256 = ?)", [sha])}


def _found(result: LookupResult) -> set[tuple[str, str, str]]:
    return {(m.sha256, s.image_url, s.page_url or "") for m in result.matches for s in m.sightings}


def test_lookup_finds_every_copy(demo, photo, tmp_path):
    path, sha, photo_id = photo
    mirrored = tmp_path / "mine-mirrored.jpg"
    with Image.open(path) as im:
        ImageOps.mirror(im.convert("RGB")).resize((im.width * 2 // 3, im.height * 2 // 3)).save(mirrored,
                                                                                                quality=80)
    with Store.open(demo / "provenance.duckdb", read_only=True) as store:
        expected = _cluster_sightings(store, sha)
        pages = {r[0] for r in store.query("SELECT page_url FROM sightings WHERE sha256 = ?", [sha])}
        truth = dict(store.query("SELECT sha256, any_value(photo_id) FROM ground_truth GROUP BY 1"))
        original, flipped = lookup(store, [path, mirrored])
    assert len(pages) >= 2
    for result in (original, flipped):
        assert result.error is None and result.record is not None
        assert expected <= _found(result)
        assert pages <= {s.page_url for m in result.matches for s in m.sightings}
        assert all(truth.get(m.sha256) == photo_id for m in result.matches), "no other photo is found"
        for m in result.matches:
            assert m.attribution is not None and m.attribution.explanation
            assert m.cluster_id is not None
    exact = [m for m in original.matches if m.kind == "exact"]
    assert [m.sha256 for m in exact] == [sha]
    assert original.record is not None and original.record.sha256 == sha
    assert not any(m.kind == "exact" for m in flipped.matches)
    assert any(m.mirrored for m in flipped.matches if m.kind == "near-duplicate")
    # the sightings reveal their signals, the image its own
    assert any(s.signals for m in original.matches for s in m.sightings)
    data = lookup_json([original, flipped])
    json.dumps(data)
    assert data[0]["photo"]["sha256"] == sha
    console = Console(file=io.StringIO(), width=200)
    console.print(lookup_table([original, flipped]))
    assert path.name in console.file.getvalue()  # type: ignore[attr-defined]


def test_lookup_unrelated_and_broken(demo, tmp_path):
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("this is not a photo", encoding="utf-8")
    missing = tmp_path / "missing.jpg"
    if not UNRELATED.is_file():
        pytest.fail(f"missing shared corpus file {UNRELATED}")
    with Store.open(demo / "provenance.duckdb", read_only=True) as store:
        unrelated, broken, gone = lookup(store, [UNRELATED, not_image, missing])
    assert unrelated.error is None and unrelated.matches == []
    assert broken.error and broken.matches == [] and broken.record is not None
    assert gone.error and gone.record is None
    data = lookup_json([unrelated, broken, gone])
    json.dumps(data)
    assert data[1]["error"] and data[2]["photo"] is None
    console = Console(file=io.StringIO(), width=200)
    console.print(lookup_table([unrelated, broken, gone]))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "nothing found" in text and "error" in text


def test_table_escapes_scraped_text():
    evil = "[bold red]pwned[/bold red]\x1b[2J\u202eevil"
    match = LookupMatch("a" * 64, "exact", 0, 0, False,
                        sightings=[SightingInfo("s1", "http://x.fr/a.jpg", "http://x.fr/", "x.fr", evil, evil, None)])
    console = Console(file=io.StringIO(), width=300, force_terminal=False)
    console.print(lookup_table([LookupResult("p.jpg", None, None, [match])]))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "[bold red]pwned[/bold red]" in text  # shown literally, not interpreted
    assert "\x1b" not in text and "\u202e" not in text


def _lookup_at(width: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(width)}
    return subprocess.run([sys.executable, "-m", "audit.cli", "lookup", *args], env=env, capture_output=True,
                          text=True, timeout=600, check=True)


def test_narrow_terminal_gets_one_field_per_line(demo, photo):
    path, sha, _ = photo
    narrow = _lookup_at(80, str(path), "--db", str(demo / "provenance.duckdb"))
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert f"image {sha[:16]}" in narrow.stdout
    # every sighting's full page URL on one line of its own, not folded into a 10-column cell
    with Store.open(demo / "provenance.duckdb", read_only=True) as store:
        pages = {r[0] for r in store.query("SELECT page_url FROM sightings WHERE sha256 = ? AND page_url IS NOT "
                                           "NULL", [sha])}
    assert pages and all(any(line.strip() == f"page: {p}" for line in lines) for p in pages if len(p) < 60)
    wide = _lookup_at(200, str(path), "--db", str(demo / "provenance.duckdb"))
    assert "┃ photo" in wide.stdout  # the table where there is room for it


def test_lookup_refuses_an_unaudited_store_and_a_missing_photo(demo, photo, tmp_path):
    import shutil

    from click.testing import CliRunner

    from audit.cli import main

    path, _, _ = photo
    raw = tmp_path / "raw.duckdb"
    shutil.copy(demo / "provenance.duckdb", raw)
    with Store.open(raw) as store:
        store.con.execute("DELETE FROM attributions")
    unaudited = CliRunner().invoke(main, ["lookup", str(path), "--db", str(raw)])
    assert unaudited.exit_code == 1 and "provaudit audit" in unaudited.stderr
    missing = CliRunner().invoke(main, ["lookup", str(tmp_path / "nope.jpg"), "--db", str(demo / "provenance.duckdb")])
    assert missing.exit_code == 1 and "no such photo" in missing.stderr and "nope.jpg" in missing.stderr
