"""Opening the files a user names (``provaudit ingest``, ``inspect``, ``lookup``) without being stalled or flooded.

A path given to the tool may be anything: a FIFO (opening it waits for a writer, forever), ``/dev/zero`` or a
symlink to it (endless bytes), a 40 GB sparse file (minutes of hashing), a socket. :func:`open_regular` is the one
way these commands open a named file: it opens without blocking (``O_NONBLOCK``: a FIFO does not wait for a writer),
checks on the open descriptor that it is a regular file (so a path swapped after a check is still caught), and checks
its size against a limit before a byte is read. Everything else is refused with :class:`Refused`, whose message says
what the path is and why it is not read.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from audit.errors import Refused
from audit.settings import DEFAULTS

DEFAULT_MAX_FILE_BYTES = int(DEFAULTS["AUDIT_MAX_FILE_BYTES"])


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words (``"a FIFO"``, ``"a character device"``, ...)."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(st: os.stat_result, max_bytes: int | None, setting: str = "AUDIT_MAX_FILE_BYTES") -> None:
    """Raise :class:`Refused` unless ``st`` is a regular file of at most ``max_bytes`` bytes (the limit named by
    ``setting`` in the message)."""
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"{kind_of(st.st_mode)}, not a regular file: not read")
    if max_bytes is not None and st.st_size > max_bytes:
        raise Refused(f"file of {st.st_size:,} bytes, over the limit of {max_bytes:,} bytes ({setting}): not read")


def open_regular(path: str | os.PathLike[str], max_bytes: int | None,
                 setting: str = "AUDIT_MAX_FILE_BYTES") -> BinaryIO:
    """``path`` opened for binary reading, guaranteed a regular file of at most ``max_bytes`` bytes (None: any size)
    when it was opened. Symlinks are followed (the caller decides which symlinks it accepts). Never blocks.

    Raises :class:`Refused` (with the reason, e.g. ``"a FIFO, not a regular file: not read"``) otherwise, and for
    a path that cannot be opened (missing, permission denied)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise Refused(f"cannot read file: {exc.strerror or exc}") from exc
    try:
        check_regular(os.fstat(fd), max_bytes, setting)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], max_bytes: int, setting: str = "AUDIT_MAX_FILE_BYTES") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` bytes (see :func:`open_regular`); never more than
    ``max_bytes`` are read, even from a file that grows while it is read."""
    with open_regular(path, max_bytes, setting) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Refused(f"file grew past the limit of {max_bytes:,} bytes while it was read: not read")
    return data


# SHA-256 digests this process has computed of whole files, by the file's identity and change times: the digest a
# command records of an input (audit.provenance) is the one ingest derives its crawl id from, without a second read
# of a 300 MB archive. Only ids are derived from remembered digests; fixity checks always read the file.
_DIGESTS: dict[tuple[int, int, int, int, int], str] = {}
_MAX_DIGESTS = 100_000


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def remember_sha256(before: os.stat_result, after: os.stat_result, digest: str) -> None:
    """Remember ``digest`` as the SHA-256 of the whole regular file whose status was ``before`` when it was opened
    and ``after`` once it was read (nothing is remembered when the file changed meanwhile)."""
    if stat.S_ISREG(before.st_mode) and _identity(before) == _identity(after) and len(_DIGESTS) < _MAX_DIGESTS:
        _DIGESTS[_identity(before)] = digest


def sha256_regular(path: str | os.PathLike[str], max_bytes: int | None) -> str:
    """SHA-256 (hex) of a regular file of at most ``max_bytes`` bytes, read in 1 MiB pieces -- or as this process
    read it before (:func:`remember_sha256`), when the file has not changed since (same device, inode, size,
    modification and change times)."""
    with open_regular(path, max_bytes) as fh:
        before = os.fstat(fh.fileno())
        known = _DIGESTS.get(_identity(before))
        if known is not None:
            return known
        digest = sha256_open(fh, max_bytes)
        remember_sha256(before, os.fstat(fh.fileno()), digest)
        return digest


def sha256_open(fh: BinaryIO, max_bytes: int | None) -> str:
    """SHA-256 (hex) of the rest of an open file, read in 1 MiB pieces; :class:`Refused` past ``max_bytes``."""
    h = hashlib.sha256()
    read = 0
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        h.update(chunk)
        read += len(chunk)
        if max_bytes is not None and read > max_bytes:
            raise Refused(f"file grew past the limit of {max_bytes:,} bytes while it was read: not read")
    return h.hexdigest()


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (resolved) is ``root`` (resolved) or lies under it."""
    with contextlib.suppress(ValueError):
        path.relative_to(root)
        return True
    return False


def walk_entries(root: Path) -> Iterator[tuple[Path, Path | None, str | None]]:
    """Every entry under the folder ``root``, in a stable order, as ``(path, target, refusal)``: ``target`` is the
    file to read (``path`` itself, or for a symlink the regular file inside ``root`` it points to) and ``refusal``
    None; or ``target`` None and ``refusal`` the one-line reason it is not read (a FIFO, socket or device; a symlink
    that leads outside ``root``, to something that is not a regular file, or nowhere; a symlink to a folder, which
    is not descended). Folders are listed without following symlinks, so no loop is possible; sizes are not
    checked here."""
    real_root = root.resolve()
    unlisted: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted.append):
        while unlisted:  # a folder that cannot be listed (no permission, removed meanwhile)
            failed = unlisted.pop(0)
            yield Path(failed.filename or dirpath), None, f"folder cannot be listed: {failed.strerror or failed}"
        dirnames.sort()
        here = Path(dirpath)
        linked_dirs = [d for d in dirnames if (here / d).is_symlink()]
        dirnames[:] = [d for d in dirnames if d not in linked_dirs]  # os.walk does not follow them; say so
        for name in sorted([*filenames, *linked_dirs]):
            path = here / name
            try:
                st = path.lstat()
            except OSError as exc:
                yield path, None, f"cannot read: {exc.strerror or exc}"
                continue
            if stat.S_ISREG(st.st_mode):
                yield path, path, None
            elif stat.S_ISLNK(st.st_mode):
                yield (path, *_follow(path, real_root))
            else:
                yield path, None, f"{kind_of(st.st_mode)}, not a regular file: not read"
    for failed in unlisted:
        yield Path(failed.filename or root), None, f"folder cannot be listed: {failed.strerror or failed}"


def _follow(link: Path, real_root: Path) -> tuple[Path | None, str | None]:
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # dangling, or a symlink loop
        return None, f"symlink to {os.readlink(link)!r}, which cannot be reached ({type(exc).__name__}): not followed"
    if not is_inside(target, real_root):
        return None, f"symlink to {str(target)!r}, outside the folder being ingested: not followed"
    try:
        mode = target.stat().st_mode
    except OSError as exc:
        return None, f"symlink to {str(target)!r}, which cannot be read ({exc.strerror or exc}): not followed"
    if not stat.S_ISREG(mode):
        return None, f"symlink to {str(target)!r}, {kind_of(mode)}, not a regular file: not followed"
    return target, None
