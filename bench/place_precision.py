"""Precision of the places named in text (``place_in_text``, own signals) by where they were read, against the
test web's ground truth: a signal is right when its country is the image's capture or residence country.

    python bench/place_precision.py demo-out/provenance.duckdb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.store.db import Store  # noqa: E402

SQL = """
WITH t AS (SELECT sha256, any_value(capture_country) AS cap, any_value(residence_country) AS res
           FROM ground_truth WHERE sha256 IS NOT NULL GROUP BY sha256)
SELECT CASE split_part(s.evidence, ' ', 1) WHEN 'alt' THEN 'alt text or caption' WHEN 'caption'
       THEN 'alt text or caption' ELSE split_part(s.evidence, ' ', 1) END AS source,
       s.strength, count(*) AS n, count(*) FILTER (WHERE s.country IN (t.cap, t.res)) AS ok
FROM signals s JOIN t USING (sha256)
WHERE s.kind = 'place_in_text' AND s.via_sha256 IS NULL AND s.country IS NOT NULL
GROUP BY ALL ORDER BY 1, 2
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db", type=Path)
    args = ap.parse_args()
    with Store.open(args.db, read_only=True) as store:
        rows = store.query(SQL)
    print("| read from | strength | signals | naming the capture or residence country | precision |")
    print("|---|---|---|---|---|")
    for source, strength, n, ok in rows:
        print(f"| {source} | {strength} | {n:,} | {ok:,} | {ok / n:.3f} |")
    n, ok = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"| all | | {n:,} | {ok:,} | {ok / n:.3f} |" if n else "no place_in_text signals")


if __name__ == "__main__":
    main()
