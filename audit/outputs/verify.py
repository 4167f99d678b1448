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

An image that is not found in the after-store is only counted as *gone* when the after-store looked where the
before-store saw it (``coverage``): every page the before-crawl saw it on, or a near-duplicate copy of it, was fetched
again, and every image URL of it that was seen on no page, or that the after-store still names, was answered. The
others are *not checked*. The verdict
(``CONFIRMED``, ``INCOMPLETE``, ``NOT_CHECKABLE``) and its exit status follow from those counts and the least share of
checked images (``min_coverage``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audit.countries import check_country
from audit.derive.matching import hash_set, image_hashes, match_distance
from audit.derive.neardup import DEFAULT_DHASH_THRESHOLD, DEFAULT_PHASH_THRESHOLD, near_duplicate_pairs
from audit.errors import NotAudited
from audit.ingest.tables import is_reference_key
from audit.outputs.custody import custody_html, custody_line
from audit.outputs.people import People
from audit.outputs.printing import print_css
from audit.outputs.sweep import POLICIES as SWEEP_POLICIES
from audit.outputs.sweep import selected
from audit.settings import DEFAULTS
from audit.stats import wilson
from audit.store.db import Store
from audit.testweb_marker import BANNER, is_test_web
from audit.textsafe import html_text as _e
from audit.textsafe import http_href, json_dumps, terminal_text

log = logging.getLogger(__name__)

POLICIES = tuple(SWEEP_POLICIES)
#: how a dataset known by reference only (no bytes) can still hold an image: the same image URL (its ``ref:`` key),
#: or a published SHA-256 equal to the bytes of the other side
REFERENCE_KINDS = ("same-url", "published-hash")

#: the verdicts, and the exit status of ``provaudit verify`` for each
CONFIRMED = "deletion confirmed"
INCOMPLETE = "deletion incomplete"
NOT_CHECKABLE = "not checkable"
EXIT_STATUS = {CONFIRMED: 0, INCOMPLETE: 3, NOT_CHECKABLE: 4}
DEFAULT_MIN_COVERAGE = float(DEFAULTS["AUDIT_VERIFY_MIN_COVERAGE"])

#: what became of a place (a page, or an image URL: :class:`Place`) of the before-store in the after-store
REFETCHED = "re-fetched"  # answered: served (2xx, 3xx), or said gone (404, 410)
NOT_REACHED = "not reached"  # requested, but no usable answer (no response, 401/403, robots.txt, 429, 5xx, unreadable)
NOT_VISITED = "not visited"  # never requested: outside the after-crawl (its bounds, a host it did not visit)
#: a row of ``pages`` or ``fetches`` whose answer tells whether the content is still there
REACHED_SQL = "coalesce((error IS NULL AND status BETWEEN 200 AND 399) OR status IN (404, 410), false)"
#: the states of a should-be-gone image
STILL_PRESENT, GONE, NOT_CHECKED = "still present", "gone", "not checked"

def should_delete(store: Store, country: str, policy: str, people: People | None = None) -> set[str]:
    """The sha256s of the images a good-faith vendor deletes for ``country`` under ``policy`` (the sweep's
    definition, :mod:`audit.outputs.sweep`); only images showing people, with ``people``."""
    return selected(store, country, policy, people)


def require_audited(store: Store) -> None:
    """Raise :class:`NotAudited` unless every image of ``store`` has an attribution: an unaudited store names no
    image that should be gone, and a deletion check on it would report "0 of 0" as if everything were fine."""
    images = store.count("images")
    attributed = int(store.query("SELECT count(*) FROM attributions WHERE sha256 IN (SELECT sha256 FROM images)")[0][0])
    path = terminal_text(store.path) if store.path else "the store"
    if attributed == 0:
        raise NotAudited(f"{path} has not been audited (no attributions): a deletion cannot be checked against it; "
                         f"run `provaudit audit --db {path}` first")
    if attributed < images:
        raise NotAudited(f"{path} was changed since its audit: {images - attributed:,} of {images:,} images have no "
                         f"attribution; run `provaudit audit --db {path}` again")


@dataclass(frozen=True, slots=True)
class Place:
    """A page, or an image URL, where the before-store saw a should-be-gone image (or a near-duplicate copy of it), and
    whether the after-store went back there."""

    url: str
    # "page", or "image" for an image URL seen on no page (a dataset row, a direct link) or that the after-store still
    # names (its answer then counts, whatever the page's)
    kind: str
    host: str | None
    state: str  # REFETCHED, NOT_REACHED or NOT_VISITED
    status: int | None = None  # the after-store's HTTP status for it, when it has a row
    error: str | None = None  # and its error


@dataclass(frozen=True, slots=True)
class HostCoverage:
    """How much of one host's pages of the before-crawl (those served without error) the after-crawl fetched again."""

    host: str
    pages: int
    refetched: int
    not_reached: int
    not_visited: int

    @property
    def share(self) -> float:
        return self.refetched / self.pages if self.pages else 0.0


@dataclass(slots=True)
class Coverage:
    """The after-store's coverage of the before-store: per host, and per place of each should-be-gone image."""

    hosts: list[HostCoverage] = field(default_factory=list)
    places: dict[str, Place] = field(default_factory=dict)  # by URL
    image_places: dict[str, list[str]] = field(default_factory=dict)  # should-be-gone sha256 -> its places' URLs

    def checked(self, sha256: str) -> bool:
        """Whether the after-store went back to every place where the before-store saw this image or a copy of it
        (an image seen nowhere cannot be checked)."""
        urls = self.image_places.get(sha256, [])
        return bool(urls) and all(self.places[u].state == REFETCHED for u in urls)

    def as_dict(self) -> dict[str, Any]:
        return {"hosts": [{**asdict(h), "share": round(h.share, 4)} for h in self.hosts],
                "places": [asdict(p) for p in self.places.values()],
                "image_places": self.image_places}


@dataclass(frozen=True, slots=True)
class CrawlRef:
    """One crawl or ingest of a store, for the page's header."""

    crawl_id: str
    kind: str | None
    source: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def crawls_of(store: Store) -> list[CrawlRef]:
    return [CrawlRef(str(c), k, s, a, b) for c, k, s, a, b in store.query(
        "SELECT crawl_id, kind, source, started_at, finished_at FROM crawls ORDER BY started_at NULLS LAST, crawl_id")]


def _answers(after: Store, table: str, urls: list[str]) -> dict[str, tuple[bool, int | None, str | None]]:
    """For each URL the after-store has a row for in ``table`` (``pages`` or ``fetches``): whether any row answered
    (:data:`REACHED_SQL`), and the status and error of the best row."""
    if not urls:
        return {}
    return {str(u): (bool(ok), st, err) for u, ok, st, err in after.query(
        f"SELECT url, bool_or({REACHED_SQL}), arg_max(status, {REACHED_SQL}::INTEGER), "
        f"arg_max(error, {REACHED_SQL}::INTEGER) FROM {table} "
        "WHERE url IN (SELECT unnest(?::VARCHAR[])) GROUP BY url", [urls])}


def _state(answer: tuple[bool, int | None, str | None] | None) -> tuple[str, int | None, str | None]:
    if answer is None:
        return NOT_VISITED, None, None
    ok, status, error = answer
    return (REFETCHED if ok else NOT_REACHED), status, error


def coverage(before: Store, after: Store, gone: set[str]) -> Coverage:
    """Where the before-store saw each image of ``gone`` (with every image of its near-duplicate cluster), whether the
    after-store went back there, and how much of each host's before-pages it fetched again. The places of an image:
    the pages it was seen on, and its image URLs when seen on no page or still named by the after-store (whose answer
    then counts: a page re-fetched that still names an image URL it could not read checks nothing)."""
    cov = Coverage()
    targets = sorted(gone)
    mates = "SELECT t AS target, t AS member FROM targets"
    if "clusters" in before.columns:
        mates += (" UNION SELECT t, c2.sha256 FROM targets JOIN clusters c1 ON c1.sha256 = t "
                  "JOIN clusters c2 ON c2.cluster_id = c1.cluster_id")
    rows = before.query(
        f"WITH targets AS (SELECT unnest(?::VARCHAR[]) AS t), mates AS ({mates}) "
        "SELECT DISTINCT m.target, s.page_url, s.page_host, s.image_url, s.image_host "
        "FROM mates m JOIN sightings s ON s.sha256 = m.member ORDER BY 1, 2 NULLS LAST, 4",
        [targets]) if targets else []
    pages: dict[str, str | None] = {}  # page URL -> host
    images: dict[str, tuple[str | None, bool]] = {}  # image URL -> host, seen on no page (so a place of its own)
    wanted: dict[str, tuple[set[str], set[str]]] = {}  # target -> its page URLs, its image URLs
    for target, page_url, page_host, image_url, image_host in rows:
        page_set, image_set = wanted.setdefault(str(target), (set(), set()))
        if page_url:
            pages.setdefault(str(page_url), page_host)
            page_set.add(str(page_url))
        if image_url:
            host, alone = images.get(str(image_url), (image_host, False))
            images[str(image_url)] = (host, alone or not page_url)
            image_set.add(str(image_url))
    page_answers = _answers(after, "pages", sorted(pages))
    fetch_answers = _answers(after, "fetches", sorted(images))
    # image URLs a page of the after-store still names but whose bytes it never got (no fetch row)
    unread = {str(u) for (u,) in after.query(
        "SELECT DISTINCT image_url FROM sightings WHERE sha256 IS NULL AND image_url IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(set(images) - set(fetch_answers))])} if images else set()
    for url, host in sorted(pages.items()):
        cov.places[url] = Place(url, "page", host, *_state(page_answers.get(url)))
    for url, (host, alone) in sorted(images.items()):
        # an image URL is a place of its own when it was seen on no page, or when the after-store still names it:
        # requested and answered, or not (a refusal, a timeout: what it serves now is unknown); an image URL a
        # re-fetched page no longer names is not
        if url in fetch_answers:
            cov.places[url] = Place(url, "image", host, *_state(fetch_answers[url]))
        elif url in unread:
            cov.places[url] = Place(url, "image", host, NOT_REACHED, None, "named by a page, never fetched")
        elif alone:
            cov.places[url] = Place(url, "image", host, NOT_VISITED)
    for target, (page_set, image_set) in sorted(wanted.items()):
        cov.image_places[target] = sorted(page_set) + sorted(u for u in image_set if u in cov.places)

    before_pages = before.query("SELECT url, coalesce(host, '') FROM pages WHERE error IS NULL "
                                "AND status BETWEEN 200 AND 399 GROUP BY 1, 2 ORDER BY 2, 1")
    page_answers = _answers(after, "pages", sorted({str(u) for u, _ in before_pages}))
    per_host: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for url, host in before_pages:
        counts = per_host[str(host)]
        counts[0] += 1
        counts[1 + (REFETCHED, NOT_REACHED, NOT_VISITED).index(_state(page_answers.get(str(url)))[0])] += 1
    cov.hosts = [HostCoverage(h, *c) for h, c in sorted(per_host.items())]
    return cov


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
    # None: no coverage measured (a hand-made result); every image not found then counts as not checked
    coverage: Coverage | None = None
    min_coverage: float = DEFAULT_MIN_COVERAGE
    before_crawls: list[CrawlRef] = field(default_factory=list)
    after_crawls: list[CrawlRef] = field(default_factory=list)
    # the custody block of the run that wrote it (audit.outputs.custody): both stores' SHA-256, crawls and runs
    provenance: dict[str, Any] | None = None
    # either store holds the built-in test web (audit.testweb_marker): every output says so
    test_web: bool = False

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
    def present(self) -> set[str]:
        """Should-be-gone images still present exactly or through at least one near-duplicate copy."""
        return {m.before_sha256 for r in self.remaining for m in r.matches}

    def states(self) -> dict[str, str]:
        """Each should-be-gone image: STILL_PRESENT, GONE (not found, and the after-store went back everywhere the
        before-store saw it or a copy of it) or NOT_CHECKED."""
        present, cov = self.present, self.coverage
        return {s: STILL_PRESENT if s in present else GONE if cov is not None and cov.checked(s) else NOT_CHECKED
                for s in self.should_be_gone}

    @property
    def gone(self) -> list[str]:
        return [s for s, state in self.states().items() if state == GONE]

    @property
    def not_checked(self) -> list[str]:
        return [s for s, state in self.states().items() if state == NOT_CHECKED]

    @property
    def really_gone(self) -> int:
        """Should-be-gone images not found where the after-store looked for them (never those it could not check)."""
        return len(self.gone)

    @property
    def checked(self) -> int:
        return len(self.should_be_gone) - len(self.not_checked)

    @property
    def checked_share(self) -> float:
        return self.checked / len(self.should_be_gone) if self.should_be_gone else 0.0

    @property
    def share_remaining(self) -> tuple[float, float, float]:
        """Share of the checked should-be-gone images still present (exactly or as a copy), with its 95% Wilson
        interval."""
        n, k = self.checked, len(self.present)
        lo, hi = wilson(k, n)
        return (k / n if n else 0.0, lo, hi)

    @property
    def share_remaining_bounds(self) -> tuple[float, float]:
        """The share of all should-be-gone images still present, from "every image not checked is gone" (the low end
        of its Wilson interval) to "every image not checked is still there" (the high end)."""
        n, k, u = len(self.should_be_gone), len(self.present), len(self.not_checked)
        return wilson(k, n)[0], wilson(k + u, n)[1]

    @property
    def verdict(self) -> str:
        """INCOMPLETE when any should-be-gone image is still there; else NOT_CHECKABLE when nothing should be gone or
        the after-store checked less than ``min_coverage`` of it; else CONFIRMED."""
        if self.present:
            return INCOMPLETE
        if not self.should_be_gone or self.checked_share < self.min_coverage:
            return NOT_CHECKABLE
        return CONFIRMED

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.verdict]

    @property
    def reason(self) -> str:
        """The verdict in one sentence, from the figures."""
        n, k, u = len(self.should_be_gone), len(self.present), len(self.not_checked)
        lo, hi = self.share_remaining_bounds
        if self.verdict == INCOMPLETE:
            return (f"{k:,} of the {n:,} images that should be gone are still there (exactly or as a near-duplicate "
                    f"copy); {u:,} could not be checked, so between {lo:.1%} and {hi:.1%} remain (95%).")
        if not n:
            return ("The policy names no image in the before-store: there is nothing whose deletion could be "
                    "checked.")
        if self.verdict == NOT_CHECKABLE:
            found = (f"None of the {self.checked:,} images checked is still there, but the after-store" if self.checked
                     else "The after-store")
            return (f"{found} checked only {self.checked_share:.1%} of the {n:,} images that should be gone (at "
                    f"least {_pct(self.min_coverage)} needed): {u:,} were seen where it did not fetch again (never "
                    f"requested, or refused or failed), so up to {hi:.1%} may remain (95%).")
        return (f"None of the {n:,} images that should be gone is still there"
                + (f" among the {self.checked:,} checked ({u:,} not checked: up to {hi:.1%} may remain, 95%)."
                   if u else f" (at most {hi:.1%}, 95%)."))

    def summary(self) -> dict[str, Any]:
        share, lo, hi = self.share_remaining
        all_lo, all_hi = self.share_remaining_bounds
        places = list(self.coverage.places.values()) if self.coverage is not None else []
        hosts = self.coverage.hosts if self.coverage is not None else []
        return {
            "country": self.country, "policy": self.policy,
            "faces_only": self.min_face_height is not None, "min_face_height": self.min_face_height,
            "verdict": self.verdict, "exit_status": self.exit_status, "reason": self.reason,
            "should_be_gone": len(self.should_be_gone),
            "still_present_exact": self.still_exact,
            "still_present_near_duplicates": self.still_near_duplicates,
            "still_present_by_reference": self.still_by_reference,
            "should_be_gone_still_present": len(self.present),
            "really_gone": self.really_gone,
            "not_checked": len(self.not_checked),
            "checked": self.checked,
            "checked_share": round(self.checked_share, 4), "min_coverage": self.min_coverage,
            "share_remaining": round(share, 4), "share_remaining_low": round(lo, 4),
            "share_remaining_high": round(hi, 4),
            "share_remaining_all_low": round(all_lo, 4), "share_remaining_all_high": round(all_hi, 4),
            "places": len(places),
            "places_refetched": sum(1 for p in places if p.state == REFETCHED),
            "places_not_reached": sum(1 for p in places if p.state == NOT_REACHED),
            "places_not_visited": sum(1 for p in places if p.state == NOT_VISITED),
            "before_pages": sum(h.pages for h in hosts),
            "before_pages_refetched": sum(h.refetched for h in hosts),
            "before_hosts": len(hosts),
            "before_hosts_fully_refetched": sum(1 for h in hosts if h.refetched == h.pages),
            "before_hosts_not_reached": sum(1 for h in hosts if h.refetched == 0),
            "test_web": self.test_web, "banner": BANNER if self.test_web else None,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "before": self.before_path, "after": self.after_path,
            "before_crawls": [_jsonable(asdict(c)) for c in self.before_crawls],
            "after_crawls": [_jsonable(asdict(c)) for c in self.after_crawls],
            "phash_threshold": self.phash_threshold, "dhash_threshold": self.dhash_threshold,
            "should_be_gone": self.should_be_gone,
            "gone": self.gone,
            "not_checked": self.not_checked,
            "coverage": self.coverage.as_dict() if self.coverage is not None else None,
            "remaining": [_jsonable(asdict(r)) for r in self.remaining],
            "provenance": self.provenance,
        }


def _pct(share: float) -> str:
    """A share as a percentage, with decimals only when it has some (95%, 12.5%)."""
    return f"{round(share * 100, 2):g}%"


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
           dhash_threshold: int = DEFAULT_DHASH_THRESHOLD, people: People | None = None,
           min_coverage: float = DEFAULT_MIN_COVERAGE) -> Verification:
    """Which images ``policy`` says must be gone for ``country`` (on ``before``), which are still in ``after``, and
    which of the others ``after`` went back to check (:func:`coverage`). With ``people``, only the before-images
    showing people must be gone (their copies in ``after`` are found whatever detection says of them there).
    Raises :class:`NotAudited` when ``before`` has not been audited (or was changed since)."""
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"the least coverage must be a share above 0 and at most 1, got {min_coverage}")
    require_audited(before)
    country = check_country(country)
    gone = should_delete(before, country, policy, people)
    v = Verification(country=country, policy=policy, before_path=str(before.path) if before.path else None,
                     after_path=str(after.path) if after.path else None, phash_threshold=phash_threshold,
                     dhash_threshold=dhash_threshold, should_be_gone=sorted(gone),
                     min_face_height=people.min_face_height if people is not None else None,
                     coverage=coverage(before, after, gone), min_coverage=min_coverage,
                     before_crawls=crawls_of(before), after_crawls=crawls_of(after),
                     test_web=is_test_web(before) or is_test_web(after))
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
    log.info("verify %s %s: %d should be gone, %d still exact, %d near-duplicate copies, %d not checked: %s",
             country, policy, len(gone), v.still_exact, v.still_near_duplicates, len(v.not_checked), v.verdict)
    return v


