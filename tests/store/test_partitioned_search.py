"""The near-duplicate search partitioned by hash substring (audit/derive/partition.py) returns exactly the pairs of the
single-process search, each pair once, whatever the number of partitions; also on skewed (clustered) hashes."""

from __future__ import annotations

import numpy as np
import pytest

from audit.derive.neardup import pairs_within
from audit.derive.partition import block_layout, block_values, partitioned_pairs, search_partition, shuffle


def _random(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, n, dtype=np.uint64, endpoint=False)


def _clustered(n: int, seed: int = 1) -> np.ndarray:
    """Copies of base hashes with a few flipped bits, exact duplicates, one huge bucket of identical hashes."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**64, n // 4, dtype=np.uint64)
    h = np.repeat(base, rng.integers(1, 6, len(base)))
    for _ in range(6):
        bit = np.left_shift(np.uint64(1), rng.integers(0, 64, len(h)).astype(np.uint64))
        h ^= np.where(rng.random(len(h)) < 0.4, bit, np.uint64(0))
    h = np.concatenate([np.full(400, h[0]), h, _random(n // 4, seed + 7)])[:n]
    return h[rng.permutation(len(h))]


@pytest.mark.parametrize("t", [0, 1, 8, 12, 63])
def test_blocks_are_disjoint_and_cover_64_bits(t):
    layout = block_layout(t)
    assert len(layout) == t + 1
    assert sum(w for _, w in layout) == 64
    assert [s for s, _ in layout] == np.cumsum([0] + [w for _, w in layout[:-1]]).tolist()
    assert max(w for _, w in layout) - min(w for _, w in layout) <= 1


def test_every_hash_goes_once_per_block():
    h = _random(3000)
    plan = shuffle(h, 8, 3)
    for b, (shift, width) in enumerate(block_layout(8)):
        got = np.sort(np.concatenate([plan[k][b] for k in range(3)]))
        assert np.array_equal(got, np.arange(len(h)))
        owned = [set(block_values(h[plan[k][b]], shift, width).tolist()) for k in range(3)]
        assert not (owned[0] & owned[1]) and not (owned[0] & owned[2]) and not (owned[1] & owned[2])


def test_a_pair_within_t_is_emitted_by_one_partition_only():
    h = _clustered(5000)
    plan = shuffle(h, 8, 4)
    emitted = [search_partition(plan[k], [h[i] for i in plan[k]], 8, k)[0] for k in range(4)]
    keys = np.concatenate([p[:, 0] * len(h) + p[:, 1] for p in emitted])
    assert len(keys) == len(np.unique(keys))
    assert len(keys) == len(pairs_within(h, 8))


@pytest.mark.parametrize(("kind", "t", "partitions"), [
    ("random", 12, 2),
    ("random", 8, 3),
    ("clustered", 8, 4),
    ("clustered", 12, 3),
])
def test_partitioned_equals_single_process(kind, t, partitions):
    h = _random(6000) if kind == "random" else _clustered(6000)
    want = pairs_within(h, t)
    context = "spawn" if partitions == 2 else "fork"  # spawn is the default, fork starts faster
    got, stats, shuffled = partitioned_pairs(h, t, partitions, processes=2, context=context)
    assert got.dtype == np.int64
    assert np.array_equal(got, want)  # same pairs, same order, none twice
    assert len(stats) == partitions
    assert sum(s.received for s in stats) == (t + 1) * len(h)
    assert sum(s.emitted for s in stats) == len(want)
    assert shuffled >= (t + 1) * len(h) * 16
    if kind == "clustered":
        assert len(want) > 400 * 399 // 2  # the huge bucket's pairs are all there


def test_small_inputs():
    for n in (0, 1):
        got, stats, _ = partitioned_pairs(_random(n), 8, 2)
        assert got.shape == (0, 2) and stats == []
    h = np.array([5, 5, 6, 2**63], dtype=np.uint64)
    got, _, _ = partitioned_pairs(h, 2, 2, processes=1, context="fork")
    assert got.tolist() == [[0, 1], [0, 2], [1, 2]]
    with pytest.raises(ValueError):
        block_layout(64)
