"""provenance-audit: crawl public images with their source URLs and measure, with evidence, which signals of where
they come from they carry.

The public API is listed in ``__all__``; names are imported lazily so that ``import audit`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Store": "audit.store.db",
    "StoreError": "audit.store.db",
    "TABLES": "audit.store.db",
    "Recorder": "audit.store.recorder",
    "ImageRecord": "audit.records",
    "ImageRef": "audit.records",
    "ImageFetch": "audit.records",
    "PageItem": "audit.records",
    "analyse_image": "audit.decode.imagefacts",
    "inspect_dict": "audit.decode.imagefacts",
    "parse_page": "audit.decode.html",
    "ingest": "audit.ingest.run",
    "run_crawl": "audit.crawl.run",
    "run_demo": "audit.testbed.demo",
    "load_ground_truth": "audit.testbed.groundtruth",
    "store_summary": "audit.outputs.summary",
    "build_web": "audit.testbed.testweb",
    "TestWebServer": "audit.testbed.testweb",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
