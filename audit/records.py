"""Small value objects shared by the crawler, the ingesters and the store.

They are plain frozen dataclasses, so Scrapy treats them as items and the store can turn them into rows without
knowing where they came from (a live crawl, a WARC file or a folder of image files).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FaceBox:
    """One face detected in an image: its box in the stored image's pixels (within the image) and the detector's
    confidence. Detection only: nothing says whose face it is."""

    left: int
    top: int
    width: int
    height: int
    confidence: float


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """What the store records about one image's content (its exact bytes).

    Every field but ``sha256`` and ``size`` may be ``None``: a file that is not a readable image keeps its digest and
    size, ``error`` says why it could not be read, and whatever metadata could still be read is kept.
    """

    sha256: str
    size: int
    format: str | None = None
    width: int | None = None
    height: int | None = None
    phash: int | None = None  # 64-bit unsigned perceptual hash (imagehash.phash bit order)
    dhash: int | None = None  # 64-bit unsigned difference hash (imagehash.dhash bit order)
    phash_mirror: int | None = None  # pHash of the left-right mirrored image
    dhash_mirror: int | None = None  # dHash of the left-right mirrored image
    exif: dict[str, Any] | None = None  # raw EXIF tags, JSON-safe
    iptc: dict[str, Any] | None = None  # raw IPTC IIM datasets, JSON-safe
    xmp: dict[str, Any] | None = None  # XMP properties, JSON-safe
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    taken_at: dt.datetime | None = None  # DateTimeOriginal, local time of the camera (naive)
    utc_offset: str | None = None  # "+02:00", from OffsetTimeOriginal or GPS time; None if unknown
    location: dict[str, str] | None = None  # IPTC/XMP location fields found (city, province, country_code, ...)
    c2pa: dict[str, Any] | None = None  # the embedded C2PA manifest store, read offline (None when absent)
    error: str | None = None  # why the content is not a readable image, or None
    field_errors: tuple[str, ...] = ()  # per-field problems (malformed EXIF, bad XMP, ...): the rest was still read
    # the faces detected (audit.decode.facejob), most confident first; None when detection did not run or failed
    faces: tuple[FaceBox, ...] | None = None
    face_error: str | None = None  # why face detection failed or could not run on a readable image, or None


@dataclass(frozen=True, slots=True)
class ArchivedAt:
    """Where an archive holds one capture: its file (as named to the ingest, or a live crawl's WARC) and the record's
    file offset (gzip: of its member); ``record_id`` is the record's ``WARC-Record-ID`` (None in an ARC file) and
    ``length`` the bytes it spans from ``offset`` (gzip: its whole members; None when it shares a member with other
    records); for a WARC revisit record, ``revisit_of`` says where the content it repeats was read
    (``"<file>: offset <n>"``)."""

    archive: str
    offset: int
    revisit_of: str | None = None
    record_id: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class PageItem:
    """One HTML page fetched (or read from an archive)."""

    url: str
    status: int
    fetched_at: dt.datetime
    server_ip: str | None = None
    lang: str | None = None
    title: str | None = None  # the page's <title>, at most audit.decode.html.MAX_TITLE characters
    content_type: str | None = None
    headers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    facts: dict[str, Any] | None = None  # audit.decode.pagefacts.page_facts() of the HTML
    archived_at: ArchivedAt | None = None  # the archive or crawl WARC record it was read from or written to
    # the stylesheets the page links (audit.decode.html.ParsedPage.stylesheets): not a column; the images they name
    # become sightings of the page (ref_kind "stylesheet") once each stylesheet is read
    stylesheets: tuple[str, ...] = ()


POLICY_PATHS = {"/robots.txt": "robots.txt", "/.well-known/tdmrep.json": "tdmrep.json"}


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A robots.txt or TDMRep file of a host, kept so the audit can tell which collected images its rules
    forbade (``kind`` is ``robots.txt`` or ``tdmrep.json``). When no response arrived (connection refused or reset,
    timeout, DNS failure), ``status`` is None, ``body`` empty and ``error`` says what failed."""

    kind: str
    url: str
    status: int | None
    body: str
    fetched_at: dt.datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StylesheetFetch:
    """One linked stylesheet fetched (or read from an archive): the image and ``@import`` URLs it names
    (:func:`audit.decode.stylesheets.read_stylesheet`), or why it could not be read. ``error`` also says what was cut
    of one that was read."""

    url: str
    fetched_at: dt.datetime
    status: int | None = None
    final_url: str | None = None
    content_type: str | None = None
    bytes: int | None = None
    image_urls: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    skipped: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One reference to an image found in a page: the raw material of a sighting."""

    page_url: str | None
    image_url: str
    alt_text: str | None = None
    caption: str | None = None
    heading: str | None = None  # the nearest <h1>-<h3> before the referencing <img> (audit.decode.html)
    ref_kind: str = "img"  # img, srcset, picture, og:image, link, file
    attributes: dict[str, str] = field(default_factory=dict)
    fetched_at: dt.datetime | None = None  # when the page holding the reference was fetched
    rendered: bool = False  # found only in the page's rendered DOM (a rendered crawl), not in its raw HTML


@dataclass(frozen=True, slots=True)
class DatasetSighting:
    """One sample of a dataset that was already downloaded (img2dataset output): a sighting of its image URL, with no
    page. Without ``reference_key`` the sample's bytes came just before it as an :class:`ImageFetch` of
    ``image_url`` and the sighting is of their content; with one, the dataset holds no bytes for it (a failed
    download) and the sighting is of the reference-only image of that key (``ref:`` and the URL's digest,
    :func:`audit.ingest.tables.reference_key`) carrying the dataset's published hashes. ``discriminator`` (the
    output, shard and key of the sample) keeps two samples of one URL two sightings."""

    image_url: str
    discriminator: str
    caption: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    fetched_at: dt.datetime | None = None
    reference_key: str | None = None
    published_sha256: str | None = None
    published_md5: str | None = None


@dataclass(frozen=True, slots=True)
class ImageFetch:
    """The outcome of fetching one image URL: the content's record, or the failure."""

    url: str
    fetched_at: dt.datetime
    status: int | None = None
    final_url: str | None = None
    content_type: str | None = None
    server_ip: str | None = None
    headers: dict[str, list[str]] = field(default_factory=dict)
    record: ImageRecord | None = None
    error: str | None = None
    body: bytes | None = field(default=None, repr=False, compare=False)  # in transit only, never stored
    archived_at: ArchivedAt | None = None  # the archive or crawl WARC record it was read from or written to
