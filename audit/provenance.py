"""Provenance of a run: which tool (version, and source revision when run from a checkout), which command line and
effective settings, when, and the SHA-256 of every file read and written.

A :class:`Run` is started at the command line's edge (:func:`start`), told the files it read
(:meth:`Run.add_input`) and wrote (:meth:`Run.add_output`), and finished; its :meth:`Run.to_dict` is what the store's
``runs`` table, the WARC's ``warcinfo`` record, the report's header and the output folders' fixity manifests
(:mod:`audit.outputs.fixity`) show. Nothing here shells out: the revision is read from the checkout's ``.git``
files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import stat
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.inputs import remember_sha256

logger = logging.getLogger(__name__)

SOFTWARE = "provenance-audit"
_CHUNK = 1 << 20
_MAX_GIT_FILE = 1 << 20  # HEAD, a ref or packed-refs: far below this
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
#: files an input folder may hold before the rest are left unhashed (named as such in the record)
MAX_INPUT_FILES = 200_000


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: Any) -> str | None:
    """A time as ISO 8601 in UTC to the second (``2026-12-04T16:57:51Z``); a naive time is taken as UTC (DuckDB
    gives TIMESTAMPTZ values so); anything else as its text, None as None."""
    if isinstance(t, dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        return t.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return None if t is None else str(t)


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in 1 MiB pieces (never whole in memory)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        before = os.fstat(fh.fileno())
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
        remember_sha256(before, os.fstat(fh.fileno()), h.hexdigest())  # for ingest's crawl id (never read back here)
    return h.hexdigest(), size


def _small(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(_MAX_GIT_FILE).decode("ascii", "replace").strip()
    except OSError:
        return None


def source_revision(start: Path | None = None) -> str | None:
    """The git commit this package's source is checked out at (read from ``.git``, no ``git`` process), or ``None``
    when it is installed from a wheel or the checkout cannot be read."""
    here = (start or Path(__file__)).resolve()
    for parent in [here, *here.parents][:6]:
        git = parent / ".git"
        if git.is_file():  # a worktree: "gitdir: <path>"
            text = _small(git) or ""
            if not text.startswith("gitdir:"):
                return None
            git = (parent / text.split(":", 1)[1].strip()).resolve()
        if not git.is_dir():
            continue
        head = _small(git / "HEAD")
        if head is None:
            return None
        if _HEX40.match(head):
            return head
        if not head.startswith("ref:"):
            return None
        ref = head.split(":", 1)[1].strip()
        common = git
        commondir = _small(git / "commondir")
        if commondir:
            common = (git / commondir).resolve()
        for base in (git, common):
            value = _small(base / ref)
            if value and _HEX40.match(value):
                return value
        packed = _small(common / "packed-refs") or ""
        for line in packed.splitlines():
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1].strip() == ref and _HEX40.match(parts[0]):
                return parts[0]
        return None
    return None


def version() -> str:
    """The installed version of provenance-audit (``audit.__version__``: both come from pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(SOFTWARE)
    except PackageNotFoundError:
        return "unknown (not installed)"


def tool() -> dict[str, Any]:
    """The software, its version and (from a checkout) its source revision."""
    return {"software": SOFTWARE, "version": version(), "revision": source_revision(),
            "python": sys.version.split()[0]}


@dataclass
class FileDigest:
    path: str
    sha256: str | None
    bytes: int | None
    role: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}
        if self.role:
            d["role"] = self.role
        if self.error:
            d["error"] = self.error
        return d


def digest(path: str | os.PathLike[str], role: str = "") -> FileDigest:
    """A :class:`FileDigest` of one file; one that cannot be read is recorded with the reason, not raised."""
    try:
        sha, size = sha256_file(path)
    except OSError as exc:
        return FileDigest(str(path), None, None, role, exc.strerror or str(exc))
    return FileDigest(str(path), sha, size, role)


def _walk(path: Path) -> Iterable[Path]:
    try:
        st = path.lstat()
    except OSError:
        yield path
        return
    if stat.S_ISDIR(st.st_mode):
        for root, dirs, files in os.walk(path, followlinks=False):
            dirs.sort()
            for name in sorted(files):
                yield Path(root) / name
    else:
        yield path


def total_size(paths: Iterable[str | os.PathLike[str]]) -> int:
    """Bytes of the regular files under ``paths`` (folders walked, links not followed; at most
    :data:`MAX_INPUT_FILES` files looked at)."""
    total = 0
    seen = 0
    for p in paths:
        for f in _walk(Path(p)):
            seen += 1
            if seen > MAX_INPUT_FILES:
                return total
            try:
                st = f.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


@dataclass
class Run:
    """One run of a command: what it was, when, and the files it read and wrote."""

    command: str
    argv: list[str]
    settings: dict[str, Any]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: dt.datetime = field(default_factory=now)
    finished: dt.datetime | None = None
    inputs: list[FileDigest] = field(default_factory=list)
    outputs: list[FileDigest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tool: dict[str, Any] = field(default_factory=tool)

    def add_input(self, path: str | os.PathLike[str], role: str = "input") -> FileDigest:
        d = digest(path, role)
        self.inputs.append(d)
        return d

    def add_inputs(self, paths: Iterable[str | os.PathLike[str]], role: str = "input") -> None:
        """Every regular file under ``paths`` (folders walked, links not followed), at most
        :data:`MAX_INPUT_FILES`; the rest are named in :attr:`notes`."""
        count = 0
        for p in paths:
            for f in _walk(Path(p)):
                if count >= MAX_INPUT_FILES:
                    self.notes.append(f"more than {MAX_INPUT_FILES:,} input files under {p}: the rest not hashed")
                    return
                if f.is_symlink() or (f.exists() and not f.is_file()):
                    continue  # links are not followed; sockets, devices and fifos are not inputs
                self.add_input(f, role)
                count += 1

    def add_output(self, path: str | os.PathLike[str], role: str = "output") -> FileDigest:
        d = digest(path, role)
        self.outputs.append(d)
        return d

    def finish(self) -> Run:
        self.finished = now()
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "command": self.command, "argv": list(self.argv), **self.tool,
                "settings": self.settings, "started": iso(self.started), "finished": iso(self.finished),
                "inputs": [i.to_dict() for i in self.inputs], "outputs": [o.to_dict() for o in self.outputs],
                "notes": list(self.notes)}


_CREDENTIALS = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/@\s:]*:)[^@/\s]+@")


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` URL replaced by ``***`` (a Redis or proxy
    URL in the settings must not reach a report)."""
    return _CREDENTIALS.sub(r"\1***@", text)


def start(command: str, settings: Mapping[str, Any] | None = None, argv: list[str] | None = None) -> Run:
    """A run of ``command`` (``crawl``, ``report``, …) started now, with the process's command line unless
    ``argv`` is given, and the effective ``settings`` (JSON-safe values)."""
    if argv is None:
        argv = ["provaudit", *sys.argv[1:]]
    return Run(command, [redact(a) for a in argv], _json_safe(dict(settings or {})))


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))
