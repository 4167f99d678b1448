"""Generate the reference parts of the docs from their single definitions (schema, settings)."""

from __future__ import annotations

from audit.schema import TABLES, TEMP_TABLES, VIEWS
from audit.settings import SETTINGS


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
    parts.append("### Temporary tables of an audit run\n\n`provaudit audit` works in these, on its own connection "
                 "only (never written to the store's file), and drops them when it ends, whether it succeeded or not; "
                 "a table of the store with one of these names is never touched.\n")
    parts.append("| table | holds |\n|---|---|")
    parts.extend(f"| `{t.name}` | {t.doc} |" for t in TEMP_TABLES)
    parts.append("")
    return "\n".join(parts)


def settings_markdown() -> str:
    rows = ["| setting | default | what it does |", "|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `{s.name}` | `{s.default!r}` | {s.help} |")
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
