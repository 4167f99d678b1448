"""The SQL of an audit run (:mod:`audit.derive.run`): the queries that list each kind of distinct input the
extractors read (:mod:`audit.derive.units`), and the set-wise statements that fan the extractors' results out to the
sightings, carry them across near-duplicate clusters, and write the opt-outs and attributions. Strings only (the
images query lists the columns the registered signal kinds need): nothing here runs a query."""

from __future__ import annotations

from audit.schema import (
    CANDIDATES,
    CLUSTERS,
    COPIES,
    EVIDENCE,
    EVIDENCE_SETS,
    FIRST_SIGHTINGS,
    O_FETCH,
    O_IMAGE,
    O_PAGE,
    O_ROBOTS,
    O_TDMREP,
    ROBOTS_FRAGMENTS,
    SET_ATTRIBUTIONS,
    U_DATASET,
    U_HOST,
    U_IMAGE,
    U_PAGE,
    U_TEXT,
    U_URL,
)
from audit.signals.kinds import Origin, needed_columns

# --- the distinct inputs of each extraction unit ----------------------------------------------------------------

# Only images where a kind can fire: one of the ``images.*`` columns some kind needs (audit.signals.kinds) is set.
# EXIF is large: unless a kind needs it, it is read only for the UTC offset's source label.
_IMAGE_NEEDS = needed_columns("images")
IMAGES_SQL = f"""
SELECT sha256, gps_lat, gps_lon, gps_alt, taken_at, utc_offset, location, iptc, xmp, c2pa,
       {"exif" if "exif" in _IMAGE_NEEDS else "CASE WHEN utc_offset IS NOT NULL THEN exif END AS exif"}
FROM images
WHERE {" OR ".join(f"{column} IS NOT NULL" for column in _IMAGE_NEEDS)}
"""

PAGES_SQL = """
SELECT p.crawl_id, p.url, p.host, p.lang, p.facts, p.headers, p.server_ip, p.title
FROM pages p
WHERE EXISTS (SELECT 1 FROM sightings s WHERE s.crawl_id = p.crawl_id AND s.page_url = p.url
              AND s.sha256 IS NOT NULL)
"""

HOSTS_SQL = """
SELECT DISTINCT host, role FROM (
    SELECT page_host AS host, 'page' AS role FROM sightings WHERE sha256 IS NOT NULL AND page_host IS NOT NULL
    UNION ALL
    SELECT image_host, 'image' FROM sightings WHERE sha256 IS NOT NULL AND image_host IS NOT NULL
) WHERE host <> ''
"""

# With the page host and the page's declared languages and geo.region: the hints that tell a place-in-text
# "Valencia" of Spain from Venezuela's (audit.signals.places.page_hints). PAGE_LANGS reads them from ``pages p``.
PAGE_LANGS = ("concat_ws('|', coalesce(p.lang, ''), coalesce(p.facts->>'meta_language', ''), "
              "coalesce(p.facts->>'geo_region', ''))")
SIGHTING_PAGE = "sightings s LEFT JOIN pages p ON p.crawl_id = s.crawl_id AND p.url = s.page_url"
# The sightings with a text (alt, caption or heading) and their page: the only ones a text unit can fan out to.
TEXT_SIGHTING_PAGE = ("(SELECT * FROM sightings WHERE sha256 IS NOT NULL AND (coalesce(alt_text, '') <> '' "
                      "OR coalesce(caption, '') <> '' OR coalesce(heading, '') <> '')) s "
                      "LEFT JOIN pages p ON p.crawl_id = s.crawl_id AND p.url = s.page_url")
# The last label of the page host (port and trailing dot dropped): all a text's place hints read from the host
# (audit.signals.places.host_hints: its ccTLD or geographic TLD), so texts are one unit per TLD, not per host. A
# sighting with no page (a dataset row: an image URL and its caption) reads its hints from the image's host instead.
PAGE_TLD = ("lower(regexp_extract(regexp_replace(trim(CASE WHEN s.page_url IS NULL THEN coalesce(s.image_host, '') "
            "ELSE coalesce(s.page_host, '') END), ':[0-9]*$', ''), "
            "'[.]([^.]*)[.]?$', 1))")  # '' for a host of one label (no TLD to read)
