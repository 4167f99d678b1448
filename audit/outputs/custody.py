"""The chain of custody every output carries: the run that wrote it (:class:`audit.provenance.Run`), the SHA-256 of
each store it read, the crawls and ingests in those stores with their dates, and the runs that wrote them (the
store's ``runs`` table: tool, version, command line, input files and their SHA-256).

:func:`custody` builds it as JSON-safe data (the ``provenance`` key of ``report-XX.json`` and of the verification's
JSON); :func:`custody_html` and :func:`custody_line` render it for the HTML pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.provenance import Run, iso
from audit.store.db import Store
from audit.store.runs import store_runs
from audit.textsafe import html_text as esc
from audit.textsafe import json_dumps

#: input files listed by name in the HTML (all of them are in the JSON)
MAX_LISTED_INPUTS = 40


def _crawls(store: Store) -> list[dict[str, Any]]:
    rows = store.query("SELECT crawl_id, kind, source, started_at, finished_at FROM crawls ORDER BY started_at, "
                       "crawl_id")
    return [{"crawl_id": r[0], "kind": r[1], "source": r[2], "started": iso(r[3]), "finished": iso(r[4])}
            for r in rows]


def custody(run: Run, stores: Mapping[str, Store]) -> dict[str, Any]:
    """The custody block of an output written by ``run`` from ``stores`` (role → open store; each store's file
    was added to ``run`` as an input of that role *before* it was opened, so its SHA-256 is of what was read)."""
    digests = {i.role: i.to_dict() for i in run.inputs}
    out = []
    for role, store in stores.items():
        d = digests.get(role) or {"path": str(store.path), "sha256": None, "bytes": None}
        out.append({"role": role, "path": d.get("path"), "sha256": d.get("sha256"), "bytes": d.get("bytes"),
                    "crawls": _crawls(store), "runs": store_runs(store)})
    this = run.to_dict()
    this.pop("outputs", None)
    return {"run": this, "stores": out}


def custody_line(c: Mapping[str, Any]) -> str:
    """One line for the top of a page: tool, version, revision, when, and each store's SHA-256 (escaped HTML)."""
    run = c["run"]
    rev = f", revision {run['revision'][:12]}" if run.get("revision") else ""
    stores = "; ".join(f"{s['role']} {s['path']} SHA-256 {s['sha256'] or 'unreadable'}" for s in c["stores"])
    return (f'<p class="custody muted" id="custody-line">{esc(run["software"])} {esc(run["version"])}{esc(rev)} · '
            f'written {esc(run["started"])} · {esc(stores)}</p>')


def store_sha256(c: Mapping[str, Any]) -> str:
    """The SHA-256 of the first store of the custody block (what a printed page names)."""
    for s in c.get("stores") or []:
        return str(s.get("sha256") or "")
    return ""


def _row(k: str, v: str) -> str:
    return f"<tr><th>{esc(k)}</th><td>{v}</td></tr>"


def custody_html(c: Mapping[str, Any]) -> str:
    """The "Provenance and fixity" section: this run, then each store with its crawls and the runs that wrote it."""
    run = c["run"]
    parts = ['<section id="provenance"><h2>Provenance and fixity</h2>',
             "<p>What this page was computed from, so that anyone can check it: the SHA-256 of each store read, the "
             "runs that wrote those stores with the SHA-256 of every file they read, and the command that wrote this "
             "page. <code>provaudit fixity FOLDER</code> checks that the files written beside it are unchanged "
             "(<code>provaudit-fixity.json</code>).</p>",
             "<table>",
             _row("software", esc(f"{run['software']} {run['version']}")),
             _row("source revision", esc(run.get("revision") or "not run from a checkout")),
             _row("command", f"<code>{esc(' '.join(run.get('argv') or []))}</code>"),
             _row("started", esc(run.get("started"))),
             _row("settings", f"<code>{esc(json_dumps(run.get('settings') or {}))}</code>"),
             "</table>"]
    for s in c["stores"]:
        parts.append(f"<h3>Store ({esc(s['role'])}): {esc(s['path'])}</h3><table>"
                     + _row("SHA-256", f"<code>{esc(s['sha256'] or 'unreadable')}</code>")
                     + _row("bytes", esc(f"{s['bytes']:,}" if isinstance(s.get("bytes"), int) else "—"))
                     + "</table>")
        if s["crawls"]:
            parts.append("<table><thead><tr><th>crawl or ingest</th><th>kind</th><th>started</th><th>finished</th>"
                         "</tr></thead><tbody>" + "".join(
                             f"<tr><td>{esc(k['crawl_id'])}</td><td>{esc(k['kind'])}</td><td>{esc(k['started'])}"
                             f"</td><td>{esc(k['finished'])}</td></tr>" for k in s["crawls"]) + "</tbody></table>")
        if not s["runs"]:
            parts.append('<p class="muted">This store records no runs (written before provaudit recorded them): its '
                         "input files' hashes are unknown.</p>")
            continue
        rows = []
        for r in s["runs"]:
            inputs = r.get("inputs") or []
            listed = "".join(f"<li><code>{esc(i.get('sha256') or i.get('error') or '?')}</code> {esc(i.get('path'))}"
                             "</li>" for i in inputs[:MAX_LISTED_INPUTS])
            more = (f"<li class=\"muted\">and {len(inputs) - MAX_LISTED_INPUTS:,} more (in the JSON)</li>"
                    if len(inputs) > MAX_LISTED_INPUTS else "")
            outs = "".join(f"<li><code>{esc(o.get('sha256') or o.get('error') or '?')}</code> {esc(o.get('path'))}"
                           "</li>" for o in r.get("outputs") or [])
            rev = f" ({r['revision'][:12]})" if r.get("revision") else ""
            rows.append(f"<tr><td>{esc(r['command'])}</td><td>{esc(str(r['version']) + rev)}</td>"
                        f"<td>{esc(r['started'])} – {esc(r['finished'] or 'unfinished')}</td>"
                        f"<td><code>{esc(' '.join(r.get('argv') or []))}</code></td>"
                        f"<td><ul>{listed}{more}</ul>{'<p>wrote:</p><ul>' + outs + '</ul>' if outs else ''}</td>"
                        f"<td>{esc(r['status'])}</td></tr>")
        parts.append("<table class=\"runs\"><thead><tr><th>run</th><th>version</th><th>when</th><th>command</th>"
                     "<th>files read (SHA-256)</th><th>status</th></tr></thead><tbody>" + "".join(rows)
                     + "</tbody></table>")
    parts.append("</section>")
    return "".join(parts)
