"""What the audit's worker processes start from: this module is the preload of the forkserver they are forked from
(:func:`audit.derive.run.worker_pool`). Importing it imports every extractor and builds their reference data
(:func:`audit.signals.bundled.load_bundled_data`), then moves every object to the collector's permanent
generation (``gc.freeze``), so that no collection in a worker writes to them.

The workers are forked after this, so they read the same pages of memory instead of each building a copy: the time
zones, place names, language model and phone metadata are built once per audit, not once per worker. A page a worker
writes to (a reference count changing, say) becomes its own; most are only read. ``docs/benchmarks.md`` ("Audit at
1M and 10M sightings") has the memory this saves.

The forkserver is shared by every pool of a process that uses one and is started by the first: its preload is that
pool's. An audit run after another pool started it (``provaudit audit --faces``, or an ingest and an audit in one
notebook) has workers that build their own copies, as they did before, with the same results.
"""

from __future__ import annotations

import gc
import importlib
import logging

from audit.derive.units import EXTRACTOR_MODULES
from audit.signals.bundled import load_bundled_data

logger = logging.getLogger(__name__)


def preload() -> None:
    """Import the extractors, build their reference data and freeze the collector's generations."""
    for name in EXTRACTOR_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a worker importing it itself says what is wrong, in its task's error
            logger.warning("could not import %s ahead of the workers", name, exc_info=True)
    load_bundled_data()
    gc.collect()
    gc.freeze()


preload()
