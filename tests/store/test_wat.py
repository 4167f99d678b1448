"""Common Crawl WAT files ingested as pages and reference-only sightings (audit.ingest.wat, audit.ingest.watrun),
checked against the real whirlwind capture of ../shared/corpora/datasets/common-crawl: the WAT and its twin WARC.

The real WAT holds the warcinfo record and the metadata record of the capture's *request* only (Common Crawl's own
tutorial file: no response record, so no image link). The tests read it as it is, and add to it the WAT record of
the capture's response as ia-web-commons writes it, made from the twin WARC's HTML by audit.testbed.watgen (the
standard library's HTML parser, not the ingest's), so the WAT ingest and the WARC ingest of the same page can be
compared. Each test reads the WAT JSON on its own, with warcio and json, to say what the store must hold."""

from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from PIL import Image
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter
from warcs import write_response

from audit.derive.run import run_audit
from audit.ingest.run import ingest
from audit.ingest.tables import reference_key
from audit.ingest.wat import is_wat
from audit.ingest.watrun import ingest_wat
from audit.signals.host import host_signals
from audit.signals.network import server_ip_signals
from audit.signals.page import page_signals
from audit.store.db import Store
from audit.store.recorder import sighting_id
from audit.testbed.watgen import metadata_record, responses
from conftest import CORPORA, provaudit

CC = CORPORA / "datasets" / "common-crawl"
WAT = CC / "whirlwind.warc.wat.gz"
WARC = CC / "whirlwind.warc.gz"
PAGE_KINDS = {"html_lang", "content_language", "og_locale", "hreflang", "geo_region", "geo_position", "icbm",
              "schema_address", "phone", "server_ip", "page_cctld", "page_geo_tld"}


def _twin(tmp: Path) -> tuple[Path, list[int]]:
    """The real WAT, then the WAT record of the twin WARC's response, then the same response as a second capture
    under another URL; and the file offsets of those two records."""
    env = next(responses(WARC))
    url = env["Envelope"]["WARC-Header-Metadata"]["WARC-Target-URI"]
    second = copy.deepcopy(env)
    second["Envelope"]["WARC-Header-Metadata"]["WARC-Target-URI"] = url + "?oldid=2"
    real = WAT.read_bytes()
    first_member = metadata_record(env, url, "2024-05-31T01:17:49Z")
    second_member = metadata_record(second, url + "?oldid=2", "2024-05-31T01:17:50Z")
    path = tmp / "whirlwind-twin.warc.wat.gz"
    path.write_bytes(real + first_member + second_member)
    return path, [len(real), len(real) + len(first_member)]


def _read_independently(path: Path) -> dict[str, dict[str, object]]:
    """Per page URL: its image links (IMG@/src with alt, og:image metas, icon links) as the WAT JSON lists them."""
    pages: dict[str, dict[str, object]] = {}
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type != "metadata":
                continue
            env = json.loads(rec.content_stream().read())["Envelope"]
            response = env["Payload-Metadata"].get("HTTP-Response-Metadata")
            if response is None:
                continue
            page = env["WARC-Header-Metadata"]["WARC-Target-URI"]
            html = response.get("HTML-Metadata", {})
            head = html.get("Head", {})
            base = urljoin(page, head.get("Base") or page)

            def absolute(href: str, base: str = base) -> str | None:
                url = urldefrag(urljoin(base, href.strip()))[0]
                return url if urlsplit(url).scheme in ("http", "https") else None

            imgs = {absolute(link["url"]): link.get("alt") for link in html.get("Links", [])
                    if link.get("path") == "IMG@/src"}
            og = {absolute(m["content"]) for m in head.get("Metas", []) if m.get("property") == "og:image"}
            icons = {absolute(link["url"]) for link in head.get("Link", []) if "icon" in link.get("rel", "")}
            pages[page] = {"imgs": {k: v for k, v in imgs.items() if k}, "og": og - {None}, "icons": icons - {None},
                           "ip": env["WARC-Header-Metadata"].get("WARC-IP-Address"),
                           "status": int(response["Response-Message"]["Status"]),
                           "lang": next((m["content"] for m in head.get("Metas", [])
                                         if m.get("name") == "HTML@/lang"), None)}
    return pages


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wat")
    twin, _ = _twin(tmp)
    out = {"twin": twin}
    for name, inputs in (("wat", None), ("warc", [WARC])):
        db = tmp / f"{name}.duckdb"
        with Store.open(db) as store:
            if inputs is None:
                result = ingest_wat(store, [twin])
                assert result.bad_records == 0 and not result.errors
            else:
                ingest(store, inputs, workers=1)
            run_audit(store)
        out[name] = db
    return out


