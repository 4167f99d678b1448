"""Peak memory of a command and its child processes between each two lines it prints.

Runs the command, samples every ``--every`` seconds the summed RSS (or, with ``--pss``, the summed PSS) of the
process and of each descendant, and prints, for each stretch between two output lines, the peaks of the process
itself, of its descendants and of their sum, followed by the line that started the stretch. For ``provaudit audit``
the lines are its progress lines, so this gives the peak of each phase:

    cp /tmp/provaudit-bench-audit/store-1000000.duckdb /tmp/run.duckdb
    python bench/memory_by_line.py --pss -- .venv/bin/provaudit --db-memory 700MiB audit --db /tmp/run.duckdb

RSS counts a page shared by several processes once per process; PSS divides it among them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time

import psutil


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pss", action="store_true", help="sum PSS instead of RSS")
    ap.add_argument("--every", type=float, default=0.1, help="seconds between samples")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    t0 = time.perf_counter()
    proc = psutil.Popen(args.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append((time.perf_counter() - t0, raw.decode(errors="replace").rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    samples: list[tuple[float, int, int]] = []
    while proc.poll() is None:
        try:
            kids = [k for k in proc.children(recursive=True) if k.is_running()]
            if args.pss:
                own, theirs = proc.memory_full_info().pss, sum(k.memory_full_info().pss for k in kids)
            else:
                own, theirs = proc.memory_info().rss, sum(k.memory_info().rss for k in kids)
            samples.append((time.perf_counter() - t0, own, theirs))
        except psutil.Error:
            pass
        time.sleep(args.every)
    reader.join(2)
    starts = [0.0, *(t for t, _ in lines)]
    names = ["(start)", *(text for _, text in lines)]
    mib = 2**20
    for i, name in enumerate(names):
        end = starts[i + 1] if i + 1 < len(starts) else float("inf")
        seg = [s for s in samples if starts[i] <= s[0] < end]
        if seg:
            print(f"{starts[i]:7.1f} s  process {max(s[1] for s in seg) / mib:6.0f}  children "
                  f"{max(s[2] for s in seg) / mib:6.0f}  sum {max(s[1] + s[2] for s in seg) / mib:6.0f} MiB | {name}")
        else:
            print(f"{starts[i]:7.1f} s  {'':51} | {name}")
    peak = max((s[1] + s[2] for s in samples), default=0)
    kind = "PSS" if args.pss else "RSS"
    print(f"{time.perf_counter() - t0:.1f} s, peak {kind} {peak / mib:.0f} MiB, exit {proc.returncode}")


if __name__ == "__main__":
    main()
