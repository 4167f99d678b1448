"""Ingest img2dataset outputs (:mod:`audit.ingest.img2dataset`) into a store as one crawl of kind ``img2dataset``.

Each sample's bytes take the path of every ingested image -- analysed in bounded worker processes
(:class:`~audit.decode.workers.AnalysisPool` through :func:`audit.ingest.run.analysed`), faces detected in a
:func:`~audit.decode.facejob.detection_pool` when asked, written by the :class:`~audit.store.recorder.Recorder` --
as a fetch of the sample's URL; the sample is a sighting of that URL (``ref_kind`` ``dataset``, no page). Failed
downloads become sightings of reference-only images (:func:`audit.ingest.tables.reference_key`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.decode.facejob import detection_pool
from audit.decode.workers import DEFAULT_MAX_MEMORY, DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT, AnalysisPool, Bounds
from audit.errors import IngestError
from audit.ids import ingest_crawl_id
from audit.ingest.img2dataset import Checks, Errors, Shard, find_shards, iter_shard, read_stats, sample_items
from audit.ingest.run import INGEST_BATCH_FACTOR, Item, analysed
from audit.inputs import DEFAULT_MAX_FILE_BYTES
from audit.records import DatasetSighting, ImageFetch
from audit.settings import DEFAULTS
from audit.store.db import Store
from audit.store.recorder import Recorder

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


@dataclass
class Img2DatasetResult:
    crawl_id: str
    shards: int = 0
    layouts: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    with_bytes: int = 0  # samples whose bytes were read (each analysed as an image)
    reference_only: int = 0  # samples without bytes (failed downloads): reference-only sightings
    images: int = 0  # fetches carrying an analysed record
    unreadable_images: int = 0  # of them, bytes the analysis could not read as an image (named in errors)
    bad_samples: int = 0  # samples with a problem (named in errors)
    errors: list[str] = field(default_factory=list)
    published: dict[str, int] = field(default_factory=dict)  # the published hashes checked against the bytes
    shard_stats: dict[str, int] = field(default_factory=dict)  # the sums of the shards' _stats.json
    analysis: dict[str, int] = field(default_factory=dict)
    faces: dict[str, int] = field(default_factory=dict)


def img2dataset_inputs(paths: Sequence[Path]) -> list[Shard] | None:
    """The shards of every img2dataset output among ``paths``, or None when one of them is no such output."""
    shards: list[Shard] = []
    for p in paths:
        found = find_shards(p)
        if found is None:
            return None
        shards.extend(found)
    return shards


def ingest_img2dataset(
    store: Store,
    paths: Sequence[str | Path],
    *,
    crawl_id: str | None = None,
    batch_size: int = INGEST_BATCH_FACTOR * int(DEFAULTS["AUDIT_BATCH_SIZE"]),
    max_image_bytes: int = int(DEFAULTS["AUDIT_MAX_IMAGE_BYTES"]),
    max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float = DEFAULT_TIMEOUT,
    max_memory: int = DEFAULT_MAX_MEMORY,
    workers: int = int(DEFAULTS["AUDIT_ANALYSIS_PROCESSES"]),
    faces: bool = bool(DEFAULTS["AUDIT_FACES"]),
    progress: Progress | None = None,
) -> Img2DatasetResult:
    """Ingest img2dataset output folders (or single shards) into ``store`` as one crawl of kind ``img2dataset``.

    The crawl id is derived from the outputs' absolute paths unless given; rows have stable ids (a sample's sighting
    by its URL, shard and key), so ingesting the same output again adds nothing. Shards are read one after the
    other, samples streamed (tar members one at a time, each at most ``max_image_bytes``; Parquet in bounded
    batches). A broken shard, member, file or row is named in ``errors`` with its file and member or row, and the
    rest is kept. :class:`IngestError` when a path is no img2dataset output, before anything is recorded."""
    resolved = [Path(p) for p in paths]
    for p in resolved:
        if not p.exists():
            raise IngestError(f"no such file or folder: {p}")
    errors = Errors()
    shards: list[Shard] = []
    for p in resolved:
        found = find_shards(p, errors)
        if found is None:
            raise IngestError(f"not an img2dataset output (a folder with *_stats.json and its shards' .tar files, "
                              f"folders or .parquet files): {p}")
        shards.extend(found)
    keys = sorted(f"{'dir' if p.is_dir() else 'file'}:{p.resolve()}" for p in resolved)
    crawl_id = crawl_id or ingest_crawl_id("img2dataset", "\n".join(keys))
    result = Img2DatasetResult(crawl_id=crawl_id)
    bounds = Bounds(timeout=timeout, max_memory=max_memory, max_pixels=max_pixels)
    recorder = Recorder(store, crawl_id, batch_size=batch_size)
    recorder.begin(source=" ".join(str(p) for p in resolved), kind="img2dataset",
                   settings={"max_image_bytes": max_image_bytes, "max_file_bytes": max_file_bytes,
                             "max_pixels": max_pixels, "timeout": timeout, "max_memory": max_memory, "faces": faces},
                   warc_path=None)
    checks = Checks()
    totals: dict[str, int] = {}
    wheres: deque[str] = deque()  # where each sample whose bytes are being analysed is, in order

    def items() -> Iterator[Item | DatasetSighting]:
        for shard in shards:
            result.shards += 1
            result.layouts[shard.layout] = result.layouts.get(shard.layout, 0) + 1
            stats = read_stats(shard, errors)
            for name in ("count", "successes", "failed_to_download", "failed_to_resize"):
                value = getattr(stats, name)
                if value is not None:
                    totals[name] = totals.get(name, 0) + value
            when = stats.start_time or _mtime(shard)
            for sample in iter_shard(shard, errors, max_image_bytes=max_image_bytes, max_file_bytes=max_file_bytes):
                for item in sample_items(sample, when=when, errors=errors, checks=checks):
                    if isinstance(item, ImageFetch) and item.body is not None:
                        at = sample.image_where if sample.image_where is not None else sample.where
                        wheres.append(f"{sample.file}: {at}" if at else str(sample.file))
                    yield item

    with AnalysisPool(workers, bounds=bounds) as pool, \
            (detection_pool(workers, bounds=bounds) if faces else contextlib.nullcontext()) as detector:
        for item in analysed(items(), pool, faces=detector):  # type: ignore[arg-type]
            recorder.add(item)
            if isinstance(item, ImageFetch) and item.record is not None:
                result.images += 1
                where = wheres.popleft() if wheres else item.url
                if item.record.error:
                    result.unreadable_images += 1
                    errors.add(where, "", f"the image cannot be read ({item.record.error[:200]}): recorded with "
                                          "its error")
            if progress is not None and isinstance(item, DatasetSighting):
                progress("samples", 1)
        result.analysis = dict(pool.stats)
        if detector is not None:
            result.faces = dict(detector.stats)
    result.samples, result.with_bytes = checks.samples, checks.with_bytes
    result.reference_only, result.bad_samples = checks.reference_only, checks.bad_samples
    result.published = {k: v for k, v in (("sha256_matched", checks.sha256_matched),
                                          ("sha256_reencoded", checks.sha256_reencoded),
                                          ("sha256_mismatched", checks.sha256_mismatched),
                                          ("md5_matched", checks.md5_matched),
                                          ("md5_reencoded", checks.md5_reencoded),
                                          ("md5_mismatched", checks.md5_mismatched)) if v}
    result.shard_stats = totals
    result.errors = errors.messages
    summary: dict[str, Any] = {"img2dataset": {
        "shards": result.shards, "layouts": result.layouts, "samples": result.samples,
        "with_bytes": result.with_bytes, "reference_only": result.reference_only,
        "unreadable_images": result.unreadable_images, "bad_samples": result.bad_samples,
        "problems": errors.count, "published_hashes": result.published, "shard_stats": totals}}
    if errors.messages:
        summary["errors"] = errors.messages
    if result.analysis.get("timed_out") or result.analysis.get("crashed"):
        summary["analysis"] = result.analysis
    if result.faces.get("timed_out") or result.faces.get("crashed"):
        summary["faces"] = result.faces
    recorder.finish(summary)
    return result


def _mtime(shard: Shard) -> dt.datetime:
    """When a shard without a start time in its stats was written: its samples' file or folder's modification."""
    try:
        return dt.datetime.fromtimestamp(shard.data.stat().st_mtime, dt.UTC)
    except OSError:
        return dt.datetime.now(dt.UTC)
