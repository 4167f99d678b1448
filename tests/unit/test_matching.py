"""audit.derive.matching: the near-duplicate rule as verify and lookup apply it to pairs of images."""

from __future__ import annotations

import random

from audit.derive.matching import Hashes, hash_set, match_distance
from audit.derive.neardup import DEFAULT_DHASH_THRESHOLD, DEFAULT_PHASH_THRESHOLD, near_duplicate_pairs


def _flip(h: int, bits: int, rng: random.Random) -> int:
    for b in rng.sample(range(64), bits):
        h ^= 1 << b
    return h


def test_a_plain_match_reports_its_own_distances():
    rng = random.Random(1)
    a: Hashes = (rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64))
    b: Hashes = (_flip(a[0], 3, rng), _flip(a[1], 5, rng), rng.getrandbits(64), rng.getrandbits(64))
    assert match_distance(a, b) == (3, 5, False)


def test_a_mirrored_copy_matches_through_the_mirrored_hashes():
    rng = random.Random(2)
    a: Hashes = (rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64))
    b: Hashes = (_flip(a[2], 2, rng), _flip(a[3], 4, rng), a[0], a[1])  # b is a mirrored, slightly changed a
    dp, dd, mirrored = match_distance(a, b)
    assert mirrored and dp <= 2 and dd <= 4
    assert match_distance(a, b, phash_threshold=1, dhash_threshold=1)[2]  # outside the thresholds: still the closest


def test_match_distance_agrees_with_near_duplicate_pairs():
    rng = random.Random(3)
    base = [(rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64)) for _ in range(20)]
    hashes: list[Hashes] = []
    for h in base:
        hashes.append(h)
        hashes.append((_flip(h[0], rng.randrange(0, 16), rng), _flip(h[1], rng.randrange(0, 20), rng), h[2], h[3]))
    pairs = {tuple(p) for p in near_duplicate_pairs(hash_set(hashes)).tolist()}
    for i in range(0, len(hashes), 2):
        dp, dd, _ = match_distance(hashes[i], hashes[i + 1])
        within = dp <= DEFAULT_PHASH_THRESHOLD and dd <= DEFAULT_DHASH_THRESHOLD
        assert within == ((i, i + 1) in pairs), (i, dp, dd)
