"""The pins: every package `make demo` and `make test` install is held to one exact version (constraints.txt, pip's
``-c``), and those versions are ones pyproject.toml accepts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def _pins(path: Path) -> dict[str, str]:
    """``name: version`` of each ``name==version`` line; any other line but a comment fails."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _PIN.match(line)
        assert m, f"{path.name}:{number}: not an exact pin: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"{path.name}:{number}: {name} pinned twice"
        pins[name] = m.group(2)
    return pins


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def _applies(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate(dict(default_environment(), extra=""))


def test_every_installed_dependency_is_pinned_within_its_range():
    pins = _pins(ROOT / "constraints.txt")
    assert "duckdb" in pins and "scrapy" in pins  # the file is the environment, not an empty one
    for req in _requirements(("dev",)):
        if not _applies(req):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (pyproject.toml) has no pin in constraints.txt"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req}")


def test_the_extras_exact_pins_agree_with_the_lock():
    # an extra that pins a package the lock also pins (notebooks: matplotlib, ipykernel) must pin the same version,
    # or `make notebooks` could not install
    pins = _pins(ROOT / "constraints.txt")
    for req in _requirements(("notebooks", "render", "bench")):
        name = canonicalize_name(req.name)
        exact = [s.version for s in req.specifier if s.operator == "=="]
        if exact and name in pins:
            assert pins[name] == exact[0], f"pyproject.toml pins {req}, constraints.txt {name}=={pins[name]}"


def test_pywb_environment_is_pinned():
    pins = _pins(ROOT / "tests" / "pywb-requirements.txt")
    assert "pywb" in pins and "redis" in pins  # pywb and what it pulls in (its own old redis)
