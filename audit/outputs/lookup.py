"""A person looks up their own photo: every copy of it the store holds, where each was seen, and what each reveals.

For each photo file, ``lookup`` analyses it with ``audit.decode.imagefacts.analyse_image`` in a bounded worker process
(:mod:`audit.decode.workers`) and finds the store's images that are

- ``exact``: the same bytes (same sha256);
- ``published-hash``: an image a dataset lists by URL only (no bytes fetched) whose published SHA-256 or MD5 is the
  photo's;
- ``near-duplicate``: pHash and dHash within the thresholds of the photo, as it is or mirrored (the rule of
  ``audit.derive.neardup``; the store's pHashes are pre-filtered in SQL, then ``near_duplicate_pairs`` decides);
- ``cluster``: in the same near-duplicate cluster (``clusters`` table) as an exact or near-duplicate match, i.e. a
  copy of a copy, reached transitively.

For each image found: every sighting (image URL, page URL, host, alt text, caption, when) with the signals that
sighting reveals, the signals in the image itself, those carried over from copies, and the image's attribution.
A file that cannot be read or decoded gives a result with ``error`` set, never an exception.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from audit.decode.workers import AnalysisPool, Bounds
from audit.derive.matching import Hashes, hash_set, image_hashes, match_distance
from audit.derive.neardup import DEFAULT_DHASH_THRESHOLD, DEFAULT_PHASH_THRESHOLD, near_duplicate_pairs
from audit.errors import Refused
from audit.inputs import DEFAULT_MAX_FILE_BYTES, open_regular, sha256_open
from audit.outputs.inspection import DEFAULT_MAX_FILE_BYTES as DEFAULT_MAX_IMAGE_BYTES
from audit.outputs.inspection import inspect_dict
from audit.outputs.people import People
from audit.records import ImageRecord
from audit.store.db import Store
from audit.textsafe import rich_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignalInfo:
    kind: str
    country: str | None
    strength: str | None
    weight: float | None
    evidence: str | None
    via_sha256: str | None = None


@dataclass(slots=True)
class SightingInfo:
    sighting_id: str
    image_url: str
    page_url: str | None
    page_host: str | None
    alt_text: str | None
    caption: str | None
    fetched_at: dt.datetime | None
    signals: list[SignalInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AttributionInfo:
    country: str | None
    score: float | None
    tier: str | None
    direct_country: str | None
    direct_tier: str | None
    explanation: str | None


@dataclass(slots=True)
class LookupMatch:
    """One image of the store that is the looked-up photo or a copy of it."""

    sha256: str
    # exact, published-hash (a dataset published the photo's SHA-256 or MD5 for an image it lists by URL, bytes not
    # fetched), near-duplicate or cluster
    kind: str
    phash_distance: int | None
    dhash_distance: int | None
    mirrored: bool | None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    cluster_id: str | None = None
    sightings: list[SightingInfo] = field(default_factory=list)
    image_signals: list[SignalInfo] = field(default_factory=list)  # found in the image's own bytes
    propagated_signals: list[SignalInfo] = field(default_factory=list)  # carried over from near-duplicate copies
    attribution: AttributionInfo | None = None


@dataclass(slots=True)
class LookupResult:
    path: str
    record: ImageRecord | None
    error: str | None
    matches: list[LookupMatch] = field(default_factory=list)


KIND_ORDER = {"exact": 0, "published-hash": 1, "near-duplicate": 2, "cluster": 3}


def _candidates(store: Store, h: Hashes, phash_threshold: int) -> dict[str, Hashes]:
    """Store images whose pHash is within the threshold of the photo's in some orientation: a superset of the
    near-duplicates, which ``near_duplicate_pairs`` then decides."""
    p, pm = h[0], h[2]
    rows = store.query(
        "SELECT sha256, phash, dhash, coalesce(phash_mirror, phash), coalesce(dhash_mirror, dhash) FROM images "
        "WHERE phash IS NOT NULL AND dhash IS NOT NULL AND ("
        "bit_count(xor(phash, ?::UBIGINT)) <= ? OR bit_count(xor(coalesce(phash_mirror, phash), ?::UBIGINT)) <= ? "
        "OR bit_count(xor(phash, ?::UBIGINT)) <= ?)",
        [p, phash_threshold, p, phash_threshold, pm, phash_threshold])
    return {str(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


def _find(store: Store, record: ImageRecord, phash_threshold: int, dhash_threshold: int,
          md5: str | None = None) -> list[LookupMatch]:
    found: dict[str, LookupMatch] = {}
    if store.query("SELECT 1 FROM images WHERE sha256 = ?", [record.sha256]):
        found[record.sha256] = LookupMatch(record.sha256, "exact", 0, 0, False)
    if "published_sha256" in store.columns.get("images", frozenset()):
        for (sha,) in store.query("SELECT sha256 FROM images WHERE published_sha256 = ? OR published_md5 = ?",
                                  [record.sha256, md5 or ""]):
            found.setdefault(str(sha), LookupMatch(str(sha), "published-hash", None, None, None))
    if record.phash is not None and record.dhash is not None:
        mine: Hashes = (record.phash, record.dhash,
                        record.phash_mirror if record.phash_mirror is not None else record.phash,
                        record.dhash_mirror if record.dhash_mirror is not None else record.dhash)
        cands = _candidates(store, mine, phash_threshold)
        keys = sorted(cands)
        if keys:
            pairs = near_duplicate_pairs(hash_set([mine] + [cands[k] for k in keys]),
                                         phash_threshold=phash_threshold, dhash_threshold=dhash_threshold)
            for i, j in pairs.tolist():
                if i != 0 or keys[j - 1] in found:
                    continue
                sha = keys[j - 1]
                dp, dd, mirrored = match_distance(mine, cands[sha], phash_threshold=phash_threshold,
                                                  dhash_threshold=dhash_threshold)
                found[sha] = LookupMatch(sha, "near-duplicate", dp, dd, mirrored)
        if found:
            extra = image_hashes(store, {str(r[0]) for r in store.query(
                "SELECT sha256 FROM clusters WHERE cluster_id IN (SELECT cluster_id FROM clusters "
                "WHERE list_contains(?::VARCHAR[], sha256))", [sorted(found)])} - set(found))
            for sha, h in extra.items():
                dp, dd, mirrored = match_distance(mine, h, phash_threshold=phash_threshold,
                                                  dhash_threshold=dhash_threshold)
                found[sha] = LookupMatch(sha, "cluster", dp, dd, mirrored)
    _describe(store, found)
    return sorted(found.values(), key=lambda m: (KIND_ORDER[m.kind], m.phash_distance or 0, m.sha256))


def _describe(store: Store, found: dict[str, LookupMatch]) -> None:
    if not found:
        return
    shas = [sorted(found)]
    for sha, fmt, width, height, cluster_id in store.query(
            "SELECT i.sha256, i.format, i.width, i.height, c.cluster_id FROM images i LEFT JOIN clusters c "
            "USING (sha256) WHERE list_contains(?::VARCHAR[], i.sha256)", shas):
        m = found[str(sha)]
        m.format, m.width, m.height, m.cluster_id = fmt, width, height, cluster_id
    sightings: dict[str, SightingInfo] = {}
    for sid, sha, image_url, page_url, page_host, alt, caption, when in store.query(
            "SELECT sighting_id, sha256, image_url, page_url, page_host, alt_text, caption, fetched_at "
            "FROM sightings WHERE list_contains(?::VARCHAR[], sha256) "
            "ORDER BY sha256, page_url NULLS LAST, image_url", shas):
        info = SightingInfo(str(sid), image_url, page_url, page_host, alt, caption, when)
        sightings[str(sid)] = info
        found[str(sha)].sightings.append(info)
    by_sha: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in store.query(
            "SELECT sha256, sighting_id, kind, country, strength, weight, evidence, via_sha256 "
            "FROM signal_countries WHERE list_contains(?::VARCHAR[], sha256) "
            "ORDER BY sha256, CASE strength WHEN 'strong' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, kind, country",
            shas):
        by_sha[str(row[0])].append(row)
    for sha, rows in by_sha.items():
        m = found[sha]
        for _sha, sid, kind, country, strength, weight, evidence, via in rows:
            sig = SignalInfo(kind, country, strength, weight, evidence, via)
            if via is not None:
                m.propagated_signals.append(sig)
            elif sid is None:
                m.image_signals.append(sig)
            elif str(sid) in sightings:
                sightings[str(sid)].signals.append(sig)
    for sha, country, score, tier, dcountry, dtier, explanation in store.query(
            "SELECT sha256, country, score, tier, direct_country, direct_tier, explanation FROM attributions "
            "WHERE list_contains(?::VARCHAR[], sha256)", shas):
        found[str(sha)].attribution = AttributionInfo(country, score, tier, dcountry, dtier, explanation)


def lookup(store: Store, photos: list[Path], *, phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
           dhash_threshold: int = DEFAULT_DHASH_THRESHOLD, bounds: Bounds | None = None,
           start_method: str | None = None, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
           max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES, people: People | None = None) -> list[LookupResult]:
    """For each photo file, every image of ``store`` that is it or a copy of it, with sightings, signals and
    attribution (see the module doc).

    Only regular files are read (opened without blocking, checked before reading): a FIFO or a device gives a
    result whose error says so; a file over ``max_file_bytes`` is not read; one over ``max_image_bytes`` is found by
    its exact bytes only (hashed, not decoded). Each photo is analysed in a worker process under ``bounds`` (time,
    memory, pixels; :mod:`audit.decode.workers`), as ``inspect`` and ``ingest`` do: a photo that hangs or crashes a
    decoder gives a result with its error.

    ``people``: only the store's images showing people are returned (``--faces-only``)."""
    results: list[LookupResult] = []
    readable: list[tuple[int, bytes]] = []
    md5s: dict[int, str] = {}  # of the photos read: a dataset may publish MD5s (published_md5)
    for photo in photos:
        path = Path(photo)
        try:
            with open_regular(path, max_file_bytes) as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > max_image_bytes:
                    record: ImageRecord | None = ImageRecord(
                        sha256=sha256_open(fh, max_file_bytes), size=size,
                        error=f"file larger than {max_image_bytes} bytes, not decoded")
                    data = b""
                else:
                    record = None
                    data = fh.read(max_image_bytes + 1)
                    if len(data) > max_image_bytes:
                        raise Refused(f"file grew past {max_image_bytes} bytes while it was read: not read")
        except Refused as exc:
            results.append(LookupResult(str(path), None, str(exc)))
            continue
        except OSError as exc:
            results.append(LookupResult(str(path), None, f"cannot read the file: {exc.strerror or exc}"))
            continue
        results.append(LookupResult(str(path), None, None))
        if record is None:
            readable.append((len(results) - 1, data))
            md5s[len(results) - 1] = hashlib.md5(data, usedforsecurity=False).hexdigest()
        else:
            _found(store, results[-1], record, phash_threshold, dhash_threshold, people)
    if not readable:
        return results
    with AnalysisPool(1, bounds=bounds or Bounds(), start_method=start_method) as pool:
        for index, analysed in pool.map(readable):
            _found(store, results[index], analysed, phash_threshold, dhash_threshold, people, md5s.get(index))
    return results


