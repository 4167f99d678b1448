"""Ingest datasets that were already scraped: URL + caption tables (:mod:`audit.ingest.tables`) become
reference-only sightings in the store, written in bulk, one batch per transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import IngestError, Refused
from audit.ids import ingest_crawl_id
from audit.ingest.tables import (
    TableStats,
    column_names,
    dataset_rows,
    is_table,
    iter_table_rows,
    resolve_columns,
    table_shards,
)
from audit.inputs import DEFAULT_MAX_FILE_BYTES, check_regular, open_regular, sha256_regular
from audit.schema import TABLES_BY_NAME
from audit.store.arrow import arrow_columns, arrow_table
from audit.store.db import Store
from audit.store.recorder import Recorder

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


@dataclass
class DatasetResult:
    crawl_id: str
    files: int = 0
    rows: int = 0
    sightings: int = 0  # rows that became a sighting (exact duplicate rows are one sighting)
    images: int = 0  # distinct image URLs (reference-only images) of those rows
    bad_rows: int = 0
    bad_files: int = 0
    errors: list[str] = field(default_factory=list)


def table_inputs(paths: Sequence[Path]) -> list[Path] | None:
    """The table files named by ``paths`` (files, or folders of shards), or None when one of them is no table."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            shards = table_shards(p)
            if shards is None:
                return None
            files.extend(shards)
        elif p.is_file() and is_table(p):
            files.append(p)
        else:
            return None
    return files


def ingest_tables(store: Store, paths: Sequence[str | Path], *, columns: Mapping[str, str] | None = None,
                  crawl_id: str | None = None, max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
                  progress: Progress | None = None) -> DatasetResult:
    """Ingest URL + caption tables (Parquet, CSV or TSV files, or folders of them) into ``store`` as one crawl of kind
    ``dataset``: one reference-only sighting per row (see :mod:`audit.ingest.tables`), ``columns`` mapping roles
    (``url``, ``caption``, ``page_url``, ``sha256``, ``md5``) to column names where the defaults do not find them.

    The crawl id is derived from the files' contents unless given, and rows have stable ids, so ingesting the same
    tables again adds nothing. A file lacking the URL column (or a column ``columns`` names) is refused with
    :class:`IngestError` before anything is recorded. Rows are streamed in batches; a row without an http(s) URL,
    or one a CSV parser cannot split, is named (file and row) in ``errors`` and skipped; a file that cannot be read
    on is named with the rows read before it kept, and the next file is read."""
    resolved = [Path(p) for p in paths]
    for p in resolved:
        if not p.exists():
            raise IngestError(f"no such file or folder: {p}")
    files = table_inputs(resolved)
    if not files:
        raise IngestError("not a table (Parquet, CSV, TSV) or a folder of tables: " + " ".join(map(str, resolved)))
    keys = []
    for f in files:
        try:
            check_regular(f.stat(), max_file_bytes)
            keys.append(f"table:{sha256_regular(f, max_file_bytes)}")
        except Refused as exc:
            raise IngestError(f"cannot ingest {f}: {exc}") from exc
        except OSError as exc:
            raise IngestError(f"cannot read {f}: {exc.strerror or exc}") from exc
    problems = []
    for f in files:  # a column missing is refused before anything is recorded: --columns fixes it
        try:
            with open_regular(f, max_file_bytes) as fh:
                names = column_names(f, fh)
            if names is not None:
                resolve_columns(names, columns or {}, f)
        except IngestError as exc:
            problems.append(str(exc))
        except (Refused, OSError):
            continue  # named when the file is read
    if problems:
        more = f" (and {len(problems) - 1} more file(s) alike)" if len(problems) > 1 else ""
        raise IngestError(problems[0] + more)
    crawl_id = crawl_id or ingest_crawl_id("dataset", "\n".join(sorted(keys)))
    recorder = Recorder(store, crawl_id)
    recorder.begin(source=" ".join(str(p) for p in resolved), kind="dataset",
                   settings={"columns": dict(columns or {}), "max_file_bytes": max_file_bytes}, warc_path=None)
    result = DatasetResult(crawl_id=crawl_id)
    stats = TableStats()
    sightings_t, images_t = TABLES_BY_NAME["sightings"], TABLES_BY_NAME["images"]
    for path in files:
        stats.files += 1
        try:
            with open_regular(path, max_file_bytes) as fh:
                for numbers, cols, rows in iter_table_rows(path, fh, columns or {}, stats):
                    batch = dataset_rows(crawl_id, path, numbers, cols, rows, stats)
                    # the images' primary key skips those of earlier batches: no set of every key in memory
                    new_images = list(batch.images.values())
                    with store.transaction(wait=30.0):
                        if new_images:
                            store.insert_arrow("images", arrow_table(images_t, new_images))
                        store.insert_arrow("sightings", arrow_columns(sightings_t, batch.sightings))
                    if progress is not None:
                        progress("rows", len(rows))
        except (IngestError, Refused, OSError) as exc:
            stats.bad_files += 1
            text = str(exc) if isinstance(exc, IngestError) else f"{path}: {exc}"
            logger.warning("%s", text)
            stats.errors.append(text)
    result.files, result.rows, result.bad_rows, result.bad_files = stats.files, stats.rows, stats.bad_rows, \
        stats.bad_files
    result.errors = stats.errors
    result.images = _count(store, "SELECT count(DISTINCT sha256) FROM sightings WHERE crawl_id = ? AND sha256 LIKE "
                                  "'ref:%'", crawl_id)
    result.sightings = _count(store, "SELECT count(*) FROM sightings WHERE crawl_id = ?", crawl_id)
    summary: dict[str, Any] = {"files": stats.files, "rows": stats.rows, "sightings": result.sightings,
                               "reference_only_images": result.images, "bad_rows": stats.bad_rows,
                               "bad_files": stats.bad_files}
    if stats.errors:
        summary["errors"] = stats.errors
    recorder.finish(summary)
    return result


def _count(store: Store, sql: str, *params: Any) -> int:
    rows = store.query(sql, params)
    return int(rows[0][0]) if rows else 0
