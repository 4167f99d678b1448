"""``provaudit sql``: SQL on a store without installing anything — the DuckDB shell's everyday use, on a connection
that can read nothing but the store (:mod:`audit.store.sealed`) and write nothing (read-only).

:func:`run_statements` runs a script statement by statement; each :class:`QueryResult` holds at most ``max_rows``
rows (the rest are counted, never kept). :func:`result_table`, :func:`write_csv` and :func:`write_jsonl` render one:
every value a scraped page or file put in the store goes through :mod:`audit.textsafe` (no terminal control, no
formula start in CSV, ``\\u`` escapes in JSON).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import duckdb
from rich.table import Table

from audit.schema import TABLES, VIEWS
from audit.store.db import Store
from audit.textsafe import csv_cell, json_dumps, rich_text

logger = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 100
_FETCH = 10_000


@dataclass
class QueryResult:
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    more: int = 0  # rows past max_rows, counted and dropped
    error: str | None = None


def _one_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def run_statements(store: Store, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS) -> Iterator[QueryResult]:
    """Run each statement of ``sql`` on ``store`` in turn; a statement that fails gives a result with its error
    (the following ones still run). At most ``max_rows`` rows of each are kept."""
    try:
        statements = store.con.extract_statements(sql)
    except duckdb.Error as exc:
        yield QueryResult(sql.strip(), error=_one_line(exc))
        return
    for st in statements:
        text = str(st.query).strip()
        result = QueryResult(text)
        try:
            cur = store.con.execute(text)
            if cur.description is not None:
                result.columns = [str(d[0]) for d in cur.description]
                result.rows = cur.fetchmany(max_rows)
                while chunk := cur.fetchmany(_FETCH):
                    result.more += len(chunk)
        except duckdb.Error as exc:
            result.error = _one_line(exc)
        yield result


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (list, dict)):
        return json_dumps(value)
    return str(value)


def result_table(result: QueryResult) -> Table:
    """A terminal table of the rows kept, with a caption saying how many more there were."""
    caption = f"{len(result.rows):,} row(s)"
    if result.more:
        caption = f"first {len(result.rows):,} of {len(result.rows) + result.more:,} rows (--max-rows)"
    table = Table(caption=caption, caption_justify="left")
    for col in result.columns:
        table.add_column(rich_text(col), overflow="fold")
    for row in result.rows:
        table.add_row(*(rich_text(_text(v)) for v in row))
    return table


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time, decimal.Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def write_csv(result: QueryResult, fh: IO[str]) -> None:
    """The rows kept as CSV, each cell through :func:`audit.textsafe.csv_cell`."""
    w = csv.writer(fh)
    w.writerow([csv_cell(c) for c in result.columns])
    for row in result.rows:
        w.writerow([csv_cell("" if v is None else _text(v)) for v in row])


def write_jsonl(result: QueryResult, fh: IO[str]) -> None:
    """The rows kept as JSON objects, one per line (control and bidi characters as ``\\u`` escapes)."""
    for row in result.rows:
        fh.write(json_dumps({c: _jsonable(v) for c, v in zip(result.columns, row, strict=True)}) + "\n")


def catalogue() -> list[tuple[str, str, str]]:
    """provaudit's tables and views: (name, "table" or "view", what it holds)."""
    return [(t.name, "table", t.doc) for t in TABLES] + [(v.name, "view", v.doc) for v in VIEWS]