# --- report ---------------------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f3f3f3}.num{text-align:right}code{font-size:12px}
.exact{color:#a00;font-weight:bold}.near{color:#a60;font-weight:bold}.small{font-size:12px;color:#555}
.verdict{padding:.6em 1em;border:2px solid;margin:1em 0}.verdict h2{margin:0 0 .3em}
.v-confirmed{border-color:#070;background:#efe}.v-incomplete{border-color:#a00;background:#fee}
.v-not-checkable{border-color:#a60;background:#ffe}
.testweb-banner{background:#fff3cd;border:2px solid #b8860b;color:#5a4200;font-weight:bold;text-align:center;
padding:.5em 1em;margin:0 0 1em}
"""
#: rows of the coverage tables shown in the page (all of them are in the JSON)
HTML_ROWS = 200


def _link(url: str | None) -> str:
    """An escaped link for http/https URLs, escaped plain text for anything else."""
    if not url:
        return ""
    href = http_href(url)
    if href is not None:
        return f'<a href="{href}" rel="noopener noreferrer nofollow">{_e(url)}</a>'
    return f"<code>{_e(url)}</code>"


def _when(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "—"


def _crawls_html(label: str, path: str | None, crawls: list[CrawlRef]) -> list[str]:
    out = [f"<h3>{_e(label)}: <code>{_e(path)}</code></h3>"]
    if not crawls:
        return [*out, "<p>(no crawl recorded)</p>"]
    out.append("<table><tr><th>crawl</th><th>kind</th><th>source</th><th>started</th><th>finished</th></tr>")
    out += [f"<tr><td><code>{_e(c.crawl_id)}</code></td><td>{_e(c.kind)}</td><td>{_e(c.source)}</td>"
            f"<td>{_e(_when(c.started_at))}</td><td>{_e(_when(c.finished_at))}</td></tr>" for c in crawls]
    out.append("</table>")
    return out


def _coverage_html(v: Verification) -> list[str]:
    cov = v.coverage
    if cov is None:
        return ["<h2>Coverage</h2><p>Not measured: no image that was not found counts as gone.</p>"]
    s = v.summary()
    out = ["<h2>Coverage of the before-store by the after-store</h2>",
           f"<p>An image not found in the after-store counts as gone only when the after-store went back to every "
           f"page where the before-store saw it or a near-duplicate copy of it (and requested again every image URL "
           f"seen on no page). A page is <em>{REFETCHED}</em> when it was served or answered 404/410, <em>"
           f"{NOT_REACHED}</em> when it was requested without such an answer (no response, refused, robots.txt, "
           f"server error), <em>{NOT_VISITED}</em> when the after-store never requested it. Confirming a deletion "
           f"takes at least {_pct(v.min_coverage)} of the images that should be gone checked.</p>",
           "<table>",
           f'<tr><th>Places where should-be-gone images were seen</th><td class="num">{s["places"]:,}</td></tr>',
           f'<tr><th>… {REFETCHED}</th><td class="num">{s["places_refetched"]:,}</td></tr>',
           f'<tr><th>… {NOT_REACHED}</th><td class="num">{s["places_not_reached"]:,}</td></tr>',
           f'<tr><th>… {NOT_VISITED}</th><td class="num">{s["places_not_visited"]:,}</td></tr>',
           f'<tr><th>Before-store pages (served without error) {REFETCHED}</th>'
           f'<td class="num">{s["before_pages_refetched"]:,} of {s["before_pages"]:,}</td></tr>',
           f'<tr><th>Before-store hosts with every page {REFETCHED} / none</th>'
           f'<td class="num">{s["before_hosts_fully_refetched"]:,} / {s["before_hosts_not_reached"]:,} of '
           f'{s["before_hosts"]:,}</td></tr>',
           "</table>"]
    if cov.hosts:
        out.append(f"<h3>Per host</h3><table><tr><th>host</th><th>before pages</th><th>{REFETCHED}</th>"
                   f"<th>{NOT_REACHED}</th><th>{NOT_VISITED}</th><th>share {REFETCHED}</th></tr>")
        hosts = sorted(cov.hosts, key=lambda h: (h.share, h.host))
        out += [f'<tr><td>{_e(h.host)}</td><td class="num">{h.pages:,}</td><td class="num">{h.refetched:,}</td>'
                f'<td class="num">{h.not_reached:,}</td><td class="num">{h.not_visited:,}</td>'
                f'<td class="num">{h.share:.1%}</td></tr>' for h in hosts[:HTML_ROWS]]
        out.append("</table>")
        if len(hosts) > HTML_ROWS:
            out.append(f"<p class=small>{len(hosts) - HTML_ROWS:,} more hosts in the JSON.</p>")
    missed = [p for p in cov.places.values() if p.state != REFETCHED]
    if missed:
        held: dict[str, int] = defaultdict(int)
        for sha in v.not_checked:
            for url in cov.image_places.get(sha, []):
                held[url] += 1
        out.append("<h3>Places not checked</h3><table><tr><th>page or image URL</th><th>state</th>"
                   "<th>after-store's answer</th><th>should-be-gone images not checked because of it</th></tr>")
        for p in sorted(missed, key=lambda p: (-held[p.url], p.url))[:HTML_ROWS]:
            answer = " ".join(str(x) for x in (p.status, p.error) if x not in (None, "", 0)) or "—"
            out.append(f"<tr><td>{_link(p.url)}</td><td>{_e(p.state)}</td><td>{_e(answer)}</td>"
                       f'<td class="num">{held[p.url]:,}</td></tr>')
        out.append("</table>")
        if len(missed) > HTML_ROWS:
            out.append(f"<p class=small>{len(missed) - HTML_ROWS:,} more places in the JSON.</p>")
    return out


def verification_html(v: Verification) -> str:
    """A self-contained HTML page (inline CSS, no external resources); every scraped string is escaped."""
    s = v.summary()
    rows = [
        ("Should be gone (images)", f'{s["should_be_gone"]:,}'),
        ("Still present, exact bytes", f'{s["still_present_exact"]:,}'),
        ("Still present as near-duplicate copies (after-images)", f'{s["still_present_near_duplicates"]:,}'),
        ("Still listed by a dataset without bytes (same image URL, or a published hash)",
         f'{s["still_present_by_reference"]:,}'),
        ("Should-be-gone images still present (exactly or as a copy)", f'{s["should_be_gone_still_present"]:,}'),
        ("Gone: not found where the after-store looked again", f'{s["really_gone"]:,}'),
        ("Not checked: seen where the after-store did not look again (not counted as gone)",
         f'{s["not_checked"]:,}'),
        ("Checked (still present or gone)",
         f'{s["checked"]:,} ({s["checked_share"]:.1%}; at least {_pct(s["min_coverage"])} needed)'),
        ("Share remaining of the checked images (95% Wilson interval)",
         f'{s["share_remaining"]:.1%} ({s["share_remaining_low"]:.1%}–{s["share_remaining_high"]:.1%})'),
        ("Share remaining of all should-be-gone images (95%, from every image not checked gone to every one "
         "still there)", f'{s["share_remaining_all_low"]:.1%}–{s["share_remaining_all_high"]:.1%}'),
    ]
    css_class = {CONFIRMED: "v-confirmed", INCOMPLETE: "v-incomplete"}.get(v.verdict, "v-not-checkable")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Deletion check: {_e(v.country)} / {_e(v.policy)}</title>"
           f"<style>{CSS}{print_css(_footer(v), BANNER if v.test_web else None)}"
           "</style></head><body>",
           # on screen at the top; printed, in the top margin of every page (the print stylesheet)
           f'<div class="testweb-banner" id="testweb-banner" role="note">{_e(BANNER)}</div>' if v.test_web else "",
           f"<h1>Deletion check: {_e(v.country)}, policy <code>{_e(v.policy)}</code></h1>",
           f'<div class="verdict {css_class}"><h2>Verdict: {_e(v.verdict)}</h2><p>{_e(v.reason)}</p>'
           f'<p class="small">exit status of <code>provaudit verify</code>: {v.exit_status} (0 deletion confirmed, '
           "3 images that should be gone still there, 4 not checkable)</p></div>",
           f'<p class="small">before: <code>{_e(v.before_path)}</code> · after: <code>{_e(v.after_path)}</code>'
           f" · near-duplicate thresholds: pHash ≤ {v.phash_threshold}, dHash ≤ {v.dhash_threshold} bits"
           " (mirrored copies included; rotations and heavy crops are not matched)</p>"]
    if v.provenance:
        out.append(custody_line(v.provenance))
    if v.min_face_height is not None:
        out.append(f'<p class="small">Limited to images showing people: before-images with at least one detected '
                   f"face {v.min_face_height} px high or more (face detection only, never recognition).</p>")
    out.append("<table>")
    out += [f'<tr><th>{_e(k)}</th><td class="num">{_e(val)}</td></tr>' for k, val in rows]
    out.append("</table>")
    out += _coverage_html(v)
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
    out.append("<h2>The crawls compared</h2>")
    out += _crawls_html("before", v.before_path, v.before_crawls)
    out += _crawls_html("after", v.after_path, v.after_crawls)
    if v.provenance:
        out.append(custody_html(v.provenance))
    out.append("</body></html>")
    return "\n".join(out)


def _footer(v: Verification) -> str:
    """What every printed page of the verification names: both stores, by (the start of) their SHA-256."""
    stores = {s["role"]: s.get("sha256") or "" for s in (v.provenance or {}).get("stores", [])}
    if not stores:
        return f"before {v.before_path} after {v.after_path}"
    return f"before SHA-256 {stores.get('before', '')[:32]} after {stores.get('after', '')[:32]}"


def default_verification_name(country: str) -> str:
    """The deletion check's HTML file name unless told: ``verify-FR.html`` (its JSON: ``verify-FR.json``)."""
    return f"verify-{country.strip().upper()}.html"


def write_verification(v: Verification, out_html: Path | None = None) -> tuple[Path, Path]:
    """Write the HTML summary to ``out_html`` (default: :func:`default_verification_name` in the working folder) and
    the full result as JSON beside it, with the same name and ``.json``; returns both paths."""
    out_html = Path(out_html) if out_html is not None else Path(default_verification_name(v.country))
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_json = out_html.with_suffix(".json")
    out_html.write_text(verification_html(v), encoding="utf-8")
    out_json.write_text(json_dumps(v.as_dict(), indent=2), encoding="utf-8")
    log.info("wrote %s and %s", out_html, out_json)
    return out_html, out_json
