"""provenance-audit: crawl public images with their source URLs and measure, with evidence, which signals of where
they come from they carry.

The public API is :data:`__all__`, listed with one line each in ``docs/api.md``; notebooks and scripts import from
here (``from audit import Store, run_audit, sweep``), never from the submodules, which may move. Names are imported
lazily, on first use, so that ``import audit`` stays cheap (no Scrapy, DuckDB or NumPy until they are needed).
"""

from __future__ import annotations

import importlib

# typing is not imported at run time (it is most of what ``import audit`` would cost); type checkers see it
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it ("module:name" when it is defined under another name), in the order data flows:
# inputs, decoding, signals, the store, the audit, the outputs, then the test bed. No name may be that of a module or
# package of audit/ (``audit.ingest`` is the package; its function is exported as ``run_ingest``).
_EXPORTS: dict[str, str] = {
    # inputs: a live crawl, archives and folders, an export read back
    "run_crawl": "audit.crawl.run",
    "run_ingest": "audit.ingest.run:ingest",
    "ingest_tables": "audit.ingest.datasets",
    "import_export": "audit.store.export",
    # from bytes to facts
    "analyse_image": "audit.decode.imagefacts",
    "inspect_dict": "audit.outputs.inspection",
    "parse_page": "audit.decode.html",
    "Bounds": "audit.decode.workers",
    # signals of origin
    "Signal": "audit.signals.base",
    "Strength": "audit.signals.base",
    "OptOut": "audit.signals.base",
    "KINDS": "audit.signals.kinds",
    "signal_kind": "audit.signals.kinds",
    # the store
    "Store": "audit.store.db",
    "AuditError": "audit.errors",
    "StoreError": "audit.errors",
    "TABLES": "audit.schema",
    "Recorder": "audit.store.recorder",
    "ImageRecord": "audit.records",
    "ImageRef": "audit.records",
    "ImageFetch": "audit.records",
    "PageItem": "audit.records",
    "export_store": "audit.store.export",
    "merge_stores": "audit.store.merge",
    # the audit
    "run_audit": "audit.derive.run",
    "attribute": "audit.derive.attribution",
    "Evidence": "audit.derive.attribution",
    # outputs
    "build_report": "audit.outputs.report",
    "write_report": "audit.outputs.report",
    "BUNDLED_OUTLINES": "audit.outputs.report",
    "POLICIES": "audit.outputs.policies",
    "sweep": "audit.outputs.sweep",
    "write_sweep": "audit.outputs.sweep",
    "compare_policies": "audit.outputs.sweep",
    "verify": "audit.outputs.verify",
    "write_verification": "audit.outputs.verify",
    "lookup": "audit.outputs.lookup",
    "lookup_json": "audit.outputs.lookup",
    "lookup_table": "audit.outputs.lookup",
    "People": "audit.outputs.people",
    "detection_coverage": "audit.outputs.people",
    "wilson": "audit.stats",
    "Rate": "audit.stats",
    "store_summary": "audit.outputs.summary",
    "markdown_table": "audit.outputs.summary",
    "host_coverage": "audit.outputs.summary",
    "country_coverage": "audit.outputs.summary",
    "inspect_files": "audit.outputs.inspection",
    # the test bed: test web, ground truth, evaluation, simulated deletions, demo
    "build_web": "audit.testbed.testweb",
    "TestWebServer": "audit.testbed.testweb",
    "load_ground_truth": "audit.testbed.groundtruth",
    "evaluate": "audit.testbed.evaluate",
    "simulate_deletion": "audit.testbed.simulate",
    "sloppy_vendor": "audit.testbed.simulate",
    "run_demo": "audit.testbed.demo",
}

# what the exported values that are data, not functions or classes, are (their type's docstring would not say)
_DATA_DOCS: dict[str, str] = {
    "TABLES": "Every table of the store, declared once: name, doc, columns, key (docs/schema.md is made from it).",
    "KINDS": "Every signal kind, declared once: name, family, strength, what it says, what it needs "
             "(docs/signals.md is made from it).",
    "BUNDLED_OUTLINES": "The Natural Earth 1:110m country outlines the package ships (a GeoJSON file's path; public "
                        "domain): the report's map, and a notebook's.",
    "POLICIES": "The deletion policies by name (strong, strong+nd, ..., any-signal): which images count as a "
                "country's.",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'audit' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
