"""provenance-audit: crawl public images with their source URLs and measure, with evidence, which signals of where
they come from they carry.

The public API is listed in ``__all__``; names are imported lazily so that ``import audit`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Store": "audit.store",
    "StoreError": "audit.store",
    "TABLES": "audit.store",
    "Recorder": "audit.recorder",
    "ImageRecord": "audit.records",
    "ImageRef": "audit.records",
    "ImageFetch": "audit.records",
    "PageItem": "audit.records",
    "analyse_image": "audit.image",
    "inspect_dict": "audit.image",
    "parse_page": "audit.html",
    "ingest": "audit.ingest",
    "run_crawl": "audit.crawl",
    "run_demo": "audit.demo",
    "load_ground_truth": "audit.groundtruth",
    "store_summary": "audit.summary",
    "build_web": "audit.testweb",
    "TestWebServer": "audit.testweb",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
