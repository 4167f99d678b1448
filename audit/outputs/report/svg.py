"""Inline SVG charts: bars, curves and an equirectangular map. Every label passes through
:func:`audit.textsafe.html_text` (imported as ``esc``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.textsafe import html_text as esc

logger = logging.getLogger(__name__)

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
OTHER = "#999999"


def _open(svg_id: str, width: int, height: int, title: str) -> str:
    return (f'<svg id="{esc(svg_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
            f"<title>{esc(title)}</title>")


def bar_chart(svg_id: str, title: str, rows: Sequence[tuple[str, float, float]], *, series: tuple[str, str],
              width: int = 640) -> str:
    """Horizontal bars, two series per label (e.g. direct and with propagation)."""
    bar, gap, left = 12, 8, 150
    height = 30 + len(rows) * (2 * bar + gap) + 20
    top = max([max(a, b) for _, a, b in rows] + [1.0])
    scale = (width - left - 60) / top
    out = [_open(svg_id, width, height, title)]
    for i, name in enumerate(series):
        out.append(f'<rect x="{left + i * 160}" y="6" width="10" height="10" fill="{PALETTE[i]}"/>'
                   f'<text x="{left + i * 160 + 14}" y="15" font-size="11">{esc(name)}</text>')
    for i, (label, a, b) in enumerate(rows):
        y = 30 + i * (2 * bar + gap)
        out.append(f'<text x="{left - 6}" y="{y + bar + 4}" font-size="11" text-anchor="end">{esc(label)}</text>')
        for j, v in enumerate((a, b)):
            w = max(0.0, v * scale)
            out.append(f'<rect x="{left}" y="{y + j * bar}" width="{w:.1f}" height="{bar - 1}" fill="{PALETTE[j]}"/>'
                       f'<text x="{left + w + 4:.1f}" y="{y + j * bar + bar - 2}" font-size="10">{v:g}</text>')
    out.append("</svg>")
    return "".join(out)


def interval_chart(svg_id: str, title: str, rows: Sequence[tuple[str, dict[str, Any], dict[str, Any]]], *,
                   series: tuple[str, str], width: int = 640) -> str:
    """Shares with their 95% intervals (dicts with value/low/high), two series per label, axis 0–100%."""
    bar, gap, left = 12, 10, 150
    height = 30 + len(rows) * (2 * bar + gap) + 30
    span = width - left - 70
    out = [_open(svg_id, width, height, title)]
    for i, name in enumerate(series):
        out.append(f'<rect x="{left + i * 200}" y="6" width="10" height="10" fill="{PALETTE[i]}"/>'
                   f'<text x="{left + i * 200 + 14}" y="15" font-size="11">{esc(name)}</text>')
    for k in range(0, 101, 20):
        x = left + span * k / 100
        out.append(f'<line x1="{x:.1f}" y1="24" x2="{x:.1f}" y2="{height - 22}" stroke="#ddd"/>'
                   f'<text x="{x:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">{k}%</text>')
    for i, (label, a, b) in enumerate(rows):
        y = 30 + i * (2 * bar + gap)
        out.append(f'<text x="{left - 6}" y="{y + bar + 4}" font-size="11" text-anchor="end">{esc(label)}</text>')
        for j, r in enumerate((a, b)):
            w, lo, hi = (span * float(r[k]) for k in ("value", "low", "high"))
            yy = y + j * bar
            out.append(f'<rect x="{left}" y="{yy}" width="{w:.1f}" height="{bar - 1}" fill="{PALETTE[j]}" '
                       f'opacity="0.8"/><line x1="{left + lo:.1f}" y1="{yy + bar / 2:.1f}" x2="{left + hi:.1f}" '
                       f'y2="{yy + bar / 2:.1f}" stroke="#000"/>'
                       f'<text x="{left + hi + 4:.1f}" y="{yy + bar - 2}" font-size="10">'
                       f'{100 * float(r["value"]):.1f}%</text>')
    out.append("</svg>")
    return "".join(out)


def line_chart(svg_id: str, title: str, lines: Sequence[tuple[str, Sequence[tuple[float, float]]]], *,
               x_label: str, y_label: str, width: int = 480, height: int = 320,
               labels: Sequence[tuple[float, float, str]] = ()) -> str:
    """Lines of (x, y) points in [0, 1]², with optional point labels."""
    ml, mr, mt, mb = 50, 20, 30, 40
    pw, ph = width - ml - mr, height - mt - mb

    def px(x: float, y: float) -> tuple[float, float]:
        return ml + x * pw, mt + (1 - y) * ph

    out = [_open(svg_id, width, height, title)]
    for k in range(0, 11, 2):
        x0, y0 = px(k / 10, 0)
        x1, y1 = px(0, k / 10)
        out.append(f'<line x1="{x0:.1f}" y1="{mt}" x2="{x0:.1f}" y2="{mt + ph}" stroke="#eee"/>'
                   f'<text x="{x0:.1f}" y="{mt + ph + 14}" font-size="10" text-anchor="middle">{k / 10:g}</text>'
                   f'<line x1="{ml}" y1="{y1:.1f}" x2="{ml + pw}" y2="{y1:.1f}" stroke="#eee"/>'
                   f'<text x="{ml - 4}" y="{y1 + 3:.1f}" font-size="10" text-anchor="end">{k / 10:g}</text>')
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>'
               f'<text x="{ml + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">{esc(x_label)}</text>'
               f'<text x="12" y="{mt + ph / 2}" font-size="11" text-anchor="middle" '
               f'transform="rotate(-90 12 {mt + ph / 2})">{esc(y_label)}</text>')
    for i, (name, pts) in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (px(a, b) for a, b in pts))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>'
                   for x, y in (px(a, b) for a, b in pts))
        out.append(f'<rect x="{ml + 10}" y="{mt + 8 + i * 16}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{ml + 24}" y="{mt + 17 + i * 16}" font-size="11">{esc(name)}</text>')
    for x, y, text in labels:
        cx, cy = px(x, y)
        out.append(f'<text x="{cx + 4:.1f}" y="{cy - 4:.1f}" font-size="9" fill="#444">{esc(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def load_outlines(path: Path) -> list[tuple[str | None, list[list[list[float]]]]]:
    """(alpha-2 or None, rings) per Natural Earth feature. ``ISO_A2`` is ``-99`` for France and Norway in some
    releases: the alpha-2 code is taken from ``ADM0_A3`` through pycountry."""
    import pycountry

    data = json.loads(path.read_text(encoding="utf-8"))
    out: list[tuple[str | None, list[list[list[float]]]]] = []
    for feature in data.get("features", []):
        props = feature.get("properties") or {}
        geom = feature.get("geometry") or {}
        a3 = props.get("ADM0_A3") or props.get("ISO_A3")
        found = pycountry.countries.get(alpha_3=a3) if isinstance(a3, str) and len(a3) == 3 else None
        code = found.alpha_2 if found else (props.get("ISO_A2") if len(str(props.get("ISO_A2"))) == 2 else None)
        if geom.get("type") == "Polygon":
            polygons = [geom["coordinates"]]
        elif geom.get("type") == "MultiPolygon":
            polygons = geom["coordinates"]
        else:
            continue
        out.append((code, [ring for poly in polygons for ring in poly]))
    return out


def map_chart(svg_id: str, title: str, points: Sequence[dict[str, Any]], country: str,
              outlines: list[tuple[str | None, list[list[list[float]]]]] | None, *, width: int = 760) -> str:
    """GPS points coloured by attributed country on an equirectangular map (outlines if given)."""
    if points:
        lats = [p["lat"] for p in points]
        lons = [p["lon"] for p in points]
        lat0, lat1, lon0, lon1 = min(lats) - 4, max(lats) + 4, min(lons) - 6, max(lons) + 6
    else:
        lat0, lat1, lon0, lon1 = 35.0, 60.0, -12.0, 25.0
    if lon1 - lon0 < 30:
        mid = (lon0 + lon1) / 2
        lon0, lon1 = mid - 15, mid + 15
    if lat1 - lat0 < 18:
        mid = (lat0 + lat1) / 2
        lat0, lat1 = mid - 9, mid + 9
    if lat1 - lat0 < (lon1 - lon0) / 2.2:  # keep a readable aspect ratio: widen the latitude span
        mid, half = (lat0 + lat1) / 2, (lon1 - lon0) / 4.4
        lat0, lat1 = mid - half, mid + half
    lat0, lat1, lon0, lon1 = max(lat0, -85.0), min(lat1, 85.0), max(lon0, -180.0), min(lon1, 180.0)
    height = max(160, int(width * (lat1 - lat0) / (lon1 - lon0)))

    def px(lon: float, lat: float) -> tuple[float, float]:
        return (lon - lon0) / (lon1 - lon0) * width, (lat1 - lat) / (lat1 - lat0) * height

    out = [_open(svg_id, width, height, title), f'<rect width="{width}" height="{height}" fill="#eef4fa"/>']
    for code, rings in outlines or ():
        for ring in rings:
            if not any(lon0 - 20 <= x <= lon1 + 20 and lat0 - 20 <= y <= lat1 + 20 for x, y in ring[:1] + ring[::5]):
                continue
            d = "M" + " L".join(f"{a:.1f},{b:.1f}" for a, b in (px(x, y) for x, y in ring)) + " Z"
            fill = "#f6e7c8" if code == country else "#fafafa"
            out.append(f'<path d="{d}" fill="{fill}" stroke="#888" stroke-width="0.6"/>')
    counts: dict[str, int] = {}
    for p in points:
        counts[p["country"] or "none"] = counts.get(p["country"] or "none", 0) + p["images"]
    ranked = sorted(counts, key=lambda c: (c != country, -counts[c], c))
    colour = {c: PALETTE[i] if i < len(PALETTE) - 1 else OTHER for i, c in enumerate(ranked)}
    for p in points:
        x, y = px(p["lon"], p["lat"])
        c = p["country"] or "none"
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour[c]}" fill-opacity="0.75" stroke="#fff" '
                   f'stroke-width="0.5"><title>{esc(c)}: {p["images"]} image(s)</title></circle>')
    for i, c in enumerate(ranked[: len(PALETTE)]):
        label = c if i < len(PALETTE) - 1 else "other"
        out.append(f'<rect x="8" y="{8 + i * 15}" width="10" height="10" fill="{colour[c]}"/>'
                   f'<text x="22" y="{17 + i * 15}" font-size="11">{esc(label)}</text>')
    out.append("</svg>")
    return "".join(out)
