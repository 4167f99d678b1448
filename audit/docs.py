"""Generate the reference parts of the docs from their single definitions (schema, settings, signal kinds, the
public API, the command line)."""

from __future__ import annotations

from audit.schema import TABLES, TEMP_TABLES, VIEWS
from audit.settings import SETTINGS
from audit.signals.kinds import FAMILY_DOCS, KINDS, OPT_OUT_KINDS, ORIGIN_DOCS, Family, Origin, kinds_of


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


def kinds_markdown() -> str:
    """The table of every registered signal kind (audit.signals.kinds.KINDS), in registry order."""
    rows = ["| kind | family | says | answer | strength | needs | what it is |", "|---|---|---|---|---|---|---|"]
    for k in KINDS:
        same = f" Counts as one piece of evidence with `{k.same_evidence_as}`." if k.same_evidence_as else ""
        needs = ", ".join(f"`{n}`" for n in k.needs)
        rows.append(f"| `{k.name}` | {k.family} | {k.says} | {k.answer} | {k.strength} | {needs} | {k.doc}{same} |")
    return "\n".join(rows) + "\n"


def opt_out_kinds_markdown() -> str:
    """The table of every registered opt-out kind (audit.signals.kinds.OPT_OUT_KINDS)."""
    rows = ["| kind | what it is |", "|---|---|"]
    rows += [f"| `{k.name}` | {k.doc} |" for k in OPT_OUT_KINDS]
    return "\n".join(rows) + "\n"


def opt_out_origins_markdown() -> str:
    """The table of whose declaration an opt-out can be (audit.signals.kinds.Origin, the ``opt_outs.origin`` column)."""
    rows = ["| origin | whose declaration, read where |", "|---|---|"]
    rows += [f"| `{o.value}` | {ORIGIN_DOCS[o]} |" for o in Origin]
    return "\n".join(rows) + "\n"


def families_markdown() -> str:
    """The table of signal families and their kinds (audit.signals.kinds)."""
    rows = ["| family | what it is | kinds |", "|---|---|---|"]
    for family in Family:
        kinds = ", ".join(f"`{k.name}`" for k in kinds_of(family))
        rows.append(f"| {family} | {FAMILY_DOCS[family]} | {kinds} |")
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


def _click_commands() -> list[tuple[str, object]]:
    """Every command of the ``provaudit`` CLI as (full name, click command), groups walked, in their order."""
    import click

    from audit.cli import main

    out: list[tuple[str, object]] = []

    def walk(group: click.Group, prefix: str) -> None:
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                walk(cmd, f"{prefix}{name} ")
            else:
                out.append((f"{prefix}{name}", cmd))

    walk(main, "")
    return out


def _option_row(param: object) -> str:
    import click

    assert isinstance(param, click.Parameter)
    if isinstance(param, click.Argument):
        name = f"`{param.human_readable_name}`" + ("" if param.required else " (optional)")
        return f"| {name} | argument{'s' if param.nargs == -1 else ''} | |"
    assert isinstance(param, click.Option)
    flags = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    if param.count:
        kind = "flag, repeatable"
    elif param.is_flag:
        kind = "flag"
    else:
        kind = f"`{param.metavar}`" if param.metavar else f"`{param.type.name.upper()}`"
        if isinstance(param.type, click.Choice):
            kind = " \\| ".join(f"`{c}`" for c in param.type.choices)
    default = ""
    if param.show_default and param.default not in (None, False, ()):
        default = f" [default: `{param.default}`]"
    if param.envvar:
        default += f" (environment: `{param.envvar}`)"
    text = " ".join((param.help or "").split()).replace("|", "\\|")
    return f"| {flags} | {kind} | {text}{default} |"


def commands_markdown() -> str:
    """The command reference: every command of the CLI with its help and every option, generated from the CLI
    itself (as sqlite-utils does), so that it cannot fall behind."""
    import click

    from audit.cli import main

    parts = ["Options of every command: `-h`, `--help`. Options of `provaudit` itself, before the command:\n",
             "| option | value | what it does |", "|---|---|---|"]
    parts += [_option_row(p) for p in main.params if p.name not in ("help",)]
    parts.append("")
    for name, cmd in _click_commands():
        assert isinstance(cmd, click.Command)
        doc = (cmd.help or "").replace("\b\n", "")
        paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
        parts.append(f"### `provaudit {name}`\n")
        parts.extend(f"{p}\n" for p in paragraphs)
        params = [p for p in cmd.params if p.name != "help"]
        if params:
            parts.append("| option | value | what it does |\n|---|---|---|")
            parts.extend(_option_row(p) for p in params)
            parts.append("")
    return "\n".join(parts)


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
    refresh("docs/signals.md", "kinds", kinds_markdown())
    refresh("docs/signals.md", "opt-out-kinds", opt_out_kinds_markdown())
    refresh("docs/signals.md", "opt-out-origins", opt_out_origins_markdown())
    refresh("docs/attribution.md", "families", families_markdown())
    refresh("docs/api.md", "api", api_markdown())
    refresh("docs/commands.md", "commands", commands_markdown())