TEXTS_SQL = f"""
SELECT DISTINCT coalesce(s.alt_text, '') AS alt, coalesce(s.caption, '') AS caption,
       coalesce(s.heading, '') AS heading, {PAGE_TLD} AS page_tld, {PAGE_LANGS} AS page_langs
FROM {SIGHTING_PAGE} WHERE s.sha256 IS NOT NULL
  AND (coalesce(s.alt_text, '') <> '' OR coalesce(s.caption, '') <> '' OR coalesce(s.heading, '') <> '')
"""

# The places of an image URL are read from its path alone (audit.signals.places.url_text), so URLs that differ only
# in their host are one unit: a plain http(s) URL (a host of ordinary characters, the rest printable ASCII) is keyed
# with its host replaced by ``h``, which splits to the same path; any other URL is its own key.
URL_PLACE_KEY = ("CASE WHEN regexp_full_match({url}, 'https?://[A-Za-z0-9.:@_~%!$&''()*+,;=-]*([/?#][!-~]*)?') "
                 "THEN regexp_replace({url}, '^(https?)://[^/?#]*', 'http://h') ELSE {url} END")
IMAGE_URLS_SQL = f"""
SELECT DISTINCT {URL_PLACE_KEY.format(url='image_url')} AS url FROM sightings
WHERE sha256 IS NOT NULL AND coalesce(image_url, '') <> ''
"""

# The EXIF img2dataset recorded of each sample's original (``sightings.attributes->'exif'``), for the sightings of an
# img2dataset ingest whose bytes carry no GPS position of their own (audit.signals.image.dataset_exif_signals).
DATASET_EXIF_SQL = """
SELECT s.sighting_id, CAST(s.attributes->'exif' AS VARCHAR) AS exif, i.exif IS NOT NULL AS bytes_have_exif
FROM sightings s
JOIN images i ON i.sha256 = s.sha256
WHERE s.ref_kind = 'dataset' AND s.attributes IS NOT NULL
  AND contains(CAST(s.attributes AS VARCHAR), 'GPS GPSLatitude')
  AND i.gps_lat IS NULL AND NOT coalesce(i.reference_only, false)
  AND s.crawl_id IN (SELECT crawl_id FROM crawls WHERE kind = 'img2dataset')
"""

# Every URL governed by a robots.txt: the sighting's image under its image host's file, its page under the page
# host's. A URL is looked up once however many sightings share it, and only if it contains the literal start of one
# of its host's Disallow rules (``ROBOTS_FRAGMENTS``; URLs with ``%``, controls or non-ASCII always go through):
# the others cannot be disallowed, and most URLs of a crawl are of that kind.
ROBOTS_FRAGMENTS_SQL = """
SELECT DISTINCT crawl_id, host, status, body, error FROM host_policies WHERE kind = 'robots.txt'
"""

# Whether ``url`` may be disallowed by a rule starting with ``fragment`` (a superset of the pre-filter, tested).
ROBOTS_URL_FILTER = "(contains(lower({url}), {fragment}) OR NOT regexp_full_match({url}, '[ -$&-~]*'))"

