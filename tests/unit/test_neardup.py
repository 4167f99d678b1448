"""Near-duplicate search on real near-duplicate sets, and against a naive all-pairs loop."""

from __future__ import annotations

import random
import re

import numpy as np

from audit.decode.imagefacts import analyse_image
from audit.derive.neardup import HashSet, cluster_labels, near_duplicate_pairs

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tiff", ".ppm", ".pgm", ".pbm"}


def _group(path) -> str:
    if "pdq-bridge-mods" in str(path):
        return "pdq"
    m = re.match(r"(ukbench\d+)", path.name)
    return m.group(1) if m else path.name


def test_recall_on_the_shared_near_duplicate_sets(corpora):
    root = corpora / "near-duplicates"
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    records = [(p, analyse_image(p.read_bytes())) for p in files]
    unreadable = [p.name for p, r in records if r.phash is None]
    assert unreadable == ["ukbench09268_corrupt.jpg"] * 2  # a corrupted copy, in two folders
    readable = [(p, r) for p, r in records if r.phash is not None]
    hashes = HashSet.from_lists(*([getattr(r, f) for _, r in readable]
                                  for f in ("phash", "dhash", "phash_mirror", "dhash_mirror")))
    labels = cluster_labels(len(readable), near_duplicate_pairs(hashes))
    by_group: dict[str, set[int]] = {}
    for (p, _), label in zip(readable, labels.tolist(), strict=True):
        if "rotation" in p.name:
            continue
        by_group.setdefault(_group(p), set()).add(label)
    # every copy but the rotated ones lands in its original's cluster: resized, re-encoded (BMP, PNG, WebP),
    # mirrored, grey, blurred, sharpened, contrast, saturation, shrunk and squashed copies
    for group, found in by_group.items():
        assert len(found) == 1, group
    # a 90° rotation is beyond what pHash/dHash can match: the documented bound
    rotated = [label for (p, _), label in zip(readable, labels.tolist(), strict=True) if "rotation" in p.name]
    originals = {label for (p, _), label in zip(readable, labels.tolist(), strict=True)
                 if p.name == "ukbench00120.jpg"}
    assert rotated and not set(rotated) & originals
    # distinct photos stay apart
    assert len({labels[i] for i, (p, _) in enumerate(readable) if _group(p) != "pdq"}) >= len(by_group) - 1


def test_matches_a_naive_loop_on_clustered_hashes():
    rng = random.Random(4)
    base = [rng.getrandbits(64) for _ in range(300)]
    items = []
    for b in base:
        for _ in range(rng.randint(1, 4)):  # copies with a few flipped bits, like re-encoded re-posts
            flips = 0
            for _ in range(rng.randint(0, 12)):
                flips |= 1 << rng.randrange(64)
            items.append((b ^ flips, (b >> 3) ^ flips, rng.getrandbits(64), rng.getrandbits(64)))
    hashes = HashSet.from_lists(*zip(*items, strict=True))
    got = {tuple(p) for p in near_duplicate_pairs(hashes, phash_threshold=8, dhash_threshold=10).tolist()}

    def d(a: int, b: int) -> int:
        return bin(a ^ b).count("1")

    want = set()
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            a, b = items[i], items[j]
            if (d(a[0], b[0]) <= 8 and d(a[1], b[1]) <= 10) or (d(a[2], b[0]) <= 8 and d(a[3], b[1]) <= 10) or (
                    d(a[0], b[2]) <= 8 and d(a[1], b[3]) <= 10):
                want.add((i, j))
    assert got == want and want


def test_cluster_labels_are_connected_components():
    pairs = np.array([[0, 1], [1, 2], [4, 5]])
    assert cluster_labels(7, pairs).tolist() == [0, 0, 0, 3, 4, 4, 6]
    assert cluster_labels(0, np.zeros((0, 2), dtype=np.int64)).tolist() == []
