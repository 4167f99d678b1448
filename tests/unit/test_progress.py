"""Live progress: the first line at once, counters and rate as the work goes, quiet while nothing moves, a last
line at the end; scraped text never reaches the terminal raw."""

from __future__ import annotations

import io
import time

from rich.console import Console

from audit.progress import LiveProgress, progress_line


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=200), buf


def test_a_log_line_at_once_then_every_interval_and_a_last_one():
    console, buf = _console()
    started = time.monotonic()
    with LiveProgress("crawl", {"pages": None, "images": 40, "MB": None}, console, interval=0.5) as p:
        first = buf.getvalue()
        assert first.startswith("crawl: started") and time.monotonic() - started < 0.5
        p("page", 3)
        p("image", 10)
        p("bytes", 2_500_000)
        p("robots", 1)
        time.sleep(1.3)
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 3
    assert "pages 3" in lines[1] and "images 10/40 (25%)" in lines[1] and "2.5 MB" in lines[1]
    assert "robots.txt refusals 1" in lines[1] and "errors" not in lines[1]  # no error: not shown
    assert lines[-1].startswith("crawl: done, pages 3")


def test_no_repeated_line_while_nothing_moves():
    console, buf = _console()
    with LiveProgress("audit", {"rows": None}, console, interval=0.5) as p:
        p("row", 5)
        time.sleep(2.2)  # four intervals: one line for the change, none for the three still ones
    body = [line for line in buf.getvalue().splitlines() if "rows 5" in line and "done" not in line]
    assert len(body) == 1


def test_counts_are_escaped_and_stage_lines_carry_the_time():
    console, buf = _console()
    p = LiveProgress("ingest \x1b[31mred\u202e", {"pages": None}, console, interval=60)
    assert "\x1b" not in p.__rich__().plain and "\u202e" not in p.__rich__().plain
    say = progress_line("audit", console)
    say("clustering [bold]near-duplicates[/]")
    out = buf.getvalue()
    assert "audit: clustering [bold]near-duplicates[/]" in out and "(0:00:00)" in out
