"""img2dataset outputs ingested: real photos of ../shared/corpora/photos written as img2dataset writes them (resized
and re-encoded without EXIF, their exifread tags in each sample's .json) in the files, webdataset and parquet
layouts; the same sightings and images from all three, the .json EXIF used only when the bytes lack it, broken
shards named with the rest kept, re-ingests that add nothing, published hashes checked."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from audit.decode.metadata import read_metadata
from audit.derive.run import run_audit
from audit.ingest.img2dataset_run import Img2DatasetResult, ingest_img2dataset
from audit.ingest.tables import is_reference_key, reference_key
from audit.signals.image import gps_signals
from audit.store.db import Store
from audit.testbed.export_img2dataset import Img2DatasetRow, exif_tags, write_img2dataset
from conftest import CORPORA, provaudit

JPG = CORPORA / "photos" / "exif-samples" / "jpg"
LAYOUTS = ("files", "webdataset", "parquet")
TABLES = ("crawls", "images", "fetches", "captures", "sightings", "faces")


def _rows() -> list[Img2DatasetRow]:
    """Real photos (some with EXIF GPS, some without), a failed download and bytes that are no image."""
    photos = sorted((JPG / "gps").glob("*.jpg"))[:4] + [JPG / "Canon_40D.jpg", JPG / "Nikon_D70.jpg",
                                                       JPG / "Fujifilm_FinePix_E500.jpg"]
    rows = [Img2DatasetRow(url=f"https://img.example.org/{i}/{p.name}", caption=f"photo number {i}",
                           image=p.read_bytes(), extra={"similarity": f"0.{30 + i}"})
            for i, p in enumerate(photos)]
    rows.insert(2, Img2DatasetRow(url="https://gone.example.net/404.jpg", caption="a dead link",
                                  error_message="HTTP Error 404: Not Found"))
    rows.append(Img2DatasetRow(url="https://img.example.org/broken.jpg", caption="not an image",
                               image=b"<html>moved</html>"))
    return rows


def _ingest(db: Path, *paths: Path) -> Img2DatasetResult:
    with Store.open(db) as store:
        return ingest_img2dataset(store, list(paths), workers=1)


def _counts(db: Path) -> dict[str, int]:
    with Store.open(db, read_only=True) as store:
        return {t: int(store.query(f"SELECT count(*) FROM {t}")[0][0]) for t in TABLES}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same rows in each layout (3 samples per shard), resized as img2dataset does by default, and once kept as
    downloaded (``resize_mode`` no, ``skip_reencode``: the bytes keep their EXIF)."""
    root = tmp_path_factory.mktemp("i2d")
    rows = _rows()
    out = {}
    for layout in LAYOUTS:
        write_img2dataset(rows, root / layout, output_format=layout, shard_size=3, start_time=1_700_000_000.0)
        out[layout] = root / layout
    write_img2dataset(rows, root / "kept", output_format="webdataset", shard_size=3, resize_mode="no",
                      skip_reencode=True, start_time=1_700_000_000.0)
    out["kept"] = root / "kept"
    return out


