"""How an image matches another under the near-duplicate rule of the audit's clusters (:mod:`audit.derive.neardup`):
the four hashes of an image, a :class:`~audit.derive.neardup.HashSet` of several, and the distances by which a matched
pair matches. The verification of a deletion (:mod:`audit.outputs.verify`) and the lookup of a photo
(:mod:`audit.outputs.lookup`) both match with these, so that they find the copies the clusters join."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.derive.neardup import DEFAULT_DHASH_THRESHOLD, DEFAULT_PHASH_THRESHOLD, HashSet, hamming
from audit.store.db import Store

Hashes = tuple[int, int, int, int]  # phash, dhash, phash_mirror, dhash_mirror


def image_hashes(store: Store, sha256s: set[str] | None = None) -> dict[str, Hashes]:
    """The four hashes of the store's readable images (all, or those in ``sha256s``); a missing mirrored hash is
    replaced by the plain one, as the audit's clustering does."""
    sql = ("SELECT sha256, phash, dhash, coalesce(phash_mirror, phash), coalesce(dhash_mirror, dhash) FROM images "
           "WHERE phash IS NOT NULL AND dhash IS NOT NULL")
    params: list[Any] | None = None
    if sha256s is not None:
        sql += " AND list_contains(?::VARCHAR[], sha256)"
        params = [sorted(sha256s)]
    return {str(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in store.query(sql, params)}


def hash_set(hashes: list[Hashes]) -> HashSet:
    """``hashes`` as the :class:`HashSet` :func:`~audit.derive.neardup.near_duplicate_pairs` searches (row i is
    ``hashes[i]``)."""
    return HashSet.from_lists([h[0] for h in hashes], [h[1] for h in hashes], [h[2] for h in hashes],
                              [h[3] for h in hashes])


def match_distance(a: Hashes, b: Hashes, *, phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
                   dhash_threshold: int = DEFAULT_DHASH_THRESHOLD) -> tuple[int, int, bool]:
    """How a pair that ``near_duplicate_pairs`` matched matches: (pHash distance, dHash distance, mirrored).

    The plain orientation is reported when it is within the thresholds, else the closest mirrored one."""

    def dist(x: int, y: int) -> int:
        return int(hamming(np.array([x], dtype=np.uint64), np.array([y], dtype=np.uint64))[0])

    candidates = [((dist(a[0], b[0]), dist(a[1], b[1])), False),
                  ((dist(a[2], b[0]), dist(a[3], b[1])), True),
                  ((dist(a[0], b[2]), dist(a[1], b[3])), True)]
    within = [c for c in candidates if c[0][0] <= phash_threshold and c[0][1] <= dhash_threshold]
    (dp, dd), mirrored = within[0] if within and not within[0][1] else min(within or candidates)
    return dp, dd, mirrored