def test_the_real_wat_alone_is_read_as_what_it_holds(tmp_path: Path) -> None:
    pages = _read_independently(WAT)
    assert is_wat(WAT) and not is_wat(WARC)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest_wat(store, [WAT])
        assert result.records >= 1 and result.pages == len(pages) and result.bad_records == 0
        assert result.skipped.get("request (no HTML response)") == 1  # the request's record is no page
        assert store.count("pages") == len(pages) and store.count("sightings") == 0
        kind = store.query("SELECT kind, source FROM crawls WHERE crawl_id = ?", [result.crawl_id])
        assert kind == [("wat", str(WAT))]


def test_every_image_link_of_the_wat_is_a_reference_only_sighting(stores: dict[str, Path]) -> None:
    expected = _read_independently(stores["twin"])
    assert len(expected) == 2 and all(p["imgs"] for p in expected.values())
    with Store.open(stores["wat"], read_only=True) as store:
        rows = store.query("SELECT s.page_url, s.image_url, s.ref_kind, s.alt_text, s.sha256, i.reference_only "
                           "FROM sightings s JOIN images i USING (sha256)")
        ids = store.query("SELECT sighting_id, crawl_id, image_url, page_url FROM sightings")
        assert store.count("sightings") == len(rows)
    assert all(sid == sighting_id(crawl, image, page) for sid, crawl, image, page in ids)  # as every sighting's
    got: dict[str, dict[str, tuple[str, str | None]]] = {}
    for page, url, kind, alt, sha, ref_only in rows:
        assert sha == reference_key(url) and ref_only is True
        got.setdefault(page, {})[url] = (kind, alt)
    assert set(got) == set(expected)
    for page, want in expected.items():
        imgs, og, icons = want["imgs"], want["og"], want["icons"]
        assert isinstance(imgs, dict) and isinstance(og, set) and isinstance(icons, set)
        assert set(got[page]) == set(imgs) | og | icons
        for url, alt in imgs.items():
            if url not in og | icons:
                assert got[page][url] == ("img", " ".join(alt.split()) or None if alt else None)
        assert {got[page][u][0] for u in og} <= {"og:image"} and {got[page][u][0] for u in icons} <= {"icon"}


def test_pages_agree_with_the_warc_ingest_of_the_same_capture(stores: dict[str, Path]) -> None:
    expected = _read_independently(stores["twin"])
    cols = "url, status, server_ip, lang, title, content_type, facts, headers"
    with Store.open(stores["warc"], read_only=True) as store:
        warc_pages = {r[0]: r for r in store.query(f"SELECT {cols} FROM pages")}
        warc_refs = store.query("SELECT page_url, image_url, alt_text FROM sightings")
    with Store.open(stores["wat"], read_only=True) as store:
        wat_pages = {r[0]: r for r in store.query(f"SELECT {cols} FROM pages")}
        wat_refs = store.query("SELECT page_url, image_url, alt_text, ref_kind FROM sightings")
        captures = store.query("SELECT url, archive, archive_offset FROM captures ORDER BY archive_offset")
    assert len(captures) == len(wat_pages) == len(expected)
    (url, warc_page), = warc_pages.items()
    wat_page = wat_pages[url]
    # status, server address, language and title: as the WARC ingest read them from the HTTP response and the HTML
    assert wat_page[1:6] == warc_page[1:6]
    assert (wat_page[1], wat_page[2], wat_page[3]) == (expected[url]["status"], expected[url]["ip"],
                                                       expected[url]["lang"])
    wat_facts, warc_facts = json.loads(wat_page[6]), json.loads(warc_page[6])
    for key in ("url", "canonical", "html_lang", "og_locale", "hreflang", "meta_language", "geo_region",
                "robots_meta"):
        assert wat_facts.get(key) == warc_facts.get(key), key
    wat_headers, warc_headers = json.loads(wat_page[7]), json.loads(warc_page[7])
    assert wat_headers["content-language"] == warc_headers["content-language"]
    # every image the WAT names on the page, the WARC ingest found in its HTML at the same absolute URL
    warc_alt = {(p, u): a for p, u, a in warc_refs}
    for page, image, alt, kind in wat_refs:
        if page == url:
            assert (page, image) in warc_alt, image
            if kind == "img":
                assert alt == warc_alt[(page, image)]


