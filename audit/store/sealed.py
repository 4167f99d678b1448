"""DuckDB connections that can read no file but their own database: every DuckDB the tool opens comes from here.

A store is hostile input: a DuckDB file can hold views and macros that call ``read_text('/etc/passwd')``,
``read_csv`` of any path, or ``ATTACH`` another database, and DuckDB opens a SQLite file by downloading an extension.
:func:`connect` therefore

- refuses a file that is not a DuckDB database by its header (empty files, SQLite, Parquet, WARC, anything else)
  before DuckDB sees it, so DuckDB never picks a reader for it;
- gives DuckDB an absolute path, so a name such as ``md:x`` or ``sqlite:x`` is a file, never a service;
- turns off extension autoloading and autoinstalling (no download, ever);
- turns off external access (``enable_external_access=false``: no file function, ``COPY``, ``ATTACH``, ``INSTALL``
  or HTTP outside the folders and files named in ``readable``; the database's own file, WAL and temporary folder stay
  usable, so DuckDB still spills large sorts and joins to disk);
- locks the configuration (``lock_configuration``): nothing run on the connection can change any of this back.

DuckDB shares one database instance between the connections of a process to the same file: a second open of a file
already open in this process gets the first one's configuration, which must then already be sealed.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from audit.errors import NotAStore, StoreError, UnsafeStore

logger = logging.getLogger(__name__)

# What every connection is opened with. Extensions the tool needs (JSON, Parquet) are built into DuckDB's wheel.
BASE_CONFIG: dict[str, Any] = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}
# Settings a caller's ``options`` may not touch: they are what makes a connection sealed.
SEALING = frozenset({
    "autoload_known_extensions", "autoinstall_known_extensions", "enable_external_access", "allowed_paths",
    "allowed_directories", "lock_configuration", "allow_community_extensions", "allow_unsigned_extensions",
    "extension_directory", "temp_directory", "custom_extension_repository", "autoinstall_extension_repository",
})

# A DuckDB database file starts with an 8-byte checksum, then the magic bytes "DUCK".
DUCKDB_MAGIC = b"DUCK"
_MAGIC_AT = 8
_KNOWN_HEADERS: tuple[tuple[bytes, str], ...] = (
    (b"SQLite format 3\x00", "a SQLite database"),
    (b"PAR1", "a Parquet file"),
    (b"WARC/", "a WARC file"),
    (b"\x1f\x8b", "a gzip file"),
    (b"PK\x03\x04", "a zip file"),
)


def file_kind(path: Path) -> str | None:
    """``None`` when ``path`` is a regular file starting with a DuckDB database header; otherwise what it is, in words
    (``an empty file``, ``a SQLite database``, ...). Reads at most 16 bytes; never follows into a FIFO or device."""
    try:
        st = path.stat()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "a folder"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size == 0:
        return "an empty file"
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if head[_MAGIC_AT:_MAGIC_AT + len(DUCKDB_MAGIC)] == DUCKDB_MAGIC:
        return None
    for prefix, what in _KNOWN_HEADERS:
        if head.startswith(prefix):
            return what
    return "a file without a DuckDB header"


def check_duckdb_file(path: Path) -> None:
    """Raise :class:`NotAStore` unless ``path`` is missing (a new store) or a DuckDB database by its header."""
    if not os.path.lexists(path):
        return
    kind = file_kind(path)
    if kind is not None:
        raise NotAStore(f"{path} is {kind}, not a DuckDB store")


def connect(path: Path | None, *, read_only: bool = False, readable: Iterable[Path] = (),
            options: Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A sealed DuckDB connection to the database file ``path`` (``None``: a new in-memory database).

    ``readable``: folders (every file below them) and files the connection may read besides its own database; a
    DuckDB file named there may be ``ATTACH``-ed (its WAL is allowed with it). ``options``: other DuckDB settings
    (``memory_limit``, ``threads``, ``preserve_insertion_order``, ...), fixed for the connection's life.

    Raises :class:`NotAStore` for a file that is not a DuckDB database, :class:`UnsafeStore` when ``path`` is already
    open in this process without these protections, and lets DuckDB's own errors (a lock held by another process, a
    damaged file) through for the caller to name."""
    opts = dict(options or {})
    bad = sorted(SEALING & opts.keys())
    if bad:
        raise ValueError(f"these DuckDB settings cannot be given as options: {', '.join(bad)}")
    if path is not None:
        check_duckdb_file(path)
    target = ":memory:" if path is None else os.path.abspath(path)
    con = duckdb.connect(target, read_only=read_only, config={**BASE_CONFIG, **opts})
    try:
        _seal(con, path, readable)
    except BaseException:
        con.close()
        raise
    return con


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> Any:
    rows = con.execute("SELECT value FROM system.main.duckdb_settings() WHERE name = ?", [name]).fetchall()
    return rows[0][0] if rows else None


def _seal(con: duckdb.DuckDBPyConnection, path: Path | None, readable: Iterable[Path]) -> None:
    dirs: list[str] = []
    files: list[str] = []
    for p in readable:
        for full in dict.fromkeys((os.path.abspath(p), os.path.realpath(p))):  # as named, and with links resolved
            if os.path.isdir(full):
                dirs.append(full.rstrip(os.sep) + os.sep)
            else:
                files += [full, full + ".wal"]
    if str(_setting(con, "lock_configuration")).lower() == "true":
        # this file is already open in this process and the instance is shared: it must already be sealed
        if str(_setting(con, "enable_external_access")).lower() != "false":
            raise UnsafeStore(f"{path} is already open in this process with external file access allowed; close "
                              "that connection first")
        if dirs or files:
            raise StoreError(f"{path} is already open in this process; close it before opening it again to read "
                             "other files")
        return
    if dirs:
        con.execute("SET allowed_directories = ?", [dirs])
    if files:
        con.execute("SET allowed_paths = ?", [files])
    try:  # no DuckDB progress bar on the terminal: commands draw their own
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error as exc:  # in Jupyter without ipywidgets DuckDB refuses to change it; it draws none there
        logger.debug("progress bar setting left as is: %s", exc)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
