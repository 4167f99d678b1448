"""Sizes in bytes as people write them: ``2684354560``, ``2.5GiB``, ``800MB``."""

from __future__ import annotations

import re

_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_size(text: str) -> int:
    """The number of bytes ``text`` names: a whole number of bytes, or a number with one of the units B, KB, MB,
    GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), case ignored. Raises ``ValueError`` for
    anything else."""
    m = _SIZE.fullmatch(text)
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r} (write bytes, or a number with KB, MB, GB, KiB, MiB or GiB)")
    return int(float(m.group(1)) * _UNITS[unit])


def format_size(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps one decimal: ``2.5 GiB``, ``512 MiB``."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} B"
