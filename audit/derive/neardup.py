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
cover all 64 bits, which is what makes ``t = 0`` work.

How the probes run (:func:`_probe`): a block key's high bits name a group of buckets whose slice of the offsets and
hashes fits in the L2 cache; a group's queries probe one target group at a time, so the probes stay in cache instead
of striding over the whole table once per mask. Within a self-join each unordered pair of buckets is probed once, from
the smaller key, which halves the probes. A first pass only finds which queries have a candidate within ``t`` (its
inner loop has no stores and tests the first hash of a bucket without branching, since most buckets hold zero or one);
a second pass collects the pairs of those few queries. The kernels are compiled with Numba (cached on disk, so a new
process loads them instead of compiling) and release the GIL; the blocks' bucketing and strided chunks of groups run
on a thread pool, so two threads split the work about evenly. Memory is linear in the input plus the pairs found:
huge buckets of identical hashes cost time proportional to the pairs they produce, nothing quadratic is materialised.
"""

from __future__ import annotations

import math
import os
import threading
import time
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
def _new(x: Any, t: Any, prev_bits: Any, prev_radius: Any) -> Any:
    """Whether two hashes differing in the bits ``x`` are within ``t`` and not within an earlier block's radius (that
    block reported them), without branches."""
    ok = _popcount(x) <= t
    for k in range(prev_bits.shape[0]):
        ok &= _popcount(x & prev_bits[k]) > prev_radius[k]
    return ok


@_jit
def _bucket(hashes: Any, shift: Any, width: Any, offsets: Any, s_hash: Any, s_idx: Any) -> None:
    """Counting sort by the block's bits into the given arrays: ``offsets`` (``2**width + 1`` zeros on entry) becomes
    the bucket boundaries, ``s_hash`` and ``s_idx`` the hashes and their indices in key order (stable)."""
    n = hashes.shape[0]
    size = 1 << width
    mask = np.uint64(size - 1)
    sh = np.uint64(shift)
    for i in range(n):
        offsets[np.int64((hashes[i] >> sh) & mask) + 1] += 1
    for k in range(size):
        offsets[k + 1] += offsets[k]
    fill = offsets[:-1].copy()
    for i in range(n):
        h = hashes[i]
        key = np.int64((h >> sh) & mask)
        p = fill[key]
        fill[key] = p + 1
        s_hash[p] = h
        s_idx[p] = i


@_jit
def _probe(groups: Any, low: Any, shift: Any, q_off: Any, q_hash: Any, q_idx: Any, d_off: Any, d_hash: Any,
           d_idx: Any, hi_masks: Any, hi_pop: Any, lo_masks: Any, lo_upto: Any, radius: Any, t: Any, self_join: Any,
           prev_bits: Any, prev_radius: Any) -> Any:
    """Pairs within ``t`` bits for the query groups ``groups`` of one block, as an int64 array (k, 2).

    A block key is split into its high bits (the group) and its ``low`` low bits. A group's queries are probed
    against one target group at a time (the group XOR a high mask), with every low mask the remaining radius allows,
    so each probe reads the target group's slice of the offsets and hashes, which stays in cache, instead of
    striding over the whole table once per mask. A first pass over a group's queries only counts the candidates
    within ``t`` (no stores in its inner loop, which keeps it about twice as fast; most buckets hold zero or one hash,
    so the first hash of a bucket is tested without branching on the bucket's size); a second pass collects the
    pairs of the few queries that have any.

    For a self-join each unordered pair of buckets ``{k, k ^ mask}`` is visited once, from the smaller key (and a
    bucket with itself once, later entries only), and pairs come out as ``(min, max)``; this halves the probes. A
    pair also within an earlier block's radius was reported by that block and is skipped.
    """
    cap = 1024
    out = np.empty((cap, 2), np.int64)
    count = 0
    sh = np.uint64(shift)
    lmask = np.uint64((1 << low) - 1)
    span = np.int64(1) << low
    todo = np.empty(1024, np.int64)
    todo_end = np.empty(1024, np.int64)
    for gi in range(groups.shape[0]):
        g = groups[gi]
        qa = np.int64(q_off[g << low])
        qb = np.int64(q_off[(g + 1) << low])
        if qa == qb:
            continue
        if todo.shape[0] < qb - qa:
            todo = np.empty(qb - qa, np.int64)
            todo_end = np.empty(qb - qa, np.int64)
        for a in range(hi_masks.shape[0]):
            g2 = g ^ hi_masks[a]
            if self_join and g2 < g:
                continue
            base = g2 << low
            if d_off[base] == d_off[base + span]:
                continue
            same_group = self_join and g2 == g
            n_lo = lo_upto[radius - hi_pop[a]]
            n_todo = 0
            # first pass, with no stores in the inner loop: which queries have a candidate within t, and the
            # last mask that found one (masks come by popcount, so a copy's hits are mostly among the first few)
            for p in range(qa, qb):
                hq = q_hash[p]
                key = np.int64((hq >> sh) & lmask)
                last = -1
                for b in range(n_lo):
                    k2 = key ^ lo_masks[b]
                    lo = np.int64(d_off[base + k2])
                    hi = np.int64(d_off[base + k2 + 1])
                    if same_group:
                        if k2 < key:
                            hi = lo
                        elif k2 == key:
                            lo = np.int64(p + 1)  # the query's own bucket: only the entries after it
                    hit = (_popcount(hq ^ d_hash[lo]) <= t) & (hi > lo)
                    if hi - lo > 1:
                        for pp in range(lo + 1, hi):
                            hit |= _popcount(hq ^ d_hash[pp]) <= t
                    last = b if hit else last
                todo[n_todo] = p
                todo_end[n_todo] = last + 1
                n_todo += last >= 0
            # second pass over those queries: the pairs, without the ones an earlier block reported
            for c in range(n_todo):
                p = todo[c]
                hq = q_hash[p]
                key = np.int64((hq >> sh) & lmask)
                i = np.int64(q_idx[p])
                for b in range(todo_end[c]):
                    k2 = key ^ lo_masks[b]
                    lo = np.int64(d_off[base + k2])
                    hi = np.int64(d_off[base + k2 + 1])
                    if same_group:
                        if k2 < key:
                            continue
                        if k2 == key:
                            lo = p + 1
                    for pp in range(lo, hi):
                        if not _new(hq ^ d_hash[pp], t, prev_bits, prev_radius):
                            continue
                        j = np.int64(d_idx[pp])
                        if count == cap:
                            bigger = np.empty((cap * 2, 2), np.int64)
                            bigger[:cap] = out
                            out = bigger
                            cap *= 2
                        if self_join and j < i:
                            out[count, 0] = j
                            out[count, 1] = i
                        else:
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


#: the target group of a probe holds about this many hashes (its slice of hashes and offsets stays in the L2 cache)
GROUP_TARGET = 1024
#: at least this many low bits per block key go to the probe's inner loop
MIN_LOW_BITS = 8


def _low_bits(width: int, n: int) -> int:
    high = max(0, math.ceil(math.log2(max(1, n) / GROUP_TARGET)))
    return max(min(width, MIN_LOW_BITS), width - high)


def _split_masks(width: int, low: int, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The XOR masks within ``radius`` split into high masks (with their popcounts) and low masks, the low ones
    ordered by popcount with ``upto[r]`` = how many have at most ``r`` bits set."""
    hi = _masks(width - low, radius)
    lo = _masks(low, radius)
    upto = np.searchsorted(np.bitwise_count(lo), np.arange(radius + 1), side="right").astype(np.int64)
    return hi, np.bitwise_count(hi).astype(np.int64), lo, upto


class _Bucketed:
    """One block's counting sort of an array of hashes."""

    def __init__(self, hashes: np.ndarray, block: Block) -> None:
        n = hashes.shape[0]
        small = n < 2**31 - 1
        self.offsets = np.zeros((1 << block.width) + 1, dtype=np.int32 if small else np.int64)
        # one spare entry at the end: _probe reads (and ignores) it past the last bucket
        self.hash = np.zeros(n + 1, dtype=np.uint64)
        self.idx = np.empty(n, dtype=np.int32 if small else np.int64)
        _bucket(hashes, block.shift, block.width, self.offsets, self.hash, self.idx)


def _timed(stats: dict[str, Any] | None, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, adding the CPU seconds it took on this thread to ``stats["thread_cpu_s"]`` (per thread name)."""
    if stats is None:
        return fn(*args)
    t0 = time.thread_time()
    try:
        return fn(*args)
    finally:
        spent = time.thread_time() - t0
        with _STATS_LOCK:
            per_thread = stats.setdefault("thread_cpu_s", {})
            name = threading.current_thread().name
            per_thread[name] = per_thread.get(name, 0.0) + spent


_STATS_LOCK = threading.Lock()


def _search(queries: np.ndarray, data: np.ndarray, t: int, blocks: list[Block], self_join: bool,
            workers: int, stats: dict[str, Any] | None = None) -> np.ndarray:
    found: list[np.ndarray] = []
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="neardup") as pool:
        # every block's buckets are built first, on the pool, so that the probes of one block overlap the building of
        # the next; then each block's groups go out in strided chunks (the work of a group depends on its bits under
        # the self-join's symmetry, so strides even it out), several per thread, so that a thread that finishes early
        # (or gets more of the CPU) takes the next
        data_jobs = [pool.submit(_timed, stats, _Bucketed, data, block) for block in blocks]
        query_jobs = data_jobs if self_join else [pool.submit(_timed, stats, _Bucketed, queries, block)
                                                  for block in blocks]
        probes = []
        for b, block in enumerate(blocks):
            d, q = data_jobs[b].result(), query_jobs[b].result()
            low = _low_bits(block.width, len(data))
            hi_masks, hi_pop, lo_masks, lo_upto = _split_masks(block.width, low, block.radius)
            prev = blocks[:b]
            prev_bits = np.array([((1 << x.width) - 1) << x.shift for x in prev], dtype=np.uint64)
            prev_radius = np.array([x.radius for x in prev], dtype=np.int64)
            n_groups = 1 << (block.width - low)
            n_chunks = min(n_groups, 8 * workers)
            for c in range(n_chunks):
                groups = np.arange(c, n_groups, n_chunks, dtype=np.int64)
                probes.append(pool.submit(_timed, stats, _probe, groups, low, block.shift, q.offsets, q.hash, q.idx,
                                          d.offsets, d.hash, d.idx, hi_masks, hi_pop, lo_masks, lo_upto, block.radius,
                                          t, self_join, prev_bits, prev_radius))
            del d, q
        found.extend(job.result() for job in probes)
        del data_jobs, query_jobs
    searched = time.perf_counter()
    found = [f for f in found if len(f)]
    out = _sorted(np.concatenate(found), len(data)) if found else np.zeros((0, 2), dtype=np.int64)
    if stats is not None:
        stats["search_s"] = searched - start
        stats["sort_s"] = time.perf_counter() - searched
    return out


def _sorted(pairs: np.ndarray, n: int) -> np.ndarray:
    """Pairs of indices below ``n`` sorted by (first, second), via one int64 sort."""
    if n >= 2**31:  # pragma: no cover - more hashes than fit in memory here
        keys = pairs[:, 0].astype(np.int64) * n + pairs[:, 1]
        keys.sort()
        return np.stack([keys // n, keys % n], axis=1)
    keys = (pairs[:, 0].astype(np.int64) << 32) | pairs[:, 1]
    keys.sort()
    out = np.empty((len(keys), 2), dtype=np.int64)
    np.right_shift(keys, 32, out=out[:, 0])
    np.bitwise_and(keys, 0xFFFFFFFF, out=out[:, 1])
    return out


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


def pairs_within(hashes: np.ndarray, t: int, *, workers: int | None = None,
                 stats: dict[str, Any] | None = None) -> np.ndarray:
    """All index pairs ``(i, j)``, ``i < j``, with ``hamming(hashes[i], hashes[j]) <= t``, sorted, int64 (k, 2).

    Exact (the same pairs as comparing all of them), by multi-index hashing on ``workers`` threads (default: every
    core this process may use). A ``stats`` dict, if given, receives the CPU seconds each worker thread spent
    (``thread_cpu_s``, by thread name) and the wall seconds of the search and of the final sort (``search_s``,
    ``sort_s``), for benchmarks.
    """
    h = _u64(hashes)
    n = h.shape[0]
    if t < 0 or n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    blocks = _plan(n, t) if HAVE_NUMBA and n >= BRUTE_FORCE_BELOW else None
    if blocks is None:
        return _brute_pairs(h, h, t, True)
    return _search(h, h, t, blocks, True, _workers(workers), stats)


def pairs_between(queries: np.ndarray, data: np.ndarray, t: int, *, workers: int | None = None,
                  stats: dict[str, Any] | None = None) -> np.ndarray:
    """All ``(q, d)`` with ``hamming(queries[q], data[d]) <= t``, sorted, int64 (k, 2); exact, like pairs_within."""
    q, d = _u64(queries), _u64(data)
    if t < 0 or len(q) == 0 or len(d) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    blocks = _plan(len(d), t, len(q)) if HAVE_NUMBA and len(q) * len(d) >= BRUTE_FORCE_BELOW ** 2 else None
    if blocks is None:
        return _brute_pairs(q, d, t, False)
    return _search(q, d, t, blocks, False, _workers(workers), stats)


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