def _found(store: Store, result: LookupResult, record: ImageRecord, phash_threshold: int,
           dhash_threshold: int, people: People | None = None, md5: str | None = None) -> None:
    """Fill ``result`` with the analysed ``record`` and the store's images that match it."""
    result.record = record
    if record.error is not None or record.phash is None:
        # an unreadable file can still be found by its exact bytes
        result.error = record.error or "no perceptual hash"
    result.matches = _find(store, record, phash_threshold, dhash_threshold, md5)
    if people is not None and result.matches:
        shown = {str(r[0]) for r in store.query(
            f"SELECT sha256 FROM images WHERE list_contains(?::VARCHAR[], sha256) AND {people.where()}",
            [[m.sha256 for m in result.matches]])}
        result.matches = [m for m in result.matches if m.sha256 in shown]
    log.info("lookup %s: %d images found", result.path, len(result.matches))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def lookup_json(results: list[LookupResult]) -> list[dict[str, Any]]:
    """The results as JSON-safe dicts (hashes in hex, times in ISO 8601)."""
    out = []
    for r in results:
        out.append({
            "path": r.path,
            "photo": inspect_dict(r.path, r.record) if r.record is not None else None,
            "error": r.error,
            "matches": [_jsonable(asdict(m)) for m in r.matches],
        })
    return out


