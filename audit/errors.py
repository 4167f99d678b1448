"""Why a store cannot be opened or read: every error a ``Store`` raises is a :class:`StoreError`, whose message is one
line naming the file (the command line prints it and exits with status 1)."""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """The store cannot be opened or written (locked by another writer, not a DuckDB file, ...)."""


class StoreBusy(StoreError):
    """Another process holds the store's file: DuckDB lets one process write a file, or any number of processes read
    it, never both at once. ``pid`` and ``program`` name the holder when DuckDB says who it is; ``reading`` tells
    whether it holds the file read-only."""

    def __init__(self, message: str, *, path: Path, pid: int | None, program: str | None, reading: bool) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid
        self.program = program
        self.reading = reading

    @property
    def holder(self) -> str:
        """``process 1234 (/usr/bin/python3)``, or ``another process`` when DuckDB did not say."""
        if self.pid is None:
            return "another process"
        return f"process {self.pid}" + (f" ({self.program})" if self.program else "")


class NotAStore(StoreError):
    """The file is not a provaudit store: empty, a folder, another format (SQLite, Parquet, ...), or a DuckDB database
    holding none of provaudit's tables."""


class UnsafeStore(StoreError):
    """The store holds something provaudit never writes and that would run, or be trusted, when the store is read: a
    view (or anything but a table) where a table belongs, a macro or function, a type, a column of another type or one
    computed or defaulted by an expression, or a ``signal_countries`` view that is not provaudit's. Such a store was
    made by hand or by an attacker; it is refused whole."""


class StoreIncomplete(StoreError):
    """A table or column the store should have is missing: the store is damaged, or was written by an older
    provaudit and opened read-only (opening it for writing once adds what is missing)."""