ROBOTS_SQL = """
WITH u AS (
    SELECT DISTINCT crawl_id, host, url FROM (
        SELECT crawl_id, image_host AS host, image_url AS url FROM sightings WHERE sha256 IS NOT NULL
        UNION ALL
        SELECT crawl_id, page_host, page_url FROM sightings WHERE sha256 IS NOT NULL AND page_url IS NOT NULL
    ) WHERE url IS NOT NULL AND url <> ''
), candidates AS (
    SELECT DISTINCT u.crawl_id, u.host, u.url
    FROM u JOIN {fragments} f ON f.crawl_id = u.crawl_id AND f.host = u.host
    WHERE {url_filter}
)
SELECT DISTINCT c.crawl_id, c.host, c.url, hp.status, hp.body, hp.error
FROM candidates c
JOIN host_policies hp ON hp.crawl_id = c.crawl_id AND hp.host = c.host AND hp.kind = 'robots.txt'
ORDER BY c.crawl_id, c.host
""".format(fragments=ROBOTS_FRAGMENTS, url_filter=ROBOTS_URL_FILTER.format(url="u.url", fragment="f.fragment"))


# Every URL governed by a tdmrep.json: the sighting's image under its image host's file (what the image host
# declared), its page under the page host's (what the page's publisher declared, also for images on a CDN).
TDMREP_SQL = """
WITH u AS (
    SELECT DISTINCT crawl_id, host, url FROM (
        SELECT crawl_id, image_host AS host, image_url AS url FROM sightings WHERE sha256 IS NOT NULL
        UNION ALL
        SELECT crawl_id, page_host, page_url FROM sightings WHERE sha256 IS NOT NULL
    ) WHERE url IS NOT NULL AND url <> ''
)
SELECT u.crawl_id, u.host, u.url, hp.body, hp.url AS source
FROM u
JOIN host_policies hp ON hp.crawl_id = u.crawl_id AND hp.host = u.host AND hp.kind = 'tdmrep.json'
     AND hp.status = 200 AND hp.body IS NOT NULL
ORDER BY u.crawl_id, u.host
"""

# Only responses whose headers mention a directive can carry one (header names are matched case-insensitively).
FETCH_HEADERS_SQL = """
SELECT f.crawl_id, f.url, f.headers
FROM fetches f
WHERE f.headers IS NOT NULL
  AND (lower(CAST(f.headers AS VARCHAR)) LIKE '%x-robots-tag%' OR lower(CAST(f.headers AS VARCHAR)) LIKE '%tdm-%')
  AND EXISTS (SELECT 1 FROM sightings s WHERE s.crawl_id = f.crawl_id AND s.image_url = f.url
              AND s.sha256 IS NOT NULL)
"""


# --- set-wise SQL -----------------------------------------------------------------------------------------------

# ``candidates``: the candidate countries joined by commas (a unit table's ``candidates_key``)
SIGNAL_ID = ("md5(concat_ws(chr(0), {sha}, coalesce({sighting}, ''), {kind}, "
             "coalesce({country}, {candidates}), {evidence}, coalesce({via}, '')))")

# A signal carried over from a near-duplicate: a digest of the image it is carried to and of the id of the signal it
# is carried from, which together name it (the rest of its row is the source's, its evidence prefixed with the copy's
# URL). Hashing two ids, not its whole text again, took ~1.5 s off the 3.4M carried signals of the 1M store.
PROPAGATED_SIGNAL_ID = "md5(concat_ws(chr(0), {target}, {source}))"

SIGNAL_COLUMNS = "signal_id, sha256, sighting_id, kind, country, candidates, strength, weight, evidence, detail, " \
                 "via_sha256"


def _fan_out_sql(source: str, join: str, sighting: str = "s.sighting_id", sha: str = "s.sha256",
                 frm: str = "sightings s") -> str:
    sid = SIGNAL_ID.format(sha=sha, sighting=sighting, kind="u.kind", country="u.country",
                           candidates="u.candidates_key", evidence="u.evidence", via="NULL")
    where = "WHERE s.sha256 IS NOT NULL" if frm.startswith("sightings") else ""
    return (f"INSERT INTO signals ({SIGNAL_COLUMNS}) "
            f"SELECT {sid}, {sha}, {sighting}, u.kind, u.country, c.candidates, u.strength, u.weight, u.evidence, "
            f"u.detail, NULL FROM {frm} JOIN {source} u ON {join} "
            f"LEFT JOIN {CANDIDATES} c ON c.key = u.candidates_key {where}")


