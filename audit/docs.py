"""Generate the reference parts of the docs from their single definitions (schema, settings)."""

from __future__ import annotations

from .settings import SETTINGS
from .store import TABLES, VIEWS


def schema_markdown() -> str:
    parts = []
    for table in TABLES:
        parts.append(f"### `{table.name}`\n\n{table.doc} Primary key: `({', '.join(table.primary_key)})`.\n")
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


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(schema_markdown() if sys.argv[1:] == ["schema"] else settings_markdown())
