"""Rows of the store's tables as Arrow tables, for bulk writes: the Arrow type of each column type the schema
(:mod:`audit.schema`) uses, and the conversion of rows (mappings of column name to value)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from audit.schema import Table

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "UBIGINT": pa.uint64(),
    "DOUBLE": pa.float64(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR[]": pa.list_(pa.string()),
    "INTEGER[][]": pa.list_(pa.list_(pa.int32())),
    "BOOLEAN": pa.bool_(),
}


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema used to bulk-insert rows into ``table``."""
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.type]) for c in table.columns])


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A timezone-aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def arrow_table(table: Table, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """``rows`` (mappings of column name to value) as an Arrow table with ``table``'s columns."""
    columns = {name: [row.get(name) for row in rows] for name in table.column_names}
    return pa.Table.from_pydict(columns, schema=arrow_schema(table))


def arrow_columns(table: Table, columns: Mapping[str, Sequence[Any]]) -> pa.Table:
    """Columns of ``table`` (name to values, all of one length) as an Arrow table of those columns, typed as the
    schema declares them (for bulk writes built column by column)."""
    types = {c.name: _ARROW_TYPES[c.type] for c in table.columns}
    return pa.Table.from_pydict(dict(columns), schema=pa.schema([pa.field(n, types[n]) for n in columns]))
