"""How often the validation loop's 95% intervals cover the truth, on an audited store of the test web.

    .venv/bin/python bench/validation_coverage.py --db demo-out/provenance.duckdb [--country FR] [--n 200]
        [--seeds 20]

For each seed, on a copy of the store: ``provaudit sample``'s draw, the sheet labelled from the ground truth
(:func:`audit.testbed.labelling.label_from_truth`, standing in for a person), ``provaudit validate``; then each
estimate's interval is compared with the true value from the truth of every image
(:func:`audit.testbed.labelling.true_values`). Prints a markdown table: per question and stratum, the true value,
the mean estimate and how many of the seeds' intervals cover the truth (the issue's target: at least 18 of 20 for
the strong tier's precision)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.outputs.validation.answer import QUESTIONS, STRATA  # noqa: E402
from audit.outputs.validation.estimate import validate  # noqa: E402
from audit.outputs.validation.labels import read_labels  # noqa: E402
from audit.outputs.validation.sample import draw  # noqa: E402
from audit.outputs.validation.sheet import write_sheet  # noqa: E402
from audit.store.db import Store  # noqa: E402
from audit.testbed.labelling import label_from_truth, true_values  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True, help="an audited store of the test web (with ground truth)")
    ap.add_argument("--country", default="FR")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    cc = args.country.upper()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.duckdb"
        shutil.copy(args.db, db)
        covered: dict[tuple[str, str], int] = {}
        sums: dict[tuple[str, str], float] = {}
        runs: dict[tuple[str, str], int] = {}
        with Store.open(db) as store:
            truth = true_values(store, cc)
            for seed in range(args.seeds):
                folder = Path(tmp) / f"seed-{seed}"
                _, sample_csv, _ = write_sheet(draw(store, cc, args.n, seed), folder)
                label_from_truth(store, sample_csv, folder / "labels.csv")
                result = validate(store, read_labels(folder / "labels.csv"), source="labels.csv")
                for r in result.rows:
                    key = (r["question"], r["stratum"])
                    t = truth[key[0]][key[1]]
                    if r["estimate"] is None or t["share"] is None:
                        continue
                    if r["missed"] is not None:
                        value, lo, hi, est = float(t["missed"]), r["missed_low"], r["missed_high"], r["missed"]
                    else:
                        value, lo, hi, est = t["share"], r["low"], r["high"], r["estimate"]
                    covered[key] = covered.get(key, 0) + (lo - 1e-9 <= value <= hi + 1e-9)
                    sums[key] = sums.get(key, 0.0) + est
                    runs[key] = runs.get(key, 0) + 1
    print(f"| {cc}: question | stratum | images | true value | mean estimate | intervals covering it |")
    print("|---|---|---:|---:|---:|---:|")
    for q in QUESTIONS:
        for s in STRATA:
            key = (q, s)
            t = truth[q][s]
            if key not in runs:
                print(f"| {q} | {s} | {t['images']:,} | — | — | — |")
                continue
            true = f"{t['missed']:,} missed" if t["missed"] is not None else f"{t['share']:.3f}"
            mean = sums[key] / runs[key]
            shown = f"{mean:,.1f} missed" if t["missed"] is not None else f"{mean:.3f}"
            print(f"| {q} | {s} | {t['images']:,} | {true} | {shown} | {covered[key]} of {runs[key]} |")


if __name__ == "__main__":
    main()
