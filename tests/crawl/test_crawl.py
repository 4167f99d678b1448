"""End to end: a real Scrapy crawl over loopback HTTP of a small generated test web, into a real DuckDB file and
WARC, checked against the test web's ground truth."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from warcio.archiveiterator import ArchiveIterator

from audit.store.db import Store
from audit.testbed.groundtruth import check_against_ground_truth, load_ground_truth
from conftest import ROOT, crawl_args, only_crawl_id, provaudit


def test_crawl_finds_everything_the_ground_truth_holds(crawled, small_web):
    db, crawl_id = crawled
    with Store.open(db, read_only=True) as store:
        truth = check_against_ground_truth(store, crawl_id)
        assert truth["gt_image_urls"] == small_web.image_urls
        assert truth["image_urls_found"] == truth["gt_image_urls"]
        assert truth["sightings_found"] == truth["gt_sightings"] == small_web.sightings
        assert truth["bytes_identical"] == truth["gt_image_urls"]
        assert truth["gt_with_gps"] > 0
        assert truth["gps_decoded"] == truth["gt_with_gps"]
        assert truth["gps_where_none_kept"] == 0
        # every sighting is linked to a page the crawl fetched, and to its image content
        (orphans,) = store.query(
            "SELECT count(*) FROM sightings s WHERE NOT EXISTS "
            "(SELECT 1 FROM pages p WHERE p.crawl_id = s.crawl_id AND p.url = s.page_url)")[0]
        assert orphans == 0
        (unlinked,) = store.query("SELECT count(*) FROM sightings WHERE sha256 IS NULL "
                                  "AND image_url IN (SELECT image_url FROM ground_truth)")[0]
        assert unlinked == 0
        # decoded GPS equals the coordinates the generator embedded
        rows = store.query("SELECT g.image_url, i.gps_lat, i.gps_lon FROM ground_truth g "
                           "JOIN images i ON i.sha256 = g.sha256 WHERE list_contains(g.kept_metadata, 'gps')")
        gt = {json.loads(line)["image_url"]: json.loads(line)
              for line in small_web.ground_truth_path.read_text().splitlines() if line.strip()}
        for url, lat, lon in rows:
            exp_lat, exp_lon = gt[url]["gps"]
            assert abs(lat - exp_lat) < 1e-4 and abs(lon - exp_lon) < 1e-4, url
        # pages carry what a later audit needs
        (with_lang, total, with_ip) = store.query(
            "SELECT count(lang), count(*), count(server_ip) FROM pages WHERE error IS NULL")[0]
        assert total > 0 and with_lang == total and with_ip == total
        (finished,) = store.query("SELECT finished_at IS NOT NULL FROM crawls")[0]
        assert finished
        # a live crawl fetches each URL once: one capture per page and per image fetch, with its date and content
        captures = store.query("SELECT kind, url, fetched_at, sha256, archive FROM captures")
        assert len(captures) == store.count("pages") + store.count("fetches")
        fetched = dict(store.query("SELECT url, sha256 FROM fetches"))
        assert {u: sha for kind, u, _, sha, _ in captures if kind == "image"} == fetched
        # and each names the crawl's WARC as where it is kept (tests/crawl/test_warc_locations.py reads them back),
        # except the images robots.txt forbade: no response, no record
        (warc,) = store.query("SELECT warc_path FROM crawls")[0]
        assert all(when is not None and archive in (warc, None) for *_, when, _, archive in captures)
        (unlocated,) = store.query("SELECT count(*) FROM captures WHERE archive IS NULL AND status IS NOT NULL")[0]
        assert unlocated == 0


# the reference kinds the test web's patterns produce besides img/srcset/picture/og:image/link (issue 14)
PATTERN_KINDS = {"lazy", "css", "background", "input", "icon", "poster", "svg", "microdata", "json-ld"}


def test_crawl_records_every_pair_the_way_its_page_names_it(crawled, small_web):
    """Recall per reference kind: every (image, page) pair of the ground truth is a sighting whose ref_kind is the
    one the truth says (lazy placeholders, CSS backgrounds, JSON-LD, microdata, icons, ... each found)."""
    db, crawl_id = crawled
    expected = {(r["image_url"], page): kind for r in small_web.ground_truth() for page, kind in r["ref_kinds"].items()}
    assert PATTERN_KINDS <= set(expected.values())
    with Store.open(db, read_only=True) as store:
        rows = store.query("SELECT image_url, page_url, ref_kind FROM sightings WHERE crawl_id = ?", [crawl_id])
    got: dict[tuple[str, str], set[str]] = {}
    for image, page, kind in rows:
        got.setdefault((image, page), set()).add(kind)
    assert {pair: got.get(pair) for pair in expected} == {pair: {kind} for pair, kind in expected.items()}


def test_images_their_host_s_robots_txt_forbids_are_recorded_as_refused(crawled, small_web):
    """The image CDN of the test web whose robots.txt says ``Disallow: /``: its images are never fetched, each is
    a fetch recorded as refused by robots.txt, and still a sighting on every page that names it."""
    db, crawl_id = crawled
    refused = small_web.robots_refused()
    assert refused
    with Store.open(db, read_only=True) as store:
        for r in refused:
            fetches = store.query("SELECT sha256, error FROM fetches WHERE crawl_id = ? AND url = ?",
                                  [crawl_id, r["image_url"]])
            assert fetches and all(sha is None and "robots.txt" in (error or "") for sha, error in fetches), fetches
            pages = {p for (p,) in store.query("SELECT page_url FROM sightings WHERE crawl_id = ? AND image_url = ?",
                                               [crawl_id, r["image_url"]])}
            assert pages == set(r["page_urls"])
        hosts = {r["host"] for r in refused}
        policies = store.query("SELECT host, status, body FROM host_policies WHERE kind = 'robots.txt' "
                               f"AND host IN ({', '.join('?' * len(hosts))})", sorted(hosts))
        in_images = {sha for (sha,) in store.query("SELECT sha256 FROM images WHERE sha256 IN "
                                                  f"({', '.join('?' * len(refused))})",
                                                  [r["sha256"] for r in refused])}
    assert {(h, status) for h, status, _ in policies} == {(h, 200) for h in hosts}
    assert all("Disallow: /" in body for _, _, body in policies)
    # their bytes reached the store only where a host that allows it serves the same file
    assert in_images <= {r["sha256"] for r in small_web.ground_truth()}


def test_warc_holds_every_response(crawled, small_web):
    db, crawl_id = crawled
    warcs = list(db.parent.glob("*.warc.gz"))
    assert len(warcs) == 1 and crawl_id in warcs[0].name
    responses: dict[str, int] = {}
    record_ids: set[str] = set()
    revisits: dict[str, str] = {}  # a payload the file already held (AUDIT_WARC_DEDUP): URL -> the record it refers to
    with open(warcs[0], "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type in ("response", "revisit"):
                url = rec.rec_headers.get_header("WARC-Target-URI")
                responses[url] = rec.http_headers.get_statuscode() and int(rec.http_headers.get_statuscode())
                rec.content_stream().read()
                if rec.rec_type == "response":
                    record_ids.add(rec.rec_headers.get_header("WARC-Record-ID"))
                else:
                    revisits[url] = rec.rec_headers.get_header("WARC-Refers-To")
    assert set(revisits.values()) <= record_ids  # every revisit's payload is in a response record of the file
    with Store.open(db, read_only=True) as store:
        urls = {r[0] for r in store.query("SELECT url FROM pages UNION SELECT final_url FROM fetches "
                                          "WHERE final_url IS NOT NULL")}
        hosts = {r[0] for r in store.query("SELECT DISTINCT host FROM pages")}
    assert urls <= set(responses)
    for host in hosts:
        assert f"http://{host}/robots.txt" in responses


def test_warc_reingests_to_the_same_sightings(crawled, tmp_path):
    db, crawl_id = crawled
    warc = next(db.parent.glob("*.warc.gz"))
    db2 = tmp_path / "from-warc.duckdb"
    provaudit("ingest", str(warc), "--db", str(db2))
    query = "SELECT image_url, page_url, sha256 FROM sightings WHERE page_url IS NOT NULL"
    with Store.open(db, read_only=True) as a, Store.open(db2, read_only=True) as b:
        crawled_rows = set(a.query(query))
        ingested_rows = set(b.query(query))
        counts = {t: b.count(t) for t in ("pages", "images", "sightings", "fetches", "captures")}
        captured = {r for r in b.query("SELECT kind, url, archive FROM captures")}
    assert ingested_rows == crawled_rows
    assert {archive for _, _, archive in captured} == {str(warc)}  # each capture names the WARC it is in
    provaudit("ingest", str(warc), "--db", str(db2))  # again: idempotent
    with Store.open(db2, read_only=True) as b:
        assert {t: b.count(t) for t in counts} == counts
        assert b.count("crawls") == 1


def test_warc_keeps_identical_payloads_as_revisits_that_ingest_resolves(crawled, small_web, tmp_path):
    """The test web serves some files under two URLs (the CSS sites' home pages version their thumbnails): the crawl's
    WARC holds each payload once, the other fetches as identical-payload-digest revisit records referring to it
    (AUDIT_WARC_DEDUP, on by default), and an ingest of that WARC resolves every one of them to the same bytes the
    crawl recorded, at the revisit's own URL."""
    db, crawl_id = crawled
    warc = next(db.parent.glob("*.warc.gz"))
    responses: dict[str, tuple[str, str]] = {}  # record id -> (target URI, payload digest)
    revisits: dict[str, tuple[str, str, str]] = {}  # target URI -> (refers to, refers-to URI, digest)
    with open(warc, "rb") as fh:
        for rec in ArchiveIterator(fh):
            h = rec.rec_headers
            if rec.rec_type == "response":
                responses[h.get_header("WARC-Record-ID")] = (h.get_header("WARC-Target-URI"),
                                                             h.get_header("WARC-Payload-Digest"))
            elif rec.rec_type == "revisit":
                assert h.get_header("WARC-Profile").endswith("/revisit/identical-payload-digest")
                revisits[h.get_header("WARC-Target-URI")] = (h.get_header("WARC-Refers-To"),
                                                            h.get_header("WARC-Refers-To-Target-URI"),
                                                            h.get_header("WARC-Payload-Digest"))
            rec.content_stream().read()
    truth = {r["image_url"]: r["sha256"] for r in small_web.ground_truth()}
    assert any("?ver=" in uri for uri in revisits)
    for uri, (refers_to, refers_uri, digest) in revisits.items():
        assert responses[refers_to] == (refers_uri, digest), uri
        if uri in truth:
            assert truth[uri] == truth[refers_uri]
    db2 = tmp_path / "revisits.duckdb"
    proc = provaudit("ingest", str(warc), "--db", str(db2))
    assert "had no original" not in proc.stdout
    resolved = re.search(r"revisits resolved to their original\s*│\s*(\d+)", proc.stdout)
    unresolved = re.search(r"revisits with no original in this ingest\s*│\s*(\d+)", proc.stdout)
    assert resolved and unresolved, proc.stdout
    assert (int(resolved.group(1)), int(unresolved.group(1))) == (len(revisits), 0)
    query = "SELECT url, sha256 FROM fetches WHERE url IN ({})".format(", ".join("?" * len(revisits)))
    with Store.open(db, read_only=True) as a, Store.open(db2, read_only=True) as b:
        crawled_shas = dict(a.query(query, list(revisits)))
        ingested_shas = dict(b.query(query, list(revisits)))
    assert ingested_shas == crawled_shas and None not in crawled_shas.values()


def test_jobdir_pause_and_resume(small_web, server, crawled, tmp_path):
    db = tmp_path / "resumed.duckdb"
    jobdir = tmp_path / "job"
    first = provaudit(*crawl_args(small_web, server, db, "--jobdir", str(jobdir), "--max-pages", "3"))
    assert "closespider_pagecount" in first.stdout
    with Store.open(db, read_only=True) as store:
        partial = store.count("sightings")
    provaudit(*crawl_args(small_web, server, db, "--jobdir", str(jobdir)))
    crawl_id = only_crawl_id(db)  # one crawl, resumed under the same id
    with Store.open(db) as store:
        load_ground_truth(store, small_web.ground_truth_path)
        truth = check_against_ground_truth(store, crawl_id)
        total = store.count("sightings")
    assert 0 < partial < total
    assert truth["sightings_found"] == truth["gt_sightings"]
    assert truth["bytes_identical"] == truth["gt_image_urls"]
    full_db, _ = crawled
    with Store.open(full_db, read_only=True) as full:
        assert full.count("sightings") == total


def test_scrapy_command_line_works_from_the_project_root(small_web, server, tmp_path):
    env = dict(os.environ)
    scrapy = [sys.executable, "-m", "scrapy"]
    listed = subprocess.run([*scrapy, "list"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["provenance"]
    db = tmp_path / "scrapy.duckdb"
    # the site whose pages hold the most images
    counts: dict[str, int] = {}
    for row in small_web.ground_truth():
        for page in row["page_urls"]:
            counts[page.split("/")[2]] = counts.get(page.split("/")[2], 0) + 1
    busiest = max(counts, key=lambda h: counts[h])
    start = next(u for u in small_web.start_urls if u.split("/")[2] == busiest)
    proc = subprocess.run(
        [*scrapy, "crawl", "provenance", "-a", f"start_urls={start}", "-s", f"AUDIT_DB={db}",
         "-s", f"AUDIT_PROXY={server.proxy_url}", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "LOG_LEVEL=WARNING"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    with Store.open(db, read_only=True) as store:
        assert store.count("pages") > 0
        assert store.count("images") > 0
        hosts = {r[0] for r in store.query("SELECT DISTINCT host FROM pages")}
    assert hosts == {start.split("/")[2]}  # stayed within the start URL's domain


def test_warc_records_are_gzip_members_and_compressed_bodies_are_stored(tmp_path):
    import base64
    import gzip
    import hashlib
    import zlib

    from audit.crawl.warc import WarcFile, already_compressed

    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 400
    html = b"<html><body>" + b"<p>bonjour</p>" * 2000 + b"</body></html>"
    path = tmp_path / "t.warc.gz"
    warc = WarcFile(path, level=6)
    for url, body, ctype in (("http://a.example/p.jpg", jpeg, "image/jpeg"), ("http://a.example/", html, "text/html")):
        warc.write_exchange(url=url, method="GET", request_headers=[("Host", "a.example")], request_body=b"",
                            status=200, response_headers=[("Content-Type", ctype)], body=body)
    warc.close()
    assert already_compressed(jpeg) and not already_compressed(html)
    raw = path.read_bytes()
    assert len(raw) > len(jpeg) and len(raw) < len(jpeg) + len(html) // 4  # JPEG stored, HTML deflated
    # one gzip member per record: warcinfo, then response + request per exchange
    members = 0
    rest = raw
    while rest:
        d = zlib.decompressobj(zlib.MAX_WBITS + 16)
        d.decompress(rest)
        assert d.eof
        rest = d.unused_data
        members += 1
    assert members == 5
    assert gzip.decompress(raw).count(b"WARC/1.") == 5
    bodies = {}
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, check_digests=True):
            if rec.rec_type == "response":
                body = rec.content_stream().read()
                url = rec.rec_headers.get_header("WARC-Target-URI")
                bodies[url] = body
                digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
                assert rec.rec_headers.get_header("WARC-Payload-Digest") == digest
    assert bodies == {"http://a.example/p.jpg": jpeg, "http://a.example/": html}


def test_recorder_links_sightings_whose_image_arrives_later(tmp_path):
    import datetime as dt

    from audit.records import ImageFetch, ImageRecord, ImageRef, PageItem
    from audit.store.recorder import PageRefs, Recorder

    now = dt.datetime.now(dt.UTC)
    with Store.open(tmp_path / "r.duckdb") as store:
        rec = Recorder(store, "c1", batch_size=1)  # flush on every row
        rec.begin(source="t", kind="crawl", settings={}, warc_path=None)
        refs = tuple(ImageRef(page_url="http://a.example/", image_url=f"http://a.example/{i}.jpg", fetched_at=now)
                     for i in range(3))
        rec.add(PageRefs(page=PageItem(url="http://a.example/", status=200, fetched_at=now), refs=refs))
        for i in range(2):  # the third image never arrives
            sha = f"{i:064x}"
            rec.add(ImageFetch(url=f"http://a.example/{i}.jpg", final_url=None, fetched_at=now, status=200,
                               record=ImageRecord(sha256=sha, size=1)))
        rec.add(ImageRef(page_url="http://b.example/", image_url="http://a.example/0.jpg", fetched_at=now))
        rec.finish()
        rows = dict(store.query("SELECT image_url || ' ' || page_url, sha256 FROM sightings"))
    assert rows == {"http://a.example/0.jpg http://a.example/": f"{0:064x}",
                    "http://a.example/1.jpg http://a.example/": f"{1:064x}",
                    "http://a.example/2.jpg http://a.example/": None,
                    "http://a.example/0.jpg http://b.example/": f"{0:064x}"}


def test_warc_dedup_writes_a_revisit_for_a_payload_the_file_already_holds(tmp_path):
    from audit.crawl.warc import WarcFile, payload_digest, scan_warc

    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(5000)

    def write(warc: WarcFile, url: str, status: int = 200, body: bytes = jpeg) -> None:
        warc.write_exchange(url=url, method="GET", request_headers=[("Host", "a.example")], request_body=b"",
                            status=status, response_headers=[("Content-Type", "image/jpeg")], body=body)

    def records(path):
        with open(path, "rb") as fh:
            return [(r.rec_type, *(r.rec_headers.get_header(h) for h in ("WARC-Target-URI", "WARC-Refers-To",
                                                                          "WARC-Payload-Digest", "WARC-Record-ID")),
                     len(r.content_stream().read()))
                    for r in ArchiveIterator(fh, check_digests=True) if r.rec_type in ("response", "revisit")]

    deduped = tmp_path / "dedup.warc.gz"
    warc = WarcFile(deduped, dedup=True)
    write(warc, "http://a.example/a.jpg")
    write(warc, "http://a.example/a.jpg?ver=2")
    write(warc, "http://a.example/missing.jpg", status=404)  # an error page is never a revisit
    write(warc, "http://a.example/other.jpg", body=jpeg + b"x")
    write(warc, "http://b.example/copy.jpg")
    warc.close()
    got = records(deduped)
    assert [(t, u) for t, u, *_ in got] == [
        ("response", "http://a.example/a.jpg"), ("revisit", "http://a.example/a.jpg?ver=2"),
        ("response", "http://a.example/missing.jpg"), ("response", "http://a.example/other.jpg"),
        ("revisit", "http://b.example/copy.jpg")]
    first = got[0]
    for _, _, refers_to, digest, _, length in (got[1], got[4]):
        assert (refers_to, digest, length) == (first[4], payload_digest(jpeg), 0)
    assert warc.revisits == 2
    assert scan_warc(deduped, response_uris=True).response_uris == {u for _, u, *_ in got}  # a resume knows them

    whole = tmp_path / "whole.warc.gz"
    warc = WarcFile(whole)  # deduplication is asked for (AUDIT_WARC_DEDUP), not the default of a bare writer
    write(warc, "http://a.example/a.jpg")
    write(warc, "http://a.example/a.jpg?ver=2")
    warc.close()
    assert [t for t, *_ in records(whole)] == ["response", "response"]
