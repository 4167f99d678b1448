"""The curated public API: every name of ``audit.__all__`` exists, is documented and listed in docs/api.md, and the
notebooks and docs import from ``audit`` only."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys

import pytest

import audit
from audit.docs import api_doc_line, api_markdown
from conftest import ROOT

NAMES = [name for name in audit.__all__ if name != "__version__"]


def test_the_api_has_what_notebooks_and_users_need():
    need = {"Store", "StoreError", "run_crawl", "run_ingest", "run_audit", "build_report", "write_report", "sweep",
            "write_sweep", "POLICIES", "verify", "write_verification", "lookup", "Signal", "Strength", "OptOut",
            "attribute", "analyse_image", "parse_page", "store_summary", "inspect_files", "export_store",
            "merge_stores", "markdown_table", "host_coverage", "country_coverage", "compare_policies"}
    assert need <= set(audit.__all__)
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_every_exported_name_resolves_to_its_definition_and_is_documented(name):
    value = getattr(audit, name)
    module, _, attribute = audit._EXPORTS[name].partition(":")
    assert value is getattr(importlib.import_module(module), attribute or name)
    if name in audit._DATA_DOCS:
        assert not callable(value) or not inspect.isroutine(value)
    else:
        own = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
        assert own and own.strip(), f"{name} has no docstring"
        # a dataclass without a docstring gets its signature as one: that documents nothing
        assert not own.startswith(f"{getattr(value, '__name__', name)}("), f"{name} has only its signature as doc"
    assert api_doc_line(name)


def test_no_exported_name_is_shadowed_by_a_module_of_the_package():
    # importing audit.<name> (a package or module) would replace the exported value by the module
    modules = {p.stem if p.suffix == ".py" else p.name for p in (ROOT / "audit").iterdir()
               if (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert not set(NAMES) & modules


def test_an_export_survives_importing_every_layer():
    code = ("import audit, audit.ingest.run, audit.outputs.report, audit.derive.run\n"
            "from audit import run_ingest, sweep, Store\n"
            "assert callable(run_ingest) and run_ingest.__module__ == 'audit.ingest.run'\n"
            "assert sorted(set(audit.__all__) - set(dir(audit))) == []\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        audit.nonexistent  # noqa: B018


def test_the_api_doc_is_current_and_lists_every_name():
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- api:begin -->\n(.*?)<!-- api:end -->", text, re.S)
    assert m, "markers for the api list missing in docs/api.md"
    assert m.group(1).strip() == api_markdown().strip(), "run: python -m audit.docs"
    for name in NAMES:
        assert f"| `{name}` |" in m.group(1)


SUBMODULE_IMPORT = re.compile(r"^\s*(from\s+audit\.|import\s+audit\.)", re.M)


def _code_cells(path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code"]


def test_notebooks_import_only_the_public_api():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        for source in _code_cells(path):
            assert not SUBMODULE_IMPORT.search(source), f"{path.name} imports a submodule of audit:\n{source}"
            for names in re.findall(r"^\s*from audit import (.+)$", source, re.M):
                for name in (n.strip() for n in names.split(",")):
                    assert name in audit.__all__, f"{path.name} imports {name}, which is not in audit.__all__"


def test_the_notebook_check_would_catch_a_submodule_import():
    assert SUBMODULE_IMPORT.search("x = 1\nfrom audit.outputs.sweep import sweep\n")
    assert SUBMODULE_IMPORT.search("import audit.outputs.sweep as s")
    assert not SUBMODULE_IMPORT.search("from audit import sweep\nimport audit\n")


def test_docs_examples_import_only_the_public_api():
    for path in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        for block in re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            assert not SUBMODULE_IMPORT.search(block), f"{path.name} has an example importing a submodule"
