"""WARC revisit records resolved to the record that holds their content.

A revisit record (WARC 1.0/1.1, profiles ``identical-payload-digest`` and ``server-not-modified``) says "this URL was
captured again at this date, and its content is that of an earlier record" without repeating the content. Dropping
it loses the capture. :class:`RevisitIndex` remembers, for every response or resource record read in one ingest,
only where it is (file, offset, and the record's position within a gzip member) under the keys a revisit may name
it by: its ``WARC-Record-ID`` (``WARC-Refers-To``), its ``WARC-Payload-Digest``, its target URI and date
(``WARC-Refers-To-Target-URI`` + ``WARC-Refers-To-Date``). No body is kept: the original is read again, through the
same bounded reader (:func:`audit.ingest.archive.read_archive` from the original's offset), when a revisit needs it.

Memory: a few short strings per response/resource record of the ingest (about 300 bytes each), plus the revisits
not yet resolved (their headers, a few hundred bytes each).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import RereadBudgetSpent
from audit.ingest.archive import ArchiveLimits, Report, read_archive

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Location:
    """Where a record is: its file, the file offset read from (gzip: its member's) and its ``where`` string."""

    path: Path
    offset: int
    where: str


@dataclass(frozen=True)
class Revisit:
    """What one revisit record says: its own capture (URI, date, address, HTTP headers) and how it names its
    original."""

    path: Path
    where: str
    url: str
    date: str | None
    server_ip: str | None
    http_headers: Any  # warcio StatusAndHeaders of the revisit (its own response), or None
    refers_to: str | None
    refers_to_uri: str | None
    refers_to_date: str | None
    digest: str | None
    offset: int = 0  # file offset of the revisit record (gzip: of its member)
    record_id: str | None = None  # its WARC-Record-ID
    length: int | None = None  # bytes it spans (audit.ingest.archive.ArchiveRecord.length)


def _clean(value: str | None) -> str | None:
    return value.strip().strip("<>").strip() if value else None


def revisit_of(record: Any, path: Path, where: str, offset: int = 0, length: int | None = None) -> Revisit | None:
    """The :class:`Revisit` a warcio revisit record stands for (None when it names no target URI)."""
    h = record.rec_headers
    url = _clean(h.get_header("WARC-Target-URI"))
    if not url:
        return None
    return Revisit(path=path, where=where, url=url, date=h.get_header("WARC-Date"),
                   server_ip=h.get_header("WARC-IP-Address"), http_headers=getattr(record, "http_headers", None),
                   refers_to=_clean(h.get_header("WARC-Refers-To")),
                   refers_to_uri=_clean(h.get_header("WARC-Refers-To-Target-URI")),
                   refers_to_date=_clean(h.get_header("WARC-Refers-To-Date")),
                   digest=_clean(h.get_header("WARC-Payload-Digest")), offset=offset,
                   record_id=h.get_header("WARC-Record-ID"), length=length)


REREAD_RECORDS = 200_000  # records re-reading originals may pass over in one ingest (see RevisitIndex.reread_left)


@dataclass
class RevisitIndex:
    """The originals seen so far in one ingest, and the revisits that could not yet be resolved."""

    by_id: dict[str, Location] = field(default_factory=dict)
    by_digest: dict[str, Location] = field(default_factory=dict)
    by_capture: dict[tuple[str, str], Location] = field(default_factory=dict)
    pending: list[Revisit] = field(default_factory=list)
    resolved: int = 0
    unresolved: int = 0
    # records that re-reading originals may pass over in one ingest: an original inside a gzip member that holds many
    # records (a whole file compressed as one member) is found again by reading the member from its start, so
    # without a bound N revisits of such a file would cost N readings of it
    reread_left: int = field(default_factory=lambda: REREAD_RECORDS)

    def add_original(self, record: Any, location: Location) -> None:
        """Remember a response or resource record (the first one wins for a digest or a capture)."""
        h = record.rec_headers
        rid = _clean(h.get_header("WARC-Record-ID"))
        if rid:
            self.by_id.setdefault(rid, location)
        digest = _clean(h.get_header("WARC-Payload-Digest"))
        if digest:
            self.by_digest.setdefault(digest, location)
        url, date = _clean(h.get_header("WARC-Target-URI")), _clean(h.get_header("WARC-Date"))
        if url and date:
            self.by_capture.setdefault((url, date), location)

    def find(self, revisit: Revisit) -> Location | None:
        """The original of ``revisit`` among those seen: by record id, then by target URI and date, then by
        payload digest."""
        if revisit.refers_to and revisit.refers_to in self.by_id:
            return self.by_id[revisit.refers_to]
        if revisit.refers_to_date:
            found = self.by_capture.get((revisit.refers_to_uri or revisit.url, revisit.refers_to_date))
            if found is not None:
                return found
        if revisit.digest:
            return self.by_digest.get(revisit.digest)
        return None


def read_original(location: Location, *, limits: ArchiveLimits, report: Report,
                  max_file_bytes: int | None, index: RevisitIndex | None = None) -> Iterator[Any]:
    """The warcio record at ``location``, read again from its offset by :func:`read_archive` (the same bounds and
    framing as the first time); yields it once (read its body before resuming), or nothing when it is not found.
    Every record passed over on the way is taken from ``index.reread_left``; once it is spent, raises
    :class:`RereadBudgetSpent`."""
    for framed in read_archive(location.path, limits=limits, report=report, max_file_bytes=max_file_bytes,
                               start=location.offset):
        if framed.where == location.where:
            yield framed.record
            return
        if index is not None:  # a record passed over on the way to the original (several records in one member)
            if index.reread_left <= 0:
                raise RereadBudgetSpent("the ingest's bound of records re-read for revisits is spent (many records "
                                        "per gzip member: `warcio recompress` the file)")
            index.reread_left -= 1
        if framed.offset > location.offset:
            return
