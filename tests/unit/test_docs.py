"""The docs users read are generated from the single definitions, and every command is documented."""

from __future__ import annotations

import re

import click

from audit.cli import main
from audit.docs import (
    families_markdown,
    kinds_markdown,
    opt_out_kinds_markdown,
    opt_out_origins_markdown,
    schema_markdown,
    settings_markdown,
)
from audit.settings import SETTINGS
from audit.signals.kinds import KINDS, OPT_OUT_KINDS, ORIGIN_DOCS, Family, Origin
from conftest import ROOT


def _between(text: str, name: str) -> str:
    m = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert m, f"markers for {name} missing"
    return m.group(1)


def test_schema_doc_is_current():
    assert _between((ROOT / "docs/schema.md").read_text(), "schema").strip() == schema_markdown().strip()


def test_settings_doc_is_current():
    text = (ROOT / "docs/settings.md").read_text()
    assert _between(text, "settings").strip() == settings_markdown().strip()
    for s in SETTINGS:
        assert f"`{s.name}`" in text


def test_signal_kinds_doc_is_current_and_documents_every_kind():
    """docs/signals.md's kinds tables are generated from the registry, so every registered kind is documented."""
    text = (ROOT / "docs/signals.md").read_text()
    kinds = _between(text, "kinds")
    assert kinds.strip() == kinds_markdown().strip()
    opt_outs = _between(text, "opt-out-kinds")
    assert opt_outs.strip() == opt_out_kinds_markdown().strip()
    for k in KINDS:
        row = next(line for line in kinds.splitlines() if line.startswith(f"| `{k.name}` |"))
        assert row.count(" | ") == 6 and k.doc in row and str(k.says) in row and str(k.family) in row
        assert f" | {k.says} | {k.answer} | " in row  # the answer it speaks for, next to what it says
    for o in OPT_OUT_KINDS:
        assert f"| `{o.name}` | {o.doc} |" in opt_outs
    origins = _between(text, "opt-out-origins")
    assert origins.strip() == opt_out_origins_markdown().strip()
    for origin in Origin:
        assert f"| `{origin.value}` | {ORIGIN_DOCS[origin]} |" in origins
    families = _between((ROOT / "docs/attribution.md").read_text(), "families")
    assert families.strip() == families_markdown().strip()
    for f in Family:
        assert f"\n| {f} |" in "\n" + families


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            names.extend(_commands(cmd, full + " "))
        else:
            names.append(full)
    return names


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    commands = _commands(main)
    assert {"crawl", "ingest", "inspect", "demo", "testweb serve", "testweb build"} <= set(commands)
    for name in commands:
        assert f"provaudit {name}" in readme, f"`provaudit {name}` is not documented in README.md"
