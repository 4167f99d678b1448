"""Hostile stores, crafted for tests and ``bench/hostile_stores.py``: a copy of a store (or a new DuckDB file)
changed by SQL run with a plain DuckDB connection, as an attacker would, never through :mod:`audit.store.sealed`."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb


def craft_store(src: Path | None, dst: Path, *sql: str) -> Path:
    """``dst``: a copy of the store ``src`` (or a new DuckDB file) after running each statement of ``sql``."""
    if src is not None:
        shutil.copy(src, dst)
    con = duckdb.connect(str(dst))
    try:
        for statement in sql:
            con.execute(statement)
    finally:
        con.close()
    return dst
