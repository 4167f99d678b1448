"""The bytes of an archive file as one seekable stream read in bounded pieces: the file itself
(:class:`PlainStream`), or the decompressed bytes of all its gzip members (:class:`GzipStream`).

Reading an archive safely means looking ahead (does a record end where its Content-Length says?) and coming back
(to read the record, or to look for the next record inside a broken one). A plain file seeks for free. Python's
``gzip.GzipFile`` seeks backwards by decompressing again from the start of the file, which would make each look
back cost the whole file; :class:`GzipStream` keeps restart points instead -- every gzip member start (a fresh
decompressor there) and, inside long members, a copy of zlib's decompressor state (``decompressobj.copy()``, a
few microseconds) every :data:`CHECKPOINT_EVERY` bytes of output or where the reader asks
(:meth:`ByteStream.checkpoint`) -- so a position already reached is found again by decompressing at most that much.
Restart points behind :meth:`ByteStream.forget_before` are dropped, and automatic ones are thinned past
:data:`MAX_CHECKPOINTS`: memory stays bounded however far the reader looks ahead.

Memory: no call holds more than :data:`CHUNK` bytes of decompressed output plus what the caller asked for
(``read(n)``, ``readline(limit)``, ``peek(n)``); a gzip member that inflates 1,000-fold is decompressed
:data:`CHUNK` bytes at a time.

Corrupt gzip data -- a deflate error, a CRC or length mismatch, a member cut short by the end of the file, bytes
after a member that are not a gzip member -- ends the stream where it is met: reads return ``b""`` from there and
:attr:`GzipStream.error` names the member's file offset and what is wrong.
"""

from __future__ import annotations

import bisect
import os
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

CHUNK = 64 * 1024  # compressed bytes read, and decompressed bytes produced, per step
CHECKPOINT_EVERY = 4 * 1024 * 1024  # decompressed bytes between automatic restart points inside a gzip member
MAX_CHECKPOINTS = 256  # automatic restart points kept; past this every other one goes and the spacing doubles


class ByteStream:
    """A forward-buffered stream of bytes with absolute positions (``tell``/``seek``), bounded reads and lines.

    Subclasses produce the bytes (:meth:`_produce`) and jump back (:meth:`_jump`)."""

    def __init__(self) -> None:
        self._buf = b""
        self._at = 0  # index in _buf of the next byte
        self._base = 0  # position of _buf[0]

    # --- what subclasses provide ---

    def _produce(self) -> bytes:
        """The bytes that follow the buffer (about CHUNK of them), b"" at the end."""
        raise NotImplementedError

    def _jump(self, target: int) -> None:
        """Make the buffer start at a position at most ``target`` from which reading forward reaches ``target``."""
        raise NotImplementedError

    def _forward_is_near(self, target: int) -> bool:
        """Whether reading forward to ``target`` (past the buffer) is cheaper than :meth:`_jump`."""
        return True

    def size(self) -> int | None:
        """The stream's length when known (a plain file's size; a gzip stream's once its end has been read)."""
        raise NotImplementedError

    def where(self, pos: int) -> str:
        """How to name position ``pos`` to a person: the file offset (gzip: of the member holding it)."""
        return str(pos)

    def file_offset(self, pos: int) -> int:
        """The file offset of ``pos`` (gzip: of the member holding it)."""
        return pos

    def member_index(self, pos: int) -> int:
        """Which gzip member holds ``pos`` (0 for a plain file)."""
        return 0

    def member_starts(self, low: int, high: int) -> list[int]:
        """Positions in ``[low, high)`` where a gzip member's bytes begin (none for a plain file)."""
        return []

    def checkpoint(self) -> None:
        """Make the current position cheap to come back to."""

    def forget_before(self, pos: int) -> None:
        """The reader never comes back before ``pos``: what would help it do so may go."""

    def close(self) -> None:
        """Nothing to do: the file belongs to whoever opened it (warcio's readers call this)."""

    # --- reading ---

    def tell(self) -> int:
        return self._base + self._at

    def _more(self) -> bool:
        """Replace the used-up buffer by the bytes that follow it: False at the end of the stream."""
        data = self._produce()
        if not data:
            return False
        self._base += len(self._buf)
        self._buf, self._at = data, 0
        return True

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the stream)."""
        parts: list[bytes] = []
        while n > 0:
            if self._at >= len(self._buf) and not self._more():
                break
            piece = self._buf[self._at : self._at + n]
            self._at += len(piece)
            n -= len(piece)
            parts.append(piece)
        return b"".join(parts)

    def readline(self, limit: int) -> bytes:
        """Bytes up to and including the next ``\\n``, or ``limit`` bytes, or to the end of the stream, whichever
        comes first: never more than ``limit`` bytes are held for a line."""
        parts: list[bytes] = []
        while limit > 0:
            if self._at >= len(self._buf) and not self._more():
                break
            end = self._buf.find(b"\n", self._at, self._at + limit)
            stop = self._at + limit if end < 0 else end + 1
            piece = self._buf[self._at : stop]
            self._at += len(piece)
            limit -= len(piece)
            parts.append(piece)
            if end >= 0:
                break
        return b"".join(parts)

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes from the current position, without moving it."""
        here = self.tell()
        self.checkpoint()
        data = self.read(n)
        self.seek(here)
        return data

    def skip_space(self) -> bool:
        """Move past ASCII whitespace (the blank lines between records), a buffer at a time; False at the end."""
        while True:
            if self._at >= len(self._buf) and not self._more():
                return False
            first = len(self._buf) - len(self._buf[self._at :].lstrip())
            if first < len(self._buf):
                self._at = first
                return True
            self._at = len(self._buf)

    def seek(self, target: int) -> None:
        """Move to ``target``; past the end of the stream, to its end (check :meth:`tell`)."""
        if self._base <= target <= self._base + len(self._buf):
            self._at = target - self._base
            return
        if target < self._base or not self._forward_is_near(target):
            self._jump(target)
            if self._base > target:
                raise ValueError(f"position {target} is before what the stream still keeps ({self._base})")
        while self._base + len(self._buf) < target:
            if not self._more():
                self._at = len(self._buf)
                return
        self._at = target - self._base