def test_the_audit_gives_wat_sightings_the_page_signals_of_the_warc_page(stores: dict[str, Path]) -> None:
    with Store.open(stores["warc"], read_only=True) as store:
        url, facts, headers, ip, host = store.query("SELECT url, facts, headers, server_ip, host FROM pages")[0]
    # the WARC holds no image bytes, so its own audit gives no signal: the signals its page gives any image on it
    want = {(s.kind, s.country, s.strength.value) for s in
            [*page_signals(json.loads(facts), json.loads(headers)), *server_ip_signals(ip),
             *host_signals(host, "page")]}
    assert ("server_ip", "US", "weak") in want
    with Store.open(stores["wat"], read_only=True) as store:
        ids = [r[0] for r in store.query("SELECT sighting_id FROM sightings WHERE page_url = ?", [url])]
        assert ids
        for sid in ids:
            got = {(k, c, s) for k, c, s in store.query(
                "SELECT kind, country, strength FROM signals WHERE sighting_id = ?", [sid]) if k in PAGE_KINDS}
            assert got == want


def _jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (48, 48))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48 * 48)])
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def test_a_french_page_gives_the_same_page_signals_from_its_wat_as_from_its_warc(tmp_path: Path) -> None:
    """A page whose facts carry a country (ccTLD, language with region, hreflang, geo metas), with its image's bytes
    in the WARC: the WARC store's sighting and the WAT store's reference-only sighting get the same page signals."""
    html = ('<html lang="fr-FR"><head><title>Marché de Lyon</title><base href="https://www.exemple.fr/photos/">'
            '<meta name="geo.region" content="FR-69"><meta property="og:locale" content="fr_FR">'
            '<link rel="alternate" hreflang="fr-FR" href="https://www.exemple.fr/marche">'
            '<link rel="canonical" href="https://www.exemple.fr/marche"></head>'
            '<body><img src="marche.jpg" alt="Le marché  de la Croix-Rousse"></body></html>').encode()
    warc = tmp_path / "fr.warc.gz"
    with warc.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        write_response(writer, "https://www.exemple.fr/marche", "text/html; charset=utf-8", html)
        write_response(writer, "https://www.exemple.fr/photos/marche.jpg", "image/jpeg", _jpeg(3))
    wat = tmp_path / "fr.warc.wat.gz"
    wat.write_bytes(b"".join(metadata_record(e, e["Envelope"]["WARC-Header-Metadata"]["WARC-Target-URI"],
                                             "2024-01-01T00:00:00Z") for e in responses(warc)))
    signals = {}
    for name in ("warc", "wat"):
        with Store.open(tmp_path / f"{name}.duckdb") as store:
            if name == "warc":
                ingest(store, [warc], workers=1)
            else:
                ingest_wat(store, [wat])
            run_audit(store)
            rows = store.query("SELECT g.kind, g.country, g.strength FROM signals g JOIN sightings s USING "
                               "(sighting_id) WHERE s.image_url = 'https://www.exemple.fr/photos/marche.jpg'")
            signals[name] = {r for r in rows if r[0] in PAGE_KINDS}
            alt = store.query("SELECT alt_text FROM sightings WHERE image_url LIKE '%marche.jpg'")
            assert alt == [("Le marché de la Croix-Rousse",)]
    kinds = {k for k, _, _ in signals["wat"]}
    assert {"page_cctld", "html_lang", "hreflang", "geo_region", "og_locale"} <= kinds
    assert signals["wat"] == signals["warc"]


