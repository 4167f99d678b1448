"""Near-duplicate images by perceptual hash: every pair within a Hamming distance, exactly, and clusters.

A pair of images is a near-duplicate pair when their pHashes are within ``phash_threshold`` bits and their dHashes
within ``dhash_threshold`` bits, either as they are or with one of them mirrored (``phash_mirror``/``dhash_mirror``),
so a left-right flipped re-post matches its original. Requiring both hashes to agree keeps unrelated images with a
chance pHash collision apart: a wrong merge would carry one person's signals to another's photo.

Two exact implementations return the same pair set:

* :func:`near_duplicate_pairs_bruteforce`, the plain reference: blocked all-pairs comparison with NumPy's popcount;
* :func:`near_duplicate_pairs`, which above :data:`BRUTE_FORCE_BELOW` images finds pHash candidates by multi-index
  hashing (:func:`pairs_within`, :func:`pairs_between`) and then checks all four conditions on them.

Multi-index hashing, exactly (the generalised pigeonhole principle): cut the 64 bits into ``m`` disjoint blocks and
give block ``k`` a radius ``r_k`` with ``sum(r_k) = t - m + 1``. If two hashes are within ``t`` bits, some block
``k`` differs in at most ``r_k`` bits (otherwise the distance would be at least ``sum(r_k + 1) = t + 1``). So for each
block, the hashes are bucketed by that block's bits (a counting sort), and each query probes every key within ``r_k``
bits of its own block key; every candidate is verified on all 64 bits. A pair is reported only by the first block in
which it lies within that block's radius, so no pair is reported twice and nothing needs deduplicating. The number of
blocks, their widths and radii come from a small cost model (probes versus candidates per query); blocks need not
cover all 64 bits, which is what makes ``t = 0`` work. The kernels are compiled with Numba and release the GIL, and
chunks of queries run on a thread pool. Memory is linear in the input plus the pairs found: huge buckets of identical
hashes cost time proportional to the pairs they produce, nothing quadratic is materialised.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.derive.thresholds import DEFAULT_DHASH_THRESHOLD as DEFAULT_DHASH_THRESHOLD
from audit.derive.thresholds import DEFAULT_PHASH_THRESHOLD as DEFAULT_PHASH_THRESHOLD

numba: Any
try:
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - the brute force still works, only slowly
    numba = None
    HAVE_NUMBA = False

BLOCK = 2048
#: below this many hashes the blocked brute force is used (it is as fast there and needs no compilation)
BRUTE_FORCE_BELOW = 4096
#: queries per unit of work handed to a thread
CHUNK = 1 << 16
MAX_KEY_BITS = 24
# cost model, in rough units of one candidate verification
_COST_PROBE = 2.0
_COST_CANDIDATE = 1.0
_COST_BRUTE = 0.25  # per pair compared by the all-pairs loop


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


def near_duplicate_pairs_bruteforce(
    hashes: HashSet, *, phash_threshold: int = DEFAULT_PHASH_THRESHOLD, dhash_threshold: int = DEFAULT_DHASH_THRESHOLD
) -> np.ndarray:
    """The exact reference: blocked all-pairs comparison. Same pair set as :func:`near_duplicate_pairs`."""
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


def near_duplicate_pairs(
    hashes: HashSet, *, phash_threshold: int = DEFAULT_PHASH_THRESHOLD, dhash_threshold: int = DEFAULT_DHASH_THRESHOLD
) -> np.ndarray:
    """All index pairs ``(i, j)``, ``i < j``, of near-duplicate images, as an int64 array of shape (k, 2).

    Exactly the pairs of :func:`near_duplicate_pairs_bruteforce`; above :data:`BRUTE_FORCE_BELOW` images (when the
    cost model favours it) sorted by ``(i, j)``.
    """
    n = len(hashes)
    if n < BRUTE_FORCE_BELOW or not HAVE_NUMBA or phash_threshold < 0 or dhash_threshold < 0 \
            or _plan(n, phash_threshold) is None:
        return near_duplicate_pairs_bruteforce(hashes, phash_threshold=phash_threshold,
                                               dhash_threshold=dhash_threshold)
    p, d = _u64(hashes.phash), _u64(hashes.dhash)
    pm, dm = _u64(hashes.phash_mirror), _u64(hashes.dhash_mirror)
    # every near-duplicate pair has its pHashes within the threshold as they are (p~p) or one side mirrored
    # (pm_i~p_j or p_i~pm_j, both found by searching the mirrors against the originals)
    same = pairs_within(p, phash_threshold)
    cross = pairs_between(pm, p, phash_threshold)
    lo, hi = np.minimum(cross[:, 0], cross[:, 1]), np.maximum(cross[:, 0], cross[:, 1])
    keep = lo < hi
    keys = np.concatenate([same[:, 0] * n + same[:, 1], lo[keep] * n + hi[keep]])
    keys.sort(kind="stable")  # radix-friendly: the keys come as a few sorted runs
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    i, j = keys // n, keys % n
    ok = (hamming(p[i], p[j]) <= phash_threshold) & (hamming(d[i], d[j]) <= dhash_threshold)
    ok |= (hamming(pm[i], p[j]) <= phash_threshold) & (hamming(dm[i], d[j]) <= dhash_threshold)
    ok |= (hamming(p[i], pm[j]) <= phash_threshold) & (hamming(d[i], dm[j]) <= dhash_threshold)
    return np.stack([i[ok], j[ok]], axis=1).astype(np.int64)


# --------------------------------------------------------------------------------------------------------------------
# multi-index hashing


def _u64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.uint64)


@dataclass(frozen=True, slots=True)
class Block:
    """One block of the multi-index: bits ``[shift, shift + width)`` searched within ``radius`` bits."""

    shift: int
    width: int
    radius: int

    @property
    def probes(self) -> int:
        return sum(math.comb(self.width, k) for k in range(self.radius + 1))


def _plan(n: int, t: int, n_queries: int | None = None) -> list[Block] | None:
    """The cheapest exact block layout for ``t`` among ``n`` hashes, or None when all-pairs comparison is cheaper."""
    if t < 0 or t >= 64:
        return None
    nq = n if n_queries is None else n_queries
    max_bits = int(min(MAX_KEY_BITS, max(8, math.ceil(math.log2(max(n, 2))) + 2)))
    best: tuple[float, list[Block]] | None = None
    for m in range(1, min(t + 1, 16) + 1):
        total = min(64, m * max_bits)
        widths = [total // m + (1 if k < total % m else 0) for k in range(m)]
        radii = [0] * m

        def cost(w: int, r: int) -> float:
            probes = sum(math.comb(w, k) for k in range(r + 1))
            return probes * (_COST_PROBE + _COST_CANDIDATE * n / 2.0 ** w)

        for _ in range(t - m + 1):  # hand out the radius budget where it costs least
            k = min(range(m), key=lambda k: cost(widths[k], radii[k] + 1) - cost(widths[k], radii[k]))
            radii[k] += 1
        total_cost = sum(cost(w, r) for w, r in zip(widths, radii, strict=True))
        if best is None or total_cost < best[0]:
            shifts = np.cumsum([0, *widths[:-1]]).tolist()
            best = (total_cost, [Block(int(s), w, r) for s, w, r in zip(shifts, widths, radii, strict=True)])
    assert best is not None
    brute = _COST_BRUTE * n * (0.5 if n_queries is None else 1.0)
    if best[0] > brute and nq * n < 1 << 40:  # all-pairs is cheaper (and still feasible)
        return None
    return best[1]


def _masks(width: int, radius: int) -> np.ndarray:
    """All ``width``-bit XOR masks with at most ``radius`` bits set, lowest weights first."""
    out = [0]
    frontier = [(0, -1)]
    for _ in range(radius):
        nxt = []
        for mask, top in frontier:
            for b in range(top + 1, width):
                nxt.append((mask | (1 << b), b))
        out.extend(m for m, _ in nxt)
        frontier = nxt
    return np.array(out, dtype=np.int64)


def _jit(fn: Any) -> Any:
    if numba is None:  # pragma: no cover
        return fn
    return numba.njit(nogil=True, cache=True)(fn)


@_jit
def _popcount(x: Any) -> Any:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@_jit
def _bucket(hashes: Any, shift: Any, width: Any) -> Any:
    """Counting sort by the block's bits: bucket offsets, and keys, hashes and indices in key order."""
    n = hashes.shape[0]
    size = 1 << width
    mask = np.uint64(size - 1)
    sh = np.uint64(shift)
    keys = np.empty(n, np.int64)
    offsets = np.zeros(size + 1, np.int64)
    for i in range(n):
        key = np.int64((hashes[i] >> sh) & mask)
        keys[i] = key
        offsets[key + 1] += 1
    for k in range(size):
        offsets[k + 1] += offsets[k]
    fill = offsets[:-1].copy()
    s_keys = np.empty(n, np.int64)
    s_hash = np.empty(n, np.uint64)
    s_idx = np.empty(n, np.int64)
    for i in range(n):
        k = keys[i]
        p = fill[k]
        fill[k] = p + 1
        s_keys[p] = k
        s_hash[p] = hashes[i]
        s_idx[p] = i
    return offsets, s_keys, s_hash, s_idx


