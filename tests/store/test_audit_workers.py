"""The audit's worker processes start from a forkserver that has built the extractors' bundled data once, so that
they share it instead of each building a copy; the forkserver does not outlive the extraction."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from audit.derive import units
from conftest import ROOT

PROBE = '''
import gc, os, time

def probe():
    """What a worker holds before it has run any extractor (a pause, so that both workers take tasks)."""
    time.sleep(0.3)
    import audit.signals.gazetteer as gazetteer
    import audit.signals.geo as geo
    import audit.signals.text as text
    return {"pid": os.getpid(), "gazetteer": gazetteer._gazetteer is not None, "zones": geo._finder is not None,
            "language": text._identifier is not None, "frozen": gc.get_freeze_count()}
'''

RUN = '''
import json, multiprocessing.forkserver
from audit.derive.run import worker_pool
from probe_module import probe

server = multiprocessing.forkserver._forkserver
with worker_pool(2) as pool:
    seen = [f.result() for f in [pool.submit(probe) for _ in range(6)]]
    running = server._forkserver_pid is not None
print(json.dumps({"seen": seen, "running": running, "after": server._forkserver_pid is not None}))
'''


def test_workers_start_with_the_bundled_data_built_and_the_forkserver_stops_after(tmp_path: Path) -> None:
    """In a fresh process (this one's forkserver may have been started by another pool, with another preload), each
    worker answers its first task with the gazetteer, time-zone polygons and language model already there and the
    collector's generations frozen; the forkserver runs during the pool's life and is stopped when it closes."""
    (tmp_path / "probe_module.py").write_text(PROBE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert len({s["pid"] for s in out["seen"]}) == 2  # both workers answered
    for seen in out["seen"]:
        assert seen["gazetteer"] and seen["zones"] and seen["language"], seen
        assert seen["frozen"] > 10_000, seen
    assert out["running"] and not out["after"]


def test_the_preload_imports_every_module_the_batch_functions_import() -> None:
    """``EXTRACTOR_MODULES`` is exactly the set of ``audit.signals`` modules imported inside the batch functions of
    ``audit.derive.units``: one left out would be imported, and its data built, by each worker on its own."""
    tree = ast.parse(Path(units.__file__).read_text(encoding="utf-8"))
    imported = {node.module for fn in tree.body if isinstance(fn, ast.FunctionDef)
                for node in ast.walk(fn) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("audit.signals")}
    assert imported == set(units.EXTRACTOR_MODULES)