CELL = 200  # characters of one scraped value shown in a table cell


def _cell(value: object, limit: int = CELL) -> str:
    return rich_text(value, limit=limit)


def _signal_text(signals: list[SignalInfo]) -> str:
    """One line per (kind, strength): the countries it points to (a count when it fits many)."""
    grouped: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for sig in signals:
        countries = grouped[(sig.kind, sig.strength)]
        if (sig.country or "?") not in countries:
            countries.append(sig.country or "?")
    lines = []
    for (kind, strength), countries in grouped.items():
        where = " ".join(countries) if len(countries) <= 4 else f"one of {len(countries)} countries"
        lines.append(f"{_cell(kind, 60)} {_cell(where, 80)} ({_cell(strength, 20)})")
    return "\n".join(lines)


#: below this terminal width the lookup is shown one field per line (:func:`lookup_table`)
WIDE_TERMINAL = 120


def _vertical(results: list[LookupResult]) -> Group:
    """The lookup for a narrow terminal: one block per image found, one field per line, each sighting numbered."""
    blocks: list[Any] = [Text("Where your photo was seen", style="bold")]
    for r in results:
        photo = _cell(Path(r.path).name)
        if r.error and not r.matches:
            blocks.append(Text.assemble((photo, "bold"), ": ", ("error", "red"), f": {_cell(r.error)}"))
            continue
        if not r.matches:
            blocks.append(Text.assemble((photo, "bold"), ": nothing found"))
            continue
        for m in r.matches:
            t = Table(show_header=False, box=None, padding=(0, 1), title=f"{photo} → image {_cell(m.sha256[:16])}",
                      title_justify="left", title_style="bold")
            t.add_column("field", style="bold", no_wrap=True)
            t.add_column("value", overflow="fold")
            t.add_row("match", _cell(_how(m)))
            if m.attribution is not None and m.attribution.country:
                t.add_row("attribution", _cell(_attribution_text(m)))
            if m.image_signals:
                t.add_row("image signals", _signal_text(list(m.image_signals)))
            for i, s in enumerate(m.sightings, 1):
                t.add_row(f"seen {i}", _seen(s))
                if s.signals:
                    t.add_row("", _signal_text(s.signals))
            if not m.sightings:
                t.add_row("seen", "(no sighting)")
            blocks.append(t)
    return Group(*blocks)


