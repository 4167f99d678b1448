"""Start-up time of the command line and of ``import audit``: median wall time of ``provaudit --help``,
``provaudit inspect PHOTO`` (a real camera JPEG of ../shared/corpora/photos) and ``python -c "import audit"`` over
repeated runs, for one or more source trees, run interleaved so that a change of load on the machine affects every
tree alike.

    python bench/bench_startup.py [TREE ...]     # default: this checkout; RUNS=20 by default

A tree is a checkout of the project (e.g. ``git worktree add /tmp/before <commit>``); it is put first on
``PYTHONPATH``, so this environment's interpreter and packages run that tree's code. Each tree's bytecode is
compiled first and the runs may write it (``PYTHONDONTWRITEBYTECODE`` is removed): an installed package has its
bytecode, and without it every run would time Python compiling our sources (about 0.1-0.2 s here).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT.parent / "shared" / "corpora" / "photos" / "exif-samples" / "jpg" / "Nikon_D70.jpg"
COMMANDS = {
    "provaudit --help": [sys.executable, "-c", "import sys; sys.argv = ['provaudit', '--help']\n"
                         "from audit.cli import main\nmain()"],
    "provaudit inspect": [sys.executable, "-c", "import sys; sys.argv = ['provaudit', 'inspect', sys.argv[1]]\n"
                          "from audit.cli import main\nmain()", str(PHOTO)],
    "import audit": [sys.executable, "-c", "import audit"],
}


def main() -> None:
    trees = [str(Path(t).resolve()) for t in sys.argv[1:]] or [str(ROOT)]
    runs = int(os.environ.get("RUNS", "20"))
    times: dict[tuple[str, str], list[float]] = {(t, c): [] for t in trees for c in COMMANDS}
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "audit", "spiders"], env=base, cwd=tree,
                       stdout=subprocess.DEVNULL, check=True)
    for _ in range(runs):
        for command, argv in COMMANDS.items():
            for tree in trees:
                env = dict(base, PYTHONPATH=tree)
                started = time.perf_counter()
                subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True, cwd="/")
                times[(tree, command)].append(time.perf_counter() - started)
    for (tree, command), values in times.items():
        print(f"{tree}  {command:18s} median {statistics.median(values) * 1000:6.1f} ms  "
              f"min {min(values) * 1000:6.1f}  max {max(values) * 1000:6.1f}  ({runs} runs)")


if __name__ == "__main__":
    main()