class PlainStream(ByteStream):
    """An uncompressed file, from file offset ``start`` on (positions are file offsets)."""

    def __init__(self, fh: BinaryIO, start: int = 0) -> None:
        super().__init__()
        self._fh = fh
        self._next = start  # file offset of the byte after the buffer
        self._base = start

    def _produce(self) -> bytes:
        self._fh.seek(self._next)
        data = self._fh.read(CHUNK)
        self._next += len(data)
        return data

    def _jump(self, target: int) -> None:
        self._buf, self._at, self._base, self._next = b"", 0, target, target

    def _forward_is_near(self, target: int) -> bool:
        return target - (self._base + len(self._buf)) <= CHUNK

    def size(self) -> int:
        return os.fstat(self._fh.fileno()).st_size  # asked each time: a file being written grows


@dataclass(frozen=True)
class GzipError:
    """Where a gzip stream broke: the member's file offset and stream position, and what is wrong."""

    member_offset: int
    member_start: int  # stream position where the member's bytes began
    message: str


@dataclass
class _Restart:
    """A state of the decompressor from which reading resumes: at stream position ``pos`` the buffer ``buf``."""

    pos: int
    cnext: int  # file offset of the next compressed byte to read
    cin: bytes  # compressed bytes read but not yet decompressed
    decomp: Any  # a copy of the zlib decompressor, or None at a member boundary
    buf: bytes  # decompressed bytes from pos on (already produced)
    member: int  # index of the member the decompressor is in
    auto: bool  # made every CHECKPOINT_EVERY bytes (may be thinned), not asked for


