"""Print the markdown tables of docs/accuracy.md from an audited store with ground truth.

    python bench/accuracy_tables.py demo-out/provenance.duckdb
"""

from __future__ import annotations

import sys

from audit.store.db import Store
from audit.testbed.evaluate import evaluate


def fmt(r: dict) -> str:
    if not r["n"]:
        return "—"
    return f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}] ({r['hits']}/{r['n']})"


def main(path: str) -> None:
    with Store.open(path, read_only=True) as store:
        runs = (("With near-duplicate propagation (the default)", evaluate(store, propagated=True)),
                ("Own signals only (`--direct`)", evaluate(store, propagated=False)))
    for title, ev in runs:
        print(f"### {title}\n")
        print("| tier | coverage | precision, residence | recall, residence | precision, capture |")
        print("|---|---|---|---|---|")
        for r in ev.rows:
            if r["group"] == "tier":
                print(f"| {r['name']} | {fmt(r['coverage'])} | {fmt(r['precision_residence'])} | "
                      f"{fmt(r['recall_residence'])} | {fmt(r['precision_capture'])} |")
        print()
    print("### The two answers (with propagation)\n")
    print("| answer, tier | coverage | precision | recall |")
    print("|---|---|---|---|")
    for r in runs[0][1].rows:
        if r["group"] == "answer":
            truth = "capture" if r["answer"] == "capture" else "residence"
            print(f"| {r['name']} | {fmt(r['coverage'])} | {fmt(r[f'precision_{truth}'])} | "
                  f"{fmt(r[f'recall_{truth}'])} |")
    print()
    ev = runs[1][1]
    print("### Per signal kind (own signals only)\n")
    print("| kind | coverage | precision, residence | precision, capture | truth among its countries (residence) |")
    print("|---|---|---|---|---|")
    for r in ev.rows:
        if r["group"] == "kind":
            print(f"| `{r['name']}` | {fmt(r['coverage'])} | {fmt(r['precision_residence'])} | "
                  f"{fmt(r['precision_capture'])} | {fmt(r['contains_residence'])} |")
    print(f"\nGPS: {ev.gps_images} images kept their GPS; {ev.gps_right} of them got an `exif_gps` signal with the "
          "right capture country.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo-out/provenance.duckdb")
