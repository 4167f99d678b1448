"""Image analysis in worker processes that can be killed: a time bound per file and a memory bound per worker.

Python cannot interrupt a decoder stuck in C code, and a decoder that crashes takes its process with it. So
:class:`AnalysisPool` runs :func:`audit.decode.imagefacts.analyse_image` in a few long-lived worker processes. Each
file gets at most ``timeout`` seconds; a worker that runs over it is killed and replaced, and the file is recorded with
its sha256, its size and the error ``analysis timed out after N s``. Each worker leads its own process group
(``setsid`` when it starts), and a worker is killed with its whole group (``killpg``, SIGKILL): nothing a decoder
started (a helper program, a thread of children) outlives it. A worker that dies (a segfault in a decoder, the
kernel's OOM killer) is replaced the same way and the file recorded with ``analysis crashed: ...``. Each worker's
address space may grow by at most ``max_memory`` bytes beyond what it had at start (``RLIMIT_AS``): a decoder that
asks for more gets a ``MemoryError`` (recorded as ``out of memory``) instead of taking the machine's memory. Pixels
are bounded before decoding by ``max_pixels`` (decompression bombs), metadata sizes by the limits in
:mod:`audit.decode.metadata`.

The fast path stays fast: workers are started once and reused, the bytes go through a pipe, several files are in
flight at once (``workers`` of them), and a result is handed back as soon as it arrives. :meth:`WorkerPool.submit`
returns a :class:`concurrent.futures.Future`; the pool is driven by the caller's :meth:`WorkerPool.result` (no
thread of its own). :func:`analyse_bounded` analyses one file in a fresh pool.

What a worker does with the bytes is a :class:`Job`: :data:`ANALYSE` (the image's record) by default; report
thumbnails (:mod:`audit.decode.thumbnails`) run in the same pool under the same bounds. A job is a module-level function
(pickled by reference to the worker), so any other bounded decoding can be added the same way.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, Self, TypeVar

from audit.records import ImageRecord
from audit.settings import DEFAULTS

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_TIMEOUT = float(DEFAULTS["AUDIT_ANALYSIS_TIMEOUT"])
DEFAULT_MAX_MEMORY = int(DEFAULTS["AUDIT_ANALYSIS_MEMORY"])
DEFAULT_MAX_PIXELS = int(DEFAULTS["AUDIT_MAX_IMAGE_PIXELS"])


@dataclass(frozen=True, slots=True)
class Bounds:
    """What one file may cost: seconds of analysis, bytes of address space a worker may add, decoded pixels."""

    timeout: float = DEFAULT_TIMEOUT
    max_memory: int = DEFAULT_MAX_MEMORY
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"the analysis timeout must be positive, got {self.timeout}")
        if self.max_memory < 0:
            raise ValueError(f"the analysis memory bound must be 0 (none) or positive, got {self.max_memory}")
        if self.max_pixels <= 0:
            raise ValueError(f"the pixel bound must be positive, got {self.max_pixels}")


def failed_record(data: bytes, error: str) -> ImageRecord:
    """The record of content that could not be analysed: digest and size, and why."""
    return ImageRecord(sha256=hashlib.sha256(data).hexdigest(), size=len(data), error=error)


def _analyse(data: bytes, bounds: Bounds) -> ImageRecord:
    from audit.decode.imagefacts import analyse_image

    return analyse_image(data, max_pixels=bounds.max_pixels)


def _record_unsendable(record: ImageRecord, error: str) -> ImageRecord:
    return ImageRecord(sha256=record.sha256, size=record.size, error=error)


@dataclass(frozen=True, slots=True)
class Job(Generic[R]):
    """What a worker does with each input's bytes. ``run(data, bounds)`` gives the result; ``failed(data, error)``
    the result of an input that could not be processed (timed out, crashed the worker, ran out of memory);
    ``unsendable(result, error)`` a small stand-in for a result too large to send back (default: ``failed`` of no
    bytes). The functions must be module-level (or ``functools.partial`` of one): they are pickled to the worker.
    ``preload``: modules the forkserver imports once for every worker."""

    run: Callable[[bytes, Bounds], R]
    failed: Callable[[bytes, str], R]
    unsendable: Callable[[R, str], R] | None = None
    preload: tuple[str, ...] = ()


ANALYSE: Job[ImageRecord] = Job(run=_analyse, failed=failed_record, unsendable=_record_unsendable,
                                preload=("audit.decode.imagefacts",))


# --- the worker ----------------------------------------------------------------------------------------------------


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _limit_memory(max_memory: int) -> None:
    if max_memory <= 0:
        return
    try:
        import resource

        limit = _address_space() + max_memory
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError) as exc:  # not on this platform: the time bound still holds
        log.debug("cannot bound worker memory: %s", exc)


_READY = "ready"


def _own_process_group() -> None:
    """Make this process the leader of a new session and process group, so the pool can kill it with everything
    it started (``killpg``)."""
    try:
        os.setsid()
    except OSError:  # already a group leader (cannot happen for a forked child): keep going, killpg still works
        log.debug("setsid failed", exc_info=True)


def _worker(conn: Connection, bounds: Bounds, quiet: bool, job: Job[Any]) -> None:
    """Worker process: run ``job`` on the bytes received until the pipe closes."""
    import warnings

    _own_process_group()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if quiet:
        # Decoders (libtiff, libjpeg) print about every broken file on fd 2; the record says what matters.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        warnings.simplefilter("ignore")
    for module in job.preload:  # what a forkserver preloads; imported here for fork and spawn workers
        __import__(module)

    _limit_memory(bounds.max_memory)
    conn.send(_READY)
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not data:  # the parent's request to stop
            return
        try:
            result = job.run(data, bounds)
        except MemoryError:
            result = job.failed(data, "out of memory: over the analysis memory bound")
        except Exception as exc:  # the jobs do not raise for bad data; this is a last guard
            result = job.failed(data, f"analysis failed: {type(exc).__name__}: {str(exc)[:200]}")
        del data
        try:
            conn.send(result)
        except MemoryError:
            error = "out of memory: result too large"
            conn.send(job.unsendable(result, error) if job.unsendable is not None else job.failed(b"", error))


# --- the pool ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Task(Generic[R]):
    data: bytes
    future: Future[R]


class _Worker(Generic[R]):
    def __init__(self, ctx: Any, bounds: Bounds, quiet: bool, job: Job[R]) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, bounds, quiet, job), daemon=True,
                                   name="audit-analysis")
        self.process.start()
        child.close()
        self.ready = False
        self.task: _Task[R] | None = None
        self.deadline = 0.0

    def kill(self) -> None:
        """SIGKILL to the worker's process group (the worker and everything it started), then to the worker itself
        should it not lead a group yet (killed before its first instruction). A worker over its time bound is not
        reaped yet, so its pid (the group id) cannot have been reused; after a crash the worker is reaped, and the
        kernel keeps the group id reserved while any process of the group lives, which is when the kill matters."""
        pid = self.process.pid
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # no group of that id: the worker had not called setsid
                pass
        if self.process.is_alive():
            self.process.kill()

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.kill()
        else:
            try:
                self.conn.send_bytes(b"")  # stop (a forked worker also holds this end: closing it is not enough)
            except (OSError, ValueError):
                pass
        try:
            self.conn.close()
        except OSError:
            pass
        self.process.join(timeout=None if kill else 5)
        if self.process.is_alive():
            self.kill()
            self.process.join()


def _default_context() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class WorkerPool(Generic[R]):
    """``workers`` worker processes running ``job`` on bytes, each input bounded by ``bounds`` (see the module doc).

    ``start_method``: ``"fork"`` starts workers fastest (use it only from a small process without threads, as
    ``inspect`` does: a forked worker inherits its parent's free heap, which is already in the address space the
    memory bound counts from, so a decode that fits in it is not stopped); the default ``"forkserver"`` (``"spawn"``
    where there is none) starts workers from a small process and is safe from a threaded one (DuckDB).
    ``quiet`` sends the workers' stderr (decoder chatter) to /dev/null. Use as a context manager, or call
    :meth:`close`.
    """

    STARTUP_TIMEOUT = 120.0  # seconds a new worker may take to import the analysis code

    def __init__(self, job: Job[R], workers: int = 1, *, bounds: Bounds | None = None,
                 start_method: str | None = None, quiet: bool = True) -> None:
        if workers < 1:
            raise ValueError(f"need at least one analysis worker, got {workers}")
        self.job = job
        self.bounds = bounds or Bounds()
        self.size = workers
        self.quiet = quiet
        method = start_method or _default_context()
        self._ctx = multiprocessing.get_context(method)
        if method == "forkserver" and job.preload:
            self._ctx.set_forkserver_preload(list(job.preload))
        self._workers: list[_Worker[R]] = []
        self._queue: deque[_Task[R]] = deque()
        self.stats = {"analysed": 0, "timed_out": 0, "crashed": 0, "workers_started": 0}

    # public API

    def submit(self, data: bytes) -> Future[R]:
        """Queue ``data`` for the job; its result comes from :meth:`result` (or ``future.result()`` once done)."""
        future: Future[R] = Future()
        if not data:  # nothing to decode (and an empty message is the workers' stop signal)
            future.set_result(self.job.failed(b"", "not a readable image: empty file"))
            return future
        self._queue.append(_Task(bytes(data), future))
        self._dispatch()
        return future

    def result(self, future: Future[R]) -> R:
        """The result of a submitted input, driving the workers until it is there (at most the time bound)."""
        while not future.done():
            self._step()
        return future.result()

    def run(self, data: bytes) -> R:
        """The job's result for ``data``, computed in a worker under the bounds. Never raises for bad data."""
        return self.result(self.submit(data))

    def map(self, items: Iterable[tuple[T, bytes]], window: int | None = None) -> Iterator[tuple[T, R]]:
        """``(key, result)`` for each ``(key, data)``, in input order, with up to ``window`` inputs in flight."""
        window = window or 2 * self.size
        pending: deque[tuple[T, Future[R]]] = deque()
        for key, data in items:
            pending.append((key, self.submit(data)))
            while len(pending) >= window or (pending and pending[0][1].done()):
                first, future = pending.popleft()
                yield first, self.result(future)
        while pending:
            first, future = pending.popleft()
            yield first, self.result(future)

    def start(self) -> None:
        """Start every worker now, before any input: each imports the job's modules while the caller goes on (by
        default a worker starts when the first input waits for it)."""
        while len(self._workers) < self.size:
            self._start_worker()

    def close(self) -> None:
        """Stop the workers (a file still in flight gets an error record)."""
        for task in self._queue:
            if not task.future.done():
                task.future.set_result(self.job.failed(task.data, "analysis cancelled"))
        self._queue.clear()
        for worker in self._workers:
            if worker.task is not None and not worker.task.future.done():
                worker.task.future.set_result(self.job.failed(worker.task.data, "analysis cancelled"))
            worker.stop(kill=worker.task is not None)
        self._workers.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the machinery

    def _start_worker(self) -> _Worker[R]:
        worker = _Worker(self._ctx, self.bounds, self.quiet, self.job)
        worker.deadline = time.monotonic() + self.STARTUP_TIMEOUT
        self._workers.append(worker)
        self.stats["workers_started"] += 1
        return worker

    def _dispatch(self) -> None:
        """Hand queued files to idle, ready workers; start workers up to the pool size while files wait."""
        for worker in self._workers:
            if not self._queue:
                return
            if worker.ready and worker.task is None:
                self._send(worker, self._queue.popleft())
        starting = sum(1 for w in self._workers if not w.ready)
        while self._queue and len(self._workers) < self.size and starting < len(self._queue):
            self._start_worker()
            starting += 1

    def _send(self, worker: _Worker[R], task: _Task[R]) -> None:
        worker.task = task
        worker.deadline = time.monotonic() + self.bounds.timeout
        try:
            worker.conn.send_bytes(task.data)
        except (OSError, ValueError) as exc:  # the worker died while idle
            self._replace(worker, f"analysis crashed: worker gone ({exc})", "crashed")

    def _step(self) -> None:
        """Wait for one event (a result, a worker ready or dead, a deadline passed) and handle it."""
        self._dispatch()
        if not self._workers:
            return
        busy = [w for w in self._workers if w.task is not None or not w.ready]
        timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic()) if busy else None
        waitables: list[Any] = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        ready = set(wait(waitables, timeout))
        for worker in list(self._workers):
            if worker.conn in ready:
                self._receive(worker)
            elif worker.process.sentinel in ready:
                self._died(worker)
        now = time.monotonic()
        for worker in list(self._workers):
            if worker in self._workers and (worker.task is not None or not worker.ready) and now >= worker.deadline:
                if worker.task is None:
                    self._replace(worker, "", "crashed")
                    raise RuntimeError("an analysis worker did not start in time")
                self._replace(worker, f"analysis timed out after {self.bounds.timeout:g} s", "timed_out")
        self._dispatch()

    def _receive(self, worker: _Worker[R]) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._died(worker)
            return
        if not worker.ready:  # a worker's first message says it is ready; every later one is a result
            worker.ready = message == _READY
            return
        task, worker.task = worker.task, None
        if task is not None:
            self.stats["analysed"] += 1
            task.future.set_result(message)

    def _died(self, worker: _Worker[R]) -> None:
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        if worker.task is None and not worker.ready:
            self._forget(worker)
            if self._ctx.get_start_method() != "fork" and "fork" in multiprocessing.get_all_start_methods():
                # forkserver/spawn re-import the main module, which fails for e.g. a script read from stdin
                log.warning("an analysis worker failed to start (exit code %s): starting workers by fork (the free "
                            "heap they inherit from this process is outside their memory bound)", code)
                self._ctx = multiprocessing.get_context("fork")
                return
            raise RuntimeError(f"an analysis worker failed to start (exit code {code})")
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        self._replace(worker, f"analysis crashed: worker {how}", "crashed")

    def _replace(self, worker: _Worker[R], error: str, counter: str) -> None:
        """Kill ``worker``, record its file with ``error``; a new worker is started when files wait."""
        task = worker.task
        worker.task = None
        worker.stop(kill=True)
        self._forget(worker)
        if task is not None and not task.future.done():
            self.stats[counter] += 1
            log.warning("%s (sha256 %s)", error, hashlib.sha256(task.data).hexdigest()[:16])
            task.future.set_result(self.job.failed(task.data, error))

    def _forget(self, worker: _Worker[R]) -> None:
        if worker in self._workers:
            self._workers.remove(worker)


class AnalysisPool(WorkerPool[ImageRecord]):
    """A :class:`WorkerPool` whose job is the image's record (:data:`ANALYSE`): ``analyse(data)`` is the
    :class:`~audit.records.ImageRecord` of ``data``, under the bounds."""

    def __init__(self, workers: int = 1, *, bounds: Bounds | None = None, start_method: str | None = None,
                 quiet: bool = True) -> None:
        super().__init__(ANALYSE, workers, bounds=bounds, start_method=start_method, quiet=quiet)

    def analyse(self, data: bytes) -> ImageRecord:
        """The record of ``data``, analysed in a worker under the bounds. Never raises for bad data."""
        return self.run(data)


def analyse_bounded(data: bytes, *, bounds: Bounds | None = None, start_method: str | None = None) -> ImageRecord:
    """Analyse one file's bytes in a fresh worker process under ``bounds`` (started the default way: see
    :class:`WorkerPool` for why ``"fork"`` is only for small processes)."""
    with AnalysisPool(1, bounds=bounds, start_method=start_method) as pool:
        return pool.analyse(data)

