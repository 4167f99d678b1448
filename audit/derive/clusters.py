"""Near-duplicate clusters of a store's images, for an audit run: the pairs within the thresholds
(:func:`audit.derive.neardup.near_duplicate_pairs`), joined transitively, each cluster named by its smallest
sha256, into the temporary table :data:`audit.schema.CLUSTERS`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from audit.derive.neardup import HashSet, cluster_labels, near_duplicate_pairs
from audit.schema import CLUSTERS
from audit.store.db import Store


def cluster_images(store: Store, phash_threshold: int, dhash_threshold: int) -> tuple[int, int]:
    """Write the temporary table :data:`~audit.schema.CLUSTERS` (sha256, cluster_id, size): one row per image of
    ``store``, an image without both hashes alone in its cluster. Returns the number of clusters of more than one
    image and the number of images in them."""
    con = store.con
    clusters = clustered_images = 0
    tbl = con.sql("SELECT sha256, phash, dhash, coalesce(phash_mirror, phash) AS pm, "
                      "coalesce(dhash_mirror, dhash) AS dm, phash IS NOT NULL AND dhash IS NOT NULL AS hashed "
                      "FROM images ORDER BY sha256").to_arrow_table()
    sha = np.asarray(tbl.column("sha256").to_pylist(), dtype=object)
    hashed = tbl.column("hashed").to_numpy(zero_copy_only=False).astype(bool)
    idx = np.flatnonzero(hashed)

    def col(name: str) -> np.ndarray:
        return np.asarray(tbl.column(name).to_numpy(zero_copy_only=False)[idx], dtype=np.uint64)

    hashes = HashSet(col("phash"), col("dhash"), col("pm"), col("dm")) if len(idx) else None
    cluster_id = sha.copy()
    size = np.ones(len(sha), dtype=np.int32)
    if hashes is not None:
        pairs = near_duplicate_pairs(hashes, phash_threshold=phash_threshold, dhash_threshold=dhash_threshold)
        labels = np.asarray(cluster_labels(len(idx), pairs))
        order = np.argsort(labels, kind="stable")  # rows sorted by sha256, so each group's first is its smallest
        sorted_labels = labels[order]
        starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        first = np.repeat(order[starts], counts)
        cluster_id[idx[order]] = sha[idx[first]]
        size[idx[order]] = np.repeat(counts, counts)
        clusters = int((counts > 1).sum())
        clustered_images = int(counts[counts > 1].sum())
    table = pa.table({"sha256": pa.array(sha.tolist(), pa.string()),
                      "cluster_id": pa.array(cluster_id.tolist(), pa.string()),
                      "size": pa.array(size, pa.int32())})
    con.execute(f"DROP TABLE IF EXISTS temp.main.{CLUSTERS}")
    con.register("_clusters_batch", table)
    try:
        con.execute(f"CREATE TEMP TABLE {CLUSTERS} AS SELECT * FROM _clusters_batch")
    finally:
        con.unregister("_clusters_batch")
    return clusters, clustered_images
