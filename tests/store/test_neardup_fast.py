"""The multi-index-hashing search and the fast near_duplicate_pairs return exactly the brute-force pairs."""

from __future__ import annotations

import numpy as np
import pytest

from audit.derive import neardup
from audit.derive.neardup import (
    HashSet,
    cluster_labels,
    near_duplicate_pairs,
    near_duplicate_pairs_bruteforce,
    pairs_between,
    pairs_within,
)


def _flip(rng: np.random.Generator, h: np.ndarray, max_bits: int) -> np.ndarray:
    """Each hash with up to ``max_bits`` random bits flipped (re-encoded copies)."""
    out = h.copy()
    for _ in range(max_bits):
        bit = np.left_shift(np.uint64(1), rng.integers(0, 64, len(h)).astype(np.uint64))
        out ^= np.where(rng.random(len(h)) < 0.6, bit, np.uint64(0))
    return out


def _random(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, n, dtype=np.uint64, endpoint=False)


def _clustered(n: int, seed: int = 1) -> np.ndarray:
    """Clusters of copies (a base hash, a few flipped bits), exact duplicates, one big bucket and random noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**64, n // 4, dtype=np.uint64)
    copies = _flip(rng, np.repeat(base, rng.integers(1, 6, len(base))), 6)
    big = np.full(1500, copies[0])  # many identical hashes: one huge bucket in every block
    half_big = _flip(rng, np.full(500, copies[1]), 3)
    others = np.concatenate([copies, half_big, _random(n // 4, seed + 7)])
    h = np.concatenate([big, others[rng.permutation(len(others))][:n - len(big)]])
    return h[rng.permutation(n)]


def _brute(queries: np.ndarray, data: np.ndarray | None, t: int) -> np.ndarray:
    if data is None:
        return neardup._brute_pairs(queries, queries, t, True)
    return neardup._brute_pairs(queries, data, t, False)


@pytest.mark.parametrize("kind", ["random", "clustered"])
@pytest.mark.parametrize("t", [0, 1, 4, 8, 12])
def test_pairs_within_equals_brute_force(kind, t):
    h = _random(6000) if kind == "random" else _clustered(6000)
    assert neardup._plan(len(h), t) is not None  # the multi-index path is the one under test
    got = pairs_within(h, t)
    want = _brute(h, None, t)
    assert got.dtype == np.int64 and got.shape[1] == 2
    assert np.array_equal(got, want)
    if kind == "clustered":
        assert len(want) > 1500 * 1499 // 2  # the big bucket's pairs are all there


def test_pairs_within_one_thread_and_edge_cases():
    h = _clustered(5000, seed=3)
    assert np.array_equal(pairs_within(h, 8, workers=1), pairs_within(h, 8, workers=2))
    assert pairs_within(h, -1).shape == (0, 2)
    assert pairs_within(h[:1], 8).shape == (0, 2)
    assert np.array_equal(pairs_within(h[:300], 8), _brute(h[:300], None, 8))  # small: brute force path
    same = np.full(4500, 12345, dtype=np.uint64)  # everything identical: all n(n-1)/2 pairs, once each
    got = pairs_within(same, 0)
    assert len(got) == 4500 * 4499 // 2 and (got[:, 0] < got[:, 1]).all()
    assert (np.diff(got[:, 0] * 4500 + got[:, 1]) > 0).all()


@pytest.mark.parametrize("kind", ["random", "clustered"])
@pytest.mark.parametrize("t", [0, 3, 8, 12])
@pytest.mark.parametrize("group_target", [1, 16, 256])
def test_pairs_within_split_into_groups_equals_brute_force(monkeypatch, kind, t, group_target):
    """Small targets for the group size split every block key into many groups (high bits) and few low bits, as at
    millions of hashes, so the probes across groups and the self-join's symmetry (each pair of buckets once) are
    exercised on sizes the brute force can check."""
    monkeypatch.setattr(neardup, "GROUP_TARGET", group_target)
    monkeypatch.setattr(neardup, "MIN_LOW_BITS", 2)
    h = _random(6000, seed=4) if kind == "random" else _clustered(6000, seed=4)
    blocks = neardup._plan(len(h), t)
    assert blocks is not None and any(neardup._low_bits(b.width, len(h)) < b.width for b in blocks)
    want = _brute(h, None, t)
    for workers in (1, 2, 3):
        stats: dict = {}
        got = pairs_within(h, t, workers=workers, stats=stats)
        assert np.array_equal(got, want)
        assert len(stats["thread_cpu_s"]) <= workers
    if kind == "clustered" and t >= 8:
        assert len(want) > 1000


@pytest.mark.parametrize("group_target", [16, 8192])
def test_pairs_within_exact_on_a_larger_clustered_set(monkeypatch, group_target):
    """40,000 clustered hashes at t = 8 (every pair, none twice, sorted) against the brute force."""
    monkeypatch.setattr(neardup, "GROUP_TARGET", group_target)
    h = _clustered(40_000, seed=8)
    got = pairs_within(h, 8, workers=2)
    want = _brute(h, None, 8)
    assert np.array_equal(got, want) and len(want) > 40_000


@pytest.mark.parametrize("t", [0, 8, 12])
def test_pairs_between_split_into_groups_equals_brute_force(monkeypatch, t):
    monkeypatch.setattr(neardup, "GROUP_TARGET", 16)
    monkeypatch.setattr(neardup, "MIN_LOW_BITS", 2)
    rng = np.random.default_rng(6)
    data = _clustered(6000, seed=6)
    queries = np.concatenate([_flip(rng, data[:3000], 5), _random(3000, seed=10)])
    assert np.array_equal(pairs_between(queries, data, t, workers=2), _brute(queries, data, t))


@pytest.mark.parametrize("t", [0, 8, 12])
def test_pairs_between_equals_brute_force(t):
    rng = np.random.default_rng(5)
    data = _clustered(6000, seed=5)
    queries = np.concatenate([_flip(rng, data[:3000], 5), _random(3000, seed=9)])
    assert np.array_equal(pairs_between(queries, data, t), _brute(queries, data, t))


def test_masks_enumerate_the_ball():
    for width, radius in [(16, 0), (16, 3), (21, 2), (10, 4)]:
        masks = neardup._masks(width, radius)
        assert len(masks) == len(set(masks.tolist())) == neardup.Block(0, width, radius).probes
        assert (np.bitwise_count(masks) <= radius).all() and (masks < (1 << width)).all()


def _hashset(n: int, seed: int) -> HashSet:
    rng = np.random.default_rng(seed)
    p = _clustered(n, seed=seed)
    d = _flip(rng, p ^ np.uint64(0x00FF00FF00FF00FF), 4)  # dHashes that mostly agree when pHashes do
    pm = _flip(rng, p[rng.permutation(n)], 2)  # mirrors that collide with other images' pHashes
    dm = np.where(rng.random(n) < 0.5, _flip(rng, d, 3), _random(n, seed + 1))
    return HashSet(p, d, pm, dm)


@pytest.mark.parametrize(("tp", "td"), [(0, 0), (8, 10), (12, 14), (10, 4)])
def test_near_duplicate_pairs_fast_equals_brute_force(tp, td):
    hashes = _hashset(5000, seed=11)
    assert len(hashes) >= neardup.BRUTE_FORCE_BELOW
    got = near_duplicate_pairs(hashes, phash_threshold=tp, dhash_threshold=td)
    want = near_duplicate_pairs_bruteforce(hashes, phash_threshold=tp, dhash_threshold=td)
    assert got.dtype == np.int64
    assert {tuple(p) for p in got.tolist()} == {tuple(p) for p in want.tolist()}
    assert len(got) == len(want) > 0


def _reference_labels(n: int, pairs: np.ndarray) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j in pairs.tolist():
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_cluster_labels_equal_a_simple_union_find(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    pairs = rng.integers(0, n, (int(rng.integers(0, 2 * n)), 2))
    pairs = np.concatenate([pairs, pairs[:10], pairs[:5, ::-1]])  # repeated and reversed edges
    assert cluster_labels(n, pairs).tolist() == _reference_labels(n, pairs)
