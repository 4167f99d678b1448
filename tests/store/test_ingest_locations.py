"""An archive ingest records where each capture's record is: file, WARC-Record-ID, offset and length. Read back at
(offset, length) from the real archives of the shared corpus, the bytes are that one record, and an image's payload is
the content the store recorded; a revisit's capture names the revisit record itself."""

from __future__ import annotations

import gzip
import hashlib
import zipfile

from warcs import read_located

from audit.outputs.package import check_package
from audit.store.db import Store
from conftest import provaudit


def test_ingested_captures_locate_their_records(corpora, tmp_path):
    warcs = corpora / "warc"
    archives = [warcs / "ukwa-small" / "IAH-20080430204825-00000-blackbook-truncated.warc.gz",  # one per member
                warcs / "ukwa-small" / "IAH-urls-wget.warc.gz",
                warcs / "pywb" / "example.warc",  # uncompressed, with a revisit
                warcs / "pywb" / "dupes.warc.gz",  # revisits
                warcs / "ukwa-small" / "IAH-20080430204825-00000-blackbook-truncated.arc.gz"]
    db = tmp_path / "store.duckdb"
    provaudit("ingest", *map(str, archives), "--db", str(db))
    with Store.open(db, read_only=True) as store:
        rows = store.query("""
            SELECT c.kind, c.url, c.archive, c.archive_offset, c.record_length, c.record_id, c.sha256, c.revisit_of
            FROM captures c ORDER BY c.archive, c.archive_offset""")
    assert len(rows) > 20
    checked = images = revisits = 0
    for kind, url, archive, offset, length, record_id, sha, revisit_of in rows:
        if archive.endswith(".arc.gz"):  # an ARC record has no WARC-Record-ID (warcio would make one up)
            assert record_id is None and length is not None
            continue
        assert record_id is not None and length is not None, (archive, offset)
        record, payload = read_located(archive, offset, length)
        assert record.rec_headers.get_header("WARC-Record-ID") == record_id
        assert record.rec_headers.get_header("WARC-Target-URI").strip("<>") == url
        if revisit_of is not None:
            assert record.rec_type == "revisit"
            revisits += 1
        else:
            assert record.rec_type in ("response", "resource")
        if kind == "image" and revisit_of is None:
            assert hashlib.sha256(payload).hexdigest() == sha
            images += 1
        checked += 1
    assert checked > 15 and images >= 6 and revisits >= 2
    # and the records are packaged as they are, the ARC ones named as left out
    wacz = tmp_path / "case.wacz"
    proc = provaudit("package", "--db", str(db), "--out", str(wacz))
    assert "captures read from ARC files" in proc.stdout
    assert check_package(wacz) == []
    with zipfile.ZipFile(wacz) as zf:
        index = zf.read("indexes/index.cdxj").decode().splitlines()
    assert len(index) >= checked


def test_record_lengths_only_where_the_bytes_are_the_record_alone(corpora, tmp_path):
    """One record per gzip member: the members' bytes, end to end; a plain WARC: up to the next record; a record that
    shares its gzip member with others, or whose Content-Length does not fit, has none."""
    from audit.ingest.archive import read_archive

    warcs = corpora / "warc" / "pywb"
    gz = [(r.offset, r.length) for r in read_archive(warcs / "example.warc.gz")]
    assert all(length for _, length in gz)
    assert [o for o, _ in gz[1:]] == [o + n for o, n in gz[:-1]]
    assert gz[-1][0] + gz[-1][1] == (warcs / "example.warc.gz").stat().st_size
    plain = [(r.offset, r.length) for r in read_archive(warcs / "example.warc")]
    assert plain[0] == (0, 460) and (4061, None) in plain  # its Content-Length stops short of the next record
    one = tmp_path / "one-member.warc.gz"
    one.write_bytes(gzip.compress((warcs / "example.warc").read_bytes()))
    assert [r.length for r in read_archive(one)] == [None] * len(plain)
