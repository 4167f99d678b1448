"""Every default is typed once: an ``AUDIT_*`` setting's in :mod:`audit.settings`, the near-duplicate thresholds in
:mod:`audit.derive.thresholds`, the deletion policies in :mod:`audit.outputs.policies`; the command line and the
library refer to them instead of repeating the values."""

from __future__ import annotations

import ast
from pathlib import Path

from audit.derive.thresholds import DEFAULT_DHASH_THRESHOLD, DEFAULT_PHASH_THRESHOLD
from audit.outputs.policies import DEFAULT_POLICY, POLICIES, POLICY_NAMES
from audit.settings import DEFAULTS
from conftest import provaudit

ROOT = Path(__file__).resolve().parents[2]

# A parameter, dataclass field, module constant or ``click.option`` of one of these names stands for this default.
DEFAULT_OF: dict[str, object] = {
    "batch_size": DEFAULTS["AUDIT_BATCH_SIZE"],
    "spool_rows": DEFAULTS["AUDIT_SPOOL_ROWS"],
    "finish_wait": DEFAULTS["AUDIT_STORE_FINISH_WAIT"],
    "lock_wait": DEFAULTS["AUDIT_STORE_LOCK_WAIT"],
    "DEFAULT_LOCK_WAIT": DEFAULTS["AUDIT_STORE_LOCK_WAIT"],
    "max_pixels": DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"],
    "DEFAULT_MAX_PIXELS": DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"],
    "max_image_bytes": DEFAULTS["AUDIT_MAX_IMAGE_BYTES"],
    "max_page_bytes": DEFAULTS["AUDIT_MAX_PAGE_BYTES"],
    "max_nodes": DEFAULTS["AUDIT_MAX_PAGE_NODES"],
    "timeout": DEFAULTS["AUDIT_ANALYSIS_TIMEOUT"],
    "DEFAULT_TIMEOUT": DEFAULTS["AUDIT_ANALYSIS_TIMEOUT"],
    "max_memory": DEFAULTS["AUDIT_ANALYSIS_MEMORY"],
    "DEFAULT_MAX_MEMORY": DEFAULTS["AUDIT_ANALYSIS_MEMORY"],
    "ttl": DEFAULTS["AUDIT_REDIS_WORKER_TTL"],
    "level": DEFAULTS["AUDIT_WARC_GZIP_LEVEL"],
    "DEFAULT_LEVEL": DEFAULTS["AUDIT_WARC_GZIP_LEVEL"],
    "max_line": DEFAULTS["AUDIT_ARCHIVE_MAX_HEADER_LINE"],
    "DEFAULT_MAX_LINE": DEFAULTS["AUDIT_ARCHIVE_MAX_HEADER_LINE"],
    "max_header": DEFAULTS["AUDIT_ARCHIVE_MAX_HEADER_BYTES"],
    "DEFAULT_MAX_HEADER": DEFAULTS["AUDIT_ARCHIVE_MAX_HEADER_BYTES"],
    "max_value_bytes": DEFAULTS["AUDIT_IMPORT_MAX_VALUE_BYTES"],
    "phash_threshold": DEFAULT_PHASH_THRESHOLD,
    "DEFAULT_PHASH_THRESHOLD": DEFAULT_PHASH_THRESHOLD,
    "dhash_threshold": DEFAULT_DHASH_THRESHOLD,
    "DEFAULT_DHASH_THRESHOLD": DEFAULT_DHASH_THRESHOLD,
}
# where the values are declared
DECLARED_IN = {ROOT / "audit" / "settings.py", ROOT / "audit" / "derive" / "thresholds.py"}


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _named_defaults(tree: ast.AST) -> list[tuple[str, ast.expr]]:
    found: list[tuple[str, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = args.posonlyargs + args.args
            found += zip((a.arg for a in positional[len(positional) - len(args.defaults):]), args.defaults,
                         strict=True)
            found += [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found.append((node.target.id, node.value))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found.append((node.targets[0].id, node.value))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "option":
            flags = [a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")]
            for kw in node.keywords:
                if kw.arg == "default" and flags:
                    found.append((str(flags[0])[2:].replace("-", "_"), kw.value))
    return found


def literal_copies(path: Path) -> list[str]:
    """``file:line name = value`` for each default written as a literal copy of a declared one."""
    out = []
    for name, node in _named_defaults(ast.parse(path.read_text(encoding="utf-8"))):
        if name not in DEFAULT_OF:
            continue
        value = _literal(node)
        if isinstance(value, int | float) and not isinstance(value, bool) and value == DEFAULT_OF[name]:
            out.append(f"{path.relative_to(ROOT)}:{node.lineno} {name} = {value!r}")
    return out


def test_no_default_is_a_literal_copy_of_a_declared_one():
    copies = [c for path in sorted((ROOT / "audit").rglob("*.py")) if path not in DECLARED_IN
              for c in literal_copies(path)]
    assert copies == []


def test_a_literal_copy_would_be_found(tmp_path):
    code = ('import click\n@click.option("--max-pixels", default=64_000_000)\n'
            "def f(x, batch_size=500, *, timeout: float = 30.0, workers=3):\n    pass\nDEFAULT_PHASH_THRESHOLD = 10\n")
    path = ROOT / "tests" / "_literal_copy_probe.py"
    path.write_text(code)
    try:
        found = [line.split(" ", 1)[1] for line in literal_copies(path)]
    finally:
        path.unlink()
    assert sorted(found) == ["DEFAULT_PHASH_THRESHOLD = 10", "batch_size = 500", "max_pixels = 64000000",
                             "timeout = 30.0"]


def test_policy_names_are_one_tuple_and_the_cli_offers_exactly_them():
    from audit.outputs import sweep, verify

    assert POLICY_NAMES == tuple(POLICIES) == tuple(sweep.POLICIES) == verify.POLICIES
    assert DEFAULT_POLICY in POLICY_NAMES
    for command in ("sweep", "verify"):
        help_text = " ".join(provaudit(command, "--help").stdout.split())
        assert "[" + "|".join(POLICY_NAMES) + "]" in help_text.replace(" ", "").replace("\n", "") or all(
            name in help_text for name in POLICY_NAMES), help_text
        assert f"default: {DEFAULT_POLICY}" in help_text


def test_an_unknown_policy_is_a_usage_error_listing_the_policies(tmp_path):
    proc = provaudit("sweep", "--db", str(tmp_path / "none.duckdb"), "--country", "FR", "--policy", "strongest",
                     check=False)
    assert proc.returncode == 2, proc.stderr
    assert "strongest" in proc.stderr and all(name in proc.stderr for name in POLICY_NAMES)


def test_the_cli_shows_the_declared_defaults():
    audit_help = " ".join(provaudit("audit", "--help").stdout.split())
    assert f"[default: {DEFAULT_PHASH_THRESHOLD}; 0<=x<=32]" in audit_help.split("--dhash-threshold")[0]
    assert f"[default: {DEFAULT_DHASH_THRESHOLD}; 0<=x<=32]" in audit_help.split("--dhash-threshold")[1]
    inspect_help = " ".join(provaudit("inspect", "--help").stdout.split())
    assert f"[default: {DEFAULTS['AUDIT_MAX_IMAGE_PIXELS']}; x>=1]" in inspect_help
    assert f"AUDIT_ANALYSIS_TIMEOUT, {DEFAULTS['AUDIT_ANALYSIS_TIMEOUT']:g})" in inspect_help
    crawl_help = " ".join(provaudit("crawl", "--help").stdout.split())
    assert f"[default: {DEFAULTS['AUDIT_MAX_DEPTH']}]" in crawl_help