# Each source of direct signals: (unit table, join, then the keywords of _fan_out_sql).
_SOURCES: list[tuple[str, str, dict[str, str]]] = [
    (U_IMAGE, "u.sha256 = i.sha256", {"sighting": "NULL", "sha": "i.sha256", "frm": "images i"}),
    (U_HOST, "u.host = s.page_host AND u.role = 'page'", {}),
    (U_HOST, "u.host = s.image_host AND u.role = 'image'", {}),
    (U_PAGE, "u.crawl_id = s.crawl_id AND u.url = s.page_url", {}),
    (U_TEXT, "u.alt = coalesce(s.alt_text, '') AND u.caption = coalesce(s.caption, '') "
             f"AND u.heading = coalesce(s.heading, '') AND u.page_tld = {PAGE_TLD} "
             f"AND u.page_langs = {PAGE_LANGS}", {"frm": TEXT_SIGHTING_PAGE}),
    (U_URL, f"u.url = {URL_PLACE_KEY.format(url='s.image_url')}", {}),
    (U_DATASET, "u.sighting_id = s.sighting_id", {}),
]

_UNITS_WITH_SIGNALS = (U_IMAGE, U_HOST, U_PAGE, U_TEXT, U_URL, U_DATASET)

# Each distinct list of candidate countries, made a list again once (the unit tables keep it as a string).
_CANDIDATE_KEYS = " UNION ALL ".join(f"SELECT candidates_key FROM {u}" for u in _UNITS_WITH_SIGNALS)
CANDIDATES_SQL = f"""
CREATE TEMP TABLE {CANDIDATES} AS
SELECT key, string_split(key, ',') AS candidates
FROM (SELECT DISTINCT candidates_key AS key FROM ({_CANDIDATE_KEYS}) WHERE candidates_key IS NOT NULL)
"""

DIRECT_SIGNALS_SQL = [CANDIDATES_SQL] + [_fan_out_sql(source, join, **kw) for source, join, kw in _SOURCES]

# Each image of a near-duplicate cluster with each other image of its cluster, and the start of the evidence of a
# signal carried over from it: the URL it names for the copy is that copy's first sighting's page (or its URL). The
# first sighting's id is found first, in a table of its own, and its URL joined to it afterwards: URLs can be long,
# an aggregate over strings (arg_min(url, sighting_id)) keeps them in states DuckDB cannot spill to disk, and
# DuckDB ran out of memory on the aggregate and the two joins in one statement (tests/store/test_audit_memory.py).
FIRST_SIGHTINGS_SQL = f"""
CREATE TEMP TABLE {FIRST_SIGHTINGS} AS
SELECT sha256, min(sighting_id) AS sighting_id
FROM sightings WHERE sha256 IN (SELECT sha256 FROM {CLUSTERS} WHERE size > 1)
  AND coalesce(nullif(page_url, ''), image_url) IS NOT NULL
GROUP BY sha256
"""
COPIES_SQL = f"""
CREATE TEMP TABLE {COPIES} AS
WITH first_url AS (
    SELECT f.sha256, coalesce(nullif(s.page_url, ''), s.image_url) AS url
    FROM {FIRST_SIGHTINGS} f JOIN sightings s ON s.sighting_id = f.sighting_id
)
SELECT c.sha256 AS via, t.sha256 AS target,
       'via near-duplicate ' || c.sha256 || ' on ' || coalesce(f.url, '') || ': ' AS prefix
FROM {CLUSTERS} c
JOIN {CLUSTERS} t ON t.cluster_id = c.cluster_id AND t.sha256 <> c.sha256
LEFT JOIN first_url f ON f.sha256 = c.sha256
WHERE c.size > 1
"""