@_jit
def _probe(q_keys: Any, q_hash: Any, q_idx: Any, start: Any, stop: Any, offsets: Any, d_hash: Any, d_idx: Any,
           masks: Any, t: Any, self_join: Any, prev_shift: Any, prev_mask: Any, prev_radius: Any) -> Any:
    """Pairs (query index, data index) within ``t`` bits for the sorted queries ``[start, stop)`` of one block.

    A pair also within an earlier block's radius was reported by that block and is skipped; for a self-join only
    pairs with ``i < j`` are reported.
    """
    cap = 4096
    out = np.empty((cap, 2), np.int64)
    count = 0
    n_prev = prev_shift.shape[0]
    for mi in range(masks.shape[0]):
        flip = masks[mi]
        for p in range(start, stop):
            key = q_keys[p] ^ flip
            lo = offsets[key]
            hi = offsets[key + 1]
            if lo == hi:
                continue
            hq = q_hash[p]
            i = q_idx[p]
            for pp in range(lo, hi):
                x = hq ^ d_hash[pp]
                if _popcount(x) > t:
                    continue
                j = d_idx[pp]
                if self_join and j <= i:
                    continue
                seen = False
                for k in range(n_prev):
                    if _popcount((x >> prev_shift[k]) & prev_mask[k]) <= prev_radius[k]:
                        seen = True
                        break
                if seen:
                    continue
                if count == cap:
                    bigger = np.empty((cap * 2, 2), np.int64)
                    bigger[:cap] = out
                    out = bigger
                    cap *= 2
                out[count, 0] = i
                out[count, 1] = j
                count += 1
    return out[:count].copy()


