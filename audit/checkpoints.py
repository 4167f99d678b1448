"""Named points in long-running work where a test can stop the process, so that it is killed exactly there.

Tests of what a SIGKILL leaves behind (``tests/store/test_killed_audit.py``, ``tests/crawl/test_killed_crawl.py``,
``tests/crawl/test_distributed.py``) must not race the machine's speed: killing a process some time after a log line
lands at a different point on a loaded machine, or after the work has ended. Instead they start the command with
``PROVAUDIT_STOP_AT=<name>`` (or ``<name>:<n>``) in its environment: the ``n``-th time (default: the first) the
process reaches :func:`checkpoint` of that name, it writes ``provaudit: stopped at checkpoint <name>:<n>`` on standard
error and the calling thread blocks until the process is killed. The test waits for that line, then kills. Without the
variable a checkpoint costs one comparison.

The points (each named where it is called):

- ``audit-reading-<units>``: the audit starts reading one kind of unit (``pages``, ``images``, ...);
- ``audit-writing-begun``: inside the audit's write transaction, the derived tables just dropped and re-created;
- ``audit-signals-written``: inside it, the direct signals inserted, opt-outs and clusters not yet;
- ``audit-propagated``: inside it, propagated signals inserted;
- ``audit-attributed``: inside it, the attributions computed and not yet inserted;
- ``crawl-response``: a crawl received a response and queued it for the WARC (the ``n``-th response of this run).
"""

from __future__ import annotations

import os
import threading
import time

ENV = "PROVAUDIT_STOP_AT"


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, count = value.partition(":")
    try:
        n = int(count) if count else 1
    except ValueError as exc:
        raise ValueError(f"{ENV} must be NAME or NAME:COUNT, not {value!r}") from exc
    if n < 1:
        raise ValueError(f"{ENV}: the count must be at least 1, not {n}")
    return name, n


_PLAN = _parse(os.environ.get(ENV))
_hits = 0
_lock = threading.Lock()


def checkpoint(name: str) -> None:
    """Stop here (block this thread for good) when ``PROVAUDIT_STOP_AT`` names this point and this is the wanted
    passage; otherwise return at once."""
    if _PLAN is None or _PLAN[0] != name:
        return
    global _hits
    with _lock:
        _hits += 1
        reached = _hits == _PLAN[1]
    if not reached:
        return
    os.write(2, f"provaudit: stopped at checkpoint {name}:{_PLAN[1]}\n".encode())
    while True:  # until the test kills the process
        time.sleep(3600)