# The direct signals carried across near-duplicate clusters. The pairs of copies and the start of the evidence are
# computed once per pair (COPIES_SQL, small), so that the signals are streamed through one hash join on them; joining
# the clusters twice and the first URLs for every signal made DuckDB build a hash table of every propagated row.
PROPAGATE_SQL = [FIRST_SIGHTINGS_SQL, COPIES_SQL, f"""
INSERT INTO signals ({SIGNAL_COLUMNS})
SELECT {PROPAGATED_SIGNAL_ID.format(target="f.target", source="s.signal_id")},
       f.target, s.sighting_id, s.kind, s.country, s.candidates, s.strength, s.weight, f.prefix || s.evidence,
       s.detail, s.sha256
FROM signals s JOIN {COPIES} f ON f.via = s.sha256
WHERE s.via_sha256 IS NULL
"""]


# A directive met more than once is kept with the evidence of its first record in the reference's order (``ord``:
# rank, then position). The first is chosen as the least of one BIGINT that packs ``ord``, the record's source and its
# row number in that source's table, and its evidence is fetched by row number afterwards: ``arg_min(evidence, ord)``
# kept every evidence string in aggregate states, which DuckDB cannot spill to disk (a 10M-sighting audit ran out of
# its memory bound there). Identical records (two fetches of one URL) then break their tie by source and row.
_ROW_BITS = 40
_SOURCE_BITS = 3
_ORD_SHIFT = _ROW_BITS + _SOURCE_BITS
_ORD_MAX = 2 ** (63 - _ORD_SHIFT) - 1  # an order past it (a record with a million directives) ties with it


def _pick(ord_sql: str, source: int) -> str:
    """The packed BIGINT of a row ``o`` of source number ``source`` whose order is ``ord_sql``."""
    return (f"((least(greatest({ord_sql}, 0), {_ORD_MAX})::BIGINT << {_ORD_SHIFT}) "
            f"| ({source}::BIGINT << {_ROW_BITS}) | o.rowid)")


def _picked_evidence(sources: list[str]) -> str:
    """Each source row's evidence by its source number and row number, to join to the ``pick`` of a chosen row."""
    rows = " UNION ALL ".join(f"SELECT {i} AS src, rowid AS rid, evidence FROM {source}"
                              for i, source in enumerate(sources))
    return (f"JOIN ({rows}) e ON e.src = (w.pick >> {_ROW_BITS}) & {2**_SOURCE_BITS - 1} "
            f"AND e.rid = w.pick & {2**_ROW_BITS - 1}")


def _key_opt_outs(keys: str, sources: list[tuple[str, str, int]]) -> str:
    """The opt-outs of each key of ``keys`` (a crawl, host and URL) from each ``(source, join, offset)``, one per
    directive, with the evidence of its first record (``_pick``)."""
    assert len(sources) <= 2**_SOURCE_BITS
    union = "\n            UNION ALL\n            ".join(
        f"SELECT k.crawl_id, k.host, k.url, o.kind, o.value, o.applies_to, {_pick(f'o.ord + {offset}', i)} AS pick "
        f"FROM {keys} k JOIN {source} o ON {join}" for i, (source, join, offset) in enumerate(sources))
    return (f"SELECT w.crawl_id, w.host, w.url, w.kind, w.value, w.applies_to, e.evidence\n"
            f"    FROM (\n        SELECT crawl_id, host, url, kind, value, applies_to, min(pick) AS pick FROM (\n"
            f"            {union}\n        ) GROUP BY crawl_id, host, url, kind, value, applies_to\n"
            f"    ) w {_picked_evidence([source for source, _, _ in sources])}")


