"""One error hierarchy: every error class provaudit defines for its user is an AuditError declared in audit.errors,
and the command line turns any of them into one line and exit status 1."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

import audit.errors
from audit.cli import main
from audit.errors import AuditError, ContentEncodingError, SharedCrawlError, StoreBusy
from audit.store.db import Store
from conftest import ROOT

# Exception classes that are not errors for the user: a Pillow error raised so that Pillow's callers treat a format
# provaudit does not decode as they treat an unknown one.
NOT_FOR_THE_USER = {"FormatNotDecoded"}


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


ERRORS = sorted({c for c in _subclasses(AuditError) if c.__module__ == "audit.errors"}, key=lambda c: c.__name__)


def _make(cls: type, message: str) -> BaseException:
    if issubclass(cls, StoreBusy):
        return cls(message, path=Path("store.duckdb"), pid=1234, program="python", reading=False)
    return cls(message)


def test_every_error_class_of_the_package_is_an_audit_error_of_audit_errors():
    """No module but audit/errors.py defines an exception class (bar the listed exceptions)."""
    found = []
    for path in sorted((ROOT / "audit").rglob("*.py")):
        if path.name == "errors.py" and path.parent.name == "audit":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.name not in NOT_FOR_THE_USER and any(
                    (isinstance(b, ast.Name) and (b.id.endswith(("Error", "Exception")) or b.id in {"Refused"}))
                    for b in node.bases):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert found == []
    assert len(ERRORS) >= 12 and all(issubclass(c, AuditError) for c in ERRORS)


def test_errors_that_were_value_errors_still_are():
    assert issubclass(SharedCrawlError, ValueError) and issubclass(ContentEncodingError, ValueError)


def test_the_errors_module_is_light():
    source = Path(audit.errors.__file__).read_text()
    imported = {n.names[0].name.split(".")[0] if isinstance(n, ast.Import) else (n.module or "").split(".")[0]
                for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import | ast.ImportFrom)}
    assert imported <= {"__future__", "pathlib"}


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_audit_error_reaching_the_cli_is_one_line_and_status_1(cls, monkeypatch, tmp_path):
    message = "cannot use /tmp/x.duckdb:\nsecond line \x1b[31mred\x1b[0m\r\u202eevil"

    def fail(*_args: object, **_kwargs: object) -> Store:
        raise _make(cls, message)

    monkeypatch.setattr(Store, "open", fail)
    db = tmp_path / "store.duckdb"
    db.touch()  # the command looks for the file before it opens it
    result = CliRunner().invoke(main, ["audit", "--db", str(db)])
    assert result.exit_code == 1, (result.output, result.exception)
    said = result.stderr
    assert len(said.strip().splitlines()) == 1, said
    assert said.startswith("Error: cannot use /tmp/x.duckdb:") and "second line" in said, said
    assert "\x1b" not in said and "\r" not in said and "\u202e" not in said and "Traceback" not in said
