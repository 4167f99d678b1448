"""The exact near-duplicate search split across P partitions (machines) by hash substring.

All pairs of 64-bit hashes within Hamming distance ``t`` (what :func:`audit.derive.neardup.pairs_within` finds in one
process), computed as P independent pieces whose union is exactly the same pair set:

* **Blocks** (the pigeonhole principle): the 64 bits are cut into ``t + 1`` disjoint blocks. Two hashes within ``t``
  bits differ in at most ``t`` blocks, so they agree exactly on at least one block.
* **Buckets and owners**: a bucket is a pair (block index ``b``, block value ``v``); partition
  ``k`` owns the buckets with ``mix(b, v) mod P == k`` (``mix`` is the splitmix64 finaliser, so buckets spread evenly
  whatever the values).
* **Shuffle** (:func:`shuffle`): every hash is sent, once per block, to the owner of its bucket in that block:
  ``(t + 1) * N`` entries in all.
* **Local search** (:func:`search_partition`): for each block, the partition runs the single-process exact search
  on the hashes it received for that block, and keeps a pair when the two hashes are in the same bucket of that
  block and agree exactly on no earlier block. A pair within ``t`` is therefore emitted by exactly one partition
  (the owner of the bucket of its first agreeing block), and never twice: the union needs no deduplication.

:func:`partitioned_pairs` simulates the machines on this one: the shuffle writes one file per partition (as a cluster
would write to object storage) and P worker processes each read theirs and search it. The result equals
``pairs_within(hashes, t)`` exactly (tests/store/test_partitioned_search.py; bench/bench_partition.py at 200,000
hashes).
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.derive.neardup import pairs_within

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class PartitionStats:
    """What one partition received and did."""

    partition: int
    #: hash entries received (over all blocks): its share of the (t + 1) * N shuffled entries
    received: int
    #: non-empty buckets (block, value) among them
    buckets: int
    #: pairs sharing a bucket: what comparing every pair inside each bucket would have to verify
    bucket_pairs: int
    #: pairs within t found by the local exact search, before the first-agreeing-block rule
    within_t: int
    #: pairs emitted (within t, same bucket, no earlier agreeing block)
    emitted: int
    #: CPU seconds of the local search (the worker process's CPU time)
    cpu_seconds: float
    #: wall seconds of the local search
    wall_seconds: float


def block_layout(t: int) -> list[tuple[int, int]]:
    """``t + 1`` disjoint blocks ``(shift, width)`` covering the 64 bits, widths differing by at most one bit."""
    if not 0 <= t <= 63:
        raise ValueError(f"t must be between 0 and 63, not {t}")
    m = t + 1
    widths = [64 // m + (1 if k < 64 % m else 0) for k in range(m)]
    shifts = np.cumsum([0, *widths[:-1]]).tolist()
    return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]


def block_values(hashes: np.ndarray, shift: int, width: int) -> np.ndarray:
    """The block's bits of every hash, as uint64."""
    mask = np.uint64((1 << width) - 1)
    return (np.asarray(hashes, dtype=np.uint64) >> np.uint64(shift)) & mask


def owners(block: int, values: np.ndarray, partitions: int) -> np.ndarray:
    """The partition owning each bucket ``(block, value)``: splitmix64 of ``value * 64 + block``, mod P."""
    z = np.asarray(values, dtype=np.uint64) * np.uint64(64) + np.uint64(block)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(partitions)).astype(np.int64)


