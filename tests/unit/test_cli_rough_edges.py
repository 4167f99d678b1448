"""Rough edges of the command line: a start URL without its scheme is refused before anything is crawled or
written (one line, exit 1, with the URL it probably meant); coordinates are printed for a person to read."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from audit.cli import main
from audit.crawl.run import check_start_urls


@pytest.mark.parametrize("url, hint", [
    ("www.example.fr", "did you mean https://www.example.fr ?"),
    ("example.org/photos", "did you mean https://example.org/photos ?"),
    ("ftp://example.org/", None),
    ("file:///etc/passwd", None),
    ("https://", None),
])
def test_bad_start_urls_are_named(url, hint):
    with pytest.raises(ValueError) as err:
        check_start_urls(["https://ok.example/", url])
    assert repr(url) in str(err.value)
    if hint:
        assert hint in str(err.value)


def test_good_start_urls_pass():
    check_start_urls(["https://www.example.fr/", "http://127.0.0.1:8080/a?b=c"])


def test_the_crawl_command_refuses_before_creating_the_store(tmp_path):
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(main, ["crawl", "www.example.fr", "--db", str(db)])
    assert result.exit_code == 1, result.output
    assert "did you mean https://www.example.fr" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_inspect_prints_coordinates_for_a_person_and_json_keeps_them_whole(corpora):
    photo = corpora / "photos" / "exif-samples" / "heic" / "IMG_5195.HEIC"
    shown = CliRunner().invoke(main, ["inspect", str(photo)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "39.051344, -94.288772 (altitude 260.6 m)" in shown.stdout
    assert "39.05134444444444" not in shown.stdout
    raw = CliRunner().invoke(main, ["inspect", "--json", str(photo)])
    assert "39.05134444444444" in raw.stdout


@pytest.mark.parametrize("args", [
    ["ingest", "", "--db", "{db}"],  # an unset shell variable: Path("") would be the folder the command runs in
    ["ingest", "{photo}", "--db", ""],
    ["audit", "--db", ""],
    ["inspect", ""],
])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, args):
    photo = tmp_path / "in" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"not read")
    db = tmp_path / "s.duckdb"
    monkeypatch.chdir(photo.parent)  # what an empty path would have read
    result = CliRunner().invoke(main, [a.format(db=db, photo=photo) for a in args])
    assert result.exit_code == 2, result.output
    assert "an empty path (write . for the current folder)" in result.stderr
    assert not db.exists() and not (photo.parent / "s.duckdb").exists()


def test_a_dataset_table_beside_other_inputs_is_refused_not_read_as_a_file(corpora, tmp_path):
    # read with a folder of photos, the LAION table was one more file (a sighting of an unreadable "image"), its
    # 1,000 rows lost without a word
    table = corpora / "datasets" / "laion" / "test_1000.parquet"
    photos = corpora / "photos" / "exif-samples" / "heic"
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "part-0.csv").write_text("url,caption\nhttps://example.org/a.jpg,a cat in Paris\n")
    for tables in ([table], [shards]):
        db = tmp_path / "mixed.duckdb"
        result = CliRunner().invoke(main, ["ingest", *map(str, tables), str(photos), "--db", str(db)],
                                    terminal_width=300)
        assert result.exit_code == 1, result.output
        assert "is a dataset table: tables are ingested on their own" in result.output
        assert not db.exists()
    alone = CliRunner().invoke(main, ["ingest", str(shards), "--db", str(tmp_path / "alone.duckdb")])
    assert alone.exit_code == 0, alone.output
