"""Load the built-in test web's ground truth into the store, and check a crawl against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audit.store.db import Store

GT_KEYS = ("image_url", "photo_id", "residence_country", "capture_country", "transforms", "kept_metadata",
           "sha256", "site", "site_kind", "page_urls", "caption_case", "caption_country", "image_kind", "shows_face",
           "face_boxes", "face_ignore")


def load_ground_truth(store: Store, path: str | Path, *, batch_size: int = 5000) -> int:
    """Insert every line of a ground-truth JSONL file into ``ground_truth`` (idempotent). Returns lines read."""
    n = 0
    batch: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not JSON: {exc}") from exc
            batch.append({k: obj.get(k) for k in GT_KEYS})
            n += 1
            if len(batch) >= batch_size:
                store.insert("ground_truth", batch)
                batch = []
    store.insert("ground_truth", batch)
    return n


def check_against_ground_truth(store: Store, crawl_id: str) -> dict[str, int]:
    """How much of the ground truth one crawl recorded: image URLs and sightings found, bytes identical, and GPS
    decoded exactly where the ground truth says the served bytes kept it."""
    q = store.con.execute
    row = q(
        """
        WITH expected AS (
            SELECT g.image_url, unnest(g.page_urls) AS page_url FROM ground_truth g
        )
        SELECT
          (SELECT count(*) FROM ground_truth),
          (SELECT count(*) FROM ground_truth g WHERE EXISTS (
              SELECT 1 FROM sightings s WHERE s.crawl_id = $c AND s.image_url = g.image_url)),
          (SELECT count(*) FROM expected),
          (SELECT count(*) FROM expected e WHERE EXISTS (
              SELECT 1 FROM sightings s WHERE s.crawl_id = $c AND s.image_url = e.image_url
              AND s.page_url = e.page_url)),
          (SELECT count(*) FROM ground_truth g JOIN fetches f ON f.crawl_id = $c AND f.url = g.image_url
              WHERE f.sha256 = g.sha256),
          (SELECT count(*) FROM ground_truth g WHERE list_contains(g.kept_metadata, 'gps')),
          (SELECT count(*) FROM ground_truth g JOIN images i ON i.sha256 = g.sha256
              WHERE list_contains(g.kept_metadata, 'gps') AND i.gps_lat IS NOT NULL),
          (SELECT count(*) FROM ground_truth g JOIN images i ON i.sha256 = g.sha256
              WHERE NOT list_contains(g.kept_metadata, 'gps') AND i.gps_lat IS NOT NULL)
        """,
        {"c": crawl_id},
    ).fetchall()[0]
    assert row is not None
    keys = ("gt_image_urls", "image_urls_found", "gt_sightings", "sightings_found", "bytes_identical",
            "gt_with_gps", "gps_decoded", "gps_where_none_kept")
    return dict(zip(keys, (int(v) for v in row), strict=True))
