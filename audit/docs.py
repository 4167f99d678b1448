"""Generate the reference parts of the docs from their single definitions (schema, settings, the public API)."""

from __future__ import annotations

from audit.settings import SETTINGS
from audit.store.db import TABLES, VIEWS


def schema_markdown() -> str:
    parts = []
    for table in TABLES:
        key = f"`({', '.join(table.primary_key)})`"
        if table.indexed:
            parts.append(f"### `{table.name}`\n\n{table.doc} Primary key: {key}.\n")
        else:
            parts.append(f"### `{table.name}`\n\n{table.doc} Key: {key}, unique by construction; not indexed (the "
                         "audit rewrites the table in bulk).\n")
        parts.append("| column | type | meaning |\n|---|---|---|")
        for c in table.columns:
            parts.append(f"| `{c.name}` | `{c.type}`{'' if c.nullable else ' not null'} | {c.doc} |")
        parts.append("")
    for view in VIEWS:
        parts.append(f"### view `{view.name}`\n\n{view.doc}\n")
    return "\n".join(parts)


def settings_markdown() -> str:
    rows = ["| setting | default | what it does |", "|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `{s.name}` | `{s.default!r}` | {s.help} |")
    return "\n".join(rows) + "\n"


def api_doc_line(name: str) -> str:
    """The one-line description of a name of the public API: the first line of its docstring (for data, the line
    :mod:`audit` gives it)."""
    import inspect

    import audit

    if name in audit._DATA_DOCS:
        return audit._DATA_DOCS[name]
    value = getattr(audit, name)
    doc = value.__dict__.get("__doc__") if inspect.isclass(value) else getattr(value, "__doc__", None)
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    first = text.split(". ")[0].rstrip(".")
    return first + "." if first else ""


def api_markdown() -> str:
    """The public API (``audit.__all__``), one line each, grouped by the module that defines each name."""
    import audit

    rows = ["| name | defined in | what it is |", "|---|---|---|"]
    for name in audit.__all__:
        if name == "__version__":
            continue
        module = audit._EXPORTS[name].partition(":")[0]
        rows.append(f"| `{name}` | `{module}` | {api_doc_line(name)} |")
    return "\n".join(rows) + "\n"


def refresh(path: str, name: str, text: str) -> bool:
    """Replace the generated part of a doc (between ``<!-- name:begin -->`` and ``<!-- name:end -->``)."""
    import re
    from pathlib import Path

    doc = Path(path)
    old = doc.read_text(encoding="utf-8")
    new = re.sub(rf"<!-- {name}:begin -->\n.*?<!-- {name}:end -->",
                 lambda _m: f"<!-- {name}:begin -->\n{text}<!-- {name}:end -->", old, flags=re.S)
    doc.write_text(new, encoding="utf-8")
    return new != old


if __name__ == "__main__":  # pragma: no cover
    refresh("docs/schema.md", "schema", schema_markdown())
    refresh("docs/settings.md", "settings", settings_markdown())
    refresh("docs/api.md", "api", api_markdown())