class GzipStream(ByteStream):
    """The decompressed bytes of the gzip members of a file, from the member at file offset ``start`` on
    (positions count decompressed bytes from there)."""

    def __init__(self, fh: BinaryIO, start: int = 0) -> None:
        super().__init__()
        self._fh = fh
        self._cnext = start
        self._cin = b""
        self._decomp: Any = None
        self._out = 0  # stream position just after the buffer: what has been produced
        self._frontier = 0  # furthest position ever produced
        self._ended = False
        self._end: int | None = None
        self.error: GzipError | None = None
        self._member = -1  # index of the member being decompressed
        # the members met from the reader's forget point on: their start positions, file offsets and indexes
        self._member_pos: list[int] = []
        self._member_off: list[int] = []
        self._member_idx: list[int] = []
        self._restarts: list[_Restart] = []
        self._every = CHECKPOINT_EVERY

    # --- producing ---

    def _read_compressed(self) -> bytes:
        self._fh.seek(self._cnext)
        data = self._fh.read(CHUNK)
        self._cnext += len(data)
        return data

    def _fail(self, message: str) -> bytes:
        """End the stream here; ``message`` names the member's file offset as ``{offset}``."""
        if self.error is None:  # met again after a jump back, it is the same error
            offset, start = self._member_off[-1], self._member_pos[-1]
            self.error = GzipError(offset, start, message.format(offset=offset))
        self._ended, self._end = True, self._out
        return b""

    def _produce(self) -> bytes:
        while not self._ended:
            if self._decomp is None:  # between members
                if not self._cin:
                    self._cin = self._read_compressed()
                    if not self._cin:
                        self._ended, self._end = True, self._out
                        return b""
                self._member_started(self._cnext - len(self._cin))
                if not b"\x1f\x8b".startswith(self._cin[:2]):
                    return self._fail("bytes at offset {offset} are not gzip data")
                self._decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
            if self._out >= self._frontier and self._out - self._last_restart() >= self._every:
                self._add_restart(auto=True)
            if not self._cin:
                self._cin = self._read_compressed()
                if not self._cin:
                    return self._fail("the gzip member at offset {offset} is cut short by the end of the file")
            try:
                data = self._decomp.decompress(self._cin, CHUNK)
            except zlib.error as exc:
                detail = str(exc).replace("{", "(").replace("}", ")")
                return self._fail("corrupt gzip data in the member at offset {offset} (" + detail + ")")
            if self._decomp.eof:
                self._cin = self._decomp.unused_data
                self._decomp = None
            else:
                self._cin = self._decomp.unconsumed_tail
            if data:
                self._out += len(data)
                self._frontier = max(self._frontier, self._out)
                return data
        return b""

    def _member_started(self, offset: int) -> None:
        self._member += 1
        if self._out >= self._frontier and (not self._member_idx or self._member_idx[-1] < self._member):
            self._member_pos.append(self._out)
            self._member_off.append(offset)
            self._member_idx.append(self._member)
            if not self._restarts or self._out > self._last_restart():
                self._restarts.append(_Restart(self._out, offset, b"", None, b"", self._member - 1, auto=False))

    # --- restart points ---

    def _last_restart(self) -> int:
        return self._restarts[-1].pos if self._restarts else -1

    def _add_restart(self, *, auto: bool) -> None:
        """A restart point at the start of the current buffer (the decompressor's state just after producing it)."""
        point = _Restart(self._base, self._cnext, self._cin,
                         self._decomp.copy() if self._decomp is not None else None, self._buf, self._member, auto)
        at = bisect.bisect_right([r.pos for r in self._restarts], point.pos)
        if at and self._restarts[at - 1].pos == point.pos:
            return
        self._restarts.insert(at, point)
        autos = [r for r in self._restarts if r.auto]
        if len(autos) > MAX_CHECKPOINTS:  # bounded memory: every other automatic point goes
            drop = {id(r) for r in autos[1::2]}
            self._restarts = [r for r in self._restarts if id(r) not in drop]
            self._every *= 2

    def _best_restart(self, target: int) -> _Restart:
        at = bisect.bisect_right([r.pos for r in self._restarts], target)
        return self._restarts[max(0, at - 1)]

    def checkpoint(self) -> None:
        if self._restarts and 0 <= self._base - self._best_restart(self._base).pos <= CHUNK:
            return
        self._add_restart(auto=False)

    def _jump(self, target: int) -> None:
        point = self._best_restart(target)
        self._base, self._buf, self._at = point.pos, point.buf, 0
        self._out = point.pos + len(point.buf)
        self._cnext, self._cin = point.cnext, point.cin
        self._decomp = point.decomp.copy() if point.decomp is not None else None
        self._member = point.member
        self._ended = self._end is not None and self._out >= self._end  # else reading on meets the end again

    def _forward_is_near(self, target: int) -> bool:
        if not self._restarts:
            return True
        return self._best_restart(target).pos <= self._out or target - self._out <= CHUNK

    def forget_before(self, pos: int) -> None:
        keep = max(0, bisect.bisect_right([r.pos for r in self._restarts], pos) - 1)
        del self._restarts[:keep]
        keep = max(0, bisect.bisect_right(self._member_pos, pos) - 1)
        del self._member_pos[:keep], self._member_off[:keep], self._member_idx[:keep]

    # --- positions ---

    def size(self) -> int | None:
        return self._end if self.error is None else None

    def _member_at(self, pos: int) -> int:
        return max(0, bisect.bisect_right(self._member_pos, pos) - 1)

    def where(self, pos: int) -> str:
        if not self._member_pos:
            return str(self._cnext)
        i = self._member_at(pos)
        into = pos - self._member_pos[i]
        return str(self._member_off[i]) if into <= 0 else f"{self._member_off[i]} (+{into} decompressed)"

    def file_offset(self, pos: int) -> int:
        return self._member_off[self._member_at(pos)] if self._member_pos else self._cnext

    def member_index(self, pos: int) -> int:
        return self._member_idx[self._member_at(pos)] if self._member_pos else 0

    def member_starts(self, low: int, high: int) -> list[int]:
        first = bisect.bisect_left(self._member_pos, low)
        last = bisect.bisect_left(self._member_pos, high)
        return sorted(set(self._member_pos[first:last]))
