"""An ``<a href>`` whose path ends in ``.jpg`` is an image sighting of an ingest only when the archives hold an image
response at that URL: a link to a MediaWiki ``File:…jpg`` description page (HTML) or to a URL never archived is not."""

from __future__ import annotations

import json
import subprocess
import sys

from warcio.warcwriter import WARCWriter
from warcs import png, write_response

from audit.ingest.run import ingest
from audit.store.db import Store

PAGE = b"""<!DOCTYPE html><html><head><title>Escopete</title></head><body>
<div class="thumb"><a href="/wiki/Imachen:Iglesia_(Escopete).jpg" class="image">
<img src="//upload.example.org/thumb/Iglesia.jpg/220px-Iglesia.jpg" alt="Iglesia"></a></div>
<p><a href="/full/portrait.jpg">full size portrait</a> and <a href="/gone/never-archived.png">a lost one</a></p>
</body></html>"""
FILE_PAGE = b"<!DOCTYPE html><html><body><h1>Imachen:Iglesia (Escopete).jpg</h1></body></html>"


def _links(store: Store) -> dict[str, str]:
    rows = store.query("SELECT image_url, ref_kind FROM sightings WHERE page_url = 'https://an.example.org/wiki/E'")
    return dict(rows)


def test_links_to_html_pages_and_unarchived_urls_are_no_sightings(tmp_path):
    warc = tmp_path / "wiki.warc.gz"
    with warc.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        write_response(writer, "https://an.example.org/wiki/E", "text/html; charset=utf-8", PAGE)
        write_response(writer, "https://an.example.org/wiki/Imachen:Iglesia_(Escopete).jpg", "text/html", FILE_PAGE)
        write_response(writer, "https://an.example.org/full/portrait.jpg", "image/png", png((200, 10, 10)))
    with Store.open(tmp_path / "s.duckdb") as store:
        result = ingest(store, [warc], workers=1)
        links = _links(store)
        (stats,) = store.query("SELECT stats FROM crawls")[0]
    assert links == {"https://upload.example.org/thumb/Iglesia.jpg/220px-Iglesia.jpg": "img",
                     "https://an.example.org/full/portrait.jpg": "link"}
    assert result.links_not_images == 2
    assert json.loads(stats)["image_links"] == {"kept": 1, "not_images": 2, "unchecked": 0}


def test_link_kept_when_the_image_is_in_another_file_of_the_ingest(tmp_path):
    pages, images = tmp_path / "pages.warc.gz", tmp_path / "images.warc.gz"
    with pages.open("wb") as fh:
        write_response(WARCWriter(fh, gzip=True), "https://an.example.org/wiki/E", "text/html", PAGE)
    with images.open("wb") as fh:
        write_response(WARCWriter(fh, gzip=True), "https://an.example.org/full/portrait.jpg", "image/png",
                       png((10, 200, 10)))
    for order in ([pages, images], [images, pages]):
        with Store.open(tmp_path / f"s-{order[0].stem}.duckdb") as store:
            ingest(store, order, workers=1)
            links = _links(store)
        assert links.get("https://an.example.org/full/portrait.jpg") == "link", order
        assert "https://an.example.org/wiki/Imachen:Iglesia_(Escopete).jpg" not in links


def test_cli_summary_counts_the_links_left_out(tmp_path):
    warc = tmp_path / "wiki.warc.gz"
    with warc.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        write_response(writer, "https://an.example.org/wiki/E", "text/html", PAGE)
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "ingest", str(warc), "--db", str(tmp_path / "s.duckdb"),
                           "--workers", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "links to image-looking URLs the archives hold no image for" in proc.stdout
