"""Near-duplicate images by perceptual hash: every pair within a Hamming distance, exactly, and clusters.

A pair of images is a near-duplicate pair when their pHashes are within ``phash_threshold`` bits and their dHashes
within ``dhash_threshold`` bits, either as they are or with one of them mirrored (``phash_mirror``/``dhash_mirror``),
so a left-right flipped re-post matches its original. Requiring both hashes to agree keeps unrelated images with a
chance pHash collision apart: a wrong merge would carry one person's signals to another's photo.

This module is the plain, exact reference: blocked all-pairs comparison with NumPy's popcount. Faster exact search
must return the same pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_PHASH_THRESHOLD = 10
DEFAULT_DHASH_THRESHOLD = 14
BLOCK = 2048


@dataclass(frozen=True, slots=True)
class HashSet:
    """The four 64-bit hashes of n images, as uint64 arrays of length n."""

    phash: np.ndarray
    dhash: np.ndarray
    phash_mirror: np.ndarray
    dhash_mirror: np.ndarray

    @classmethod
    def from_lists(cls, phash: Sequence[int], dhash: Sequence[int], phash_mirror: Sequence[int],
                   dhash_mirror: Sequence[int]) -> HashSet:
        return cls(*(np.asarray(list(v), dtype=np.uint64) for v in (phash, dhash, phash_mirror, dhash_mirror)))

    def __len__(self) -> int:
        return int(self.phash.shape[0])


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise (broadcast) Hamming distance of uint64 arrays."""
    return np.bitwise_count(np.bitwise_xor(a, b))


def near_duplicate_pairs(
    hashes: HashSet, *, phash_threshold: int = DEFAULT_PHASH_THRESHOLD, dhash_threshold: int = DEFAULT_DHASH_THRESHOLD
) -> np.ndarray:
    """All index pairs ``(i, j)``, ``i < j``, of near-duplicate images, as an int64 array of shape (k, 2)."""
    n = len(hashes)
    found: list[np.ndarray] = []
    p, d, pm, dm = hashes.phash, hashes.dhash, hashes.phash_mirror, hashes.dhash_mirror
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        pa, da, pma, dma = (x[start:stop, None] for x in (p, d, pm, dm))
        for other in range(start, n, BLOCK):
            end = min(n, other + BLOCK)
            pb, db, pmb, dmb = (x[None, other:end] for x in (p, d, pm, dm))
            same = (hamming(pa, pb) <= phash_threshold) & (hamming(da, db) <= dhash_threshold)
            # a mirrored copy: compare each side's mirror with the other (both ways, so the relation is symmetric)
            mirrored = ((hamming(pma, pb) <= phash_threshold) & (hamming(dma, db) <= dhash_threshold)) | (
                (hamming(pa, pmb) <= phash_threshold) & (hamming(da, dmb) <= dhash_threshold))
            ii, jj = np.nonzero(same | mirrored)
            ii = ii + start
            jj = jj + other
            keep = ii < jj
            if keep.any():
                found.append(np.stack([ii[keep], jj[keep]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(found).astype(np.int64)


def cluster_labels(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of the pair graph (union-find): for each index, the smallest index of its cluster."""
    parent = np.arange(n, dtype=np.int64)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:
            parent[x], x = root, int(parent[x])
        return root

    for i, j in pairs.tolist():
        ri, rj = find(i), find(j)
        if ri != rj:
            if ri < rj:
                parent[rj] = ri
            else:
                parent[ri] = rj
    return np.array([find(i) for i in range(n)], dtype=np.int64)
