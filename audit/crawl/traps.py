"""Crawler traps recognised by the shape of a URL: pure functions, no state, no settings.

A site can generate links without end: a path that repeats its own segments (``/a/b/a/b/a/b/...``, from relative
links resolved against ever-longer paths), or a calendar whose "next day" link never runs out (``?date=2024-01-02``,
``?year=2031&month=7``). :mod:`audit.crawl.bounds` cuts such links with these tests.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

# a query value that reads as a date: 2024-01-31, 2024/1/31, 2024.01, 31-01-2024, 20240131, 202401
_DATE_VALUE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?(?:[T ][\d:]+)?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
    r"|(?:1[6-9]|2\d)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])?)$"
)
# parameters whose numeric value counts days, weeks, months or years
_DATE_NAMES = frozenset({"date", "day", "week", "month", "year", "yr", "mon", "ym", "ymd", "cal", "calendar"})


def repeated_segment(url: str, max_repeats: int) -> str | None:
    """The path segment of ``url`` that occurs more than ``max_repeats`` times (``/a/b/a/b/a/b/a`` holds ``a`` four
    times), or None."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    counts = Counter(s for s in path.split("/") if s)
    if not counts:
        return None
    segment, n = counts.most_common(1)[0]
    return segment if n > max_repeats else None


def calendar_position(url: str) -> tuple[str, str] | None:
    """Which calendar ``url`` belongs to and where in it: ``(host + path + the names of its parameters, the values
    of its date parameters)``, or None when no query parameter reads as a date. Two days of one calendar share the
    first and differ in the second."""
    try:
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return None
    dates = [(k, v) for k, v in params
             if _DATE_VALUE.match(v) or (k.lower() in _DATE_NAMES and v.isdigit() and len(v) <= 8)]
    if not dates:
        return None
    names = ",".join(sorted({k for k, _ in params}))
    return f"{parts.netloc.lower()}{parts.path}?{names}", "&".join(f"{k}={v}" for k, v in sorted(dates))