def _how(m: Any) -> str:
    if m.kind == "published-hash":
        return "published hash (a dataset lists the image by URL with the photo's hash; no bytes fetched)"
    if m.phash_distance is None:
        return str(m.kind)
    return f"{m.kind} (pHash {m.phash_distance}, dHash {m.dhash_distance}{', mirrored' if m.mirrored else ''})"


def _attribution_text(m: Any) -> str:
    a = m.attribution
    if a is None or not a.country:
        return ""
    return f"{a.country} {a.score:.2f} {a.tier}" if a.score is not None else f"{a.country} {a.tier}"


def _seen(s: SightingInfo) -> str:
    return "\n".join(x for x in (
        f"image: {_cell(s.image_url)}", f"page: {_cell(s.page_url)}" if s.page_url else "",
        f"alt: {_cell(s.alt_text)}" if s.alt_text else "",
        f"caption: {_cell(s.caption)}" if s.caption else "",
        f"when: {s.fetched_at:%Y-%m-%d %H:%M}" if s.fetched_at else "") if x)


def lookup_table(results: list[LookupResult], *, width: int | None = None) -> Table | Group:
    """One row per sighting of every image found (or per photo when nothing or an error was found); on a terminal
    narrower than :data:`WIDE_TERMINAL` columns, one block per image with one field per line instead."""
    if width is not None and width < WIDE_TERMINAL:
        return _vertical(results)
    table = Table(title="Where your photo was seen", show_lines=True)
    for name in ("photo", "match", "image", "seen at", "signals", "attribution"):
        table.add_column(name, overflow="fold")
    for r in results:
        photo = _cell(Path(r.path).name)
        if r.error and not r.matches:
            table.add_row(photo, "[red]error[/red]", "", "", _cell(r.error), "")
            continue
        if not r.matches:
            table.add_row(photo, "nothing found", "", "", "", "")
            continue
        for m in r.matches:
            how = _how(m)
            image_sigs = list(m.image_signals)
            attr = _attribution_text(m)
            rows: list[SightingInfo | None] = [*m.sightings] or [None]
            for s in rows:
                if s is None:
                    seen, sigs = "(no sighting)", image_sigs
                else:
                    seen = _seen(s)
                    sigs = image_sigs + s.signals
                table.add_row(photo, _cell(how), _cell(m.sha256[:16]), seen, _signal_text(sigs), _cell(attr))
    return table
