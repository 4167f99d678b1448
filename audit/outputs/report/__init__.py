"""The claim report: how far "it is impossible to tell who is in a country from a public photo" holds up, for one
country and one store, with numbers, intervals and evidence.

``build_report(store, "FR")`` computes the figures (:mod:`audit.outputs.report.figures`) and renders one self-contained
HTML file (:mod:`audit.outputs.report.render`); ``write_report`` writes it (``report-FR.html`` unless told) with
the same figures as JSON beside it (``report-FR.json``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.decode.workers import Bounds
from audit.outputs.people import DEFAULT_MIN_FACE_HEIGHT
from audit.outputs.policies import CLEARVIEW_CLAIM
from audit.outputs.report.figures import DEFAULT_MAX_IMAGE_BYTES, compute
from audit.outputs.report.render import render
from audit.store.db import Store
from audit.textsafe import json_dumps

logger = logging.getLogger(__name__)

__all__ = ["BUNDLED_OUTLINES", "CLEARVIEW_CLAIM", "Report", "build_report", "default_report_name", "save_report",
           "write_report"]

# Natural Earth 1:110m country outlines shipped with the package (public domain; see data/README.md).
BUNDLED_OUTLINES = Path(__file__).with_name("data") / "ne_110m_countries.json"


@dataclass(frozen=True, slots=True)
class Report:
    data: dict[str, Any]  # JSON-safe: every figure shown in the HTML
    html: str


def build_report(store: Store, country: str, *, claim: str | None = None, thumbnails: bool = False,
                 sample_size: int = 40, outlines: Path | None = BUNDLED_OUTLINES, bounds: Bounds | None = None,
                 max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
                 min_face_height: int = DEFAULT_MIN_FACE_HEIGHT, provenance: dict[str, Any] | None = None) -> Report:
    """The report for ``country`` (ISO alpha-2) from an audited store. ``outlines``: a Natural Earth admin-0
    GeoJSON for the map (the bundled outlines by default; ``None`` draws a plain scatter). ``thumbnails``: embed
    small thumbnails of the sample, read from the crawls' WARC files (they are personal data: off by default), each
    image (at most ``max_image_bytes``) decoded in a worker process under ``bounds`` (:mod:`audit.decode.workers`).
    ``min_face_height``: from which face size (pixels) an image counts as showing a person, for the figures given
    for images of people (``AUDIT_MIN_FACE_HEIGHT``; :mod:`audit.outputs.people`). ``provenance``: the custody block
    of the run writing it (:func:`audit.outputs.custody.custody`), shown at the top and in its own section."""
    data = compute(store, country, claim=claim, thumbnails=thumbnails, sample_size=sample_size, bounds=bounds,
                   max_image_bytes=max_image_bytes, min_face_height=min_face_height)
    if provenance is not None:
        data["provenance"] = provenance
    html = render(data, outlines=outlines)
    logger.info("report for %s: %d images, %d bytes of HTML", data["country"], data["headline"]["images"], len(html))
    return Report(data=data, html=html)


def default_report_name(country: str) -> str:
    """The report's HTML file name unless told: ``report-FR.html`` (its JSON: ``report-FR.json``), so that the
    reports of several countries can share a folder."""
    return f"report-{country.strip().upper()}.html"


def write_report(store: Store, country: str, out_html: Path | None = None, **kw: Any) -> tuple[Path, Path]:
    """Write the HTML report to ``out_html`` (default: :func:`default_report_name` in the working folder) and its
    figures beside it, with the same name and ``.json`` (``report-FR.html``, ``report-FR.json``); the JSON holds
    control and bidi characters only as ``\\u`` escapes (:func:`audit.textsafe.json_dumps`)."""
    return save_report(build_report(store, country, **kw), out_html)


def save_report(report: Report, out_html: Path | None = None) -> tuple[Path, Path]:
    """Write a built report as :func:`write_report` does; returns the HTML and JSON paths."""
    out_html = Path(out_html) if out_html is not None else Path(default_report_name(report.data["country"]))
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(report.html, encoding="utf-8")
    out_json = out_html.with_suffix(".json")
    out_json.write_text(json_dumps(report.data, indent=2) + "\n", encoding="utf-8")
    return out_html, out_json