def test_a_truncated_and_a_corrupted_wat_keep_the_good_records_and_name_the_bad(tmp_path: Path) -> None:
    twin, (first, second) = _twin(tmp_path)
    data = twin.read_bytes()
    pages = list(_read_independently(twin))
    cut = tmp_path / "truncated.warc.wat.gz"
    cut.write_bytes(data[: second + (len(data) - second) // 2])
    broken = bytearray(data)
    middle = first + (second - first) // 2
    broken[middle: middle + 64] = bytes(b ^ 0x5A for b in broken[middle: middle + 64])
    corrupt = tmp_path / "corrupted.warc.wat.gz"
    corrupt.write_bytes(bytes(broken))
    for path, bad, kept in ((cut, second, pages[0]), (corrupt, first, pages[1])):
        with Store.open(tmp_path / f"{path.stem}.duckdb") as store:
            result = ingest_wat(store, [path])
            assert result.pages == 1 and result.bad_records >= 1
            assert any(e.startswith(f"{path}: offset {bad}") for e in result.errors), result.errors
            assert [r[0] for r in store.query("SELECT url FROM pages")] == [kept]
            assert store.count("sightings") > 0


def test_too_large_and_malformed_records_are_named_and_skipped(tmp_path: Path) -> None:
    twin, (first, second) = _twin(tmp_path)
    bad = metadata_record(None, "https://x.example.fr/", "2024-01-01T00:00:00Z", body=b'{"Envelope": [1, 2')
    path = tmp_path / "bad.warc.wat.gz"
    data = twin.read_bytes()
    path.write_bytes(data + bad)
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest_wat(store, [path], max_record_bytes=20_000)  # the request's record fits, the pages do not
        text = "\n".join(result.errors)
        assert f"{path}: offset {first}: metadata record over 20,000 bytes of JSON: skipped" in text
        assert f"{path}: offset {second}: metadata record over 20,000 bytes of JSON: skipped" in text
        assert f"{path}: offset {len(data)}: metadata record is not JSON" in text
        assert result.pages == 0 and result.records == 4 and result.bad_records == 3


def test_reingest_adds_nothing(stores: dict[str, Path]) -> None:
    with Store.open(stores["wat"]) as store:
        tables = ("crawls", "pages", "captures", "sightings", "images")
        before = {t: store.count(t) for t in tables}
        again = ingest_wat(store, [stores["twin"]])
        assert {t: store.count(t) for t in tables} == before
        assert again.pages == 2 and again.image_links > 0


def test_the_cli_detects_a_wat_and_refuses_to_mix_it(stores: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    proc = provaudit("ingest", str(stores["twin"]), "--db", str(db))
    assert "Common Crawl WAT" in proc.stdout
    with Store.open(db, read_only=True) as store:
        assert store.query("SELECT kind FROM crawls") == [("wat",)]
        with Store.open(stores["wat"], read_only=True) as other:
            assert store.count("sightings") == other.count("sightings")
    mixed = provaudit("ingest", str(stores["twin"]), str(WARC), "--db", str(tmp_path / "m.duckdb"), check=False)
    assert mixed.returncode == 1 and "WAT files are ingested on their own" in mixed.stdout + mixed.stderr
    wrong = provaudit("ingest", "--format", "wat", str(WARC), "--db", str(tmp_path / "w.duckdb"), check=False)
    assert wrong.returncode == 1 and "not a Common Crawl WAT file" in wrong.stdout + wrong.stderr
