"""Paths that are not regular files, or too large, given to ingest, inspect and lookup: FIFOs, /dev/zero and
symlinks to it, symlinks leading out of the ingested folder, sparse files of 40 GB. Nothing hangs or floods memory;
every skipped path is a row saying why. Each test has a hang guard (pytest-timeout); the CLI runs under RLIMIT_AS."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from audit.errors import IngestError
from audit.ingest.run import ingest
from audit.store.db import Store
from audit.testbed.archives import flat, image, page, png_bytes

SPARSE = 40 * 10**9  # 40 GB, all holes: over the default AUDIT_MAX_FILE_BYTES (4 GiB)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``provaudit ARGS`` in a subprocess that may not take more than 2 GiB of address space (so a reader that
    would eat memory fails fast instead of taking the machine)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, preexec_fn=limit)


def rows(db: Path) -> dict[str, tuple[str | None, str | None]]:
    """image URL -> (sha256, fetch error) of every sighting of the store."""
    with Store.open(db, read_only=True) as store:
        found = store.query("SELECT s.image_url, f.sha256, f.error FROM sightings s LEFT JOIN fetches f "
                            "ON f.url = s.image_url")
    return {str(url): (sha, err) for url, sha, err in found}


def uri(path: Path) -> str:
    return (path.parent.resolve() / path.name).as_uri()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with one good image and every kind of path that must not be read, each next to it."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    (root / "good.png").write_bytes(png_bytes(1))
    (root / "sub" / "inner.png").write_bytes(png_bytes(2))
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes(3))
    os.mkfifo(root / "pipe.jpg")
    os.mkfifo(root / "pipe.warc")
    (root / "zero.jpg").symlink_to("/dev/zero")
    (root / "escape.png").symlink_to(outside)
    (root / "relative-escape.png").symlink_to("../outside.png")
    (root / "link.png").symlink_to("sub/inner.png")  # inside the folder: followed
    (root / "dangling.png").symlink_to("nowhere.png")
    (root / "loop.png").symlink_to("loop.png")
    (root / "dirlink").symlink_to(root / "sub")
    with open(root / "sparse.jpg", "wb") as fh:
        fh.truncate(SPARSE)
    return root


REFUSED = {  # entry -> what its error says
    "pipe.jpg": "a FIFO, not a regular file: not read",
    "pipe.warc": "a FIFO, not a regular file: not read",
    "zero.jpg": "symlink to '/dev/zero', outside the folder being ingested: not followed",
    "escape.png": "outside the folder being ingested: not followed",
    "relative-escape.png": "outside the folder being ingested: not followed",
    "dangling.png": "symlink to 'nowhere.png', which cannot be reached",
    "loop.png": "symlink to 'loop.png', which cannot be reached",
    "dirlink": "a folder, not a regular file: not followed",
    "sparse.jpg": f"file of {SPARSE:,} bytes, over the limit of 4,294,967,296 bytes (AUDIT_MAX_FILE_BYTES): not read",
}


@pytest.mark.timeout(120)
def test_every_path_in_a_folder_has_a_row_and_only_regular_files_inside_are_read(folder, tmp_path):
    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        result = ingest(store, [folder], workers=1)
    got = rows(db)
    good = got[uri(folder / "good.png")]
    assert good[0] and good[1] is None
    inner = got[uri(folder / "sub" / "inner.png")]
    assert got[uri(folder / "link.png")] == inner  # the symlink inside the folder is read, under its own name
    for name, why in REFUSED.items():
        sha, error = got[uri(folder / name)]
        assert sha is None and error is not None and why in error, (name, error)
        assert any(e.startswith(f"{folder / name}: ") and why in e for e in result.skipped), (name, result.skipped)
    assert len(result.skipped) == len(REFUSED)
    assert set(result.skipped) <= set(result.errors)
    assert len(got) == len(REFUSED) + 3


@pytest.mark.timeout(120)
def test_the_cli_summary_counts_the_paths_not_read(folder, tmp_path):
    proc = cli("ingest", str(folder), "--db", str(tmp_path / "s.duckdb"), "--workers", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"paths not read \(not regular files, outside the folder, too large\) │ +{len(REFUSED)} │",
                     proc.stdout), proc.stdout
    unwrapped = re.sub(r"\s", "", proc.stderr)  # the console wraps long lines
    assert re.sub(r"\s", "", f"{folder / 'pipe.jpg'}: a FIFO, not a regular file: not read") in unwrapped


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["pipe.warc", "pipe.jpg", "zero.jpg", "sparse.jpg"])
def test_a_path_named_directly_that_is_not_a_small_regular_file_is_refused_at_once(folder, tmp_path, name):
    with Store.open(tmp_path / "s.duckdb") as store, pytest.raises(IngestError) as err:
        ingest(store, [folder / "good.png", folder / name], workers=1)
    why = "not a regular file" if "pipe" in name or "zero" in name else "over the limit"
    assert str(err.value).startswith(f"cannot ingest {folder / name}: ") and why in str(err.value)
    with Store.open(tmp_path / "s.duckdb", read_only=True) as store:
        assert store.count("sightings") == 0  # refused before anything was recorded


@pytest.mark.timeout(60)
def test_ingest_of_dev_zero_is_a_one_line_error(tmp_path):
    proc = cli("ingest", "/dev/zero", "--db", str(tmp_path / "s.duckdb"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "cannot ingest /dev/zero: a character device, not a regular file: not read" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.timeout(60)
def test_an_archive_over_the_size_limit_in_a_folder_is_not_read(tmp_path):
    root = tmp_path / "crawl"
    root.mkdir()
    records = [page("http://a.example/", ["http://a.example/i.png"]), image("http://a.example/i.png")]
    (root / "small.warc").write_bytes(flat([p for r in records for p in r]))
    (root / "big.warc").write_bytes(flat([p for r in records for p in r]) * 50)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [root], workers=1, max_file_bytes=20_000)
        pages = store.count("pages")
    assert pages == 1
    assert [e.split(": ", 1)[0] for e in result.skipped] == [str(root / "big.warc")]
    assert "over the limit of 20,000 bytes" in result.skipped[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["pipe.jpg", "zero.jpg", "sparse.jpg"])
def test_inspect_refuses_at_once(folder, tmp_path, name):
    proc = cli("inspect", "--json", str(folder / name), str(folder / "good.png"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    bad, good = (json.loads(line) for line in proc.stdout.splitlines())
    why = "not a regular file: not read" if name != "sparse.jpg" else "over the limit"
    assert bad["sha256"] is None and why in bad["error"], bad
    assert good["error"] is None and good["sha256"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["pipe.jpg", "zero.jpg", "sparse.jpg"])
def test_lookup_refuses_at_once(folder, tmp_path, name):
    db = tmp_path / "s.duckdb"
    with Store.open(db):
        pass
    proc = cli("lookup", "--json", "--db", str(db), str(folder / name), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    why = "not a regular file: not read" if name != "sparse.jpg" else "over the limit"
    assert result["photo"] is None and why in result["error"], result