# Each source of opt-outs with whose declaration it is (audit.signals.kinds.Origin). All of one origin's opt-outs of a
# sighting come from one key: its image's (crawl, host, URL) for the image host, its page's for the page publisher,
# its image's sha256 for the image itself. So each origin's directives are de-duplicated once per key, before they are
# fanned out to the sightings (a few hundred thousand URLs, not millions of sightings), and the fan-out needs no
# grouping. A key's host may be NULL (matched as such): only the response headers, read by crawl and URL, apply then.
_KEY = "o.crawl_id = k.crawl_id AND o.host = k.host AND o.url = k.url"
_KEY_URL = "o.crawl_id = k.crawl_id AND o.url = k.url"
_SIGHTING_KEY = "o.crawl_id = s.crawl_id AND o.host IS NOT DISTINCT FROM s.{role}_host AND o.url = s.{role}_url"
_OPT_OUTS_INSERT = "INSERT INTO opt_outs (sighting_id, sha256, kind, value, applies_to, origin, evidence)"
# One statement per origin (their rows are disjoint): each one's keys and grouping are freed before the next starts,
# which keeps the audit fast under a smaller memory bound (``docs/benchmarks.md``, "Audit at 1M and 10M sightings").
OPT_OUTS_SQL = (f"""
{_OPT_OUTS_INSERT}
WITH image_keys AS (
    SELECT DISTINCT crawl_id, image_host AS host, image_url AS url FROM sightings
    WHERE sha256 IS NOT NULL AND image_url IS NOT NULL
), image_host AS (
    {_key_opt_outs("image_keys", [(O_ROBOTS, _KEY, 0), (O_TDMREP, _KEY, 0), (O_FETCH, _KEY_URL, 0)])}
)
SELECT s.sighting_id, s.sha256, o.kind, o.value, o.applies_to, '{Origin.IMAGE_HOST.value}', o.evidence
FROM sightings s JOIN image_host o ON {_SIGHTING_KEY.format(role="image")} WHERE s.sha256 IS NOT NULL
""", f"""
{_OPT_OUTS_INSERT}
WITH page_keys AS (
    SELECT DISTINCT crawl_id, page_host AS host, page_url AS url FROM sightings
    WHERE sha256 IS NOT NULL AND page_url IS NOT NULL
), page_publisher AS (
    {_key_opt_outs("page_keys", [(O_ROBOTS, _KEY, 10_000), (O_TDMREP, _KEY, 10_000), (O_PAGE, _KEY_URL, 0)])}
)
SELECT s.sighting_id, s.sha256, o.kind, o.value, o.applies_to, '{Origin.PAGE_PUBLISHER.value}', o.evidence
FROM sightings s JOIN page_publisher o ON {_SIGHTING_KEY.format(role="page")} WHERE s.sha256 IS NOT NULL
""", f"""
{_OPT_OUTS_INSERT}
WITH image AS (
    SELECT w.sha256, w.kind, w.value, w.applies_to, e.evidence
    FROM (SELECT o.sha256, o.kind, o.value, o.applies_to, min({_pick("o.ord", 0)}) AS pick
          FROM {O_IMAGE} o GROUP BY o.sha256, o.kind, o.value, o.applies_to) w {_picked_evidence([O_IMAGE])}
)
SELECT s.sighting_id, s.sha256, o.kind, o.value, o.applies_to, '{Origin.IMAGE.value}', o.evidence
FROM sightings s JOIN image o ON o.sha256 = s.sha256 WHERE s.sha256 IS NOT NULL
""")

# What the attribution reads of each signal. Each distinct piece of evidence gets a 64-bit key (collisions are
# checked for), and an image's evidence becomes a sorted list of keys, cheap to group and compare.
_EVIDENCE_COLUMNS = """kind, CASE WHEN len(candidates) > 0 THEN candidates ELSE [country] END AS countries,
       strength, coalesce(nullif(weight, 0), 1.0) AS weight,
       CASE WHEN detail IS NOT NULL THEN TRY_CAST(json_extract_string(detail, '$.near_border_km') AS DOUBLE) END
           AS border_km, {direct} AS direct"""
# ``direct``: whether the signal was found on the image itself (not carried over from a near-duplicate)
EVIDENCE_COLUMNS = _EVIDENCE_COLUMNS.format(direct="via_sha256 IS NULL")

