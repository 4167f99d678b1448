"""What a store must hold before the tool reads it: provaudit's tables as plain tables of the expected schema, and
nothing that runs code when read.

A DuckDB file can put a view where a table belongs (``CREATE VIEW sightings AS SELECT ... read_text(...)``), a macro
that stands in for a built-in function the tool calls (``CREATE MACRO lower(x) AS ...``: a macro of the store wins
over DuckDB's own), a table macro named like a catalog function, a type named ``JSON``, or a column computed or
defaulted by an expression. None of these is ever written by provaudit, so :func:`check_catalog` refuses the store
whole (:class:`UnsafeStore`, one line) instead of trying to read around them:

- every table of the schema that is present is a base table, and its columns have the schema's types, no generated
  column and no default expression (columns the schema does not know are allowed, if plain: a newer provaudit may
  have added them; they are never read);
- the store defines no function, macro or type at all (any name could shadow one the tool uses, today or later);
- ``signal_countries``, provaudit's one view, is exactly provaudit's definition (on a read-only open; a writable open
  re-creates it);
- opened read-only, it has the tables every provaudit store has had since the first version (``core``): none of them
  means it is not a store (:class:`NotAStore`), some of them a damaged one (:class:`StoreIncomplete`). Tables added
  by later versions may be missing (an older store opened read-only); a command that needs one says so in one line
  (:func:`missing_object`).

The catalog is read through ``system.main.duckdb_*()``, fully qualified: a store's own table macro named
``duckdb_tables`` cannot answer instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from audit.errors import NotAStore, StoreIncomplete, UnsafeStore


class _Table(Protocol):
    @property
    def name(self) -> str: ...

    def ddl(self) -> str: ...


_View = _Table  # a view of the schema: a name and its DDL, like a table


@dataclass(frozen=True, slots=True)
class ColumnFacts:
    type: str
    default: str | None
    generated: bool


@dataclass(frozen=True, slots=True)
class Layout:
    """What :func:`check_catalog` found: the store's catalog name and, for each of the schema's tables present, its
    column names."""

    catalog: str
    columns: dict[str, frozenset[str]]


def _shown(name: Any) -> str:
    """A name read from a hostile catalog, fit for a one-line message: quoted, controls escaped, at most 60 chars."""
    text = str(name)
    if re.fullmatch(r"[A-Za-z_][\w.]{0,59}", text):
        return text
    text = repr(text)
    return text if len(text) <= 62 else text[:58] + "...'"


def _read(con: duckdb.DuckDBPyConnection, catalog: str) -> tuple[dict[str, dict[str, ColumnFacts]],
                                                                  dict[str, str], list[str], list[str], set[str]]:
    tables: dict[str, dict[str, ColumnFacts]] = {}
    for (name,) in con.execute("SELECT table_name FROM system.main.duckdb_tables() "
                               "WHERE database_name = ? AND schema_name = 'main'", [catalog]).fetchall():
        tables[str(name)] = {}
    for table, column, data_type, default, generated in con.execute(
            "SELECT table_name, column_name, data_type, column_default, is_generated "
            "FROM system.main.duckdb_columns() WHERE database_name = ? AND schema_name = 'main'",
            [catalog]).fetchall():
        if table in tables:
            tables[str(table)][str(column)] = ColumnFacts(str(data_type), None if default is None else str(default),
                                                          bool(generated))
    views = {str(name): str(sql) for name, sql in con.execute(
        "SELECT view_name, sql FROM system.main.duckdb_views() "
        "WHERE database_name = ? AND schema_name = 'main' AND NOT internal", [catalog]).fetchall()}
    functions = [f"{schema}.{name} ({kind})" for schema, name, kind in con.execute(
        "SELECT DISTINCT schema_name, function_name, function_type FROM system.main.duckdb_functions() "
        "WHERE database_name = ? ORDER BY ALL", [catalog]).fetchall()]
    types = [f"{schema}.{name}" for schema, name in con.execute(
        "SELECT schema_name, type_name FROM system.main.duckdb_types() "
        "WHERE database_name = ? AND NOT internal ORDER BY ALL", [catalog]).fetchall()]
    # anything else of the main schema with a table's name (a sequence, ...)
    other = {str(name) for (name,) in con.execute(
        "SELECT sequence_name FROM system.main.duckdb_sequences() WHERE database_name = ? AND schema_name = 'main'",
        [catalog]).fetchall()}
    return tables, views, functions, types, other


@functools.lru_cache(maxsize=4)
def _expected(tables: tuple[_Table, ...], views: tuple[_View, ...]) -> tuple[dict[tuple[str, str], str],
                                                                              dict[str, str]]:
    """The column types and view definitions the schema gives, as this DuckDB spells them (built in memory)."""
    from audit.store.sealed import connect

    con = connect(None)
    try:
        for t in tables:
            con.execute(t.ddl())
        for v in views:
            con.execute(v.ddl())
        catalog = str(con.execute("SELECT system.main.current_database()").fetchall()[0][0])
        found, view_sql, _, _, _ = _read(con, catalog)
    finally:
        con.close()
    types = {(t, c): facts.type for t, cols in found.items() for c, facts in cols.items()}
    return types, view_sql


def check_catalog(con: duckdb.DuckDBPyConnection, path: Path | None, tables: Sequence[_Table],
                  views: Sequence[_View], *, read_only: bool, core: frozenset[str]) -> Layout:
    """Check the database ``con`` is connected to against the schema (``tables`` and ``views``); raise
    :class:`UnsafeStore`, :class:`NotAStore` or :class:`StoreIncomplete` with a one-line message naming ``path``
    and the first problems found. Returns what is there."""
    catalog = str(con.execute("SELECT system.main.current_database()").fetchall()[0][0])
    found, views_found, functions, types, other = _read(con, catalog)
    want_types, want_views = _expected(tuple(tables), tuple(views))
    problems: list[str] = []
    if functions:
        problems.append(f"it defines {len(functions)} function(s) or macro(s) ({', '.join(map(_shown, functions[:3]))}"
                        "); a provaudit store defines none, and one can stand in for a function provaudit calls")
    if types:
        problems.append(f"it defines type(s) {', '.join(map(_shown, types[:3]))}; a provaudit store defines none")
    for t in tables:
        if t.name in views_found:
            problems.append(f"{t.name} is a view, not a table")
        elif t.name in other:
            problems.append(f"{t.name} is not a table")
        elif t.name in found:
            for column, facts in found[t.name].items():
                where = f"column {t.name}.{_shown(column)}"
                want = want_types.get((t.name, column))
                if facts.generated:
                    problems.append(f"{where} is computed by an expression")
                elif facts.default is not None:
                    problems.append(f"{where} has a default expression")
                elif want is not None and facts.type != want:
                    problems.append(f"{where} is {_shown(facts.type)}, not {want}")
    for v in views:
        if v.name in found or v.name in other:
            problems.append(f"{v.name} is not provaudit's view")
        elif read_only and v.name in views_found and views_found[v.name] != want_views.get(v.name):
            problems.append(f"the view {v.name} is not provaudit's definition")
    if problems:
        more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
        raise UnsafeStore(f"{path} is refused: {'; '.join(problems[:2])}{more}")
    if read_only:
        missing = sorted(core - found.keys())
        if missing and not (found.keys() & {t.name for t in tables}):
            raise NotAStore(f"{path} is not a provaudit store (a DuckDB database without provaudit's tables)")
        if missing:
            raise StoreIncomplete(f"{path} is an incomplete provaudit store: it has no {', '.join(missing)} "
                                  "table; it is damaged or was not written by provaudit")
    return Layout(catalog, {name: frozenset(cols) for name, cols in found.items()
                            if name in {t.name for t in tables}})


_MISSING_TABLE = re.compile(r'Table with name "?(?P<name>\w+)"? does not exist')
_MISSING_COLUMN = re.compile(r'(?:Referenced column|does not have a column named) "?(?P<name>\w+)"?')


def missing_object(exc: BaseException, tables: Sequence[Any]) -> StoreIncomplete | None:
    """A one-line :class:`StoreIncomplete` when ``exc`` is DuckDB saying that a table or column of the schema does
    not exist (a store written by an older provaudit and opened read-only, or damaged), else ``None``."""
    if not isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
        return None
    text = str(exc)
    names = {t.name for t in tables}
    m = _MISSING_TABLE.search(text)
    if m and m.group("name") in names:
        return StoreIncomplete(f"the store has no {m.group('name')} table: it was written by an older provaudit "
                               "(opening it for writing once, e.g. with provaudit audit, adds what is missing) or "
                               "is damaged")
    columns = {c.name for t in tables for c in t.columns}
    m = _MISSING_COLUMN.search(text)
    if m and m.group("name") in columns:
        return StoreIncomplete(f"the store has no column {m.group('name')} where provaudit needs one: it was written "
                               "by an older provaudit (opening it for writing once, e.g. with provaudit audit, adds "
                               "what is missing) or is damaged")
    return None
