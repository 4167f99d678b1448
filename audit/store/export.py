"""``provaudit export`` and the reading back of an export: every table of a store as Parquet (or CSV) files, one
folder per table, one file per crawl for the tables that carry a ``crawl_id``.

Parquet exports are lossless and :func:`import_export` (``provaudit ingest EXPORT_DIR``) reads them back into a
store, idempotently: rows whose key is already there are skipped. CSV exports are for spreadsheets and scripts that
want text: lists and JSON become JSON text (control and bidi characters as ``\\u`` escapes), and every cell goes
through :func:`audit.textsafe.csv_cell` (a ``'`` before any formula start, whatever separator a spreadsheet splits
on; no raw control character), so CSV is not read back.

Layout::

    EXPORT_DIR/manifest.json                   format, schema version, tables, files and row counts
    EXPORT_DIR/sightings/crawl=<id>.parquet    tables with a crawl_id: one file per crawl
    EXPORT_DIR/images/all.parquet              the others: one file
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from audit.errors import ExportError, Refused
from audit.inputs import read_regular
from audit.provenance import sha256_file
from audit.schema import SCHEMA_VERSION, TABLES, TABLES_BY_NAME, Table
from audit.settings import DEFAULTS
from audit.store import sealed
from audit.store.db import Store
from audit.textsafe import csv_cell, json_dumps, json_text

logger = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a manifest lists tables and files: far below this
EXPORT_KIND = "provaudit-export"
_ROWS_PER_GROUP = 100_000
FACES_TABLE = "faces"  # where each detected face is: left out with face_boxes=False


@dataclass
class ExportResult:
    out_dir: Path
    format: str
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ImportResult:
    source: Path
    offered: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)


def partition_name(crawl_id: str) -> str:
    """A file name for one crawl's rows that stays inside its folder whatever the crawl id holds (ids may be given
    by users): safe characters kept, anything else replaced, and a digest of the id added when it was changed."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", crawl_id)[:80].lstrip(".") or "_"
    if safe != crawl_id:
        safe += "-" + hashlib.sha256(crawl_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"crawl={safe}"


def _order(table: Table) -> str:
    return ", ".join(table.primary_key)


def export_store(store: Store, out_dir: str | Path, *, fmt: str = "parquet",
                 tables: Iterable[str] | None = None, face_boxes: bool = True) -> ExportResult:
    """Write every table of ``store`` (or those named in ``tables``) under ``out_dir`` as ``fmt`` files, with a
    manifest. ``out_dir`` must be empty or missing: an export never overwrites or mixes with another.
    ``face_boxes=False``: the ``faces`` table (where each detected face is in its image) is left out and the
    manifest says so; ``images.face_count`` (how many faces, not where) is kept."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    names = list(tables) if tables is not None else [t.name for t in TABLES]
    for name in names:
        if name not in TABLES_BY_NAME:
            raise ExportError(f"no table {name!r} in a provaudit store")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not an empty folder; export into a new one")
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out_dir=out, format=fmt)
    present = store.columns
    omitted: dict[str, str] = {}
    for name in names:
        table = TABLES_BY_NAME[name]
        if name == FACES_TABLE and not face_boxes:
            result.rows[name], result.files[name] = 0, []
            omitted[name] = "face boxes left out on request (export --no-face-boxes); images.face_count is kept"
            continue
        if name not in present:  # e.g. the derived tables of a store never audited
            result.rows[name], result.files[name] = 0, []
            continue
        folder = out / name
        folder.mkdir()
        result.rows[name] = 0
        result.files[name] = []
        # a store written by an older version may lack newer columns: they are exported as NULL
        cols = ", ".join(c if c in present[name] else f"NULL::{t} AS {c}"
                         for c, t in ((col.name, col.type) for col in table.columns))
        if "crawl_id" in table.column_names:
            parts = [(str(c), f"SELECT {cols} FROM {name} WHERE crawl_id = $1 ORDER BY {_order(table)}", [c])
                     for (c,) in store.query(f"SELECT DISTINCT crawl_id FROM {name} ORDER BY 1")]
        else:
            parts = [("", f"SELECT {cols} FROM {name} ORDER BY {_order(table)}", [])]
        for crawl_id, sql, params in parts:
            stem = partition_name(crawl_id) if crawl_id else "all"
            path = folder / f"{stem}.{fmt}"
            if path.exists():
                raise ExportError(f"two crawl ids map to the same file {path}")
            try:
                reader = store.con.sql(sql, params=params or None).to_arrow_reader(_ROWS_PER_GROUP)
                n = (_write_parquet(reader, path) if fmt == "parquet" else
                     _write_csv(reader, path, frozenset(c.name for c in table.columns if c.type == "JSON")))
            except (duckdb.Error, pa.ArrowException, OSError) as exc:
                raise ExportError(f"cannot export table {name} to {path}: {exc}") from exc
            result.rows[name] += n
            result.files[name].append(str(path.relative_to(out)))
    manifest = {
        "kind": EXPORT_KIND,
        "format": fmt,
        "schema_version": SCHEMA_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tables": {name: {"rows": result.rows[name], "files": result.files[name]} for name in names},
        "omitted": omitted,
        # SHA-256 of every file written, by its path in the export: `provaudit fixity` checks them
        "checksums": {f: sha256_file(out / f)[0] for files in result.files.values() for f in files},
    }
    (out / MANIFEST).write_text(json_dumps(manifest, indent=2) + "\n", encoding="utf-8")
    logger.info("exported %s tables to %s", len(names), out)
    return result


def _write_parquet(reader: pa.RecordBatchReader, path: Path) -> int:
    n = 0
    with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            n += batch.num_rows
    return n  # an empty table still gets a file, with its schema


def _csv_cell(value: Any, *, is_json: bool = False) -> str:
    """One CSV cell of an export: lists and objects as JSON text, JSON columns' text with control and bidi characters
    as ``\\u`` escapes (:func:`audit.textsafe.json_text`), times in ISO 8601, and every cell through
    :func:`audit.textsafe.csv_cell` (formula guard whatever the separator, no raw control character)."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json_dumps(value, default=str)
    elif isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()
    elif isinstance(value, str) and is_json:
        value = json_text(value)
    return csv_cell(value)


def _write_csv(reader: pa.RecordBatchReader, path: Path, json_columns: frozenset[str] = frozenset()) -> int:
    n = 0
    names = reader.schema.names
    is_json = [name in json_columns for name in names]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([csv_cell(name) for name in names])
        for batch in reader:
            for row in batch.to_pylist():
                writer.writerow([_csv_cell(v, is_json=j) for v, j in zip(row.values(), is_json, strict=True)])
            n += batch.num_rows
    return n


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`export_store`."""
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return json.loads(read_regular(manifest, MAX_MANIFEST_BYTES, "a manifest")).get("kind") == EXPORT_KIND
    except (OSError, ValueError, AttributeError, Refused):
        return False


def read_manifest(path: str | Path) -> dict[str, Any]:
    src = Path(path)
    try:
        manifest = json.loads(read_regular(src / MANIFEST, MAX_MANIFEST_BYTES, "a manifest"))
    except Refused as exc:
        raise ExportError(f"{src / MANIFEST}: {exc}") from exc
    except OSError as exc:
        raise ExportError(f"cannot read {src / MANIFEST}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ExportError(f"{src / MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("kind") != EXPORT_KIND:
        raise ExportError(f"{src} is not a provaudit export (no {MANIFEST} of kind {EXPORT_KIND!r})")
    if manifest.get("format") != "parquet":
        raise ExportError(f"{src} is a {manifest.get('format')} export; only Parquet exports can be read back "
                          "(CSV cells are escaped for spreadsheets)")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ExportError(f"{src} was written with store schema version {version!r}; this provaudit reads up to "
                          f"{SCHEMA_VERSION}")
    return manifest


def import_export(store: Store, path: str | Path, *,
                  max_value_bytes: int = int(DEFAULTS["AUDIT_IMPORT_MAX_VALUE_BYTES"]),
                  memory: int = int(DEFAULTS["AUDIT_IMPORT_MEMORY"])) -> ImportResult:
    """Read a Parquet export back into ``store``; rows whose key is already present are skipped, so importing the
    same export twice adds nothing. All tables are added in one transaction: a bad file adds nothing at all.

    An export is hostile input: its files are read by a DuckDB of their own (:func:`audit.store.sealed.connect`: it may
    read the export's folder and nothing else) whose memory is bounded by ``memory`` bytes, and every text, JSON or
    list value is checked to be at most ``max_value_bytes`` before any row reaches the store (a Parquet file of a few
    kilobytes can hold a string of hundreds of megabytes). A file over either bound raises :class:`ExportError`
    naming the file, row and column, and nothing is imported. Rows reach ``store`` as Arrow batches sized to the
    largest row, so the store's connection reads no file."""
    src = Path(path)
    manifest = read_manifest(src)
    tables = manifest.get("tables")
    if not isinstance(tables, dict):
        raise ExportError(f"{src / MANIFEST} lists no tables")
    result = ImportResult(source=src)
    plan: list[tuple[Table, list[str]]] = []
    root = src.resolve()
    for name, entry in tables.items():
        if name not in TABLES_BY_NAME:
            raise ExportError(f"{src / MANIFEST} names a table {name!r} that a provaudit store does not have")
        files = entry.get("files") if isinstance(entry, dict) else None
        if not isinstance(files, list):
            raise ExportError(f"{src / MANIFEST}: no file list for table {name}")
        paths = []
        for f in files:
            p = (src / str(f)).resolve()
            if not p.is_relative_to(root):
                raise ExportError(f"{src / MANIFEST}: file {f!r} of table {name} is outside the export folder")
            if not p.is_file():
                raise ExportError(f"{src / MANIFEST}: file {f} of table {name} is missing")
            paths.append(str(p))
        if paths:
            plan.append((TABLES_BY_NAME[name], paths))
    reader = sealed.connect(None, readable=[root], options={"memory_limit": f"{memory}B", "threads": 1})
    try:
        batches = {table.name: _check_files(reader, table, paths, max_value_bytes, memory)
                   for table, paths in plan}
        con = store.con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, paths in plan:
                try:
                    rows = reader.sql(f"SELECT {', '.join(table.column_names)} FROM read_parquet({_sql_list(paths)})"
                                      ).to_arrow_reader(batches[table.name])
                    offered, added = insert_missing(store, table, rows)
                except duckdb.OutOfMemoryException as exc:
                    raise ExportError(f"cannot read table {table.name} from {src} within {memory:,} bytes of memory "
                                      "(AUDIT_IMPORT_MEMORY); nothing was imported") from exc
                except (duckdb.Error, pa.ArrowException) as exc:
                    raise ExportError(f"cannot read table {table.name} from {src}: {_first_line(exc)}") from exc
                result.offered[table.name] = offered
                result.added[table.name] = added
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        reader.close()
    return result


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _size_expression(column: str, duck_type: str) -> str | None:
    """SQL for the bytes a value of a Parquet column holds, by its type in the file (None: fixed width)."""
    quoted = '"' + column.replace('"', '""') + '"'
    if duck_type in ("VARCHAR", "JSON"):
        return f"strlen({quoted})"
    if duck_type == "BLOB":
        return f"octet_length({quoted})"
    if duck_type.endswith("]") or duck_type.startswith(("STRUCT", "MAP", "UNION")):
        return f"strlen(CAST({quoted} AS VARCHAR))"  # a list or structure: the length of its text
    return None


def _check_files(reader: duckdb.DuckDBPyConnection, table: Table, paths: list[str], max_value_bytes: int,
                 memory: int) -> int:
    """Check every file of ``table``: it has the table's columns, and no value of them holds more than
    ``max_value_bytes`` bytes. Returns the rows per Arrow batch that keep one batch within a quarter of ``memory``
    (at least 1, at most 10,000). Raises :class:`ExportError` naming the file, row and column."""
    widest = 1
    for path in paths:
        shown = Path(path)
        try:
            described = reader.execute(f"DESCRIBE SELECT * FROM read_parquet({_sql_list([path])})").fetchall()
        except duckdb.Error as exc:
            raise ExportError(f"cannot read {shown} (table {table.name}): {_first_line(exc)}") from exc
        types = {str(row[0]): str(row[1]) for row in described}
        missing = [c for c in table.column_names if c not in types]
        if missing:
            raise ExportError(f"{shown} (table {table.name}) lacks the column(s) {', '.join(missing)}")
        sized = [(c, e) for c in table.column_names if (e := _size_expression(c, types[c])) is not None]
        if not sized:
            continue
        inner = ", ".join(f"coalesce({e}, 0) AS s{i}" for i, (_, e) in enumerate(sized))
        each = ", ".join(f"s{i}" for i in range(len(sized)))
        total = " + ".join(f"s{i}" for i in range(len(sized)))
        sql = (f"SELECT {', '.join(f'max(s{i})' for i in range(len(sized)))}, max({total}), "
               f"arg_max(file_row_number, greatest({each})) "
               f"FROM (SELECT file_row_number, {inner} FROM read_parquet({_sql_list([path])}, file_row_number = true))")
        try:
            found = reader.execute(sql).fetchall()
        except duckdb.OutOfMemoryException as exc:
            raise ExportError(f"{shown} (table {table.name}) needs more than {memory:,} bytes of memory to read "
                              "(AUDIT_IMPORT_MEMORY): it holds pages or values far larger than an export writes; "
                              "nothing was imported") from exc
        except duckdb.Error as exc:
            raise ExportError(f"cannot read {shown} (table {table.name}): {_first_line(exc)}") from exc
        row = found[0] if found else None
        if row is None or row[-1] is None:
            continue  # no rows
        biggest = [int(v or 0) for v in row[: len(sized)]]
        worst = max(range(len(sized)), key=biggest.__getitem__)
        if biggest[worst] > max_value_bytes:
            raise ExportError(f"{shown} (table {table.name}): row {int(row[-1]) + 1} holds {biggest[worst]:,} bytes "
                              f"in column {sized[worst][0]}, over the bound of {max_value_bytes:,} "
                              "(AUDIT_IMPORT_MAX_VALUE_BYTES); nothing was imported")
        widest = max(widest, int(row[len(sized)] or 0))
    return max(1, min(10_000, memory // 4 // widest))


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def insert_missing(store: Store, table: Table, rows: pa.RecordBatchReader) -> tuple[int, int]:
    """Insert the rows streamed by ``rows`` (with ``table``'s columns) whose key ``table`` lacks, in one pass; returns
    (rows offered, rows added). Keys repeated inside ``rows`` are added once (the first in key order)."""
    con = store.con
    cols = table.column_names
    names = ", ".join(cols)
    key = table.primary_key
    offered = 0

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal offered
        for batch in rows:
            offered += batch.num_rows
            yield batch

    before = int(con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0])
    on = " AND ".join(f"t.{k} IS NOT DISTINCT FROM s.{k}" for k in key)
    dedup = f"QUALIFY row_number() OVER (PARTITION BY {', '.join(key)} ORDER BY {', '.join(key)}) = 1"
    con.register("_incoming", pa.RecordBatchReader.from_batches(rows.schema, counted()))
    try:
        con.execute(
            f"INSERT INTO {table.name} ({names}) "
            f"SELECT {', '.join('s.' + c for c in cols)} FROM (SELECT {names} FROM _incoming {dedup}) s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {on})"
        )
    finally:
        con.unregister("_incoming")
    after = int(con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0])
    return offered, after - before
