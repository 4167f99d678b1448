"""Reading a filled labelling sheet (``labels.csv``: the sheet's CSV filled in a spreadsheet, or the CSV the HTML
sheet saves). Each row's answers are normalised (``yes``/``no``/``unknown``; blank: not answered); every bad row is
named with its line number, and a file with any bad row is refused whole, so no label is silently dropped."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from audit.errors import LabelsError
from audit.outputs.validation.answer import QUESTIONS, STRATA

LABEL_COLUMNS = ("sample_id", "sha256", "country", "stratum", "stratum_size", "located", "resides")
MAX_LABEL_ROWS = 1_000_000
MAX_SHOWN = 20  # bad rows named in the error message (the count says how many there are)

# what a person may type for each answer, lower case, quotes and spaces stripped ("can't tell" is the sheet's own)
_ANSWERS = {
    "yes": "yes", "y": "yes", "true": "yes", "1": "yes", "oui": "yes", "x": "yes",
    "no": "no", "n": "no", "false": "no", "0": "no", "non": "no",
    "unknown": "unknown", "can't tell": "unknown", "cant tell": "unknown", "can’t tell": "unknown", "?": "unknown",
    "unsure": "unknown", "dk": "unknown", "don't know": "unknown",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class Label:
    sample_id: str
    sha256: str
    country: str
    seed: int | None
    stratum: str
    stratum_size: int
    located: str | None  # yes, no, unknown, or None (not answered)
    resides: str | None
    line: int  # where the row starts in the file


def _answer(raw: str) -> str | None:
    """``yes``, ``no``, ``unknown``, None for a blank cell; raises KeyError for anything else."""
    text = raw.strip().strip("'\"").strip().lower()
    return None if not text else _ANSWERS[text]


def _unguard(value: str) -> str:
    """A cell as written, without the ``'`` :func:`audit.textsafe.csv_cell` puts before a formula start."""
    return value[1:] if value.startswith("'") else value


def read_labels(path: Path) -> list[Label]:
    """The labels of ``path``. Raises :class:`LabelsError` naming every bad row by line number (a missing column,
    an unknown answer or stratum, a sha256 or country that is no such thing, a sample_id met twice, rows of several
    countries or a stratum given two sizes) and reading no label from a file with any, or from a sheet nobody has
    answered."""
    path = Path(path)
    labels: list[Label] = []
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise LabelsError(f"{path.name}: line 1: the header lacks the column(s) {', '.join(missing)} "
                              f"(a labels file has {', '.join(LABEL_COLUMNS)})")
        seen: dict[str, int] = {}
        sizes: dict[str, tuple[int, int]] = {}
        countries: dict[str, int] = {}
        for row in reader:
            # the line the row starts on: its last line less the line breaks inside its cells (blank lines between
            # rows, which the reader skips, are not counted in)
            start = reader.line_num - sum(v.count("\n") for v in row.values() if isinstance(v, str))
            if len(labels) + len(problems) >= MAX_LABEL_ROWS:
                raise LabelsError(f"{path.name}: more than {MAX_LABEL_ROWS:,} rows: not a labelling sheet")
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # a blank line
            errors = []
            sample_id = _unguard((row.get("sample_id") or "").strip())
            sha = (row.get("sha256") or "").strip().lower()
            country = (row.get("country") or "").strip().upper()
            stratum = (row.get("stratum") or "").strip().lower()
            if not sample_id:
                errors.append("no sample_id")
            elif sample_id in seen:
                errors.append(f"sample_id {sample_id!r} already on line {seen[sample_id]}")
            if not _SHA256.fullmatch(sha):
                errors.append(f"sha256 {sha[:70]!r} is not 64 hex digits")
            if not _COUNTRY.fullmatch(country):
                errors.append(f"country {country[:20]!r} is not an ISO alpha-2 code")
            if stratum not in STRATA:
                errors.append(f"stratum {stratum[:30]!r} is none of {', '.join(STRATA)}")
            try:
                size = int((row.get("stratum_size") or "").strip())
                if size < 1:
                    raise ValueError
            except ValueError:
                errors.append(f"stratum_size {(row.get('stratum_size') or '')[:20]!r} is not a positive whole number")
                size = 0
            seed_text = (row.get("seed") or "").strip()
            seed = int(seed_text) if re.fullmatch(r"-?\d{1,18}", seed_text) else None
            answers: dict[str, str | None] = {}
            for q in QUESTIONS:
                raw = row.get(q) or ""
                try:
                    answers[q] = _answer(raw)
                except KeyError:
                    errors.append(f"{q} is {raw.strip()[:30]!r}: answer yes, no or unknown (can't tell), or leave "
                                  "it blank")
            if not errors:
                if stratum in sizes and sizes[stratum][0] != size:
                    errors.append(f"stratum {stratum!r} has size {size} here but {sizes[stratum][0]} on line "
                                  f"{sizes[stratum][1]}")
                if countries and country not in countries:
                    other, where = next(iter(countries.items()))
                    errors.append(f"country {country} but {other} on line {where}: one sample per file")
            if errors:
                problems.append(f"line {start}: {', '.join(errors)}")
                continue
            seen[sample_id] = start
            sizes.setdefault(stratum, (size, start))
            countries.setdefault(country, start)
            labels.append(Label(sample_id=sample_id, sha256=sha, country=country, seed=seed, stratum=stratum,
                                stratum_size=size, located=answers["located"], resides=answers["resides"],
                                line=start))
    if problems:
        shown = "; ".join(problems[:MAX_SHOWN])
        more = f"; and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        raise LabelsError(f"{path.name}: {len(problems)} bad row(s), nothing stored: {shown}{more}")
    if not labels:
        raise LabelsError(f"{path.name}: no labelled rows")
    if not any(lab.located or lab.resides for lab in labels):
        raise LabelsError(f"{path.name}: no row has an answer: fill in located and resides (yes, no or unknown) "
                          "first")
    return labels
