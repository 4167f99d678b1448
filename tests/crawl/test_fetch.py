"""`provaudit fetch`: the images a LAION-style table of the test web lists by URL are fetched through a real crawl
over loopback (the test web's proxy): robots.txt obeyed, WARC kept, resumable; each link's liveness recorded; the
sightings get their bytes; the report says how many are still online."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.ingest.datasets import ingest_tables
from audit.ingest.tables import reference_key
from audit.store.db import Store
from audit.testbed.exports import export_laion
from conftest import provaudit


@pytest.fixture(scope="module")
def dataset(small_web, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("fetch")
    export_laion(small_web, out / "table", hashes=True)
    table = pq.read_table(out / "table" / "part-00000.parquet")
    rows = table.to_pylist()
    truth = {str(e["image_url"]): e for e in small_web.ground_truth()}
    changed = rows[0]["URL"]
    refused = small_web.robots_refused()
    assert refused, "the test web has images behind a robots.txt that forbids them"
    extra = [
        # the published hash is not what the link serves: content "changed"
        {"URL": changed, "TEXT": "the same link, another hash", "WIDTH": None, "HEIGHT": None, "sha256": "e" * 64},
        # a link that is dead
        {"URL": changed.rsplit("/", 1)[0] + "/gone-404.jpg", "TEXT": "removed", "WIDTH": None, "HEIGHT": None,
         "sha256": None},
        # an image whose host's robots.txt forbids it
        {"URL": str(refused[0]["image_url"]), "TEXT": "forbidden", "WIDTH": None, "HEIGHT": None, "sha256": None},
    ]
    rows = [r for r in rows if r["URL"] != changed] + extra
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), out / "table" / "part-00000.parquet")
    db = out / "dataset.duckdb"
    with Store.open(db) as store:
        ingest_tables(store, [out / "table"])
    provaudit("audit", "--db", str(db))
    return db, {"truth": truth, "changed": changed, "dead": extra[1]["URL"], "refused": extra[2]["URL"],
                "urls": {r["URL"] for r in rows}}


def test_fetch_records_liveness_gives_sightings_their_bytes_and_resumes(dataset, server, tmp_path: Path) -> None:
    db, facts = dataset
    urls: set[str] = facts["urls"]  # type: ignore[assignment]
    truth: dict[str, dict[str, object]] = facts["truth"]  # type: ignore[assignment]
    fetch = ["fetch", "--db", str(db), "--proxy", server.proxy_url, "--no-throttle"]
    first = provaudit(*fetch, "--sample", "5")
    assert "image URLs asked for" in first.stdout
    with Store.open(db, read_only=True) as store:
        assert store.query("SELECT count(*) FROM link_checks")[0][0] == 5
    provaudit(*fetch, "--all")
    again = provaudit(*fetch, "--all")
    assert "nothing to fetch" in again.stdout
    with Store.open(db, read_only=True) as store:
        checks = {r[0]: r[1:] for r in store.query(
            "SELECT url, status, content, sha256, error, published_sha256 FROM link_checks")}
        assert set(checks) == urls  # every URL checked once, over two runs
        assert store.query("SELECT count(*) FROM crawls WHERE kind = 'fetch'")[0][0] == 2
        status, content, sha, error, published = checks[facts["changed"]]  # type: ignore[index]
        assert status == 200 and content == "changed" and published == "e" * 64
        assert sha == truth[facts["changed"]]["sha256"]  # type: ignore[index]
        status, content, sha, error, _ = checks[facts["dead"]]  # type: ignore[index]
        assert status == 404 and content is None and sha is None and error
        status, content, sha, error, _ = checks[facts["refused"]]  # type: ignore[index]
        assert content is None and sha is None and "robots" in (error or "").lower()
        live = {u for u, c in checks.items() if c[1] is not None}
        assert live == urls - {facts["dead"], facts["refused"]}
        assert {c[1] for u, c in checks.items() if u in live and u != facts["changed"]} == {"as published"}
        # every sighting of a live link now holds the bytes the test web serves at it; the others stay references
        for url, sha256 in store.query("SELECT image_url, sha256 FROM sightings"):
            if url in live:
                assert sha256 == truth[url]["sha256"], url
            else:
                assert sha256 == reference_key(url)
        warcs = [Path(p) for (p,) in store.query("SELECT warc_path FROM crawls WHERE kind = 'fetch'")]
    archived = b"".join(gzip.open(w).read() for w in warcs)
    for url in list(live)[:5]:
        assert f"WARC-Target-URI: {url}".encode() in archived


def test_after_the_fetch_the_audit_reads_the_bytes_and_the_report_says_what_is_online(dataset, tmp_path: Path) -> None:
    db, facts = dataset
    provaudit("audit", "--db", str(db))
    with Store.open(db, read_only=True) as store:
        fetched = store.query("SELECT count(*) FROM images i WHERE i.phash IS NOT NULL AND i.sha256 IN "
                              "(SELECT sha256 FROM sightings)")[0][0]
        assert fetched == store.query("SELECT count(DISTINCT sha256) FROM link_checks WHERE content IS NOT NULL"
                                      )[0][0] > 0
        # an image known by reference only whose sightings all got their bytes is no longer an audited image
        assert store.query("SELECT count(*) FROM attributions a JOIN images i USING (sha256) WHERE i.reference_only"
                           )[0][0] == 2
        # the bytes' fingerprints now join the copies of one photo the table listed apart (never before the fetch)
        assert store.query("SELECT count(*) FROM clusters WHERE size > 1")[0][0] > 0
        assert store.query("SELECT count(*) FROM clusters WHERE size > 1 AND sha256 LIKE 'ref:%'")[0][0] == 0
    html = tmp_path / "r.html"
    provaudit("report", "--db", str(db), "--country", "FR", "--out", str(html))
    text = html.read_text(encoding="utf-8")
    assert 'id="online-key"' in text and "still serve a readable image" in text
