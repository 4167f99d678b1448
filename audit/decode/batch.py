"""Fingerprint many image files fast: each distinct content decoded once, on a pool of worker processes.

``fingerprint_files(paths)`` yields ``(path, sha256, fingerprint, error)`` for every path, with the same hashes as
``audit.decode.fingerprint.fingerprint(Image.open(path))`` (and as ``analyse_image`` records), for the formats of
:mod:`audit.decode.formats` only. The calling process reads
each file and computes its sha256; a content already seen (or in flight) is not decoded again, its result is reused.
Distinct contents go to the workers in chunks of paths (the workers re-open the files, still in the page cache,
rather than receive the bytes through a pipe), so the per-task overhead is small next to a ~3 ms reduced JPEG decode.

Bad files never raise: an unreadable path gives ``sha256 == ""`` and an error, a file that is not a readable image
(or is truncated, or is over ``max_pixels``) gives its sha256, no fingerprint and an error. Results come in the order
the work completes, not in the order of ``paths``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import IO, BinaryIO

from audit.decode.fingerprint import Fingerprint, fingerprint
from audit.decode.formats import FormatNotDecoded, open_image
from audit.decode.imagefacts import _message  # also silences DecompressionBombWarning, as the store
from audit.settings import DEFAULTS

log = logging.getLogger(__name__)

Result = tuple[Path, str, Fingerprint | None, str | None]
_Outcome = tuple[Fingerprint | None, str | None]

DEFAULT_CHUNK = 16
DEFAULT_MAX_PIXELS = int(DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"])  # analyse_image's default


def _fingerprint_image(source: IO[bytes], max_pixels: int) -> _Outcome:
    try:
        img = open_image(source)  # only the decoded formats, chosen by the bytes
        width, height = img.size
        if width <= 0 or height <= 0:
            return None, f"not a readable image: invalid size {width}×{height}"
        if width * height > max_pixels:
            return None, f"image has {width}×{height} pixels, over the limit of {max_pixels}"
        return fingerprint(img), None
    except FormatNotDecoded as exc:
        return None, str(exc)
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, ValueError, DecompressionBombError...)
        return None, f"not a readable image: {_message(exc)}"


def fingerprint_bytes(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> _Outcome:
    """(fingerprint, None) of an image's bytes, or (None, why not). Never raises for bad data."""
    return _fingerprint_image(io.BytesIO(data), max_pixels)


