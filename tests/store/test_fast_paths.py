"""The ingest's fast paths give exactly what the library code they stand in for gives: the WARC/HTTP header parser
(warcio's), WARC dates (strptime) and absolute URLs of hrefs naming their host (urljoin against the page)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from audit.decode.html import _absolute, absolute_url
from audit.ingest.archive import _record_loader
from audit.ingest.run import _parse_warc_date

CORPORA = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"
ARCHIVES = sorted(p for p in (CORPORA / "warc").rglob("*") if p.is_file() and (".arc" in p.name or ".warc" in p.name))


def _headers(path: Path, ours: bool) -> list[Any]:
    out: list[Any] = []
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh, arc2warc=True, verify_http=False)
        if ours:
            it.loader = _record_loader()
        try:
            for record in it:
                http = record.http_headers
                # an ARC record's WARC-Record-ID is a fresh uuid that warcio makes up on each read
                rec = [(k, "<arc>" if k == "WARC-Record-ID" and path.name.endswith((".arc", ".arc.gz")) else v)
                       for k, v in record.rec_headers.headers]
                out.append((record.rec_headers.protocol, record.rec_headers.statusline, rec,
                            record.rec_headers.total_len,
                            None if http is None else (http.protocol, http.statusline, http.headers, http.total_len)))
        except Exception as exc:  # a broken archive: the same failure, after the same records
            out.append((type(exc).__name__, str(exc)))
    return out


@pytest.mark.parametrize("path", ARCHIVES, ids=lambda p: p.name)
def test_header_parser_gives_warcios_results_on_real_archives(path: Path):
    expected = _headers(path, ours=False)
    assert _headers(path, ours=True) == expected


def test_real_archives_are_there():
    assert len(ARCHIVES) >= 15


def test_warc_dates_as_strptime_reads_them():
    rng = random.Random(20)
    values = ["2026-02-30T10:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00.5Z",
              "2026-01-01T00:00:00.123456Z", "2026-01-01T00:00:00.1234567Z", "20260101120000", "2026-01-01 00:00:00Z"]
    for _ in range(2000):
        frac = rng.choice(["", "." + str(rng.randrange(10 ** rng.randint(1, 6))).zfill(rng.randint(1, 6))])
        values.append(f"{rng.randint(1990, 2030):04d}-{rng.randint(1, 13):02d}-{rng.randint(1, 31):02d}T"
                      f"{rng.randint(0, 24):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 60):02d}{frac}Z")
    checked = 0
    for value in values:
        expected = None
        for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%d%H%M%S"):
            try:
                expected = dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
                break
            except ValueError:
                continue
        got = _parse_warc_date(value)  # never raises, whatever the value
        if expected is not None:
            assert got == expected, value
        checked += expected is not None
    assert checked > 1000
    assert _parse_warc_date("2026-01-01T00:00:00.5Z").microsecond == 500000


@pytest.mark.parametrize("base", ["http://www.example.fr/a/b.html", "https://example.org/", "http://h.example:8080/x?y",
                                  "http://[::1]/p", "http://[bad/p"])
def test_absolute_urls_of_hrefs_with_a_host_as_urljoin_gives_them(base: str):
    hrefs = ["http://img.example.fr/a.jpg", "https://cdn.example.com/x/../y.png?q=1#frag", "//cdn.example.net/z.gif",
             "http:///no-host.jpg", "https:/one-slash.jpg", "//", "http://", "http://[::1/broken", "//[fe80::1]/a",
             "HTTP://UPPER.example/A.JPG", "http://a.example:99999/p", "//user:pw@host.example/p",
             " http://x.example/ "]
    for href in hrefs:
        assert absolute_url(base, href) == _absolute(base, href.strip()), (base, href)
