"""The tests are grouped by what they need (tests/conftest.py GROUPS): every test file lives in a group's folder, and
the unit tests use none of the fixtures that build a web, crawl it or run the demo, so `make test-fast` stays fast."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import GROUPS, HEAVY_FIXTURES

TESTS = Path(__file__).resolve().parents[1]


def fixtures_used(path: Path) -> dict[str, set[str]]:
    """Test function name -> the names of its parameters (the fixtures it asks for)."""
    tree = ast.parse(path.read_text())
    return {node.name: {a.arg for a in node.args.args}
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")}


def test_every_test_file_is_in_a_group_folder():
    stray = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py") if p.parent.name not in GROUPS)
    assert not stray, f"move these into one of {sorted(GROUPS)}: {stray}"
    assert all(any((TESTS / group).glob("test_*.py")) for group in GROUPS)


def test_unit_tests_build_no_web_and_no_demo():
    heavy = {f"{path.name}::{name}": sorted(used & HEAVY_FIXTURES)
             for path in sorted((TESTS / "unit").glob("test_*.py"))
             for name, used in fixtures_used(path).items() if used & HEAVY_FIXTURES}
    assert not heavy, f"these need a heavy fixture: move them out of tests/unit: {heavy}"


def test_the_fixture_check_sees_fixtures(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("def test_a(store_path, tmp_path):\n    pass\n\nasync def test_b(crawled):\n    pass\n")
    assert fixtures_used(sample) == {"test_a": {"store_path", "tmp_path"}, "test_b": {"crawled"}}