def fingerprint_file(fh: IO[bytes], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> _Outcome:
    """(fingerprint, None) of the image in the open binary file ``fh`` (read from its start), or (None, why not).

    Pillow reads the file in small blocks, as the decode floor does: no copy of the whole file in memory."""
    fh.seek(0)
    return _fingerprint_image(fh, max_pixels)


def _hash_file(path: str, size: int, max_pixels: int) -> _Outcome:
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size != size:
                return None, "file changed while being fingerprinted"
            return fingerprint_file(fh, max_pixels=max_pixels)
    except OSError as exc:
        return None, f"cannot read: {_message(exc)}"


def _hash_chunk(chunk: list[tuple[str, int]], max_pixels: int) -> list[_Outcome]:
    """Worker task: the outcome of each (path, size) of a chunk."""
    return [_hash_file(path, size, max_pixels) for path, size in chunk]


class _Digester:
    """sha256 and size of open files, read into one reused buffer (a fresh 300 kB ``bytes`` per file costs page
    faults comparable to the hash itself)."""

    def __init__(self) -> None:
        self.buffer = bytearray(1 << 20)

    def digest(self, fh: BinaryIO) -> tuple[str, int]:
        filled = 0
        while True:
            if filled == len(self.buffer):
                self.buffer.extend(bytes(len(self.buffer)))
            with memoryview(self.buffer) as view:
                got = fh.readinto(view[filled:])  # type: ignore[attr-defined]
            if not got:
                break
            filled += got
        with memoryview(self.buffer) as view:
            return hashlib.sha256(view[:filled]).hexdigest(), filled


def fingerprint_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    workers: int = 2,
    chunk_size: int = DEFAULT_CHUNK,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[Result]:
    """Yield ``(path, sha256, fingerprint or None, error or None)`` for each path, decoding each content once.

    ``workers <= 1`` runs in the calling process (no pool); otherwise a process pool of ``workers`` processes gets
    chunks of ``chunk_size`` distinct contents, a few chunks per worker in flight (memory stays bounded for long
    iterables). Pixels are decoded only for images of at most ``max_pixels``.
    """
    if workers <= 1:
        yield from _serial(paths, max_pixels)
        return
    yield from _pooled(paths, workers, max(1, chunk_size), max_pixels)


def _serial(paths: Iterable[str | os.PathLike[str]], max_pixels: int) -> Iterator[Result]:
    done: dict[str, _Outcome] = {}
    digester = _Digester()
    for raw in paths:
        path = Path(raw)
        try:
            with open(path, "rb") as fh:
                sha, _ = digester.digest(fh)
                outcome = done.get(sha)
                if outcome is None:
                    outcome = done[sha] = fingerprint_file(fh, max_pixels=max_pixels)
        except OSError as exc:
            yield path, "", None, f"cannot read: {_message(exc)}"
            continue
        yield path, sha, outcome[0], outcome[1]


def _pooled(paths: Iterable[str | os.PathLike[str]], workers: int, chunk_size: int,
            max_pixels: int) -> Iterator[Result]:
    done: dict[str, _Outcome] = {}
    waiting: dict[str, list[Path]] = {}  # sha256 in flight -> paths with that content
    chunk: list[tuple[Path, str, int]] = []
    in_flight: deque[tuple[Future[list[_Outcome]], list[tuple[Path, str, int]]]] = deque()
    max_in_flight = 3 * workers
    pool = ProcessPoolExecutor(max_workers=workers)
    digester = _Digester()

    def submit(items: list[tuple[Path, str, int]]) -> None:
        nonlocal pool
        task = [(str(p), size) for p, _, size in items]
        try:
            in_flight.append((pool.submit(_hash_chunk, task, max_pixels), items))
        except BrokenProcessPool:  # a previous chunk killed a worker: start a new pool for the rest
            pool.shutdown(wait=False, cancel_futures=True)
            pool = ProcessPoolExecutor(max_workers=workers)
            in_flight.append((pool.submit(_hash_chunk, task, max_pixels), items))

    def collect() -> Iterator[Result]:
        future, items = in_flight.popleft()
        try:
            outcomes = future.result()
        except Exception as exc:  # a worker died (decoder crash, out of memory): report the chunk, go on
            log.warning("fingerprint worker failed: %s", exc)
            outcomes = [(None, f"fingerprint worker failed: {_message(exc) or type(exc).__name__}")] * len(items)
        for (_, sha, _), outcome in zip(items, outcomes, strict=True):
            done[sha] = outcome
            for path in waiting.pop(sha, []):
                yield path, sha, outcome[0], outcome[1]

    try:
        for raw in paths:
            path = Path(raw)
            try:
                with open(path, "rb") as fh:
                    sha, size = digester.digest(fh)
            except OSError as exc:
                yield path, "", None, f"cannot read: {_message(exc)}"
                continue
            if sha in done:
                fp, err = done[sha]
                yield path, sha, fp, err
                continue
            if sha in waiting:
                waiting[sha].append(path)
                continue
            waiting[sha] = [path]
            chunk.append((path, sha, size))
            if len(chunk) >= chunk_size:
                submit(chunk)
                chunk = []
                while len(in_flight) >= max_in_flight or (in_flight and in_flight[0][0].done()):
                    yield from collect()
        if chunk:
            submit(chunk)
        while in_flight:
            yield from collect()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
