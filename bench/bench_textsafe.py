"""Cost and effect of audit.textsafe on generated hostile text: time per value for each output medium, and a CSV of
hostile rows read back with ",", ";", tab and "|" as the separator (cells that start a formula, raw controls).

    python bench/bench_textsafe.py [ROWS]     # default 20,000 rows of 10 cells; about 20 s on one idle core
"""

from __future__ import annotations

import csv
import io
import random
import resource
import sys
import time

from audit.textsafe import csv_cell, html_text, json_dumps, terminal_text

ESC = "\x1b"
PIECES = [f"{ESC}[31m", f"{ESC}]52;c;cm0gLXJmIH4K\x07", "\x07", "\r", "\r\n", "\x85", "\x9b", "\u202e", "\u2066",
          "\u200f", "\u061c", "\u2028", "=1+1", "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3", "\uff1d1", ";", ",", "\t",
          "|", "\n", '"', " ", "http://example.fr/photo.jpg", "Paris, France", "Rue de la Paix", "é中", "-3.5"]
FORMULA = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\ufe62\ufe63\ufe66\ufe6b\u207a\u207c\u208a\u208c\ufb29")
RAW = frozenset(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x61C, 0x200E, 0x200F, 0x2028, 0x2029,
                                 *range(0x202A, 0x202F), *range(0x2066, 0x206A)]) - {"\t", "\n"}


def starts_formula(cell: str) -> bool:
    return cell.lstrip(" \t\n\r\"")[:1] in FORMULA


def main(rows: int) -> None:
    rng = random.Random(12)
    hostile = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12))) for _ in range(rows * 10)]
    plain = [f"http://site{i % 97}.example.fr/photos/{i}.jpg" for i in range(rows * 10)]
    for name, fn in (("csv_cell", csv_cell), ("html_text", html_text), ("terminal_text", terminal_text),
                     ("json_dumps", json_dumps)):
        for kind, values in (("plain", plain), ("hostile", hostile)):
            t0 = time.perf_counter()
            for v in values:
                fn(v)
            dt = time.perf_counter() - t0
            print(f"{name:14s} {kind:8s} {1e6 * dt / len(values):6.2f} µs/value")
    buf = io.StringIO()
    w = csv.writer(buf)
    for r in range(rows):
        w.writerow([csv_cell(v) for v in hostile[r * 10:(r + 1) * 10]])
    text = buf.getvalue()
    raw = sum(1 for ch in text.replace("\r\n", "\n") if ch in RAW)
    print(f"CSV: {rows:,} rows, {len(text) / 1e6:.1f} MB, raw control characters: {raw}")
    for sep in (",", ";", "\t", "|"):
        parsed = [c for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep) for c in row]
        bad = sum(starts_formula(c) for c in parsed)
        print(f"  read with {sep!r}: {len(parsed):,} cells, {bad} start a formula")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
