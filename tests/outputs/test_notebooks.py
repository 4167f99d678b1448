"""Every notebook runs top to bottom and draws the figures it promises: the store notebooks on a real crawled store,
opened read-only, the dataset notebook on the real LAION rows of the shared corpora, written only to a temporary
folder. They import the public API only."""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import os
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

import audit
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# the figures each notebook promises (at least): one per question it answers
FIGURES = {
    "provenance_tour.ipynb": 3,  # the metadata images keep, the map of GPS positions, the cluster sizes
    "signal_coverage.ipynb": 3,  # coverage by page host, by country, one host's signal kinds
    "deletion_sweep.ipynb": 3,  # the policies side by side, the threshold curve, where the residents left behind went
    "dataset_audit.ipynb": 2,  # the dataset's signals by kind, its attributed countries
}
# the notebook that audits a dataset table: the only one that writes a store, a new one in a temporary folder
DATASET_NOTEBOOK = "dataset_audit.ipynb"
LAION_SAMPLE = Path("datasets") / "laion" / "test_1000.parquet"


def _code(path: Path) -> str:
    """A notebook's code cells as one Python module (IPython's ``%`` magics left out)."""
    nb = nbformat.read(path, as_version=4)
    cells = ["\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
             for cell in nb.cells if cell.cell_type == "code"]
    return "\n\n".join(cells)


def test_every_notebook_promises_its_figures():
    assert {p.name for p in NOTEBOOKS} == set(FIGURES)


def test_notebooks_are_committed_without_outputs():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"


def _assignment(tree: ast.Module, name: str) -> str | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.unparse(node.value)
    return None


def store_opens(source: str) -> list[str]:
    """The ``Store.open(...)`` calls of a notebook's code that may write: neither ``read_only=True`` nor the dataset
    notebook's new store in its temporary folder (``TEMP_STORE``, under ``WORK``, made by ``tempfile.mkdtemp``)."""
    tree = ast.parse(source)
    temp = _assignment(tree, "TEMP_STORE") or ""
    work = _assignment(tree, "WORK") or ""
    temporary = temp.startswith("WORK /") and "tempfile.mkdtemp(" in work
    writable = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "open"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "Store"):
            continue
        if any(k.arg == "read_only" and isinstance(k.value, ast.Constant) and k.value.value is True
               for k in node.keywords):
            continue
        if temporary and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "TEMP_STORE":
            continue
        writable.append(ast.unparse(node))
    return writable


def audit_imports(source: str) -> list[str]:
    """What a notebook's code takes from ``audit`` other than names of ``audit.__all__`` imported from the top."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "audit":
            if node.module != "audit":
                bad.append(ast.unparse(node))
            bad += [f"from audit import {a.name}" for a in node.names if a.name not in audit.__all__]
        elif isinstance(node, ast.Import):
            bad += [f"import {a.name}" for a in node.names if a.name.startswith("audit.")]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "audit"
              and node.attr not in audit.__all__):
            bad.append(ast.unparse(node))
    return bad


def test_notebooks_open_stores_read_only():
    for path in NOTEBOOKS:
        source = _code(path)
        assert "Store.open(" in source, f"{path.name} opens no store"
        assert store_opens(source) == [], f"{path.name} opens a store it may write"


def test_notebooks_use_only_the_public_api():
    for path in NOTEBOOKS:
        assert audit_imports(_code(path)) == [], f"{path.name} reaches past the public API"


def test_the_checks_would_catch_a_writable_store_or_a_submodule():
    assert store_opens("store = Store.open(STORE)") == ["Store.open(STORE)"]
    assert store_opens("store = Store.open(STORE, read_only=False)")
    assert not store_opens("store = Store.open(STORE, read_only=True)")
    temp = "WORK = Path(tempfile.mkdtemp())\nTEMP_STORE = WORK / 'x.duckdb'\n"
    assert not store_opens(temp + "s = Store.open(TEMP_STORE)")
    assert store_opens("TEMP_STORE = Path('demo-out/provenance.duckdb')\ns = Store.open(TEMP_STORE)")
    assert audit_imports("from audit.outputs.sweep import sweep") == ["from audit.outputs.sweep import sweep"]
    assert audit_imports("import audit.outputs.sweep")
    assert audit_imports("from audit import not_exported")
    assert audit_imports("import audit\naudit.outputs.sweep.sweep(s, 'FR', 'strong')")
    assert not audit_imports("import audit\nfrom audit import Store, sweep\naudit.sweep(s, 'FR', 'strong')")


def test_make_notebooks_installs_what_they_need():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    pins = {re.split(r"[=<>~!]", d)[0]: d for d in extras["notebooks"]}
    assert set(pins) >= {"jupyterlab", "ipykernel", "matplotlib"}
    assert all("==" in d for d in pins.values()), "the notebooks extra is pinned"
    assert pins["matplotlib"] in extras["dev"], "the tests draw the figures with the notebooks' matplotlib"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^notebooks: \$\(VENV\)/\.installed-notebooks$", makefile, re.M)
    assert "'.[dev,notebooks]'" in makefile and "jupyter lab" in makefile
    assert "make notebooks" in (ROOT / "README.md").read_text(encoding="utf-8")


def figures(nb: nbformat.NotebookNode) -> list[Image.Image]:
    """The PNG figures a run notebook displayed, decoded."""
    out = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "display_data" and "image/png" in output.get("data", {}):
                image = Image.open(io.BytesIO(base64.b64decode(output.data["image/png"])))
                image.load()
                out.append(image)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_draws_its_figures(path, request, monkeypatch, tmp_path):
    tmp = tmp_path / "tmp"  # the notebook's temporary folder: what it leaves there is found below
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    watched: list[Path] = []
    if path.name == DATASET_NOTEBOOK:
        dataset = request.getfixturevalue("corpora") / LAION_SAMPLE
        monkeypatch.setenv("PROVAUDIT_DATASET", str(dataset))
        watched.append(dataset)
    else:
        store = request.getfixturevalue("audited_store")
        monkeypatch.setenv("PROVAUDIT_STORE", str(store))
        watched.append(store)
    before = {p: _sha256(p) for p in watched}
    beside = {p: sorted(p.parent.iterdir()) for p in watched}
    project = sorted(p.name for p in path.parent.iterdir())

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=dict(os.environ))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors

    drawn = figures(nb)
    assert len(drawn) >= FIGURES[path.name], f"{path.name} drew {len(drawn)} figures"
    for image in drawn:
        assert image.format == "PNG" and image.width > 200 and image.height > 150
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 1, "a blank figure"
    # read only: the store (or the dataset) and what is beside it are as they were, and nothing was left behind
    assert {p: _sha256(p) for p in watched} == before
    assert {p: sorted(p.parent.iterdir()) for p in watched} == beside
    assert sorted(p.name for p in path.parent.iterdir()) == project
    assert list(tmp.iterdir()) == []
