"""The pieces of the img2dataset reader that need no store: the tar reader on real tars (Python's tarfile writes
them; damaged, truncated, with pax names and links), exifread's GPS strings, shard detection, published-hash
classification."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.ingest.img2dataset import clean_exif, find_shards, http_status
from audit.ingest.tarmembers import iter_tar, read_member
from audit.signals.image import dataset_exif_signals, exifread_degrees, gps_signals


def _tar(path: Path, members: dict[str, bytes], fmt: int = tarfile.PAX_FORMAT, link: str | None = None) -> None:
    with tarfile.open(path, "w", format=fmt) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)


def _read(path: Path) -> tuple[dict[str, bytes], list[tuple[int, str]]]:
    problems: list[tuple[int, str]] = []
    with open(path, "rb") as fh:
        got = {m.name: read_member(fh, m) for m in iter_tar(fh, lambda o, w: problems.append((o, w)))}
    return got, problems


MEMBERS = {"000000000.jpg": b"\xff\xd8" + b"a" * 700, "000000000.json": b'{"url": "https://x.fr/a.jpg"}',
           "000000000.txt": "légende".encode(), "d" * 150 + "/000000001.jpg": b"b" * 1500,
           "000000001.txt": b"second"}


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_the_tar_reader_reads_what_tarfile_wrote(tmp_path: Path, fmt: int) -> None:
    members = dict(MEMBERS)
    if fmt == tarfile.USTAR_FORMAT:  # ustar has no room for a 160-character name without a prefix split
        members = {k.replace("d" * 150, "d" * 90): v for k, v in members.items()}
    path = tmp_path / "a.tar"
    _tar(path, members, fmt, link="000000002.jpg")
    got, problems = _read(path)
    assert got == members
    assert len(problems) == 1 and "symbolic link, not a regular file" in problems[0][1]


def test_a_damaged_header_is_named_and_the_members_after_it_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    _tar(path, MEMBERS)
    with tarfile.open(path) as tar:
        infos = tar.getmembers()
    broken = infos[1]
    with open(path, "r+b") as fh:
        fh.seek(broken.offset)
        fh.write(b"\x00garbage\x01" * 20)
    got, problems = _read(path)
    assert set(got) == set(MEMBERS) - {broken.name}
    assert problems[0][0] == broken.offset and "not a valid tar header" in problems[0][1]


def test_a_truncated_tar_keeps_the_members_before_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    _tar(path, MEMBERS)
    with tarfile.open(path) as tar:
        infos = tar.getmembers()
    cut = infos[3]
    with open(path, "r+b") as fh:
        fh.truncate(cut.offset_data + 10)
    got, problems = _read(path)
    assert list(got) == [i.name for i in infos[:3]]
    assert "truncated" in problems[-1][1] and str(cut.size) in problems[-1][1].replace(",", "")
    with open(path, "r+b") as fh:  # cut on a block boundary: no end-of-archive blocks
        fh.truncate(infos[1].offset)
    got, problems = _read(path)
    assert list(got) == [infos[0].name] and "without its end-of-archive blocks" in problems[-1][1]


def test_an_oversized_pax_header_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x.jpg")
        info.pax_headers = {"comment": "c" * 5000}
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
        info = tarfile.TarInfo("y.jpg")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"de"))
    problems: list[tuple[int, str]] = []
    with open(path, "rb") as fh:
        got = {m.name: read_member(fh, m) for m in iter_tar(fh, lambda o, w: problems.append((o, w)), max_meta=1000)}
    assert got == {"y.jpg": b"de"} and "pax header" in problems[0][1]


def test_exifread_gps_strings() -> None:
    assert exifread_degrees("[48, 51, 2339/100]", "N", "N", "S") == pytest.approx(48 + 51 / 60 + 23.39 / 3600)
    assert exifread_degrees("[2, 21, 4857/500]", "W", "E", "W") == pytest.approx(-(2 + 21 / 60 + 9.714 / 3600))
    assert exifread_degrees("[33.5]", "S", "N", "S") == -33.5
    for value, ref in (("[48, 51, 23]", ""), ("[48, 51, 1/0]", "N"), ("[48, -1, 0]", "N"), ("garbage", "N"),
                       ("[1, 2, 3, 4]", "N"), (None, "N"), ("[48, 51, 23]", None)):
        assert exifread_degrees(value, ref, "N", "S") is None


def test_dataset_exif_signal_reads_the_position_as_exif_gps_does() -> None:
    exif = {"GPS GPSLatitudeRef": "N", "GPS GPSLatitude": "[48, 51, 2339/100]", "GPS GPSLongitudeRef": "E",
            "GPS GPSLongitude": "[2, 21, 4857/500]"}
    lat, lon = 48 + 51 / 60 + 23.39 / 3600, 2 + 21 / 60 + 9.714 / 3600
    (sig,) = dataset_exif_signals(exif, bytes_have_exif=False)
    (ref,) = gps_signals(lat, lon)
    assert (sig.kind, sig.country, sig.strength, sig.detail) == ("dataset_exif_gps", ref.country, ref.strength,
                                                                 ref.detail)
    assert sig.evidence == f"img2dataset .json EXIF GPS {lat:.6f},{lon:.6f} (the bytes were re-encoded without it)"
    assert "(the bytes carry no GPS)" in dataset_exif_signals(exif, bytes_have_exif=True)[0].evidence
    assert dataset_exif_signals({**exif, "GPS GPSLatitude": "[0, 0, 0]", "GPS GPSLongitude": "[0, 0, 0]"},
                                bytes_have_exif=False) == []  # the 0/0 placeholder
    assert dataset_exif_signals({k: v for k, v in exif.items() if k != "GPS GPSLatitudeRef"},
                                bytes_have_exif=False) == []  # no hemisphere: no guess
    assert dataset_exif_signals(None, bytes_have_exif=False) == []


def test_clean_exif_keeps_facts_and_drops_blobs() -> None:
    raw = {"Image Make": "NIKON", "JPEGThumbnail": "b'\\xff\\xd8" + "x" * 5000 + "'", "EXIF MakerNote": "[1, 2]",
           "GPS GPSLatitude": "[1, 2, 3]", "EXIF UserComment": "y" * 900, "Image Artist": "z" * 900}
    kept = clean_exif(json.dumps(raw))
    assert kept == {"Image Make": "NIKON", "GPS GPSLatitude": "[1, 2, 3]", "Image Artist": "z" * 300}
    assert clean_exif("not json") is None and clean_exif(None) is None and clean_exif("[1]") is None


def test_http_status_of_an_error_message() -> None:
    assert http_status("HTTP Error 404: Not Found") == 404
    assert http_status("<urlopen error [Errno -2] Name or service not known>") is None and http_status(None) is None


def test_find_shards_by_content(tmp_path: Path) -> None:
    assert find_shards(tmp_path) is None
    (tmp_path / "00000.tar").write_bytes(b"")
    assert find_shards(tmp_path) is None  # no _stats.json: not an img2dataset output
    (tmp_path / "00000_stats.json").write_text("{}")
    (tmp_path / "00001").mkdir()
    (tmp_path / "00001.parquet").write_bytes(b"")
    (tmp_path / "00001_stats.json").write_text("{}")
    pq.write_table(pa.table({"url": ["https://x.fr/a.jpg"], "key": ["000020000"], "status": ["success"]}),
                   tmp_path / "00002.parquet")
    pq.write_table(pa.table({"URL": ["https://x.fr/a.jpg"], "TEXT": ["a"]}), tmp_path / "laion.parquet")
    (tmp_path / "notes").mkdir()
    (tmp_path / "README.md").write_text("hello")
    shards = find_shards(tmp_path)
    assert shards is not None
    assert [(s.name, s.layout) for s in shards] == [("00000", "webdataset"), ("00001", "files"),
                                                     ("00002", "parquet")]
    assert [s.name for s in find_shards(tmp_path / "00000.tar") or []] == ["00000"]
    assert find_shards(tmp_path / "README.md") is None
    assert find_shards(tmp_path / "laion.parquet") is None  # a LAION table beside them is no shard
    (tmp_path / "00000.tar").unlink()
    (tmp_path / "00001.parquet").unlink()
    (tmp_path / "00002.parquet").unlink()
    (tmp_path / "00001").rmdir()
    assert find_shards(tmp_path) is None  # _stats.json and a table: a folder of tables, not an img2dataset output


def test_member_names_are_only_names(tmp_path: Path) -> None:
    """A member called ``../../evil.jpg`` or ``/etc/x.json`` is read as data under that name; nothing is written."""
    path = tmp_path / "a.tar"
    members = {"../../evil.jpg": b"\xff\xd8evil", "/etc/x.json": b"{}"}
    _tar(path, members)
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    got, problems = _read(path)
    assert got == members and problems == []
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before


def test_published_hashes_of_older_versions_are_checked_too(tmp_path: Path) -> None:
    """img2dataset before ``compute_hash`` wrote ``md5``: matched, or named when it differs at the original's size."""
    import datetime as dt
    import hashlib

    from audit.ingest.img2dataset import Checks, Errors, Sample, Shard, sample_items

    shard = Shard(name="00000", folder=tmp_path, layout="parquet", parquet=tmp_path / "00000.parquet")
    data = b"\xff\xd8 some bytes"
    size = {"width": 10, "height": 10, "original_width": 10, "original_height": 10}
    checks, errors = Checks(), Errors()
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for n, md5 in enumerate((hashlib.md5(data).hexdigest(), "0" * 32)):
        meta = {"url": f"https://x.fr/{n}.jpg", "key": f"00000000{n}", "status": "success", "md5": md5, **size}
        items = sample_items(Sample(shard, shard.parquet, f"row {n + 1}", meta["key"], meta, image=data), when=when,
                             errors=errors, checks=checks)
        assert [type(i).__name__ for i in items] == ["ImageFetch", "DatasetSighting"]
    assert (checks.md5_matched, checks.md5_mismatched, checks.with_bytes) == (1, 1, 2)
    assert len(errors.messages) == 1 and errors.messages[0].startswith(f"{shard.parquet}: row 2: published md5 "
                                                                       "mismatch")
