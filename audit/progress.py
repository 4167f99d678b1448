"""Live progress of a long command (crawl, fetch, ingest, audit, test web build, package): counters updated by the
work as it goes, shown as a Rich line redrawn a few times a second on a terminal, and as a plain log line every few
seconds otherwise (a CI log, ``nohup``, a pipe) — the first one at once, so a user never waits in silence.

:class:`LiveProgress` is callable as the work's ``progress(kind, n)`` callback (:data:`audit.crawl.run.Progress`):
``kind`` names a counter (``page``, ``image``, ``bytes``, ``error``, ``robots``, or any counter given), ``n`` how
much to add.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from audit.textsafe import rich_text, terminal_text

#: the work's event names -> the counter they add to
ALIASES = {"page": "pages", "PageItem": "pages", "image": "images", "ImageFetch": "images", "ImageRef": "sightings",
           "bytes": "MB", "error": "errors", "robots": "robots.txt refusals", "sample": "samples", "row": "rows"}
#: counters shown only once they are not zero
QUIET_UNTIL_SEEN = frozenset({"errors", "robots.txt refusals"})
DEFAULT_INTERVAL = 10.0
STILL_EVERY = 6  # intervals between two lines while no counter moves


def _elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


class LiveProgress:
    """Counters of one command, shown live on ``console`` (see the module doc). ``totals``: the counters to show, in
    order, each with its total when known (a bar and a share are shown then); the first one gives the rate."""

    def __init__(self, title: str, totals: dict[str, int | None], console: Console, *,
                 interval: float = DEFAULT_INTERVAL, live: bool | None = None) -> None:
        self.title = title
        self.totals = dict(totals)
        self.counts: dict[str, int] = dict.fromkeys(self.totals, 0)
        for quiet in QUIET_UNTIL_SEEN:
            self.counts.setdefault(quiet, 0)
        self.console = console
        self.interval = max(0.5, float(interval))
        self.live = (console.is_terminal or console.is_jupyter) if live is None else live
        self.started = time.monotonic()
        self.changed = self.started  # when a counter last moved: the rate is over the time the work was counting
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._display: Live | None = None

    # the callback -------------------------------------------------------------------------------------------------
    def __call__(self, kind: str, n: int) -> None:
        name = ALIASES.get(kind, kind)
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + int(n)
            self.changed = time.monotonic()

    def set_total(self, name: str, total: int | None) -> None:
        with self._lock:
            self.totals[ALIASES.get(name, name)] = total

    # what is shown ------------------------------------------------------------------------------------------------
    def line(self) -> str:
        """The counters as one line: ``crawl: pages 120 · images 340 · 12 MB · 4.2 pages/s · 0:00:28``."""
        with self._lock:
            counts = dict(self.counts)
            totals = dict(self.totals)
        elapsed = time.monotonic() - self.started
        parts = []
        for name, value in counts.items():
            if name in QUIET_UNTIL_SEEN and not value:
                continue
            if name == "MB":
                parts.append(f"{value / 1e6:,.1f} MB")
                continue
            total = totals.get(name)
            shown = f"{name} {value:,}" + (f"/{total:,} ({value / total:.0%})" if total else "")
            parts.append(shown)
        first = next(iter(self.totals), None)
        counting = self.changed - self.started
        if first and first != "MB" and counting >= 1:
            parts.append(f"{counts.get(first, 0) / counting:,.1f} {first}/s")
        parts.append(_elapsed(elapsed))
        return f"{self.title}: " + " · ".join(parts)

    def __rich__(self) -> Text:
        return Text(terminal_text(self.line()))

    # showing it ---------------------------------------------------------------------------------------------------
    def _log_loop(self) -> None:
        """A line every interval while the counters move; while they stand still (the work is in a stage that does
        not count, or stuck), one every :data:`STILL_EVERY` intervals, so that a log still shows it is alive."""
        printed_counts: dict[str, int] = {}
        quiet = 0
        while not self._stop.wait(self.interval):
            with self._lock:
                counts = dict(self.counts)
            quiet = quiet + 1 if counts == printed_counts else 0
            if quiet and quiet % STILL_EVERY:
                continue
            printed_counts = counts
            self.console.print(terminal_text(self.line()), markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> LiveProgress:
        if self.live:
            self._display = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self._display.__enter__()
        else:
            self.console.print(f"{self.title}: started (progress every {self.interval:g} s)", markup=False,
                               highlight=False, soft_wrap=True)
            self._thread = threading.Thread(target=self._log_loop, name="provaudit-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stop.set()
        if self._display is not None:
            self._display.update(self)
            self._display.__exit__(None, None, None)
        if self._thread is not None:
            self._thread.join(timeout=5)
            if exc_type is not None:  # the error's own message says what happened
                return
            self.console.print(self.line().replace(": ", ": done, ", 1), markup=False, highlight=False,
                               soft_wrap=True)


def progress_line(title: str, console: Console) -> Any:
    """A one-off stage line (``• clustering near-duplicates``) with the time since the command began: for work that
    goes in stages rather than counts (the audit)."""
    started = time.monotonic()

    def say(message: str) -> None:
        console.print(f"[bold]•[/] {rich_text(title)}: {rich_text(message)} "
                      f"[dim]({_elapsed(time.monotonic() - started)})[/]", soft_wrap=True)

    return say
