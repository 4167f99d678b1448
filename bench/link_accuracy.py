"""Page -> image link recall and precision of the ingest against an independent reference parser, on real archives.

    .venv/bin/python bench/link_accuracy.py [--show N] [--no-testweb] [ARCHIVE ...]

For every WARC/ARC under ``../shared/corpora/warc/`` (and the Common Crawl WARC under
``../shared/corpora/datasets/common-crawl/``), each file ingested alone, then the sets of files that belong together
(revisits whose originals are in another file), ``provaudit ingest`` (the library's ``ingest``) runs into a temporary
store and its sightings are compared with what ``tests/refparser.py`` (lxml, written apart from
``audit/decode/html.py``) finds in the same archive's HTML responses (``tests/linkcheck.py`` says how). Then the same
over the HTML of a small test web (60 photos, seed 11), with the ground truth's embeds as a third opinion.

Prints markdown: one row per archive, one per reference kind, the revisits, then the first N missed and extra pairs of
each archive. Images named only by linked stylesheets are not compared (another part of issue 14 adds them).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from linkcheck import Comparison, check, check_pages, check_testweb, pct, totals  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
TEAM_PAGE = ROOT / "tests" / "data" / "pages" / "team.html"  # a real-looking page naming images in every way
TEAM_URL = "https://www.example-news.co.uk/about/team/"
TEAM_IMAGES = {"https://www.example-news.co.uk/staff/ada-full.jpg"}  # its <a href> targets served as images
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".warc.gz.bad")
# files that make one ingest: revisits in the first whose originals are in the others
GROUPS = {
    "pywb/dupes.warc.gz + iana.warc.gz": ["warc/pywb/dupes.warc.gz", "warc/pywb/iana.warc.gz"],
    "pywb/example-url-agnostic-{orig,revisit}": ["warc/pywb/example-url-agnostic-orig.warc.gz",
                                                 "warc/pywb/example-url-agnostic-revisit.warc.gz"],
}


def archives() -> list[Path]:
    """Every archive file of the corpora, in a stable order."""
    found = [p for p in sorted((CORPORA / "warc").rglob("*")) if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES)]
    return found + sorted((CORPORA / "datasets" / "common-crawl").glob("*.warc.gz"))


def _name(path: Path) -> str:
    return path.relative_to(CORPORA).as_posix().removeprefix("warc/")


def _notes(c: Comparison) -> str:
    notes = []
    if c.reference_unreadable:
        notes.append(f"reference stopped: {len(c.reference_unreadable)} break(s)")
    if c.pages_production_only:
        notes.append(f"{len(c.pages_production_only)} page(s) only the ingest read")
    if c.pages_reference_only:
        notes.append(f"{len(c.pages_reference_only)} page(s) only the reference read")
    if c.unmodelled:
        notes.append("not compared: " + ", ".join(f"{k} {n}" for k, n in sorted(c.unmodelled.items())))
    return "; ".join(notes)


def archive_table(results: list[Comparison]) -> str:
    lines = ["| archive | pages | recall | precision | revisits resolved / in reach / all | notes |",
             "|---|---|---|---|---|---|"]
    for c in results:
        revisits = f"{c.revisits_resolved} / {c.revisits_in_reach} / {c.revisits}" if c.revisits else "—"
        lines.append(f"| `{c.name}` | {c.pages_both} | {pct(c.both, c.reference_pairs)} | "
                     f"{pct(c.both, c.production_pairs)} | {revisits} | {_notes(c)} |")
    return "\n".join(lines)


def kind_table(results: list[Comparison]) -> str:
    lines = ["| kind | recall (reference pairs of the kind found by the ingest) | "
             "precision (ingest sightings of the kind the reference found) |", "|---|---|---|"]
    for kind, row in totals(results).items():
        lines.append(f"| `{kind}` | {pct(row.recalled, row.reference)} | {pct(row.confirmed, row.production)} |")
    return "\n".join(lines)


def differences(c: Comparison, show: int) -> list[str]:
    lines = []
    for label, rows in (("missed", c.missed), ("extra", c.extra)):
        for page, image, kind in rows[:show]:
            lines.append(f"- `{c.name}` {label} ({kind}): {page} -> {image}")
        if len(rows) > show:
            lines.append(f"- `{c.name}`: {len(rows) - show} more {label}")
    for note in c.reference_unreadable[:show]:
        lines.append(f"- `{c.name}` reference could not read: {note.splitlines()[0]}")
    for page in c.pages_production_only[:show]:
        lines.append(f"- `{c.name}` page only the ingest read: {page}")
    for page in c.pages_reference_only[:show]:
        lines.append(f"- `{c.name}` page only the reference read: {page}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archives", nargs="*", type=Path, help="archives to compare (default: the corpora)")
    parser.add_argument("--show", type=int, default=10, help="missed and extra pairs listed per archive")
    parser.add_argument("--no-testweb", action="store_true", help="skip the test web")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="link-accuracy-") as tmp:
        if args.archives:
            runs = [(str(p), [p]) for p in args.archives]
        else:
            runs = [(_name(p), [p]) for p in archives()]
            runs += [(name, [CORPORA / f for f in files]) for name, files in GROUPS.items()]
        results = [check(name, paths, Path(tmp)) for name, paths in runs]
        web = None
        if not args.no_testweb:
            from audit.testbed.testweb import build_web
            built = build_web(Path(tmp) / "web", photos=60, seed=11, workers=1)
            web = check_testweb(built.www, built.ground_truth())
    with_pages = [c for c in results if c.pages_both]
    print("### Per archive\n")
    print(archive_table(with_pages))
    empty = [c.name for c in results if not c.pages_both]
    if empty:
        print(f"\nNo HTML page in (nothing to compare): {', '.join(f'`{n}`' for n in empty)}.")
    both, ref_n, prod_n = (sum(getattr(c, a) for c in with_pages) for a in ("both", "reference_pairs",
                                                                              "production_pairs"))
    print(f"\nAll archives (pairs counted once per archive row): recall {pct(both, ref_n)}, precision "
          f"{pct(both, prod_n)}.")
    print("\n### Per reference kind, all archives\n")
    print(kind_table(with_pages))
    if web is not None:
        c, truth = web
        print("\n### The test web (60 photos, seed 11)\n")
        print(archive_table([c]))
        print(f"\nGround truth embeds found: reference {truth['reference']}/{truth['truth']}, ingest parser "
              f"{truth['production']}/{truth['truth']}.\n")
        print(kind_table([c]))
        with_pages.append(c)
    team, _, _ = check_pages("tests/data/pages/team.html", {TEAM_URL: TEAM_PAGE.read_text(encoding="utf-8")},
                             TEAM_IMAGES)
    print("\n### A real-looking page naming images in every way of issue 14 (`tests/data/pages/team.html`)\n")
    print(archive_table([team]))
    print()
    print(kind_table([team]))
    with_pages.append(team)
    lines = [line for c in with_pages + [c for c in results if not c.pages_both] for line in differences(c, args.show)]
    print("\n### Differences\n")
    print("\n".join(lines) if lines else "None.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
