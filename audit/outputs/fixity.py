"""Fixity of outputs: every command that writes files (report, sweep, verify, export, package) records, in a manifest
beside them (``provaudit-fixity.json``), its provenance (:class:`audit.provenance.Run`: tool, version, revision,
command line, settings, times, the SHA-256 of every input) and the SHA-256 of every file it wrote. :func:`check`
(``provaudit fixity DIR``) reads every manifest under a folder and names each file that changed or is missing since.

A manifest lists runs in the order they happened; when two runs wrote the same file, the later one is what the file
must match. A folder can hold the outputs of many runs (reports of several countries, a sweep, a verification).
An export's own ``manifest.json`` also lists a checksum per file, checked too.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import AuditError, FixityError
from audit.inputs import read_regular
from audit.provenance import Run, sha256_file
from audit.textsafe import json_dumps

logger = logging.getLogger(__name__)

MANIFEST_NAME = "provaudit-fixity.json"
KIND = "provaudit-fixity"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_FOLDERS = 100_000  # folders walked under the folder checked


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_regular(path, MAX_MANIFEST_BYTES, "a fixity manifest"))
    except OSError as exc:
        raise FixityError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except AuditError as exc:
        raise FixityError(f"{path}: {exc}") from exc
    except ValueError as exc:
        raise FixityError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("runs"), list):
        raise FixityError(f"{path} is not a provaudit fixity manifest")
    return data


def record(run: Run) -> list[Path]:
    """Add ``run`` (its outputs already added) to the fixity manifest of each folder it wrote into; output paths are
    kept relative to that folder. Returns the manifests written. The manifest is replaced atomically."""
    by_folder: dict[Path, list[dict[str, Any]]] = {}
    for out in run.outputs:
        p = Path(out.path).absolute()
        by_folder.setdefault(p.parent, []).append({**out.to_dict(), "path": p.name})
    written = []
    base = run.to_dict()
    for folder, outputs in by_folder.items():
        manifest = folder / MANIFEST_NAME
        data: dict[str, Any] = _load(manifest) if manifest.exists() else {"kind": KIND, "version": 1, "runs": []}
        runs: list[Any] = [r for r in data["runs"] if not (isinstance(r, dict) and r.get("run_id") == run.run_id)]
        runs.append({**base, "outputs": outputs})
        data["runs"] = runs
        tmp = manifest.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
        tmp.write_text(json_dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, manifest)
        written.append(manifest)
        logger.info("fixity: %d file(s) of %s recorded in %s", len(outputs), run.command, manifest)
    return written


@dataclass(frozen=True, slots=True)
class FileCheck:
    path: str  # relative to the folder checked
    status: str  # ok, changed, missing
    expected: str | None
    actual: str | None
    command: str
    run_id: str
    recorded: str | None  # when the run that wrote it finished (or started)


@dataclass
class FixityReport:
    folder: Path
    manifests: list[str] = field(default_factory=list)
    files: list[FileCheck] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return bool(self.files) and all(f.status == "ok" for f in self.files)

    @property
    def failed(self) -> list[FileCheck]:
        return [f for f in self.files if f.status != "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "intact": self.intact, "manifests": self.manifests,
                "files": [{"path": f.path, "status": f.status, "expected": f.expected, "actual": f.actual,
                           "command": f.command, "run_id": f.run_id, "recorded": f.recorded} for f in self.files],
                "unrecorded": self.unrecorded}


def _manifests(folder: Path) -> list[Path]:
    found = []
    walked = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        walked += 1
        if walked > MAX_FOLDERS:
            raise FixityError(f"more than {MAX_FOLDERS:,} folders under {folder}: check a smaller folder")
        dirs.sort()
        if MANIFEST_NAME in files:
            found.append(Path(root) / MANIFEST_NAME)
    return found


def _actual(path: Path) -> str | None:
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return sha256_file(path)[0]
    except OSError:
        return None


def _export_checksums(folder: Path) -> dict[str, str]:
    """The per-file checksums an export's ``manifest.json`` lists (empty when the folder is no export)."""
    from audit.store.export import MANIFEST
    from audit.store.export import MAX_MANIFEST_BYTES as EXPORT_MAX

    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(read_regular(path, EXPORT_MAX, "a manifest"))
    except (OSError, ValueError, AuditError):
        return {}
    sums = data.get("checksums") if isinstance(data, dict) else None
    if not isinstance(sums, dict):
        return {}
    return {str(k): str(v) for k, v in sums.items() if isinstance(v, str)}


def check(folder: str | Path) -> FixityReport:
    """Check every file recorded by the fixity manifests under ``folder`` (and every checksum of an export's
    manifest) against its SHA-256. Raises :class:`FixityError` when the folder holds no manifest or one cannot be
    read."""
    root = Path(folder)
    if not root.is_dir():
        raise FixityError(f"{root} is not a folder")
    manifests = _manifests(root)
    if not manifests:
        raise FixityError(f"no {MANIFEST_NAME} under {root}: nothing records what these files should be (outputs "
                          "written by provaudit before fixity was recorded have none)")
    report = FixityReport(root, [str(m.relative_to(root)) for m in manifests])
    recorded_files: set[Path] = set()
    for manifest in manifests:
        data = _load(manifest)
        latest: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for run in data["runs"]:
            if not isinstance(run, dict):
                raise FixityError(f"{manifest}: a run is not an object")
            for out in run.get("outputs") or []:
                name = out.get("path") if isinstance(out, dict) else None
                if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
                    raise FixityError(f"{manifest}: an output path {name!r} is not a file name of this folder")
                latest[name] = (run, out)
        for name, (run, out) in sorted(latest.items()):
            path = manifest.parent / name
            recorded_files.add(path)
            expected = out.get("sha256")
            actual = _actual(path)
            status = "missing" if actual is None else ("ok" if actual == expected else "changed")
            report.files.append(FileCheck(str(path.relative_to(root)), status, expected, actual,
                                          str(run.get("command")), str(run.get("run_id")),
                                          run.get("finished") or run.get("started")))
        for name, expected in sorted(_export_checksums(manifest.parent).items()):
            path = (manifest.parent / name)
            if ".." in Path(name).parts or Path(name).is_absolute():
                raise FixityError(f"{manifest.parent}/manifest.json: checksum path {name!r} leaves the export")
            recorded_files.add(path)
            actual = _actual(path)
            status = "missing" if actual is None else ("ok" if actual == expected else "changed")
            report.files.append(FileCheck(str(path.relative_to(root)), status, expected, actual, "export",
                                          "", None))
    for manifest in manifests:
        for root_dir, dirs, files in os.walk(manifest.parent, followlinks=False):
            if Path(root_dir) != manifest.parent and (Path(root_dir) / MANIFEST_NAME).exists():
                dirs[:] = []
                continue
            for name in files:
                p = Path(root_dir) / name
                if name != MANIFEST_NAME and p not in recorded_files:
                    report.unrecorded.append(str(p.relative_to(root)))
    report.unrecorded.sort()
    return report
