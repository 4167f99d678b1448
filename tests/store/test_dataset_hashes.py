"""Published hashes: a person's photo is found in a dataset that lists it by URL with its SHA-256 or MD5, without
fetching anything; `verify` matches a crawl's bytes against a dataset's published hashes, both ways."""

from __future__ import annotations

import hashlib
from pathlib import Path

from audit.derive.run import run_audit
from audit.ingest.datasets import ingest_tables
from audit.ingest.run import ingest
from audit.ingest.tables import reference_key
from audit.outputs.lookup import lookup
from audit.outputs.verify import published_pairs, verify
from audit.store.db import Store
from conftest import CORPORA

GPS = CORPORA / "photos" / "exif-samples" / "jpg" / "gps"


def _photos() -> list[Path]:
    photos = sorted(GPS.glob("*.jpg"))
    assert len(photos) >= 3
    return photos[:3]


def _table(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = ["url,caption,sha256,md5"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_lookup_finds_a_photo_by_the_hash_a_dataset_published(tmp_path: Path) -> None:
    a, b, c = _photos()
    sha_a = hashlib.sha256(a.read_bytes()).hexdigest()
    md5_b = hashlib.md5(b.read_bytes(), usedforsecurity=False).hexdigest()
    table = _table(tmp_path / "rows.csv", [
        ("https://img.example.com/a.jpg", "a photo", sha_a.upper(), ""),
        ("https://img.example.com/b.jpg", "another", "", md5_b),
        ("https://img.example.com/x.jpg", "unrelated", "0" * 64, "0" * 32),
    ])
    with Store.open(tmp_path / "s.duckdb") as store:
        ingest_tables(store, [table])
        run_audit(store)
        results = {Path(r.path).name: r for r in lookup(store, [a, b, c])}
    assert [(m.sha256, m.kind) for m in results[a.name].matches] == [
        (reference_key("https://img.example.com/a.jpg"), "published-hash")]
    assert [(m.sha256, m.kind) for m in results[b.name].matches] == [
        (reference_key("https://img.example.com/b.jpg"), "published-hash")]
    assert results[c.name].matches == []
    seen = results[a.name].matches[0].sightings
    assert [s.image_url for s in seen] == ["https://img.example.com/a.jpg"] and seen[0].caption == "a photo"


def test_verify_matches_bytes_and_published_hashes_both_ways(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in _photos():
        (photos / p.name).write_bytes(p.read_bytes())
    shas = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _photos()}
    crawl = tmp_path / "crawl.duckdb"
    with Store.open(crawl) as store:
        ingest(store, [photos], workers=1)
        run_audit(store)
        # the country the photos' own evidence (their EXIF GPS) gives them, read from the store, not assumed
        cc, gone = store.query("SELECT country, list(sha256) FROM attributions WHERE country IS NOT NULL "
                               "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]
    kept = sorted(gone)[0]
    name = next(n for n, s in shas.items() if s == kept)
    dataset = tmp_path / "dataset.duckdb"
    with Store.open(dataset) as store:
        ingest_tables(store, [_table(tmp_path / "d.csv", [
            (f"https://cdn.example.org/{name}", "still listed", kept, ""),
            ("https://cdn.example.org/other.jpg", "other", "f" * 64, "")])])
        run_audit(store)
    ref = reference_key(f"https://cdn.example.org/{name}")
    with Store.open(crawl, read_only=True) as before, Store.open(dataset, read_only=True) as after:
        assert published_pairs(before, after, set(gone)) == [(ref, kept)]
        v = verify(before, after, cc, "any-signal")
    assert len(v.should_be_gone) == len(gone)
    assert [(r.sha256, r.kind) for r in v.remaining] == [(ref, "published-hash")]
    assert v.summary()["still_present_by_reference"] == 1 and v.present == {kept}
    # the other way: a dataset that had to delete a listed image, and a later crawl that still serves its bytes
    with Store.open(dataset, read_only=True) as before, Store.open(crawl, read_only=True) as after:
        assert published_pairs(before, after, {ref}) == [(kept, ref)]
