"""Check a claimed deletion: which images a deletion policy says must be gone, and which of them are still there.

``verify`` computes, on the store as it was *before* the deletion, the images a good-faith vendor would delete for
one country under one policy (``should_delete``), then looks for every image of the *after* store that is still one
of them: the same bytes (same sha256), or a near-duplicate copy (pHash and dHash within the thresholds of a
should-be-gone image, mirrored copies included, with the same rule as the clusters: ``audit.derive.neardup``). Each
image still present comes with its evidence: where the after-store saw it, how it matched, and why the before-store
attributed the image it matched to the country.

Policies (the minimum attribution tier; ``+nd`` = with near-duplicate propagation):

- ``strong``, ``medium``, ``weak``: the image's own signals put it in the country at that tier or better
  (``attributions.direct_country`` / ``direct_tier``);
- ``strong+nd``, ``medium+nd``, ``weak+nd``: the same with the signals carried over from near-duplicate copies
  (``attributions.country`` / ``tier``);
- ``any-signal``: any signal at all points to the country (a row in the view ``signal_countries``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audit.derive.matching import hash_set, image_hashes, match_distance
from audit.derive.neardup import DEFAULT_DHASH_THRESHOLD, DEFAULT_PHASH_THRESHOLD, near_duplicate_pairs
from audit.ingest.tables import is_reference_key
from audit.outputs.people import People
from audit.outputs.sweep import POLICIES as SWEEP_POLICIES
from audit.outputs.sweep import selected
from audit.stats import wilson
from audit.store.db import Store
from audit.textsafe import html_text as _e
from audit.textsafe import http_href, json_dumps

log = logging.getLogger(__name__)

POLICIES = tuple(SWEEP_POLICIES)
#: how a dataset known by reference only (no bytes) can still hold an image: the same image URL (its ``ref:`` key),
#: or a published SHA-256 equal to the bytes of the other side
REFERENCE_KINDS = ("same-url", "published-hash")

def should_delete(store: Store, country: str, policy: str, people: People | None = None) -> set[str]:
    """The sha256s of the images a good-faith vendor deletes for ``country`` under ``policy`` (the sweep's
    definition, :mod:`audit.outputs.sweep`); only images showing people, with ``people``."""
    return selected(store, country, policy, people)


@dataclass(frozen=True, slots=True)
class SightingRef:
    """Where a store saw an image."""

    image_url: str
    page_url: str | None
    page_host: str | None
    alt_text: str | None
    caption: str | None
    fetched_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Match:
    """How an after-image matches one should-be-gone before-image, and why that one had to go."""

    before_sha256: str
    kind: str  # "exact", "near-duplicate", "same-url" or "published-hash" (see PUBLISHED_KINDS)
    phash_distance: int
    dhash_distance: int
    mirrored: bool
    before_country: str | None
    before_tier: str | None
    before_direct_country: str | None
    before_direct_tier: str | None
    before_explanation: str | None


@dataclass(slots=True)
class Remaining:
    """An image of the after-store that is still one of the should-be-gone images."""

    sha256: str
    # "exact" when the same bytes are still there, "same-url" or "published-hash" when a dataset still lists it
    # (REFERENCE_KINDS), else "near-duplicate"
    kind: str
    matches: list[Match]
    sightings: list[SightingRef]


@dataclass(slots=True)
class Verification:
    country: str
    policy: str
    before_path: str | None
    after_path: str | None
    phash_threshold: int
    dhash_threshold: int
    should_be_gone: list[str]
    remaining: list[Remaining] = field(default_factory=list)
    min_face_height: int | None = None  # set when limited to images showing people (--faces-only)

    @property
    def still_exact(self) -> int:
        """Should-be-gone images whose exact bytes are still in the after-store."""
        return sum(1 for r in self.remaining if r.kind == "exact")

    @property
    def still_near_duplicates(self) -> int:
        """After-images that are not a should-be-gone image's bytes but a near-duplicate copy of one."""
        return sum(1 for r in self.remaining if r.kind == "near-duplicate")

    @property
    def still_by_reference(self) -> int:
        """After-images a dataset still lists without bytes: the same image URL known by reference only, or a
        published hash equal to a should-be-gone image's bytes (or bytes equal to its published hash)."""
        return sum(1 for r in self.remaining if r.kind in REFERENCE_KINDS)

    @property
    def covered(self) -> set[str]:
        """Should-be-gone images still present exactly or through at least one near-duplicate copy."""
        return {m.before_sha256 for r in self.remaining for m in r.matches}

    @property
    def really_gone(self) -> int:
        return len(self.should_be_gone) - len(self.covered)

    @property
    def share_remaining(self) -> tuple[float, float, float]:
        """Share of should-be-gone images still present (exactly or as a copy), with its 95% Wilson interval."""
        n, k = len(self.should_be_gone), len(self.covered)
        lo, hi = wilson(k, n)
        return (k / n if n else 0.0, lo, hi)

    def summary(self) -> dict[str, Any]:
        share, lo, hi = self.share_remaining
        return {
            "country": self.country, "policy": self.policy,
            "faces_only": self.min_face_height is not None, "min_face_height": self.min_face_height,
            "should_be_gone": len(self.should_be_gone),
            "still_present_exact": self.still_exact,
            "still_present_near_duplicates": self.still_near_duplicates,
            "still_present_by_reference": self.still_by_reference,
            "should_be_gone_still_present": len(self.covered),
            "really_gone": self.really_gone,
            "share_remaining": round(share, 4), "share_remaining_low": round(lo, 4),
            "share_remaining_high": round(hi, 4),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "before": self.before_path, "after": self.after_path,
            "phash_threshold": self.phash_threshold, "dhash_threshold": self.dhash_threshold,
            "should_be_gone": self.should_be_gone,
            "remaining": [_jsonable(asdict(r)) for r in self.remaining],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def sightings_of(store: Store, sha256s: set[str]) -> dict[str, list[SightingRef]]:
    """Every sighting of the given images in ``store``, by sha256, in a stable order."""
    out: dict[str, list[SightingRef]] = defaultdict(list)
    if not sha256s:
        return out
    for sha, image_url, page_url, page_host, alt, caption, when in store.query(
            "SELECT sha256, image_url, page_url, page_host, alt_text, caption, fetched_at FROM sightings "
            "WHERE list_contains(?::VARCHAR[], sha256) ORDER BY sha256, page_url NULLS LAST, image_url",
            [sorted(sha256s)]):
        out[str(sha)].append(SightingRef(image_url, page_url, page_host, alt, caption, when))
    return out


def published_pairs(before: Store, after: Store, gone: set[str]) -> list[tuple[str, str]]:
    """``(after sha256, before sha256)`` pairs joined by a dataset's published hash: an after-image known by
    reference only whose published SHA-256 is a should-be-gone image's bytes, and after-bytes equal to the published
    SHA-256 of a should-be-gone image known by reference only."""
    pairs: list[tuple[str, str]] = []
    real = sorted(s for s in gone if not is_reference_key(s))
    refs = sorted(s for s in gone if is_reference_key(s))
    if real and "published_sha256" in after.columns.get("images", frozenset()):
        pairs += [(str(a), str(b)) for a, b in after.query(
            "SELECT sha256, published_sha256 FROM images WHERE published_sha256 IN (SELECT unnest(?::VARCHAR[]))",
            [real])]
    if refs and "published_sha256" in before.columns.get("images", frozenset()):
        published = {str(p): str(b) for b, p in before.query(
            "SELECT sha256, published_sha256 FROM images WHERE published_sha256 IS NOT NULL "
            "AND sha256 IN (SELECT unnest(?::VARCHAR[]))", [refs])}
        if published:
            pairs += [(str(a), published[str(a)]) for (a,) in after.query(
                "SELECT sha256 FROM images WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [sorted(published)])]
    return sorted(set(pairs))


def verify(before: Store, after: Store, country: str, policy: str, *,
           phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
           dhash_threshold: int = DEFAULT_DHASH_THRESHOLD, people: People | None = None) -> Verification:
    """Which images ``policy`` says must be gone for ``country`` (on ``before``), and which are still in ``after``.
    With ``people``, only the before-images showing people must be gone (their copies in ``after`` are found
    whatever detection says of them there)."""
    country = country.strip().upper()
    gone = should_delete(before, country, policy, people)
    v = Verification(country=country, policy=policy, before_path=str(before.path) if before.path else None,
                     after_path=str(after.path) if after.path else None, phash_threshold=phash_threshold,
                     dhash_threshold=dhash_threshold, should_be_gone=sorted(gone),
                     min_face_height=people.min_face_height if people is not None else None)
    if not gone:
        return v
    attribution = {str(r[0]): r[1:] for r in before.query(
        "SELECT sha256, country, tier, direct_country, direct_tier, explanation FROM attributions "
        "WHERE list_contains(?::VARCHAR[], sha256)", [sorted(gone)])}

    def match(before_sha: str, kind: str, dp: int, dd: int, mirrored: bool) -> Match:
        a = attribution.get(before_sha, (None,) * 5)
        return Match(before_sha, kind, dp, dd, mirrored, *a)

    matches: dict[str, list[Match]] = defaultdict(list)
    after_all = {str(r[0]) for r in after.query("SELECT sha256 FROM images")}
    for sha in sorted(gone & after_all):
        matches[sha].append(match(sha, "same-url" if is_reference_key(sha) else "exact", 0, 0, False))
    for a_sha, b_sha in published_pairs(before, after, gone):
        matches[a_sha].append(match(b_sha, "published-hash", 0, 0, False))

    before_h = image_hashes(before, gone)
    after_h = image_hashes(after)
    b_keys, a_keys = sorted(before_h), sorted(after_h)
    if b_keys and a_keys:
        combined = [before_h[k] for k in b_keys] + [after_h[k] for k in a_keys]
        pairs = near_duplicate_pairs(hash_set(combined), phash_threshold=phash_threshold,
                                     dhash_threshold=dhash_threshold)
        nb = len(b_keys)
        for i, j in pairs.tolist():
            if i >= nb or j < nb:  # keep before × after pairs only (i < j, befores come first)
                continue
            b_sha, a_sha = b_keys[i], a_keys[j - nb]
            if b_sha == a_sha:
                continue  # already an exact match
            dp, dd, mirrored = match_distance(after_h[a_sha], before_h[b_sha], phash_threshold=phash_threshold,
                                              dhash_threshold=dhash_threshold)
            matches[a_sha].append(match(b_sha, "near-duplicate", dp, dd, mirrored))

    where = sightings_of(after, set(matches))
    for sha in sorted(matches):
        ms = sorted(matches[sha], key=lambda m: (m.kind != "exact", m.phash_distance, m.before_sha256))
        kinds = {m.kind for m in ms}
        kind = next((k for k in ("exact", "same-url", "published-hash") if k in kinds), "near-duplicate")
        v.remaining.append(Remaining(sha, kind, ms, where.get(sha, [])))
    log.info("verify %s %s: %d should be gone, %d still exact, %d near-duplicate copies", country, policy,
             len(gone), v.still_exact, v.still_near_duplicates)
    return v


# --- report ---------------------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f3f3f3}.num{text-align:right}code{font-size:12px}
.exact{color:#a00;font-weight:bold}.near{color:#a60;font-weight:bold}.small{font-size:12px;color:#555}
"""


def _link(url: str | None) -> str:
    """An escaped link for http/https URLs, escaped plain text for anything else."""
    if not url:
        return ""
    href = http_href(url)
    if href is not None:
        return f'<a href="{href}" rel="noopener noreferrer nofollow">{_e(url)}</a>'
    return f"<code>{_e(url)}</code>"


def verification_html(v: Verification) -> str:
    """A self-contained HTML page (inline CSS, no external resources); every scraped string is escaped."""
    s = v.summary()
    rows = [
        ("Should be gone (images)", s["should_be_gone"]),
        ("Still present, exact bytes", s["still_present_exact"]),
        ("Still present as near-duplicate copies (after-images)", s["still_present_near_duplicates"]),
        ("Still listed by a dataset without bytes (same image URL, or a published hash)",
         s["still_present_by_reference"]),
        ("Should-be-gone images still present (exactly or as a copy)", s["should_be_gone_still_present"]),
        ("Really gone", s["really_gone"]),
        ("Share remaining (95% Wilson interval)",
         f'{s["share_remaining"]:.1%} ({s["share_remaining_low"]:.1%}–{s["share_remaining_high"]:.1%})'),
    ]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Deletion check: {_e(v.country)} / {_e(v.policy)}</title><style>{CSS}</style></head><body>",
           f"<h1>Deletion check: {_e(v.country)}, policy <code>{_e(v.policy)}</code></h1>",
           f'<p class="small">before: <code>{_e(v.before_path)}</code> · after: <code>{_e(v.after_path)}</code>'
           f" · near-duplicate thresholds: pHash ≤ {v.phash_threshold}, dHash ≤ {v.dhash_threshold} bits"
           " (mirrored copies included; rotations and heavy crops are not matched)</p>"]
    if v.min_face_height is not None:
        out.append(f'<p class="small">Limited to images showing people: before-images with at least one detected '
                   f"face {v.min_face_height} px high or more (face detection only, never recognition).</p>")
    out.append("<table>")
    out += [f'<tr><th>{_e(k)}</th><td class="num">{_e(val)}</td></tr>' for k, val in rows]
    out.append("</table>")
    if v.remaining:
        out.append("<h2>Still present</h2><table><tr><th>after-image</th><th>how it matched</th>"
                   "<th>where the after-store saw it</th></tr>")
        for r in v.remaining:
            how = []
            for m in r.matches:
                what = ("same bytes" if m.kind == "exact" else
                        "the same image URL, known by reference only (no bytes)" if m.kind == "same-url" else
                        "a published SHA-256 equal to the other side's bytes" if m.kind == "published-hash" else
                        f"near-duplicate of <code>{_e(m.before_sha256[:16])}</code>: pHash {m.phash_distance}, "
                        f"dHash {m.dhash_distance} bits{' (mirrored)' if m.mirrored else ''}")
                how.append(f"{what}<br><span class=small>before: {_e(m.before_country)} {_e(m.before_tier)} "
                           f"(direct {_e(m.before_direct_country)} {_e(m.before_direct_tier)}) — "
                           f"{_e(m.before_explanation)}</span>")
            seen = [f"{_link(si.image_url)}<br>on {_link(si.page_url)}"
                    + (f"<br><span class=small>alt: {_e(si.alt_text)}</span>" if si.alt_text else "")
                    for si in r.sightings] or ["(no sighting recorded)"]
            cls = "exact" if r.kind == "exact" else "near"
            out.append(f'<tr><td><span class="{cls}">{_e(r.kind)}</span><br><code>{_e(r.sha256[:16])}</code></td>'
                       f"<td>{'<hr>'.join(how)}</td><td>{'<hr>'.join(seen)}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_verification(v: Verification, out_html: Path) -> tuple[Path, Path]:
    """Write the HTML summary to ``out_html`` and the full result as JSON beside it; returns both paths."""
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_json = out_html.with_suffix(".json")
    out_html.write_text(verification_html(v), encoding="utf-8")
    out_json.write_text(json_dumps(v.as_dict(), indent=2), encoding="utf-8")
    log.info("wrote %s and %s", out_html, out_json)
    return out_html, out_json
