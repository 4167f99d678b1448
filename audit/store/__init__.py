"""The DuckDB provenance store: connections sealed against hostile files, the check of a store before it is read, the
spool of rows waiting for a busy store, the recorder that turns items into rows, export, import and merge. The tables
themselves are declared in :mod:`audit.schema`.

``from audit.store import Store`` is the usual way in; :class:`StoreWriter` is the store of a long-running writer (a
crawl) that holds the file only while it writes a batch.
"""

from audit.store.db import Store, StoreWriter

__all__ = ["Store", "StoreWriter"]
