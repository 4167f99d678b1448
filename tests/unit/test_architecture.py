"""The package's shape, checked from its source: no import cycles, no upward imports, the library never imports the
application, and ``import audit`` / the CLI's start-up stay light.

Imports are read with ``ast`` from every module of ``audit/``: module-level imports and those inside functions (a lazy
import is still a dependency), but not those under ``if TYPE_CHECKING:`` (never executed).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "audit"

# The layers, low to high. A module may import modules of its own layer and of layers of a strictly lower rank;
# layers of equal rank (crawl, ingest: two inputs feeding the store) do not import each other.
SHARED = ("settings", "records", "textsafe", "errors", "ids", "inputs", "httputil", "checkpoints", "stats", "schema",
          "provenance", "countries", "testweb_marker")
LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    # (layer, rank, module prefixes)
    ("shared", 0, tuple(f"audit.{name}" for name in SHARED)),
    ("decode", 1, ("audit.decode",)),
    ("signals", 2, ("audit.signals",)),
    ("store", 3, ("audit.store",)),
    ("crawl", 4, ("audit.crawl",)),
    ("ingest", 4, ("audit.ingest",)),
    ("derive", 5, ("audit.derive",)),
    ("outputs", 6, ("audit.outputs",)),
    ("testbed", 7, ("audit.testbed",)),
    # the application over the library: the command line, the docs generator, and the public API (audit/__init__.py,
    # which imports every layer, lazily)
    ("top", 8, ("audit.cli", "audit.__main__", "audit.docs", "audit")),
)
# Modules that are the application, not the library: only they may import ``spiders`` or ``audit.cli``.
# the programs: the command line, and the docs generator (it documents the command line from the CLI itself)
APPLICATION = ("audit.cli", "audit.__main__", "audit.docs")

# Edges allowed for now although they break the layering: (importer prefix, imported module, why).
# None today; an entry must say why, and test_the_allow_list_is_still_needed fails once its edge is gone.
ALLOWED: tuple[tuple[str, str, str], ...] = ()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The ``audit`` module an imported dotted name lives in (``audit.store.db.Store`` -> ``audit.store.db``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_names(module: str, path: Path) -> set[str]:
    """The dotted names ``module`` imports (``from a.b import c`` gives ``a.b.c``; relative imports resolved)."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        # ``from a.b import c``: a dependency on a.b.c if it is a module, else on a.b (the parent packages Python
        # imports on the way are not counted: they are light, and the public API at the top imports nothing eagerly)
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = set()
        for name in imported_names(module, path):
            if name == "spiders" or name.startswith("spiders."):
                targets.add("spiders")
            elif name == "audit" or name.startswith("audit."):
                target = _resolve(name)
                if target is not None and target != module:
                    targets.add(target)
        graph[module] = targets
    return graph


GRAPH = _graph()


def layer_of(module: str) -> tuple[str, int]:
    """The layer a module belongs to: the longest matching prefix of :data:`LAYERS`."""
    best: tuple[int, str, int] | None = None
    for layer, rank, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), layer, rank)
    if best is None:
        raise LookupError(module)
    return best[1], best[2]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_reader_sees_lazy_relative_and_type_checking_imports(tmp_path):
    code = ("from typing import TYPE_CHECKING\nimport audit.x\nfrom . import y\nfrom .z import w\n"
            "if TYPE_CHECKING:\n    from audit.hidden import H\nelse:\n    import audit.shown\n"
            "def f():\n    from spiders.provenance import S\n")
    path = tmp_path / "mod.py"
    path.write_text(code)
    names = imported_names("audit.pkg.mod", path)
    assert {"audit.x", "audit.pkg.y", "audit.pkg.z.w", "audit.shown", "spiders.provenance.S"} <= names
    assert not any(n.startswith("audit.hidden") for n in names)


def test_every_module_has_a_layer():
    missing = []
    for module in MODULES:
        try:
            layer_of(module)
        except LookupError:
            missing.append(module)
    assert not missing, f"add these modules to a layer of LAYERS in tests/unit/test_architecture.py: {missing}"


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_a_cycle_would_be_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_library_imports_neither_the_spiders_nor_the_cli():
    bad = sorted(f"{module} -> {target}" for module, targets in GRAPH.items() if module not in APPLICATION
                 for target in targets if target == "spiders" or target in APPLICATION)
    assert bad == []


def _allowed(module: str, target: str) -> bool:
    return any((module == prefix or module.startswith(prefix + ".")) and target == imported
               for prefix, imported, _ in ALLOWED)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``importer (layer) -> imported (layer)`` for every import of a higher layer, or of a sibling of equal rank."""
    bad = []
    for module, targets in sorted(graph.items()):
        layer, rank = layer_of(module)
        for target in sorted(targets):
            if target == "spiders" or _allowed(module, target):
                continue
            target_layer, target_rank = layer_of(target)
            if target_layer != layer and target_rank >= rank:
                bad.append(f"{module} ({layer}) -> {target} ({target_layer})")
    return bad


def test_no_layer_imports_a_higher_one():
    assert upward_imports(GRAPH) == []


def test_an_upward_import_would_be_found():
    graph = {"audit.decode.x": {"audit.signals.base"}, "audit.crawl.a": {"audit.ingest.b", "audit.store.db"},
             "audit.signals.base": set(), "audit.ingest.b": set(), "audit.store.db": {"audit.settings"}}
    assert upward_imports(graph) == ["audit.crawl.a (crawl) -> audit.ingest.b (ingest)",
                                     "audit.decode.x (decode) -> audit.signals.base (signals)"]


def test_the_allow_list_is_still_needed():
    # an entry whose edge no longer exists must go
    for prefix, imported, why in ALLOWED:
        assert any((m == prefix or m.startswith(prefix + ".")) and imported in targets
                   for m, targets in GRAPH.items()), f"remove the allow-list entry {prefix} -> {imported} ({why})"


def test_the_spider_scrapy_finds_is_the_library_s():
    from audit.crawl.run import ProvenanceSpider as RunSpider
    from audit.crawl.spider import ProvenanceSpider as LibrarySpider
    from spiders.provenance import ProvenanceSpider as EntryPoint

    assert RunSpider is LibrarySpider
    assert issubclass(EntryPoint, LibrarySpider) and EntryPoint.name == LibrarySpider.name == "provenance"
    assert set(vars(EntryPoint)) <= {"__module__", "__doc__", "name", "__firstlineno__", "__static_attributes__"}


def test_scrapy_lists_the_spider():
    proc = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["provenance"]


HEAVY = ("twisted.internet.reactor", "scrapy", "numba", "numpy", "duckdb", "pyarrow", "PIL")


def _modules_after(code: str) -> dict[str, bool]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded: dict[str, bool] = json.loads(proc.stdout)
    return loaded


@pytest.mark.parametrize("code", ["import audit", "import audit.cli",
                                  "import audit.settings, audit.errors, audit.records, audit.ids"])
def test_start_up_imports_nothing_heavy(code):
    loaded = _modules_after(code)
    assert not any(loaded.values()), f"{code!r} imports {[m for m, on in loaded.items() if on]}"


def test_the_start_up_probe_sees_a_heavy_import():
    assert _modules_after("import audit.store.db")["duckdb"]