def shuffle(hashes: np.ndarray, t: int, partitions: int) -> list[list[np.ndarray]]:
    """The map side: for each partition, for each block, the (sorted) indices of the hashes it receives."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    out: list[list[np.ndarray]] = [[] for _ in range(partitions)]
    for b, (shift, width) in enumerate(block_layout(t)):
        own = owners(b, block_values(h, shift, width), partitions)
        order = np.argsort(own, kind="stable")
        bounds = np.searchsorted(own[order], np.arange(partitions + 1))
        for k in range(partitions):
            out[k].append(order[bounds[k]:bounds[k + 1]].astype(np.int64))
    return out


def search_partition(ids: Sequence[np.ndarray], hashes: Sequence[np.ndarray], t: int,
                     partition: int = 0) -> tuple[np.ndarray, PartitionStats]:
    """The reduce side of one partition: ``ids[b]`` and ``hashes[b]`` are what it received for block ``b``.

    Returns its pairs of ids ``(i, j)``, ``i < j``, int64 of shape (k, 2), and its statistics.
    """
    layout = block_layout(t)
    if len(ids) != len(layout) or len(hashes) != len(layout):
        raise ValueError(f"expected {len(layout)} blocks for t = {t}")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    found: list[np.ndarray] = []
    received = buckets = bucket_pairs = within_t = 0
    for b, ((shift, width), bid, bh) in enumerate(zip(layout, ids, hashes, strict=True)):
        bid = np.asarray(bid, dtype=np.int64)
        bh = np.ascontiguousarray(bh, dtype=np.uint64)
        received += len(bh)
        if len(bh) == 0:
            continue
        counts = np.unique(block_values(bh, shift, width), return_counts=True)[1].astype(np.int64)
        buckets += len(counts)
        bucket_pairs += int((counts * (counts - 1) // 2).sum())
        local = pairs_within(bh, t, workers=1)
        within_t += len(local)
        if len(local) == 0:
            continue
        x = bh[local[:, 0]] ^ bh[local[:, 1]]
        keep = block_values(x, shift, width) == 0  # same bucket of this block
        for s, w in layout[:b]:  # and no earlier block agrees: that block's owner emits the pair
            keep &= block_values(x, s, w) != 0
        i, j = bid[local[keep, 0]], bid[local[keep, 1]]
        found.append(np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)
    stats = PartitionStats(partition, received, buckets, bucket_pairs, within_t, len(pairs),
                           time.process_time() - cpu0, time.perf_counter() - wall0)
    return pairs, stats


def _write_partition(path: Path, hashes: np.ndarray, indices: Sequence[np.ndarray]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for b, idx in enumerate(indices):
        arrays[f"id{b}"] = idx
        arrays[f"hash{b}"] = hashes[idx]
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _run_partition(job: tuple[str, int, int]) -> tuple[np.ndarray, PartitionStats]:
    """A worker process: read one partition's file and search it."""
    path, t, partition = job
    # load the compiled kernels (Numba's cache) before the clock starts, as a long-running worker would have them
    pairs_within(np.arange(4096, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15), 8, workers=1)
    with np.load(path) as f:
        m = t + 1
        ids = [f[f"id{b}"] for b in range(m)]
        hashes = [f[f"hash{b}"] for b in range(m)]
    return search_partition(ids, hashes, t, partition)


def sort_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Pairs of indices below ``n`` sorted by (first, second), as :func:`audit.derive.neardup.pairs_within` returns
    them."""
    keys = pairs[:, 0].astype(np.int64) * n + pairs[:, 1]
    keys.sort()
    return np.stack([keys // n, keys % n], axis=1).astype(np.int64)


def partitioned_pairs(hashes: np.ndarray, t: int, partitions: int, *, processes: int | None = None,
                      workdir: Path | None = None,
                      context: str = "spawn") -> tuple[np.ndarray, list[PartitionStats], int]:
    """All index pairs within ``t``, computed by ``partitions`` partitions in worker processes.

    The shuffle writes one ``.npz`` file per partition under ``workdir`` (a temporary folder by default), then a pool
    of ``processes`` worker processes (default: one per partition) searches them. Returns the pairs sorted like
    :func:`audit.derive.neardup.pairs_within` (the same array, exactly), the statistics of every partition, and the
    bytes of the partition files (the shuffle volume: hashes and their ids).
    """
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(h)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64), [], 0
    plan = shuffle(h, t, partitions)
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        paths = [Path(d) / f"part-{k:05d}.npz" for k in range(partitions)]
        for k, path in enumerate(paths):
            _write_partition(path, h, plan[k])
        del plan
        shuffled = sum(p.stat().st_size for p in paths)
        jobs = [(str(p), t, k) for k, p in enumerate(paths)]
        ctx = multiprocessing.get_context(context)
        with ctx.Pool(processes or partitions) as pool:
            results = pool.map(_run_partition, jobs, chunksize=1)
    found = [p for p, _ in results if len(p)]
    pairs = sort_pairs(np.concatenate(found), n) if found else np.zeros((0, 2), dtype=np.int64)
    return pairs, [s for _, s in results], shuffled