@pytest.fixture(scope="module")
def stores(outputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("i2d-stores")
    dbs = {}
    for name, path in outputs.items():
        db = root / f"{name}.duckdb"
        result = _ingest(db, path)
        assert result.errors == [f for f in result.errors if "the image cannot be read" in f]  # only the non-image
        with Store.open(db) as store:
            run_audit(store, workers=1)
        dbs[name] = db
    return dbs


def _tar_images(folder: Path) -> dict[str, bytes]:
    """The image bytes of every sample of a webdataset output, read with Python's tarfile: key to bytes."""
    out = {}
    for tar_path in sorted(folder.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".jpg"):
                    f = tar.extractfile(m)
                    assert f is not None
                    out[m.name[:-4]] = f.read()
    return out


def _sightings(db: Path) -> list[tuple[Any, ...]]:
    with Store.open(db, read_only=True) as store:
        rows = store.query("SELECT image_url, sha256, caption, ref_kind, page_url, attributes FROM sightings")
    out = []
    for url, sha, caption, kind, page, attributes in rows:
        attrs = json.loads(attributes)
        for where in ("file", "at"):  # where the sample sits differs between layouts; the rest must not
            attrs.pop(where)
        out.append((url, sha, caption, kind, page, json.dumps(attrs, sort_keys=True)))
    return sorted(out)


def test_all_three_layouts_give_the_same_sightings_and_images(outputs: dict[str, Path],
                                                               stores: dict[str, Path]) -> None:
    rows = _rows()
    got = {layout: _sightings(stores[layout]) for layout in LAYOUTS}
    assert got["files"] == got["webdataset"] == got["parquet"]
    assert len(got["files"]) == len(rows)
    with Store.open(stores["webdataset"], read_only=True) as store:
        keys = dict(store.query("SELECT attributes->>'key', sha256 FROM sightings"))
        images = {r[0]: r[1:] for r in store.query(
            "SELECT sha256, width, height, phash, reference_only, published_sha256 FROM images")}
        fetches = store.query("SELECT url, status, error, sha256 FROM fetches ORDER BY url")
        kind = store.query("SELECT kind FROM crawls")[0][0]
    assert kind == "img2dataset"
    tar_images = _tar_images(outputs["webdataset"])
    # every sample with bytes is a sighting of exactly those bytes, analysed (a 256 px square, hashed)
    assert len(tar_images) == sum(1 for r in rows if r.image is not None) - 1  # the non-image failed to resize
    for key, data in tar_images.items():
        sha = hashlib.sha256(data).hexdigest()
        assert keys[key] == sha
        assert images[sha][:2] == (256, 256) and images[sha][2] is not None and images[sha][3] is None
    # the samples without bytes: reference-only sightings of their URL, and the failed fetch says why
    no_bytes = [k for k in keys if k not in tar_images]
    assert len(no_bytes) == len(rows) - len(tar_images)
    for key in no_bytes:
        assert is_reference_key(keys[key]) and images[keys[key]][3] is True
    by_url = {u: (status, error, sha) for u, status, error, sha in fetches}
    assert by_url["https://gone.example.net/404.jpg"][:2] == (404, "img2dataset failed_to_download: HTTP Error "
                                                                    "404: Not Found")
    assert by_url["https://img.example.org/broken.jpg"][0] is None
    assert by_url["https://img.example.org/broken.jpg"][1].startswith("img2dataset failed_to_resize: ")
    for layout in ("files", "parquet"):
        with Store.open(stores[layout], read_only=True) as store:
            other = {r[0]: r[1:] for r in store.query(
                "SELECT sha256, width, height, phash, reference_only, published_sha256 FROM images")}
            assert other == images
            assert store.query("SELECT url, status, error, sha256 FROM fetches ORDER BY url") == fetches


def test_sightings_carry_the_caption_and_the_json_without_bulky_fields(stores: dict[str, Path]) -> None:
    rows = {r.url: r for r in _rows()}
    with Store.open(stores["files"], read_only=True) as store:
        got = store.query("SELECT image_url, caption, attributes, page_url, fetched_at FROM sightings")
    thumbnails = 0
    for url, caption, attributes, page, fetched_at in got:
        attrs = json.loads(attributes)
        assert caption == rows[url].caption and page is None
        assert attrs["similarity"] == rows[url].extra.get("similarity") and "url" not in attrs
        assert "caption" not in attrs
        assert fetched_at.timestamp() == 1_700_000_000  # the shard's start_time, from its _stats.json
        image = rows[url].image
        original = exif_tags(image) if image is not None else None
        if attrs["status"] == "success" and original:
            kept = attrs["exif"]
            assert kept and all(kept[k] == original[k][:300] for k in kept)
            assert not any("Thumbnail" in k or "MakerNote" in k for k in kept)
            thumbnails += "JPEGThumbnail" in original
        else:
            assert attrs.get("exif") is None
    assert thumbnails > 0  # some originals carried one: it was left out


def _gps_originals() -> dict[str, tuple[float, float]]:
    """The GPS position the project's own decoder reads in each original, by URL."""
    out = {}
    for r in _rows():
        if r.image is None:
            continue
        rec = read_metadata(r.image)
        if rec.gps_lat is not None and rec.gps_lon is not None:
            out[r.url] = (rec.gps_lat, rec.gps_lon)
    return out


def test_the_json_exif_gives_a_signal_only_when_the_bytes_lack_exif(stores: dict[str, Path]) -> None:
    originals = _gps_originals()
    assert len(originals) >= 3
    sql = """SELECT s.image_url, g.kind, g.country, g.strength, g.evidence, g.sighting_id IS NOT NULL, i.exif IS NULL
             FROM signals g JOIN sightings s USING (sighting_id) JOIN images i ON i.sha256 = g.sha256
             WHERE g.kind IN ('exif_gps', 'dataset_exif_gps') AND g.via_sha256 IS NULL"""
    with Store.open(stores["parquet"], read_only=True) as store:
        resized = store.query(sql)
        from_bytes = store.query("SELECT count(*) FROM signals WHERE kind = 'exif_gps'")[0][0]
    assert from_bytes == 0  # the re-encoded bytes carry no EXIF
    assert {r[0] for r in resized} == set(originals)
    for url, kind, country, strength, evidence, on_sighting, no_exif in resized:
        lat, lon = originals[url]
        expected = gps_signals(lat, lon)
        assert kind == "dataset_exif_gps" and on_sighting and no_exif and strength == "strong"
        assert [country] == [s.country for s in expected]
        assert evidence == f"img2dataset .json EXIF GPS {lat:.6f},{lon:.6f} (the bytes were re-encoded without it)"
    # the same samples kept as downloaded: their bytes carry the EXIF, so exif_gps speaks and the .json stays silent
    with Store.open(stores["kept"], read_only=True) as store:
        kinds = store.query("SELECT kind, count(*) FROM signals WHERE kind IN ('exif_gps', 'dataset_exif_gps') "
                            "AND via_sha256 IS NULL GROUP BY kind")
    assert dict(kinds) == {"exif_gps": len(originals)}


def test_reingest_adds_nothing(outputs: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "twice.duckdb"
    first = _ingest(db, outputs["webdataset"], outputs["parquet"])
    before = _counts(db)
    second = _ingest(db, outputs["webdataset"], outputs["parquet"])
    assert second.crawl_id == first.crawl_id
    assert _counts(db) == before
    assert before["sightings"] == 2 * len(_rows())


def _member_offsets(tar_path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tar_path) as tar:
        return {m.name: m for m in tar.getmembers()}


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def test_broken_tar_members_and_json_are_named_and_the_rest_kept(outputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "broken"
    shutil.copytree(outputs["webdataset"], out)
    shards = sorted(out.glob("*.tar"))
    assert len(shards) >= 3
    first = _member_offsets(shards[0])
    jpg = sorted(n for n in first if n.endswith(".jpg"))[0]
    _overwrite(shards[0], first[jpg].offset_data, b"\x00garbage" * 8)  # a corrupt image member
    js = sorted(n for n in first if n.endswith(".json"))[-1]
    _overwrite(shards[0], first[js].offset_data, b"{{{ not json")  # a bad .json (its key is known from the Parquet)
    second = _member_offsets(shards[1])
    header = sorted(n for n in second if n.endswith(".txt"))[0]
    _overwrite(shards[1], second[header].offset + 148, b"9999999\0")  # a damaged header checksum
    third = _member_offsets(shards[2])
    last = max((m for m in third.values() if m.name.endswith(".jpg")), key=lambda m: m.offset)
    with open(shards[2], "r+b") as fh:  # a truncated tar: its last member's data cut short
        fh.truncate(last.offset_data + last.size // 2)
    lost = last.name.split(".")[0]
    db = tmp_path / "broken.duckdb"
    result = _ingest(db, out)
    errors = "\n".join(result.errors)
    assert f"{shards[0]}: member {jpg}: the image cannot be read" in errors
    assert f"{shards[0]}: sample {js.split('.')[0]}: member {js}: bad .json" in errors
    assert f"{shards[1]}: offset {second[header].offset}: not a valid tar header (damaged)" in errors
    assert f"{shards[2]}: offset {last.offset}: member '{last.name}'" in errors and "truncated" in errors
    rows = _rows()
    with Store.open(db, read_only=True) as store:
        got = {r[0]: (r[1], json.loads(r[2])) for r in store.query(
            "SELECT attributes->>'key', sha256, attributes FROM sightings")}
    assert len(got) == len(rows)  # every sample is still a sighting
    assert not is_reference_key(got[js.split(".")[0]][0])  # its bytes were read; its URL came from the Parquet
    assert is_reference_key(got[lost][0])  # its bytes were cut off: a reference to its URL, named
    assert f"{shards[2].with_suffix('.parquet')}: row " in errors and f"not in {shards[2].name}" in errors
    header_key = header.split(".")[0]
    assert not is_reference_key(got[header_key][0])  # the member whose caption header broke kept its image
    intact = _ingest(tmp_path / "intact.duckdb", outputs["webdataset"])
    assert result.with_bytes == intact.with_bytes - 1 and result.samples == intact.samples


def test_published_sha256_is_checked_against_the_bytes(outputs: dict[str, Path], tmp_path: Path) -> None:
    rows = _rows()
    readable = sum(1 for r in rows if r.image is not None) - 1
    kept = _ingest(tmp_path / "kept.duckdb", outputs["kept"])
    assert kept.published == {"sha256_matched": readable}
    resized = _ingest(tmp_path / "resized.duckdb", outputs["files"])
    assert resized.published == {"sha256_reencoded": readable} and resized.errors == [
        e for e in resized.errors if "the image cannot be read" in e]
    # a sample's bytes replaced by others (the same photo, saved again): not what the .json says was downloaded
    out = tmp_path / "tampered"
    write_img2dataset(rows, out, output_format="files", shard_size=3, resize_mode="no", skip_reencode=True)
    target = sorted((out / "00000").glob("*.jpg"))[1]
    from PIL import Image

    with Image.open(target) as img:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=80)
    target.write_bytes(buf.getvalue())
    db = tmp_path / "tampered.duckdb"
    result = _ingest(db, out)
    assert result.published == {"sha256_matched": readable - 1, "sha256_mismatched": 1}
    named = [e for e in result.errors if "published sha256 mismatch" in e]
    assert len(named) == 1 and named[0].startswith(f"{target}: ")
    assert hashlib.sha256(buf.getvalue()).hexdigest() in named[0]
    with Store.open(db, read_only=True) as store:
        stats = json.loads(store.query("SELECT stats FROM crawls")[0][0])
    assert stats["img2dataset"]["published_hashes"] == result.published and named[0] in stats["errors"]


def test_failed_downloads_keep_their_published_hash_on_the_reference(tmp_path: Path) -> None:
    """A row img2dataset could not download has no sha256; a hash carried by the input (an extra column) is not
    taken for one, and its reference-only image is keyed by its URL."""
    out = tmp_path / "refs"
    write_img2dataset([Img2DatasetRow(url="https://a.example.fr/x.jpg", caption="x",
                                      error_message="HTTP Error 410: Gone")], out, output_format="parquet")
    db = tmp_path / "refs.duckdb"
    _ingest(db, out)
    with Store.open(db, read_only=True) as store:
        assert store.query("SELECT sha256, reference_only FROM images") == [
            (reference_key("https://a.example.fr/x.jpg"), True)]
        assert store.query("SELECT status FROM fetches") == [(410,)]


def test_hostile_members_are_bounded(outputs: dict[str, Path], tmp_path: Path) -> None:
    """A member over the image bound is not read (named); a symlink in a files shard is not followed."""
    out = tmp_path / "hostile"
    shutil.copytree(outputs["files"], out)
    (out / "00000" / "999999.jpg").symlink_to("/etc/passwd")
    db = tmp_path / "hostile.duckdb"
    with Store.open(db) as store:
        result = ingest_img2dataset(store, [out], workers=1, max_image_bytes=20_000)
    errors = "\n".join(result.errors)
    assert f"{out / '00000' / '999999.jpg'}: a symbolic link: not followed" in errors
    assert "over the limit of 20,000" in errors
    assert result.with_bytes < _ingest(tmp_path / "whole.duckdb", outputs["files"]).with_bytes


def test_cli_recognises_each_layout_by_its_content(outputs: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    for layout in LAYOUTS:
        proc = provaudit("ingest", str(outputs[layout]), "--db", str(db), "--workers", "1")
        assert f"(img2dataset: {layout} " in proc.stdout
    forced = provaudit("ingest", str(outputs["parquet"]), "--db", str(tmp_path / "forced.duckdb"),
                       "--format", "img2dataset", "--workers", "1")
    assert "img2dataset shards read" in forced.stdout
    with Store.open(db, read_only=True) as store:
        assert store.query("SELECT DISTINCT kind FROM crawls") == [("img2dataset",)]
        meta_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in outputs["parquet"].glob("*.parquet"))
        assert store.query("SELECT count(*) FROM sightings")[0][0] == 3 * meta_rows
    refused = provaudit("ingest", str(tmp_path), "--db", str(tmp_path / "no.duckdb"), "--format", "img2dataset",
                        check=False)
    assert refused.returncode == 1 and "not an img2dataset output" in refused.stderr + refused.stdout


def test_the_set_wise_audit_equals_the_plain_one_on_an_img2dataset_store(stores: dict[str, Path]) -> None:
    from test_audit_reference import _norm, _tables  # beside this file (pytest puts its folder on the path)

    from audit.derive.reference import reference_audit

    with Store.open(stores["webdataset"], read_only=True) as store:
        fast = _tables(store)
        _, plain = reference_audit(store)
    for table, rows in fast.items():
        assert rows == sorted({_norm(table, r) for r in plain[table]}, key=repr), table
    assert "dataset_exif_gps" in {r[2] for r in fast["signals"]}


def test_the_original_photo_is_found_by_the_hash_its_resized_copy_publishes(stores: dict[str, Path]) -> None:
    """img2dataset publishes the SHA-256 of the bytes it downloaded: looking the original photo up finds the resized
    copy the dataset holds (which no byte comparison could), and the copy's image row names the original's hash."""
    from audit.outputs.lookup import lookup

    original = next(r for r in _rows() if r.image is not None and r.url.endswith("DSCN0010.jpg"))
    assert original.image is not None
    sha = hashlib.sha256(original.image).hexdigest()
    with Store.open(stores["parquet"], read_only=True) as store:
        copies = store.query("SELECT sha256 FROM images WHERE published_sha256 = ?", [sha])
        assert len(copies) == 1 and copies[0][0] != sha
        assert store.query("SELECT count(*) FROM images WHERE published_sha256 IS NOT NULL "
                           "AND NOT coalesce(reference_only, false)")[0][0] == sum(
            1 for r in _rows() if r.image is not None) - 1
        path = Path(store.path).with_name("DSCN0010.jpg")
        path.write_bytes(original.image)
        (result,) = lookup(store, [path])
    assert (copies[0][0], "published-hash") in {(m.sha256, m.kind) for m in result.matches}


def test_audit_faces_reads_the_bytes_back_from_the_tar_and_the_files(outputs: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    """An output ingested without faces: ``provaudit audit --faces`` finds every readable image's bytes again in the
    shard's tar member or the sample's file (checked against the sha256), none in the Parquet layout."""
    from audit.derive.faces import add_faces

    readable = sum(1 for r in _rows() if r.image is not None) - 1
    for layout in ("webdataset", "files", "parquet"):
        db = tmp_path / f"{layout}.duckdb"
        _ingest(db, outputs[layout])
        with Store.open(db) as store:
            result = add_faces(store, workers=1)
            counted = store.query("SELECT count(*) FROM images WHERE face_count IS NOT NULL")[0][0]
        assert result.wanted == readable
        if layout == "parquet":
            assert result.not_found == readable and counted == 0
        else:
            assert result.not_found == 0 and result.sources == {"img2dataset outputs": readable}
            assert counted == readable


def test_a_truncated_parquet_shard_and_bad_stats_are_named_and_the_other_shards_kept(outputs: dict[str, Path],
                                                                                     tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    shutil.copytree(outputs["parquet"], out)
    shards = sorted(out.glob("0*.parquet"))
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) // 2])  # the footer is gone: nothing of this shard can be read
    (out / "00000_stats.json").write_text("{not json")
    result = _ingest(tmp_path / "p.duckdb", out)
    errors = "\n".join(result.errors)
    assert f"{shards[1]}: cannot be read on (" in errors and "0 rows read before" in errors
    assert f"{out / '00000_stats.json'}: unreadable (" in errors
    intact = _ingest(tmp_path / "intact.duckdb", outputs["parquet"])
    lost = pq.ParquetFile(outputs["parquet"] / shards[1].name).metadata.num_rows
    assert result.samples == intact.samples - lost > 0
