"""The audit's slowest SQL statements: ``run_audit`` on a fresh copy of a store, with every statement it sends to
DuckDB on the store's connection timed (the extraction units' reads, on a second connection, are not).

    python bench/audit_statements.py /tmp/provaudit-bench-audit/store-1000000.duckdb /tmp/run.duckdb [--top 15]

The store is opened as ``provaudit audit`` opens it (``AUDIT_OPTIONS``, the first of ``audit_memory``'s bounds).
Prints the phase timer, then the slowest statements with the start of their text and of their ``FROM``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

from audit.derive.run import AUDIT_OPTIONS, audit_memory, run_audit
from audit.settings import DEFAULTS
from audit.store.db import Store


class _Timed:
    """The store's connection, timing ``execute``; everything else passed through."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.log: list[tuple[float, str]] = []

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        out = self._con.execute(sql, *args, **kwargs)
        text = " ".join(sql.split())
        start = text.find(" FROM ")
        self.log.append((time.perf_counter() - t, text[:60] + (f" ... {text[start:][:110]}" if start > 60 else "")))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("copy", type=Path, help="where the copy that is audited goes (overwritten)")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    shutil.copyfile(args.store, args.copy)
    bound = audit_memory(os.path.getsize(args.copy), int(DEFAULTS["AUDIT_DB_MEMORY"]))[0]
    with Store.open(args.copy, options=AUDIT_OPTIONS, memory=bound) as store:
        timed = _Timed(store.con)
        store.con = timed
        result = run_audit(store)
    print({name: round(s, 1) for name, s in result.seconds.items()})
    for seconds, text in sorted(timed.log, reverse=True)[:args.top]:
        print(f"{seconds:6.2f} s  {text}")


if __name__ == "__main__":
    main()