def _workers(workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _search(queries: np.ndarray, data: np.ndarray, t: int, blocks: list[Block], self_join: bool,
            workers: int) -> np.ndarray:
    found: list[np.ndarray] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for b, block in enumerate(blocks):
            offsets, d_keys, d_hash, d_idx = _bucket(data, block.shift, block.width)
            if self_join:
                q_keys, q_hash, q_idx = d_keys, d_hash, d_idx
            else:
                _offsets, q_keys, q_hash, q_idx = _bucket(queries, block.shift, block.width)
                del _offsets
            masks = _masks(block.width, block.radius)
            prev = blocks[:b]
            prev_shift = np.array([x.shift for x in prev], dtype=np.uint64)
            prev_mask = np.array([(1 << x.width) - 1 for x in prev], dtype=np.uint64)
            prev_radius = np.array([x.radius for x in prev], dtype=np.int64)
            nq = q_keys.shape[0]
            chunk = max(1024, min(CHUNK, -(-nq // (4 * workers))))
            jobs = [pool.submit(_probe, q_keys, q_hash, q_idx, s, min(nq, s + chunk), offsets, d_hash, d_idx,
                                masks, t, self_join, prev_shift, prev_mask, prev_radius)
                    for s in range(0, nq, chunk)]
            found.extend(job.result() for job in jobs)
            del offsets, d_keys, d_hash, d_idx, q_keys, q_hash, q_idx
    found = [f for f in found if len(f)]
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return _sorted(np.concatenate(found), len(data))


def _sorted(pairs: np.ndarray, n: int) -> np.ndarray:
    """Pairs of indices below ``n`` sorted by (first, second), via one int64 sort."""
    keys = pairs[:, 0].astype(np.int64) * n + pairs[:, 1]
    keys.sort(kind="stable")  # radix-friendly: the keys come as a few sorted runs
    return np.stack([keys // n, keys % n], axis=1)


def _brute_pairs(queries: np.ndarray, data: np.ndarray, t: int, self_join: bool) -> np.ndarray:
    found: list[np.ndarray] = []
    for start in range(0, len(queries), BLOCK):
        qa = queries[start:start + BLOCK, None]
        for other in range(start if self_join else 0, len(data), BLOCK):
            ii, jj = np.nonzero(hamming(qa, data[None, other:other + BLOCK]) <= t)
            ii, jj = ii + start, jj + other
            if self_join:
                keep = ii < jj
                ii, jj = ii[keep], jj[keep]
            if len(ii):
                found.append(np.stack([ii, jj], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return _sorted(np.concatenate(found).astype(np.int64), len(data))


def pairs_within(hashes: np.ndarray, t: int, *, workers: int | None = None) -> np.ndarray:
    """All index pairs ``(i, j)``, ``i < j``, with ``hamming(hashes[i], hashes[j]) <= t``, sorted, int64 (k, 2).

    Exact (the same pairs as comparing all of them), by multi-index hashing on ``workers`` threads (default: every
    core this process may use).
    """
    h = _u64(hashes)
    n = h.shape[0]
    if t < 0 or n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    blocks = _plan(n, t) if HAVE_NUMBA and n >= BRUTE_FORCE_BELOW else None
    if blocks is None:
        return _brute_pairs(h, h, t, True)
    return _search(h, h, t, blocks, True, _workers(workers))


def pairs_between(queries: np.ndarray, data: np.ndarray, t: int, *, workers: int | None = None) -> np.ndarray:
    """All ``(q, d)`` with ``hamming(queries[q], data[d]) <= t``, sorted, int64 (k, 2); exact, like pairs_within."""
    q, d = _u64(queries), _u64(data)
    if t < 0 or len(q) == 0 or len(d) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    blocks = _plan(len(d), t, len(q)) if HAVE_NUMBA and len(q) * len(d) >= BRUTE_FORCE_BELOW ** 2 else None
    if blocks is None:
        return _brute_pairs(q, d, t, False)
    return _search(q, d, t, blocks, False, _workers(workers))


# --------------------------------------------------------------------------------------------------------------------
# clusters


def cluster_labels(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of the pair graph (union-find): for each index, the smallest index of its cluster."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n):
        raise IndexError("pair index out of range")
    graph = coo_array((np.ones(len(pairs), dtype=np.int32), (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="weak")
    # the first index carrying each component label is the component's smallest index
    _, first = np.unique(labels, return_index=True)
    return first[labels].astype(np.int64)