EVIDENCE_SETS_SQL = f"""
CREATE TEMP TABLE {EVIDENCE} AS
SELECT sha256, list_sort(list_distinct(list(ev))) AS final_set,
       list_sort(list_distinct(list(ev) FILTER (WHERE direct))) AS direct_set
FROM (SELECT sha256, direct, hash(kind, countries, strength, weight, border_km, direct) AS ev
      FROM (SELECT sha256, {EVIDENCE_COLUMNS} FROM signals))
GROUP BY sha256
"""

# Every piece of evidence the signals can hold, with its key: read from the extraction units' tables (a few hundred
# thousand rows), not from the signals (millions), each value both as direct and as propagated evidence. A value
# no image ended up with is a key no set names.
_UNIT_SIGNALS = " UNION ALL ".join(f"SELECT kind, country, string_split(candidates_key, ',') AS candidates, strength, "
                                   f"weight, detail FROM {u}" for u in _UNITS_WITH_SIGNALS)
EVIDENCE_VALUES_SQL = f"""
SELECT hash(kind, countries, strength, weight, border_km, direct) AS ev, kind, countries, strength, weight,
       border_km, NOT direct AS propagated
FROM (SELECT DISTINCT {_EVIDENCE_COLUMNS.format(direct="d.direct")}
      FROM ({_UNIT_SIGNALS}) u, (VALUES (true), (false)) d(direct))
"""

DISTINCT_SETS_SQL = f"""
CREATE TEMP TABLE {EVIDENCE_SETS} AS
SELECT evidence_set, (row_number() OVER ())::INTEGER AS set_id
FROM (SELECT final_set AS evidence_set FROM {EVIDENCE} UNION SELECT direct_set FROM {EVIDENCE}
      WHERE direct_set IS NOT NULL)
"""

# The capture and residence answers are those of the propagated evidence set, like country/score/tier.
_ANSWER_COLUMNS = ", ".join(f"{a}_country, {a}_score, {a}_tier, {a}_explanation" for a in ("capture", "residence"))
_ANSWER_VALUES = ", ".join(f"f.{a}_country, coalesce(f.{a}_score, 0.0), coalesce(f.{a}_tier, 'none'), "
                           f"coalesce(f.{a}_explanation, 'no signal')" for a in ("capture", "residence"))
ATTRIBUTIONS_SQL = f"""
INSERT INTO attributions (sha256, country, score, tier, runner_up, runner_up_score, kinds, propagated,
                          direct_country, direct_score, direct_tier, explanation, {_ANSWER_COLUMNS})
SELECT i.sha256, f.country, coalesce(f.score, 0.0), coalesce(f.tier, 'none'), f.runner_up, f.runner_up_score,
       coalesce(f.kinds, []::VARCHAR[]),
       coalesce(f.country, '') <> coalesce(d.country, '') OR coalesce(f.tier, 'none') <> coalesce(d.tier, 'none'),
       d.country, coalesce(d.score, 0.0), coalesce(d.tier, 'none'), coalesce(f.explanation, 'no signal'),
       {_ANSWER_VALUES}
FROM images i
LEFT JOIN {EVIDENCE} e ON e.sha256 = i.sha256
LEFT JOIN {EVIDENCE_SETS} fs ON fs.evidence_set = e.final_set
LEFT JOIN {EVIDENCE_SETS} ds ON ds.evidence_set = e.direct_set
LEFT JOIN {SET_ATTRIBUTIONS} f ON f.set_id = fs.set_id
LEFT JOIN {SET_ATTRIBUTIONS} d ON d.set_id = ds.set_id
WHERE NOT (coalesce(i.reference_only, false) AND NOT EXISTS (SELECT 1 FROM sightings s WHERE s.sha256 = i.sha256))
"""

CLUSTERS_SQL = f"INSERT INTO clusters (sha256, cluster_id, size) SELECT sha256, cluster_id, size FROM {CLUSTERS}"

SETS_SQL = f"SELECT set_id, evidence_set FROM {EVIDENCE_SETS}"
