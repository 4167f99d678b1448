"""What ``provaudit inspect`` shows for one file: what the store would record, the signals in the image itself and
the country they point to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .attribution import Evidence, attribute
from .image import analyse_image, inspect_dict
from .signals.image import image_signals

EMPTY_KEYS = ("sha256", "format", "width", "height", "phash", "dhash", "gps", "taken_at", "utc_offset", "location")


def inspect_file(path: str | Path, *, max_pixels: int = 64_000_000) -> dict[str, Any]:
    """The inspect object of one file; a file that cannot be read gives an object whose ``error`` says why."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        obj: dict[str, Any] = {"path": str(path), **dict.fromkeys(EMPTY_KEYS),
                               "error": f"cannot read file: {exc.strerror or exc}", "signals": [], "country": None,
                               "attribution": None}
        return obj
    record = analyse_image(data, max_pixels=max_pixels)
    obj = inspect_dict(str(path), record)
    signals = image_signals(record)
    obj["signals"] = [
        {"kind": s.kind, "country": s.country, "strength": str(s.strength), "evidence": s.evidence,
         **({"weight": round(s.weight, 4)} if s.weight != 1 else {}), **({"detail": s.detail} if s.detail else {})}
        for s in signals
    ]
    result = attribute(Evidence(kind=s.kind, country=s.country, strength=str(s.strength), weight=s.weight,
                                border_km=_float(s.detail.get("near_border_km"))) for s in signals)
    obj["country"] = result.country
    obj["attribution"] = {"score": result.score, "tier": result.tier, "explanation": result.explanation}
    return obj


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
