"""The provenance store's schema, declared once: every table (the recorded ones, the ones ``provaudit audit``
derives from them, the temporary ones an audit run works in) and view, with a line of documentation per column.

The DDL is generated from these declarations (:meth:`Table.ddl`), ``docs/schema.md`` is generated from them
(``python -m audit.docs``; a test checks it is current), the Arrow schemas used for bulk writes are derived from them
(:mod:`audit.store.arrow`), and every module that needs a list of tables (the derived ones, the core ones) takes it
from here. Plain data: this module imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    doc: str
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # False for the large tables that only `provaudit audit` writes, in bulk, once per run: their key is unique by
    # construction, and keeping an index on millions of rows would cost most of the audit's time.
    indexed: bool = True
    # True for the tables `provaudit audit` rebuilds from the others (dropped and written again in one transaction)
    derived: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        cols = [f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns]
        if self.indexed:
            cols.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"



C = Column

TABLES: tuple[Table, ...] = (
    Table(
        "crawls",
        "One row per crawl or ingest run: where the rows with this `crawl_id` came from.",
        (
            C("crawl_id", "VARCHAR", "Identifier of the crawl (live crawls) or of the ingested source.", False),
            C("source", "VARCHAR", "What was crawled or ingested: start URLs, archive paths, folder paths."),
            C("kind", "VARCHAR", "`crawl` (live Scrapy crawl), `warc` (archive ingest), `files` (folder ingest), "
              "`dataset` (URL + caption tables: reference-only sightings), `img2dataset` (img2dataset output: each "
              "sample's bytes as a fetch of its URL, failed downloads as reference-only sightings; "
              "docs/datasets.md), `wat` (Common Crawl WAT files: a page per HTML response described, each image "
              "link on it a reference-only sighting) or `fetch` (`provaudit fetch` of a dataset's image URLs)."),
            C("started_at", "TIMESTAMPTZ", "When the run started (UTC)."),
            C("finished_at", "TIMESTAMPTZ", "When the run finished; NULL while running or if it was killed."),
            C("settings", "JSON", "The settings the run used (AUDIT_*, concurrency, user agent, ...)."),
            C("warc_path", "VARCHAR", "The WARC file holding every response of a live crawl, or NULL."),
            C("stats", "JSON", "Counters at the end of the run (pages, images, errors, bytes; for an ingest "
              "with WARC revisit records, `revisits`: how many were resolved and how many had no original; "
              "`test_web_marked` and `test_web_unmarked`: its responses and dataset rows carrying the built-in "
              "test web's marker, and not)."),
            C("test_web", "BOOLEAN", "True when the run recorded the built-in test web: at least one, and every, "
              "HTTP response (pages and image fetches with headers) and dataset row it recorded carries the test "
              "web's marker (the `X-Provaudit-Testweb` header its server sends, the `provaudit_testweb` field of "
              "its dataset exports; audit.testweb_marker). Every output built on a store with such a crawl says "
              "so on every page: its figures measure the method, not the real web. False for any other run; NULL "
              "when the run recorded nothing to judge by, or was written before this column existed."),
        ),
        ("crawl_id",),
    ),
    Table(
        "pages",
        "One row per HTML page fetched (or read from an archive) in a crawl.",
        (
            C("crawl_id", "VARCHAR", "The crawl that fetched the page.", False),
            C("url", "VARCHAR", "Final URL of the page (after redirects).", False),
            C("host", "VARCHAR", "Host name of `url`, lower case."),
            C("status", "INTEGER", "HTTP status code."),
            C("fetched_at", "TIMESTAMPTZ", "When the response was received (UTC)."),
            C("server_ip", "VARCHAR", "IP address the response came from (the proxy's when crawling through one)."),
            C("lang", "VARCHAR", "The `<html lang>` attribute, as written in the page."),
            C("title", "VARCHAR", "The page's `<title>` (whitespace collapsed, at most 300 characters): the audit "
              "reads the places it names (`place_in_text`, weak); NULL in rows written before this column existed."),
            C("content_type", "VARCHAR", "The Content-Type header."),
            C("headers", "JSON", "Response headers: name (lower case) to list of values."),
            C("facts", "JSON", "Raw facts of the page the signals read (og:locale, hreflang, geo meta, "
              "schema.org addresses, phone numbers, robots meta), so the audit runs without the HTML."),
            C("error", "VARCHAR", "Why the page could not be fetched or parsed, or NULL."),
        ),
        ("crawl_id", "url"),
    ),
    Table(
        "host_policies",
        "One row per robots.txt and `/.well-known/tdmrep.json` a crawl asked for (responses are also kept in the "
        "WARC): the rules each host published for crawlers and text-and-data mining, or why none arrived.",
        (
            C("crawl_id", "VARCHAR", "The crawl that fetched it.", False),
            C("host", "VARCHAR", "Lower-case host name the file governs, as in `sightings.image_host`, with "
              "`:port` only for a non-default port (such files are not matched to sightings by the audit).", False),
            C("kind", "VARCHAR", "`robots.txt` or `tdmrep.json`.", False),
            C("url", "VARCHAR", "URL of the file."),
            C("status", "INTEGER", "HTTP status code (a 404 means the host published none); NULL when no response "
              "arrived (see `error`). A robots.txt answering 5xx or not at all means \"disallow everything\" "
              "(RFC 9309, section 2.3.1.4)."),
            C("body", "VARCHAR", "Its text (at most 512 KiB; Google reads at most 500 KiB of a robots.txt); NULL when "
              "no response arrived."),
            C("fetched_at", "TIMESTAMPTZ", "When it was fetched, or when the fetch failed (UTC)."),
            C("error", "VARCHAR", "Why no response arrived (connection refused or reset, timeout, DNS failure, ...), "
              "after the crawl's retries; NULL when one did."),
        ),
        ("crawl_id", "host", "kind"),
    ),
    Table(
        "fetches",
        "One row per image URL requested in a crawl: the response, or why there was none.",
        (
            C("crawl_id", "VARCHAR", "The crawl that requested the image.", False),
            C("url", "VARCHAR", "The image URL as referenced by the page (before redirects).", False),
            C("final_url", "VARCHAR", "The URL that answered, after redirects."),
            C("status", "INTEGER", "HTTP status code, NULL when no response arrived."),
            C("content_type", "VARCHAR", "The Content-Type header."),
            C("fetched_at", "TIMESTAMPTZ", "When the response (or the failure) happened (UTC)."),
            C("server_ip", "VARCHAR", "IP address the response came from."),
            C("headers", "JSON", "Response headers: name (lower case) to list of values."),
            C("bytes", "BIGINT", "Size of the body received."),
            C("sha256", "VARCHAR", "SHA-256 of the body, the key into `images`; NULL when nothing was received."),
            C("error", "VARCHAR", "Why the fetch failed (HTTP error, timeout, too large, ...), or NULL."),
        ),
        ("crawl_id", "url"),
    ),
    Table(
        "captures",
        "One row per capture of a page or an image: `pages` and `fetches` keep one row per URL and crawl (the first "
        "capture), so an archive that captured a URL several times (a re-crawl, WARC revisit records) keeps each "
        "capture here, at its own date.",
        (
            C("capture_id", "VARCHAR", "Stable id: a digest of crawl_id, kind, url, fetched_at, archive and "
              "archive_offset (for a live crawl without the archive and offset, which its WARC writer gives the row "
              "later).", False),
            C("crawl_id", "VARCHAR", "The crawl or ingest that recorded it.", False),
            C("kind", "VARCHAR", "`page` (a row of `pages` has its URL) or `image` (a row of `fetches` has it).",
              False),
            C("url", "VARCHAR", "The URL captured, as in `pages.url` or `fetches.url`.", False),
            C("fetched_at", "TIMESTAMPTZ", "When it was captured (UTC): the response's time, or the record's "
              "`WARC-Date`."),
            C("status", "INTEGER", "HTTP status code; NULL when no response arrived."),
            C("sha256", "VARCHAR", "For an image: SHA-256 of the content captured; NULL for pages and failures."),
            C("server_ip", "VARCHAR", "IP address the response came from."),
            C("error", "VARCHAR", "Why the capture could not be read, or NULL."),
            C("archive", "VARCHAR", "The file that holds the capture: the archive as named to `provaudit ingest`, or "
              "the live crawl's (or `provaudit fetch`'s) WARC, `crawls.warc_path`; NULL for a capture of no record "
              "(a failure with no response, a crawl without WARC, rows written before live crawls recorded it)."),
            C("archive_offset", "BIGINT", "File offset of the capture's record in `archive` (gzip: of the member it "
              "starts in): for a live crawl the `response` (or `revisit`) record it wrote."),
            C("record_id", "VARCHAR", "The `WARC-Record-ID` of that record (`<urn:uuid:…>`); NULL for an ARC record, "
              "a page described by a Common Crawl WAT record, a file of an img2dataset output, or where "
              "`archive_offset` is NULL."),
            C("record_length", "BIGINT", "Bytes the record spans in `archive` from `archive_offset` (gzip: its whole "
              "members), so that `archive[archive_offset : archive_offset + record_length]` is the record alone, as "
              "`provaudit package` copies it; NULL when it shares a gzip member with other records or is unknown."),
            C("revisit_of", "VARCHAR", "For a WARC revisit record: where the content it repeats was read, "
              "`<file>: offset <n>`; NULL for a record that holds its own content."),
        ),
        ("capture_id",),
    ),
    Table(
        "stylesheets",
        "One row per linked stylesheet a crawl fetched (or an ingest read from an archive), once per crawl however "
        "many pages link it: what it named, or why it could not be read. The images it names are sightings of each "
        "page that links it (`ref_kind` `stylesheet`). Responses are also kept in the WARC.",
        (
            C("crawl_id", "VARCHAR", "The crawl that fetched it.", False),
            C("url", "VARCHAR", "The stylesheet URL as a page (or an `@import` rule) named it.", False),
            C("final_url", "VARCHAR", "The URL that answered, after redirects (relative `url()` entries are "
              "resolved against it)."),
            C("status", "INTEGER", "HTTP status code, NULL when no response arrived."),
            C("content_type", "VARCHAR", "The Content-Type header."),
            C("fetched_at", "TIMESTAMPTZ", "When the response (or the failure) happened (UTC)."),
            C("bytes", "BIGINT", "Bytes of the body read (at most `AUDIT_MAX_STYLESHEET_BYTES`)."),
            C("images", "INTEGER", "Distinct http(s) image URLs its `url()` entries name."),
            C("imports", "VARCHAR[]", "The stylesheets its `@import` rules name (followed one level deep)."),
            C("skipped", "INTEGER", "`url()` and `@import` entries that are no http(s) URL (`data:`, "
              "`javascript:`, `file:`, ...): never followed."),
            C("error", "VARCHAR", "Why it could not be fetched or read (HTTP error, robots.txt, timeout, ...), or "
              "what was cut (a body over `AUDIT_MAX_STYLESHEET_BYTES`, `url()` entries past the bounds); NULL "
              "when it was read whole."),
        ),
        ("crawl_id", "url"),
    ),
    Table(
        "images",
        "One row per distinct image content (exact bytes), whatever URL or crawl it came from.",
        (
            C("sha256", "VARCHAR", "SHA-256 of the exact bytes served, hex; for a reference-only image (a dataset "
              "row naming an image by URL, no bytes fetched) `ref:` and the SHA-256 of its URL.", False),
            C("format", "VARCHAR", "Image format as Pillow names it (JPEG, PNG, WEBP, HEIF, ...); NULL if unreadable "
              "or reference-only."),
            C("width", "INTEGER", "Width in pixels."),
            C("height", "INTEGER", "Height in pixels."),
            C("bytes", "BIGINT", "Size of the content in bytes."),
            C("phash", "UBIGINT", "64-bit perceptual hash (imagehash.phash bit order)."),
            C("dhash", "UBIGINT", "64-bit difference hash (imagehash.dhash bit order)."),
            C("phash_mirror", "UBIGINT", "pHash of the left-right mirrored image (matches mirrored copies)."),
            C("dhash_mirror", "UBIGINT", "dHash of the left-right mirrored image."),
            C("exif", "JSON", "Raw EXIF tags read (MakerNote and thumbnails left out)."),
            C("iptc", "JSON", "Raw IPTC IIM datasets read."),
            C("xmp", "JSON", "XMP properties read."),
            C("gps_lat", "DOUBLE", "Decoded EXIF GPS latitude; NULL when absent or invalid (0/0, NaN, out of range)."),
            C("gps_lon", "DOUBLE", "Decoded EXIF GPS longitude; NULL when absent or invalid."),
            C("gps_alt", "DOUBLE", "Decoded EXIF GPS altitude in metres; NULL when absent or invalid."),
            C("taken_at", "TIMESTAMP", "DateTimeOriginal, the camera's local time (no time zone)."),
            C("utc_offset", "VARCHAR", "UTC offset of `taken_at` as `+HH:MM` (OffsetTimeOriginal or GPS time)."),
            C("location", "JSON", "IPTC/XMP location fields found (city, province, country_code, country, source)."),
            C("c2pa", "JSON", "The embedded C2PA manifest store (content credentials) read offline, or NULL."),
            C("error", "VARCHAR", "Why the content is not a readable image, or NULL."),
            C("field_errors", "VARCHAR[]", "Problems reading single metadata fields; the other fields were read."),
            C("face_count", "INTEGER", "Faces detected (rows of `faces`): 0 when detection ran and found none; NULL "
              "when it did not run (turned off, an unreadable image, rows written before faces were detected: "
              "`provaudit audit --faces` adds them) or failed (see `face_error`)."),
            C("face_error", "VARCHAR", "Why face detection failed or could not run on this image (timed out, "
              "crashed, its bytes not found by `provaudit audit --faces`), or NULL; the image's other columns and "
              "rows are kept either way."),
            C("reference_only", "BOOLEAN", "True for an image known only by reference (a row of a dataset table, "
              "an image link of a Common Crawl WAT: its URL, text and metadata, no bytes): signals of its URL and "
              "text apply, none of its content; NULL for an image whose bytes were read."),
            C("published_sha256", "VARCHAR", "For a reference-only image: the SHA-256 its dataset published for the "
              "image's bytes (lower-case hex), or NULL; `lookup` matches photos against it without fetching. For an "
              "image read from an img2dataset sample: the SHA-256 the sample's `.json` gives of the bytes "
              "img2dataset downloaded (the original at the URL), when it differs from these re-encoded bytes, so "
              "the original photo is matched to its resized copy."),
            C("published_md5", "VARCHAR", "For a reference-only image: the MD5 its dataset published, or NULL; for an "
              "image of an img2dataset sample, the `.json`'s `md5` of the original (older img2dataset versions)."),
        ),
        ("sha256",),
    ),
    Table(
        "faces",
        "One row per face detected in an image (detection only: where a face is and how large, never whose it is; "
        "no crop is kept). Written with the image by a crawl or an ingest, or by `provaudit audit --faces`.",
        (
            C("sha256", "VARCHAR", "The image (`images.sha256`).", False),
            C("face_index", "INTEGER", "0, 1, ... in the order of the detector's confidence, highest first.", False),
            C("box_left", "INTEGER", "Left edge of the face's box, in the stored image's pixels."),
            C("box_top", "INTEGER", "Top edge of the box, in the stored image's pixels."),
            C("box_width", "INTEGER", "Width of the box in pixels."),
            C("box_height", "INTEGER", "Height of the box in pixels."),
            C("confidence", "DOUBLE", "The detector's score for the face (its own scale; see `detector`)."),
            C("relative_size", "DOUBLE", "How large the face is in its image: `box_height / images.height`."),
            C("detector", "VARCHAR", "The face detector that found it (audit.decode.faces.DETECTOR)."),
            C("detector_version", "VARCHAR", "Its pinned version, so the result can be reproduced."),
        ),
        ("sha256", "face_index"),
    ),
    Table(
        "sightings",
        "One row per (crawl, image URL, page URL): where an image was seen.",
        (
            C("sighting_id", "VARCHAR", "Stable id: a digest of crawl_id, image_url and page_url.", False),
            C("crawl_id", "VARCHAR", "The crawl that saw it.", False),
            C("sha256", "VARCHAR", "The image content seen; NULL if the image could not be fetched."),
            C("image_url", "VARCHAR", "URL of the image (a `file:` URL for folder ingests).", False),
            C("page_url", "VARCHAR", "URL of the page that references it; NULL for an image met on its own."),
            C("image_host", "VARCHAR", "Host of `image_url`."),
            C("page_host", "VARCHAR", "Host of `page_url`."),
            C("alt_text", "VARCHAR", "The `alt` attribute of the referencing element."),
            C("caption", "VARCHAR", "The `<figcaption>` (or `title`) around the referencing element."),
            C("heading", "VARCHAR", "The text of the last `<h1>`-`<h3>` before the referencing `<img>` in the page "
              "(at most 300 characters): the audit reads the places it names (`place_in_text`, weak); NULL when "
              "none, and in rows written before this column existed."),
            C("ref_kind", "VARCHAR", "How the page references it: img, srcset, picture, og:image, link, file; "
              "lazy (a lazy-loading attribute such as `data-src`), css (`url()` in a `style` attribute or "
              "`<style>` block), stylesheet (`url()` in a stylesheet the page links, `attributes` names it as "
              "`{\"stylesheet\": url}`; see the `stylesheets` table), background (`background=`), input "
              "(`<input type=image>`), icon "
              "(`<link rel=icon>` and kin), link-image (`<link rel=image_src>` or `rel=preload as=image`), "
              "poster (`<video poster>`), svg (SVG `<image>`), microdata (`itemprop=image`), json-ld (JSON-LD "
              "image keys); referer (in an archive: the image's request record names the archived page as its "
              "`Referer`, and the page's HTML does not reference it); dataset (a row of a dataset table: `caption` "
              "holds its caption, `attributes` the row's other columns with its file and row number; a sample of an "
              "img2dataset output: its `.txt` caption, its `.json` as `attributes` with its file, shard and member or "
              "row, the EXIF bounded). A WAT ingest (crawls.kind `wat`) uses the same kinds for the links its JSON "
              "lists (img for `IMG@/src`, with `alt` and `title` as alt text and caption; `attributes` holds the "
              "link's JSON keys, `path` among them)."),
            C("attributes", "JSON", "The referencing element's attributes."),
            C("fetched_at", "TIMESTAMPTZ", "When the referencing page was fetched (UTC)."),
            C("rendered", "BOOLEAN", "True when the reference appears only in the page's rendered DOM (a rendered "
              "crawl, `provaudit crawl --render`: inserted by script or loaded on scroll), false when the raw HTML "
              "holds it; NULL in rows written before this column existed."),
        ),
        ("sighting_id",),
    ),
    Table(
        "link_checks",
        "One row per image URL of a dataset (a reference-only image) that `provaudit fetch` asked for: whether the "
        "link still works and whether it still serves the bytes the dataset published. The fetch's own rows are in "
        "`fetches` (and its WARC); a URL that answered with a readable image has its sightings re-pointed at it.",
        (
            C("crawl_id", "VARCHAR", "The fetch (a crawl of kind `fetch`) that asked for it.", False),
            C("url", "VARCHAR", "The image URL, as the dataset lists it.", False),
            C("reference", "VARCHAR", "The reference-only image's key (`images.sha256`, `ref:` ...)."),
            C("checked_at", "TIMESTAMPTZ", "When the response (or the failure) came (UTC)."),
            C("status", "INTEGER", "HTTP status code; NULL when no response arrived (see `error`)."),
            C("final_url", "VARCHAR", "The URL that answered, after redirects."),
            C("redirected", "BOOLEAN", "Whether it answered from another URL than the one listed."),
            C("sha256", "VARCHAR", "SHA-256 of the bytes received, or NULL."),
            C("published_sha256", "VARCHAR", "The SHA-256 the dataset published for the image, or NULL."),
            C("content", "VARCHAR", "`as published` (the bytes have the published SHA-256), `changed` (they do not), "
              "`no published hash`; NULL when no readable image came back (the link is dead, refused by robots.txt, "
              "or answers with something else)."),
            C("error", "VARCHAR", "Why no readable image came back (HTTP error, robots.txt, timeout, not an image), "
              "or NULL."),
        ),
        ("crawl_id", "url"),
    ),
    Table(
        "ground_truth",
        "The built-in test web's truth for every image URL it serves (only for test-web crawls).",
        (
            C("image_url", "VARCHAR", "Image URL as served by the test web.", False),
            C("photo_id", "VARCHAR", "The photo this image is a copy of (all copies share it)."),
            C("residence_country", "VARCHAR", "ISO 3166-1 alpha-2 country where the photo's subject lives."),
            C("capture_country", "VARCHAR", "ISO 3166-1 alpha-2 country where the photo was taken."),
            C("transforms", "VARCHAR[]", "What was done to the original: resize, recompress, crop, mirror, ..."),
            C("kept_metadata", "VARCHAR[]", "Metadata the served bytes still carry: exif, gps, iptc_location, ..."),
            C("sha256", "VARCHAR", "SHA-256 of the served bytes."),
            C("site", "VARCHAR", "Host of the site that published the image."),
            C("site_kind", "VARCHAR", "Kind of that site: news, blog, photo-sharing, forum, aggregator, ..."),
            C("page_urls", "VARCHAR[]", "Pages of the test web that reference the image."),
            C("caption_case", "VARCHAR", "The hard case of places named in text its caption exercises (`stop:nice`, "
              "`brand:peugeot`, `destination:rome`, `qualified:paris-tx`, `valence`...), or NULL for an ordinary "
              "caption naming the capture city."),
            C("caption_country", "VARCHAR", "The country of the place its caption names (the capture country for an "
              "ordinary caption; NULL when it names no place)."),
            C("image_kind", "VARCHAR", "What the image is: `photo` (of a person; a synthetic colour field or a real "
              "photo of the shared face set) or a graphic showing no one: `logo`, `icon`, `banner`, `map`, "
              "`product`. NULL in a ground truth written before the test web had them."),
            C("shows_face", "BOOLEAN", "Whether the served image shows at least one labelled human face (a real "
              "photo with faces); false for synthetic photos, real negatives and graphics."),
            C("face_boxes", "INTEGER[][]", "The labelled faces, each `[left, top, width, height]` in the served "
              "image's pixels (the corpus boxes resized, cropped and mirrored as this copy is)."),
            C("face_ignore", "INTEGER[][]", "Regions where a detection counts neither as a hit nor as a false alarm "
              "(out-of-focus bystanders, faces a crop cut below half their area), same form."),
        ),
        ("image_url",),
    ),
    Table(
        "signals",
        "Every signal of a country found for an image: in its content (`sighting_id` NULL), on one sighting's page "
        "or hosts, or carried over from a near-duplicate copy (`via_sha256`). Rebuilt by `provaudit audit`.",
        (
            C("signal_id", "VARCHAR", "Stable id: a digest of the other columns; for a propagated signal, of `sha256` "
              "and the id of the signal it was carried from.", False),
            C("sha256", "VARCHAR", "The image the signal speaks for.", False),
            C("sighting_id", "VARCHAR", "The sighting it was found on; NULL for signals in the image itself."),
            C("kind", "VARCHAR", "What it is: exif_gps, xmp_location, page_cctld, html_lang, phone, ... "
              "(docs/signals.md)."),
            C("country", "VARCHAR", "ISO 3166-1 alpha-2 country it points to; NULL when it fits several "
              "(see `candidates`)."),
            C("candidates", "VARCHAR[]", "For a value that fits n countries (a bare `fr`, a UTC offset): all of "
              "them, each with `weight`; NULL otherwise. The view `signal_countries` has one row per country."),
            C("strength", "VARCHAR", "strong, medium or weak (reasons in docs/signals-image.md, signals-page.md)."),
            C("weight", "DOUBLE", "Weight per country: 1, or 1/n when the value fits n countries."),
            C("evidence", "VARCHAR", "The raw value it came from, e.g. `EXIF GPS 48.856600,2.352200`."),
            C("detail", "JSON", "Extra facts, e.g. `near_border_km`."),
            C("via_sha256", "VARCHAR", "For a propagated signal: the near-duplicate copy it was found on."),
        ),
        ("signal_id",),
        indexed=False,
        derived=True,
    ),
    Table(
        "opt_outs",
        "Opt-out and consent signals met on a sighting: robots.txt rules, noindex/noimageindex/noai directives, "
        "TDMRep reservations, each with whose declaration it is (`origin`). Rebuilt by `provaudit audit`.",
        (
            C("sighting_id", "VARCHAR", "The sighting concerned.", False),
            C("sha256", "VARCHAR", "Its image."),
            C("kind", "VARCHAR", "robots_txt, x_robots_tag, meta_robots, tdm_reservation, ...", False),
            C("value", "VARCHAR", "The directive: disallow, noindex, noimageindex, noai, noimageai, 1, ...", False),
            C("applies_to", "VARCHAR", "The user agent named (`*` for all).", False),
            C("evidence", "VARCHAR", "Where it was read (for tdmrep.json, the file's URL)."),
            C("origin", "VARCHAR", "Whose declaration it is: `image host`, `page publisher` or `image` (their "
              "sources in docs/signals.md, opt-out origins). The same directive from the page's publisher and from "
              "the image's host is two rows. NULL only in a store audited by an older version (audit it again).")
        ),
        ("sighting_id", "kind", "value", "applies_to", "origin"),
        indexed=False,
        derived=True,
    ),
    Table(
        "clusters",
        "Near-duplicate clusters: images whose perceptual hashes (or mirrored hashes) are within the threshold, "
        "joined transitively. Rebuilt by `provaudit audit`.",
        (
            C("sha256", "VARCHAR", "An image.", False),
            C("cluster_id", "VARCHAR", "The smallest sha256 of its cluster (an image alone is its own cluster)."),
            C("size", "INTEGER", "Number of images in the cluster."),
        ),
        ("sha256",),
        indexed=False,
        derived=True,
    ),
    Table(
        "attributions",
        "One row per image: the most likely country, how sure, and why. Rebuilt by `provaudit audit`.",
        (
            C("sha256", "VARCHAR", "The image.", False),
            C("country", "VARCHAR", "Most likely country (ISO alpha-2), NULL when there is no signal."),
            C("score", "DOUBLE", "Confidence in [0, 1]: support for the country, lowered by support for others."),
            C("tier", "VARCHAR", "strong, medium, weak or none (rule in docs/attribution.md)."),
            C("runner_up", "VARCHAR", "Second most supported country, if any."),
            C("runner_up_score", "DOUBLE", "Its support."),
            C("kinds", "VARCHAR[]", "Signal kinds behind the chosen country."),
            C("propagated", "BOOLEAN", "Whether signals from near-duplicate copies were needed for this answer."),
            C("direct_country", "VARCHAR", "The answer from this image's own signals only (before propagation)."),
            C("direct_score", "DOUBLE", "Its score."),
            C("direct_tier", "VARCHAR", "Its tier."),
            C("explanation", "VARCHAR", "The rule applied, in words, with the contributions per country."),
            C("capture_country", "VARCHAR", "Where the photo was taken: the rule on the capture-place kinds only "
              "(GPS, IPTC/XMP/C2PA location, place named in text, UTC offset), with propagation."),
            C("capture_score", "DOUBLE", "Its score."),
            C("capture_tier", "VARCHAR", "Its tier."),
            C("capture_explanation", "VARCHAR", "Its explanation."),
            C("residence_country", "VARCHAR", "Where the person probably lives: the rule on the publisher and "
              "audience kinds, plus hosting kinds counted as weak, with propagation."),
            C("residence_score", "DOUBLE", "Its score."),
            C("residence_tier", "VARCHAR", "Its tier."),
            C("residence_explanation", "VARCHAR", "Its explanation."),
        ),
        ("sha256",),
        indexed=False,
        derived=True,
    ),
    Table(
        "labels",
        "One row per image of a labelling sample (`provaudit sample`) a person (or the demo, from the test web's "
        "ground truth) labelled: is the image located in the country, does its subject reside there. Written by "
        "`provaudit validate`; labels read again for the same `sample_id` replace the earlier ones.",
        (
            C("sample_id", "VARCHAR", "The sheet's row: `<country>-<seed>-<n>`, unique per sample and image.", False),
            C("sha256", "VARCHAR", "The image labelled.", False),
            C("country", "VARCHAR", "ISO 3166-1 alpha-2 country the sample was drawn for.", False),
            C("seed", "BIGINT", "The sample's random seed."),
            C("stratum", "VARCHAR", "The image's stratum when the sample was drawn: `strong`, `medium`, `weak` (the "
              "attribution's tier for the country) or `not attributed` (every other image)."),
            C("stratum_size", "BIGINT", "Images in that stratum when the sample was drawn (the weight back to the "
              "population is `stratum_size` / labelled images of the stratum)."),
            C("located", "VARCHAR", "`yes` (located in the country), `no`, `unknown` (can't tell) or NULL (not "
              "answered)."),
            C("resides", "VARCHAR", "`yes` (the subject resides in the country), `no`, `unknown` or NULL."),
            C("source", "VARCHAR", "The labels file it was read from, and its line: `labels.csv:12`."),
            C("labelled_at", "TIMESTAMPTZ", "When `provaudit validate` stored it (UTC)."),
        ),
        ("sample_id",),
    ),
    Table(
        "validations",
        "The results of `provaudit validate`: per run, question and stratum, the share of labelled images that are "
        "the country's (a tier's precision), and for the `not attributed` stratum the images of the country the "
        "attribution missed, weighted back to the population (docs/validation.md).",
        (
            C("validation_id", "VARCHAR", "One run of `provaudit validate`: a digest of the country, the labels and "
              "the time.", False),
            C("country", "VARCHAR", "ISO 3166-1 alpha-2 country validated.", False),
            C("validated_at", "TIMESTAMPTZ", "When it ran (UTC)."),
            C("answer", "VARCHAR", "Which attribution answers were validated: those the country's order counts, e.g. "
              "`located: capture or residence answer` (docs/validation.md)."),
            C("question", "VARCHAR", "`located` (the image is located in the country) or `resides` (its subject "
              "resides there).", False),
            C("stratum", "VARCHAR", "`strong`, `medium`, `weak` or `not attributed`.", False),
            C("stratum_size", "BIGINT", "Images in the stratum when the sample was drawn."),
            C("labelled", "INTEGER", "Images of the stratum answered `yes` or `no` (the interval's n)."),
            C("unknown", "INTEGER", "Images of the stratum answered `unknown` (can't tell): left out of n."),
            C("hits", "INTEGER", "Images answered `yes`."),
            C("estimate", "DOUBLE", "`hits` / `labelled`: the tier's precision, or the `not attributed` stratum's "
              "share of the country's images; NULL when nothing was labelled."),
            C("low", "DOUBLE", "Lower end of its 95% interval."),
            C("high", "DOUBLE", "Upper end of its 95% interval."),
            C("method", "VARCHAR", "The interval: `exact` (Clopper-Pearson, under 40 answers) or `wilson`."),
            C("missed", "DOUBLE", "For `not attributed`: `estimate` x `stratum_size`, the images of the country the "
              "attribution missed; NULL for the tiers."),
            C("missed_low", "DOUBLE", "`low` x `stratum_size`."),
            C("missed_high", "DOUBLE", "`high` x `stratum_size`."),
        ),
        ("validation_id", "question", "stratum"),
    ),
    Table(
        "runs",
        "One row per command run that wrote this store (`crawl`, `ingest`, `fetch`, `audit`, `merge`): its "
        "provenance, so that every figure can be traced to the tool, the command line, the settings and the exact "
        "files it was read from (docs/evidence.md).",
        (
            C("run_id", "VARCHAR", "Random identifier of the run.", False),
            C("command", "VARCHAR", "The provaudit command (`crawl`, `ingest`, `fetch`, `audit`, `merge`)."),
            C("argv", "JSON", "The exact command line, as a list of arguments."),
            C("software", "VARCHAR", "`provenance-audit`."),
            C("version", "VARCHAR", "Its version."),
            C("revision", "VARCHAR", "The git commit of its source when run from a checkout, else NULL."),
            C("settings", "JSON", "The effective settings and options of the run."),
            C("started_at", "TIMESTAMPTZ", "When the run started (UTC)."),
            C("finished_at", "TIMESTAMPTZ", "When it finished; NULL if it failed or was killed."),
            C("inputs", "JSON", "Every input file: path as given, SHA-256, bytes (or why it could not be read)."),
            C("outputs", "JSON", "Every file it wrote beside the store (a crawl's WARC): path, SHA-256, bytes."),
            C("status", "VARCHAR", "`ok`, or the error that ended it."),
        ),
        ("run_id",),
    ),
    Table(
        "meta",
        "Key/value facts about the store itself (schema version).",
        (
            C("key", "VARCHAR", "Name of the fact.", False),
            C("value", "VARCHAR", "Its value."),
        ),
        ("key",),
    ),
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
# The tables every store has had since the first version of provaudit: a store opened read-only without them is
# damaged or not a store. Tables added later (host_policies, the derived ones) may be missing from an older store.
CORE_TABLES = frozenset({"crawls", "pages", "fetches", "images", "sightings", "ground_truth", "meta"})




@dataclass(frozen=True, slots=True)
class View:
    name: str
    doc: str
    sql: str

    def ddl(self) -> str:
        return f"CREATE OR REPLACE VIEW {self.name} AS {self.sql}"


VIEWS: tuple[View, ...] = (
    View(
        "signal_countries",
        "`signals` with one row per (signal, country): a multi-country signal appears once per candidate. Query "
        "this to ask \"which signals point to FR?\".",
        "SELECT signal_id, sha256, sighting_id, kind, c.country, strength, weight, evidence, detail, via_sha256, "
        "candidates IS NOT NULL AS ambiguous FROM signals, "
        "unnest(CASE WHEN candidates IS NULL THEN [country] ELSE candidates END) AS c(country)",
    ),
    # the saved questions of docs/explore.md: what an analyst asks first, as views (`provaudit sql` lists them)
    View(
        "image_sightings",
        "Every sighting of every image with its page's facts: where an image was seen, how the page named it, what "
        "the page said (`SELECT * FROM image_sightings WHERE sha256 = '...'`). Reference-only sightings (datasets) "
        "have no page row.",
        "SELECT s.sha256, s.image_url, s.page_url, s.image_host, s.page_host, s.ref_kind, s.alt_text, s.caption, "
        "s.fetched_at, p.status AS page_status, p.lang AS page_lang, p.title AS page_title, p.server_ip AS "
        "page_server_ip, s.crawl_id, s.sighting_id FROM sightings s LEFT JOIN pages p ON p.crawl_id = s.crawl_id "
        "AND p.url = s.page_url",
    ),
    View(
        "host_signals",
        "Per page host, signal kind, country and strength: how many distinct images and signals. Signals read from "
        "the image itself (EXIF GPS, IPTC) have no page: their host is `(in the image)`; signals carried over from "
        "a near-duplicate copy are left out (`signals.via_sha256`). `SELECT * FROM host_signals WHERE host = "
        "'www.example.fr' ORDER BY images DESC`.",
        "SELECT coalesce(s.page_host, s.image_host, '(in the image)') AS host, sc.kind, sc.country, sc.strength, "
        "count(DISTINCT sc.sha256) AS images, count(*) AS signals FROM signal_countries sc LEFT JOIN sightings s "
        "ON s.sighting_id = sc.sighting_id WHERE sc.via_sha256 IS NULL GROUP BY ALL",
    ),
    View(
        "cluster_members",
        "Each near-duplicate cluster's images with their size, format, attribution and sightings (`SELECT * FROM "
        "cluster_members WHERE cluster_id = (SELECT cluster_id FROM clusters WHERE sha256 = '...')`).",
        "SELECT c.cluster_id, c.size AS cluster_size, c.sha256, i.format, i.width, i.height, i.reference_only, "
        "a.country, a.tier, a.direct_country, a.direct_tier, (SELECT count(*) FROM sightings s WHERE s.sha256 = "
        "c.sha256) AS sightings FROM clusters c JOIN images i USING (sha256) LEFT JOIN attributions a USING "
        "(sha256)",
    ),
    View(
        "attribution_evidence",
        "What each country attribution rests on: one row per signal of the image pointing to the country it was "
        "attributed to, with its strength, weight and evidence, and the copy it came from when propagated "
        "(`SELECT kind, strength, evidence FROM attribution_evidence WHERE sha256 = '...' ORDER BY weight DESC`).",
        "SELECT a.sha256, a.country, a.tier, a.score, sc.kind, sc.strength, sc.weight, sc.evidence, sc.ambiguous, "
        "sc.via_sha256, sc.sighting_id FROM attributions a JOIN signal_countries sc ON sc.sha256 = a.sha256 AND "
        "sc.country = a.country WHERE a.country IS NOT NULL",
    ),
)


# The tables `provaudit audit` rebuilds from the others, in schema order. An export carries them like the rest; a
# merge leaves them out (an audit of the merged store recomputes them).
DERIVED: tuple[str, ...] = tuple(t.name for t in TABLES if t.derived)


# --- the temporary tables of an audit run ---------------------------------------------------------------------
# Created on the store's connection only (DuckDB's temp schema, never written to the file), always referred to as
# ``temp.main.<name>`` when dropped so that a table of the store with the same name is never touched, and dropped when
# the run ends, whether it succeeded or not. Their columns are set by the code that fills them
# (:mod:`audit.derive.units`, :mod:`audit.derive.clusters`, :mod:`audit.derive.run`).


@dataclass(frozen=True, slots=True)
class TempTable:
    name: str
    doc: str


U_IMAGE = "_u_image"
O_IMAGE = "_o_image"
U_PAGE = "_u_page"
O_PAGE = "_o_page"
U_HOST = "_u_host"
U_TEXT = "_u_text"
U_URL = "_u_url"
U_DATASET = "_u_dataset"
O_ROBOTS = "_o_robots"
O_TDMREP = "_o_tdmrep"
O_FETCH = "_o_fetch"
CANDIDATES = "_candidates"
CLUSTERS = "_clusters"
FIRST_SIGHTINGS = "_first_sightings"
COPIES = "_copies"
EVIDENCE = "_evidence"
EVIDENCE_SETS = "_sets"
SET_ATTRIBUTIONS = "_attr"
# not a table: an Arrow table registered on the cursor that reads the robots.txt units (:data:`ROBOTS_FRAGMENTS`)
ROBOTS_FRAGMENTS = "_robots_fragments"

TEMP_TABLES: tuple[TempTable, ...] = (
    TempTable(U_IMAGE, "Signals found in each image's own metadata (EXIF, IPTC, XMP, C2PA), by `sha256`."),
    TempTable(O_IMAGE, "Opt-outs in each image's own metadata (C2PA training assertions), by `sha256`."),
    TempTable(U_PAGE, "Signals of each page (its facts, headers and server address), by `(crawl_id, url)`."),
    TempTable(O_PAGE, "Opt-outs of each page (X-Robots-Tag headers, robots meta), by `(crawl_id, url)`."),
    TempTable(U_HOST, "Signals of each host name, as a page host or an image host, by `(host, role)`."),
    TempTable(U_TEXT, "Signals of each distinct alt text, caption and heading on a page host with the page's declared "
                      "languages and geo.region (hints for the places they name), by `(alt, caption, heading, "
                      "page_host, page_langs)`."),
    TempTable(U_URL, "Signals of each distinct image URL (the places its path and file name name), by `url`."),
    TempTable(U_DATASET, "Signals of the EXIF a dataset recorded of each sample's original (img2dataset's `.json`), "
                         "for sightings whose bytes carry no GPS, by `sighting_id`."),
    TempTable(O_ROBOTS, "robots.txt rules that apply to each URL under one, by `(crawl_id, host, url)`."),
    TempTable(O_TDMREP, "TDMRep reservations that apply to each image URL under its host's tdmrep.json, and each page "
              "URL under its host's, by `(crawl_id, host, url)`."),
    TempTable(O_FETCH, "Opt-outs in each image response's headers, by `(crawl_id, url)`."),
    TempTable(CANDIDATES, "Each distinct list of candidate countries in the `_u_*` tables (where a signal's list is "
                          "kept as its countries joined by commas, `candidates_key`), with the list itself."),
    TempTable(CLUSTERS, "Each image's near-duplicate cluster and its size, before it is written to `clusters`."),
    TempTable(FIRST_SIGHTINGS, "Each image of a near-duplicate cluster with the id of its first sighting that has a "
                               "URL: the one whose page (or URL) its carried-over evidence names."),
    TempTable(COPIES, "Each image of a near-duplicate cluster with each other image of its cluster, and the start of "
                      "the evidence of a signal carried over from it (naming its first sighting's page)."),
    TempTable(EVIDENCE, "Each image's set of evidence keys, with and without propagated signals."),
    TempTable(EVIDENCE_SETS, "Each distinct evidence set, numbered."),
    TempTable(SET_ATTRIBUTIONS, "The attribution rule's answer for each distinct evidence set."),
)
