from __future__ import annotations

import hashlib
import io
import multiprocessing
from pathlib import Path

import pytest
from PIL import Image

import audit.decode.batch as batch
from audit.decode.batch import fingerprint_files
from audit.decode.fingerprint import Fingerprint, fingerprint
from audit.decode.imagefacts import analyse_image
from audit.testbed.testweb.images import render


def _jpeg(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    buf = io.BytesIO()
    render(seed, *size).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batch")
    out: dict[str, Path] = {}
    for i in range(8):  # one size, so the matrix plans get built and used in every worker
        out[f"photo{i}"] = root / f"photo{i}.jpg"
        out[f"photo{i}"].write_bytes(_jpeg(i))
    out["portrait"] = root / "portrait.jpg"
    out["portrait"].write_bytes(_jpeg(20, (300, 500)))
    png = io.BytesIO()
    render(21, 500, 400).save(png, "PNG")
    out["png"] = root / "image.png"
    out["png"].write_bytes(png.getvalue())
    out["tiny"] = root / "tiny.png"
    Image.new("RGB", (3, 5), (9, 200, 9)).save(out["tiny"])
    out["copy"] = root / "copy-of-photo0.jpg"
    out["copy"].write_bytes(out["photo0"].read_bytes())
    out["text"] = root / "notes.jpg"
    out["text"].write_text("not an image at all\n")
    out["truncated"] = root / "truncated.jpg"
    out["truncated"].write_bytes(out["photo1"].read_bytes()[:20_000])
    out["missing"] = root / "missing.jpg"
    return out


def _good(files: dict[str, Path]) -> list[str]:
    return [k for k in files if k not in ("text", "truncated", "missing")]


@pytest.mark.parametrize("workers", [1, 2])
def test_results_equal_fingerprint_and_errors_do_not_raise(files, workers):
    got: dict[Path, tuple[str, Fingerprint | None, str | None]] = {
        path: (sha, fp, err) for path, sha, fp, err in fingerprint_files(list(files.values()), workers=workers,
                                                                          chunk_size=3)}
    assert set(got) == set(files.values())
    for key in _good(files):
        path = files[key]
        sha, fp, error = got[path]
        assert error is None and fp is not None, (key, error)
        assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
        assert fp == fingerprint(Image.open(path)), key
        record = analyse_image(path.read_bytes())  # what the store records
        assert (fp.phash, fp.dhash, fp.phash_mirror, fp.dhash_mirror) == (
            record.phash, record.dhash, record.phash_mirror, record.dhash_mirror)
    for key in ("text", "truncated"):
        sha, fp, error = got[files[key]]
        assert fp is None and error and error.startswith("not a readable image"), (key, error)
        assert sha == hashlib.sha256(files[key].read_bytes()).hexdigest()
    assert "truncated" in (got[files["truncated"]][2] or "")
    assert batch.fingerprint_bytes(files["photo3"].read_bytes()) == (got[files["photo3"]][1], None)
    sha, fp, error = got[files["missing"]]
    assert (sha, fp) == ("", None) and error and error.startswith("cannot read")


def _counting(log_file: Path):
    original = batch.fingerprint_file

    def counted(image_file, **kwargs):
        image_file.seek(0)
        digest = hashlib.sha256(image_file.read()).hexdigest()
        with log_file.open("a") as fh:  # appends from the worker processes too (forked: they see the patch)
            fh.write(digest + "\n")
        return original(image_file, **kwargs)

    return counted


@pytest.mark.parametrize("workers", [1, 2])
def test_identical_contents_are_decoded_once(files, workers, tmp_path, monkeypatch):
    if workers > 1 and multiprocessing.get_start_method() != "fork":
        pytest.skip("counting decodes in workers relies on fork")
    log_file = tmp_path / "decodes.txt"
    monkeypatch.setattr(batch, "fingerprint_file", _counting(log_file))
    paths = [files["photo0"], files["photo2"], files["copy"], files["photo0"], files["photo2"], files["text"],
             files["text"]] * 3
    results = list(fingerprint_files(paths, workers=workers, chunk_size=2))
    assert sorted(str(r[0]) for r in results) == sorted(str(p) for p in paths)
    decoded = log_file.read_text().split()
    assert len(decoded) == len(set(decoded)) == 3  # photo0 (= copy), photo2, text
    by_path = {r[0]: r for r in results}
    assert by_path[files["copy"]][1:] == by_path[files["photo0"]][1:]
