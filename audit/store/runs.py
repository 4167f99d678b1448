"""The store's own chain of custody: one ``runs`` row per command that wrote it (:class:`audit.provenance.Run`), read
back for the header of every output built on the store."""

from __future__ import annotations

import json
import logging
from typing import Any

from audit.provenance import Run, iso
from audit.store.db import Store
from audit.textsafe import json_dumps

logger = logging.getLogger(__name__)


def record_run(store: Store, run: Run, status: str = "ok") -> None:
    """Write ``run`` into the store's ``runs`` table (replacing a row of the same id: a run recorded at its start
    and again at its end)."""
    d = run.to_dict()
    store.con.execute("DELETE FROM runs WHERE run_id = ?", [run.run_id])
    store.insert("runs", [{
        "run_id": run.run_id, "command": run.command, "argv": json_dumps(d["argv"]),
        "software": d["software"], "version": d["version"], "revision": d["revision"],
        "settings": json_dumps(d["settings"]), "started_at": run.started, "finished_at": run.finished,
        "inputs": json_dumps(d["inputs"]), "outputs": json_dumps(d["outputs"]), "status": status[:2000],
    }])


def _loads(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def store_runs(store: Store) -> list[dict[str, Any]]:
    """The runs recorded in the store, oldest first; empty for a store written before runs were recorded."""
    if "runs" not in store.columns:
        return []
    rows = store.query("SELECT run_id, command, argv, software, version, revision, settings, started_at, "
                       "finished_at, inputs, outputs, status FROM runs ORDER BY started_at, run_id")
    return [{"run_id": r[0], "command": r[1], "argv": _loads(r[2]) or [], "software": r[3], "version": r[4],
             "revision": r[5], "settings": _loads(r[6]) or {}, "started": iso(r[7]), "finished": iso(r[8]),
             "inputs": _loads(r[9]) or [], "outputs": _loads(r[10]) or [], "status": r[11]} for r in rows]
