"""The registry of signal kinds (audit/signals/kinds.py) against the extractors, the schema and the audit's SQL.

The static tests read the extractors' source with ``ast``: every kind a ``Signal(...)`` or ``OptOut(...)`` can get is
spelt as a literal there (or passed on by a function whose parameter is ``kind``, or copied from another signal's
``.kind``), so the set of kinds the extractors can emit is known without running them."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit.derive.sql import IMAGES_SQL
from audit.signals.base import OptOut, Signal, Strength
from audit.signals.kinds import (
    KINDS,
    KINDS_BY_NAME,
    OPT_OUT_KINDS,
    STRENGTH_RANK,
    Family,
    kinds_of,
    needed_columns,
    opt_out_kind,
    signal_kind,
)
from audit.store.db import TABLES

SIGNALS = Path(__file__).resolve().parents[2] / "audit" / "signals"


@dataclass(frozen=True)
class Emission:
    where: str
    target: str  # "Signal" or "OptOut"
    kind: str
    strength: str | None  # the Strength member written in the same call, if any


def _callee(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _kind_arg(call: ast.Call) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == "kind":
            return kw.value
    return call.args[0] if call.args else None


def _literals(node: ast.expr, where: str, forwarding: bool) -> list[str] | None:
    """The string literals ``node`` can be; ``None`` when it passes on a value checked elsewhere. Any other
    expression fails the test: a kind must be spelt out where it is emitted."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        a, b = _literals(node.body, where, forwarding), _literals(node.orelse, where, forwarding)
        assert a is not None and b is not None, f"{where}: spell both kinds of a conditional out"
        return a + b
    if isinstance(node, ast.Name) and node.id == "kind" and forwarding:
        return None  # the enclosing function passes its ``kind`` parameter on: its callers are checked
    if isinstance(node, ast.Attribute) and node.attr == "kind":
        return None  # a copy of an existing signal's kind, validated when that signal was built
    raise AssertionError(f"{where}: the kind {ast.unparse(node)!r} is not a literal the registry can check")


def _strength(call: ast.Call) -> str | None:
    for kw in call.keywords:
        if kw.arg == "strength" and isinstance(kw.value, ast.Attribute) and ast.unparse(kw.value.value) == "Strength":
            return kw.value.attr
    return None


def emissions() -> list[Emission]:
    """Every (call, literal kind) of the extractors: calls of ``Signal``/``OptOut`` and of any function of the
    package that takes a ``kind`` parameter (which it passes on)."""
    trees = {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(SIGNALS.glob("*.py"))}
    own = {module: {node.name for node in ast.walk(tree)
                    if isinstance(node, ast.FunctionDef) and any(a.arg == "kind" for a in node.args.args)}
           for module, tree in trees.items()}
    found: list[Emission] = []
    for module, tree in trees.items():
        forwarders = set(own[module])  # its own functions taking a kind, and those it imports from the package
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("audit.signals."):
                other = own.get((node.module or "").rsplit(".", 1)[-1], set())
                forwarders |= {a.asname or a.name for a in node.names if a.name in other}
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            forwarding = func.name in forwarders
            for call in [n for n in ast.walk(func) if isinstance(n, ast.Call)]:
                name = _callee(call)
                if name not in ("Signal", "OptOut") and name not in forwarders:
                    continue
                arg = _kind_arg(call)
                where = f"{module}.py:{call.lineno}"
                assert arg is not None, f"{where}: {name}() without a kind"
                target = "OptOut" if name == "OptOut" else "Signal"
                for kind in _literals(arg, where, forwarding) or []:
                    found.append(Emission(where, target, kind, _strength(call)))
    return found


def test_every_kind_an_extractor_can_emit_is_registered():
    found = emissions()
    assert len(found) > 20  # the walk does see the extractors
    for e in found:
        if e.target == "Signal":
            declared = signal_kind(e.kind)  # ValueError for an unregistered kind
            if e.strength is not None:  # an extractor may lower a kind's strength, never raise it
                assert STRENGTH_RANK[Strength[e.strength]] <= STRENGTH_RANK[declared.strength], e
        else:
            opt_out_kind(e.kind)


def test_every_registered_kind_is_emitted_by_some_extractor():
    found = emissions()
    assert {k.name for k in KINDS} == {e.kind for e in found if e.target == "Signal"}
    assert {k.name for k in OPT_OUT_KINDS} == {e.kind for e in found if e.target == "OptOut"}
    assert "camera_model" not in KINDS_BY_NAME  # camera_signals never emits one (docs/signals-image.md)


def test_the_walk_refuses_a_kind_it_cannot_read():
    tree = ast.parse('Signal(kind=f"{role}_cctld", country="FR", strength=Strength.MEDIUM, evidence="x")')
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    arg = _kind_arg(call)
    assert arg is not None
    with pytest.raises(AssertionError, match="not a literal"):
        _literals(arg, "x.py:1", forwarding=False)


def test_signals_and_opt_outs_of_unregistered_kinds_cannot_be_built():
    assert Signal("page_cctld", "FR", Strength.MEDIUM, "host x.fr").kind == "page_cctld"
    with pytest.raises(ValueError, match="unknown signal kind 'c2pa'"):
        Signal("c2pa", "FR", Strength.STRONG, "C2PA ...")
    with pytest.raises(ValueError, match="unknown opt-out kind"):
        OptOut("robots", "disallow", "robots.txt")
    with pytest.raises(ValueError, match="unknown signal kind"):
        signal_kind("robots_txt")  # an opt-out kind is no signal kind


def test_registry_lookups():
    assert signal_kind("c2pa_location").family is Family.IMAGE
    assert [k.name for k in kinds_of(Family.IMAGE)] == ["exif_gps", "xmp_location", "iptc_location", "c2pa_location",
                                                         "dataset_exif_gps", "utc_offset"]
    assert signal_kind("dataset_exif_gps").evidence_key == "exif_gps"  # the original's EXIF: one piece of evidence
    assert kinds_of("no such family") == ()
    assert all(kinds_of(f) for f in Family)  # no empty family
    assert signal_kind("icbm").evidence_key == "geo_position" and signal_kind("phone").evidence_key == "phone"
    assert len(KINDS_BY_NAME) == len(KINDS)


def test_what_a_kind_needs_is_a_stored_column():
    columns = {f"{t.name}.{c.name}" for t in TABLES for c in t.columns}
    for k in KINDS:
        assert set(k.needs) <= columns, k.name


def test_the_audit_reads_every_image_a_kind_can_fire_on():
    """The audit's SQL reads only images with one of the columns some kind needs: taken from the registry, so a new
    image kind needing another column is read without touching the SQL."""
    where = IMAGES_SQL.split("WHERE", 1)[1]
    needed = needed_columns("images")
    assert set(needed) == {"gps_lat", "xmp", "location", "iptc", "c2pa", "utc_offset"}
    for column in needed:
        assert f"{column} IS NOT NULL" in where
    assert where.count("IS NOT NULL") == len(needed)
