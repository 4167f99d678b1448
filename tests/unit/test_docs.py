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


def test_command_reference_is_current():
    from audit.docs import commands_markdown

    assert _between((ROOT / "docs/commands.md").read_text(), "commands").strip() == commands_markdown().strip()


def _docs() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}


def _code(text: str) -> list[str]:
    """The inline code spans and the lines of the code blocks of a Markdown text."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    return [line for b in blocks for line in b.splitlines()] + re.findall(r"`([^`\n]+)`", rest)


def test_every_command_and_option_the_docs_name_exists():
    commands = {name: cmd for name, cmd in ((n, c) for n, c in _all_commands())}
    main_opts = {o for p in main.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
    main_opts |= {"-h", "--help"}
    checked = 0
    for doc, text in _docs().items():
        for span in _code(text):
            for use in re.split(r"(?=\bprovaudit )", span):
                if not use.startswith("provaudit "):
                    continue
                words = use.split()[1:]
                while words and words[0].startswith("-"):  # provaudit --db-memory 8GiB audit ...
                    assert words[0] in main_opts, f"{doc}: `{use}`: provaudit has no option {words[0]}"
                    words = words[2:] if words[0] == "--db-memory" else words[1:]
                if not words or not re.fullmatch(r"[a-z]+", words[0]):
                    continue
                name = " ".join(words[:2]) if " ".join(words[:2]) in commands else words[0]
                assert name in commands, f"{doc}: `{use}` names no command ({name})"
                cmd = commands[name]
                opts = {o for p in cmd.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
                for opt in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", " ".join(words[len(name.split()):])):
                    assert opt in opts | {"-h", "--help"}, f"{doc}: `{use}`: provaudit {name} has no option {opt}"
                    checked += 1
    assert checked > 50


def _all_commands() -> list[tuple[str, click.Command]]:
    out = []
    for name in _commands(main):
        cmd: click.Command = main
        for part in name.split():
            assert isinstance(cmd, click.Group)
            cmd = cmd.commands[part]
        out.append((name, cmd))
    return out


def test_every_setting_the_docs_name_exists():
    import importlib

    known = {s.name for s in SETTINGS}
    # names of that shape the docs give that are code, not settings: checked to exist where they say
    for name, module in {"AUDIT_OPTIONS": "audit.derive.run", "AUDIT_SECONDS_1M": "bench/scale_arithmetic.py"}.items():
        if module.endswith(".py"):
            assert f"\n{name} = " in (ROOT / module).read_text(encoding="utf-8")
        else:
            assert hasattr(importlib.import_module(module), name)
        known.add(name)
    for doc, text in _docs().items():
        for name in set(re.findall(r"\bAUDIT_[A-Z0-9_]*[A-Z0-9]\b", text)):
            assert name in known, f"{doc} names a setting {name} that does not exist"
