"""The bytes of an archive file as one seekable stream read in bounded pieces: the file itself
(:class:`PlainStream`), or the decompressed bytes of all its gzip members (:class:`GzipStream`).

Reading an archive safely means looking ahead (does a record end where its Content-Length says?) and coming back
(to read the record, or to look for the next record inside a broken one). The stream keeps the last
:data:`WINDOW` bytes it produced, so coming back a little costs nothing. Further back, a plain file seeks for
free; a gzip stream cannot (Python's ``gzip.GzipFile`` seeks backwards by decompressing again from the start of the
file, which would make each look back cost the whole file), so :class:`GzipStream` keeps restart points: every gzip
member start (a fresh decompressor there) and, inside long members, a copy of zlib's decompressor state
(``decompressobj.copy()``, a few microseconds) every :data:`CHECKPOINT_EVERY` bytes of output and where the reader
asks (:meth:`ByteStream.checkpoint`). A position already reached is found again by decompressing at most that much.
Restart points behind :meth:`ByteStream.forget_before` are dropped, and automatic ones are thinned past
:data:`MAX_CHECKPOINTS`: memory stays bounded however far the reader looks ahead.

Memory: the stream holds about :data:`WINDOW` bytes of pieces (with a decompressor copy each) plus
what the caller asked for (``read(n)``, ``readline(limit)``, ``peek(n)``); a gzip member that inflates 1,000-fold
is decompressed :data:`CHUNK` bytes at a time.

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

CHUNK = 64 * 1024  # compressed bytes read, and decompressed bytes produced, per piece
WINDOW = 8 * CHUNK  # bytes of the last pieces kept, so that coming back this far costs nothing
WINDOW_PIECES = 256  # and at most this many pieces (gzip members can be tiny)
CHECKPOINT_EVERY = 4 * 1024 * 1024  # decompressed bytes between automatic restart points inside a gzip member
MAX_CHECKPOINTS = 256  # automatic restart points kept; past this every other one goes and the spacing doubles


@dataclass(frozen=True)
class _Piece:
    base: int  # stream position of data[0]
    data: bytes
    before: Any  # the producer's state just before it produced this piece (a restart point for it)


class ByteStream:
    """A forward-buffered stream of bytes with absolute positions (``tell``/``seek``), bounded reads and lines.

    Subclasses produce the bytes that follow (:meth:`_produce`), say what state they are in (:meth:`_state`) and
    go back to one (:meth:`_restore`, from :meth:`_restart_for`)."""

    def __init__(self, start: int = 0) -> None:
        self._pieces: list[_Piece] = []
        self._cur = -1  # index of the current piece
        self._buf = b""  # the current piece's data
        self._base = start  # its position
        self._at = 0  # index in _buf of the next byte
        self._next = start  # position of the byte after the newest piece
        self._held = 0  # bytes in _pieces

    # --- what subclasses provide ---

    def _produce(self) -> bytes:
        """The bytes that follow the newest piece (about CHUNK of them), b"" at the end."""
        raise NotImplementedError

    def _state(self) -> Any:
        """The producer's state now (what :meth:`_restore` takes to produce the same bytes again)."""
        raise NotImplementedError

    def _restore(self, state: Any) -> None:
        """Put the producer back in ``state``."""
        raise NotImplementedError

    def _restart_for(self, target: int) -> tuple[int, Any]:
        """The best known ``(position, state)`` at or before ``target`` to produce from."""
        raise NotImplementedError

    def _forward_is_near(self, target: int) -> bool:
        """Whether producing on from the newest piece up to ``target`` is cheaper than a restart."""
        return True

    def _new_piece(self, piece: _Piece) -> None:
        """Called for each piece produced (a subclass may keep restart points)."""

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
        """Make the current position cheap to come back to, however far the stream is read on."""

    def forget_before(self, pos: int) -> None:
        """The reader never comes back before ``pos``: what would help it do so may go."""

    def close(self) -> None:
        """Nothing to do: the file belongs to whoever opened it (warcio's readers call this)."""

    # --- reading ---

    def tell(self) -> int:
        return self._base + self._at

    def _select(self, index: int, at: int) -> None:
        piece = self._pieces[index]
        self._cur, self._buf, self._base, self._at = index, piece.data, piece.base, at

    def _more(self) -> bool:
        """Move to the piece after the current one, producing it if need be: False at the end of the stream."""
        if self._cur + 1 < len(self._pieces):
            self._select(self._cur + 1, 0)
            return True
        before = self._state()
        data = self._produce()
        if not data:
            return False
        piece = _Piece(self._next, data, before)
        self._next += len(data)
        self._pieces.append(piece)
        self._held += len(data)
        while len(self._pieces) > 1 and (self._held - len(self._pieces[0].data) >= WINDOW or
                                         len(self._pieces) > WINDOW_PIECES):
            self._held -= len(self._pieces[0].data)
            del self._pieces[0]
        self._select(len(self._pieces) - 1, 0)
        self._new_piece(piece)
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
        buf, at = self._buf, self._at
        end = buf.find(b"\n", at, at + limit) if limit > 0 else -1
        if end >= 0:  # the usual case, the whole line in the current piece
            self._at = end + 1
            return buf[at : end + 1]
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
        data = self.read(n)
        self.seek(here)
        return data

    def skip_space(self) -> bool:
        """Move past ASCII whitespace (the blank lines between records), a piece at a time; False at the end."""
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
        for index in range(len(self._pieces) - 1, -1, -1):
            piece = self._pieces[index]
            if piece.base <= target <= piece.base + len(piece.data):
                self._select(index, target - piece.base)
                return
        if not self._pieces or target < self._pieces[0].base or not self._forward_is_near(target):
            pos, state = self._restart_for(target)
            if pos > target:
                raise ValueError(f"position {target} is before what the stream still keeps ({pos})")
            self._restore(state)
            self._pieces, self._cur, self._buf, self._base, self._at, self._next = [], -1, b"", pos, 0, pos
            self._held = 0
        elif self._pieces:
            self._select(len(self._pieces) - 1, len(self._pieces[-1].data))
        while self._base + len(self._buf) < target:
            if not self._more():
                self._at = len(self._buf)
                return
        self._at = target - self._base


class PlainStream(ByteStream):
    """An uncompressed file, from file offset ``start`` on (positions are file offsets)."""

    def __init__(self, fh: BinaryIO, start: int = 0) -> None:
        super().__init__(start)
        self._fh = fh
        self._read_at = start  # file offset of the next byte to produce

    def _produce(self) -> bytes:
        self._fh.seek(self._read_at)
        data = self._fh.read(CHUNK)
        self._read_at += len(data)
        return data

    def _state(self) -> int:
        return self._read_at

    def _restore(self, state: Any) -> None:
        self._read_at = int(state)

    def _restart_for(self, target: int) -> tuple[int, Any]:
        return target, target

    def _forward_is_near(self, target: int) -> bool:
        return target - self._next <= CHUNK

    def size(self) -> int:
        return os.fstat(self._fh.fileno()).st_size  # asked each time: a file being written grows


@dataclass(frozen=True)
class GzipError:
    """Where a gzip stream broke: the member's file offset and stream position, and what is wrong."""

    member_offset: int
    member_start: int  # stream position where the member's bytes began
    message: str


@dataclass(frozen=True)
class _GzState:
    """What the gzip producer needs to go on from a stream position."""

    cnext: int  # file offset of the next compressed byte to read
    cin: bytes  # compressed bytes read but not yet decompressed
    decomp: Any  # a copy of the zlib decompressor, or None between members
    member: int  # index of the member being (or last) decompressed
    out: int  # stream position of the next byte produced


class GzipStream(ByteStream):
    """The decompressed bytes of the gzip members of a file, from the member at file offset ``start`` on
    (positions count decompressed bytes from there)."""

    def __init__(self, fh: BinaryIO, start: int = 0) -> None:
        super().__init__(0)
        self._fh = fh
        self._cnext = start
        self._cin = b""
        self._decomp: Any = None
        self._member = -1
        self._out = 0
        self._frontier = 0  # furthest position ever produced
        self._ended = False
        self._end: int | None = None
        self.error: GzipError | None = None
        # the members met from the reader's forget point on: start positions, file offsets, indexes
        self._member_pos: list[int] = []
        self._member_off: list[int] = []
        self._member_idx: list[int] = []
        # restart points: positions and producer states (member starts, automatic, asked for)
        self._restart_pos: list[int] = []
        self._restart_state: list[_GzState] = []
        self._restart_auto: list[bool] = []
        self._every = CHECKPOINT_EVERY

    # --- producing ---

    def _read_compressed(self) -> bytes:
        self._fh.seek(self._cnext)
        data = self._fh.read(CHUNK)
        self._cnext += len(data)
        return data

    def _fail(self, message: str) -> bytes:
        """End the stream here; ``message`` names the member's file offset as ``{offset}``."""
        if self.error is None:  # met again after going back, it is the same error
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
            self._add_restart(self._out, _GzState(offset, b"", None, self._member - 1, self._out), auto=False)

    def _state(self) -> _GzState:
        return _GzState(self._cnext, self._cin, self._decomp.copy() if self._decomp is not None else None,
                        self._member, self._out)

    def _restore(self, state: Any) -> None:
        self._cnext, self._cin, self._member, self._out = state.cnext, state.cin, state.member, state.out
        self._decomp = state.decomp.copy() if state.decomp is not None else None
        self._ended = self._end is not None and self._out >= self._end  # else reading on meets the end again

    # --- restart points ---

    def _add_restart(self, pos: int, state: _GzState, *, auto: bool) -> None:
        at = bisect.bisect_right(self._restart_pos, pos)
        if at and self._restart_pos[at - 1] == pos:
            return
        self._restart_pos.insert(at, pos)
        self._restart_state.insert(at, state)
        self._restart_auto.insert(at, auto)
        if sum(self._restart_auto) > MAX_CHECKPOINTS:  # bounded memory: every other automatic point goes
            autos = [i for i, a in enumerate(self._restart_auto) if a][1::2]
            for i in reversed(autos):
                del self._restart_pos[i], self._restart_state[i], self._restart_auto[i]
            self._every *= 2

    def _new_piece(self, piece: _Piece) -> None:
        if piece.base >= self._frontier - len(piece.data) and self._restart_pos and \
                piece.base - self._restart_pos[-1] >= self._every:
            self._add_restart(piece.base, piece.before, auto=True)

    def checkpoint(self) -> None:
        if self._cur < 0:
            return
        piece = self._pieces[self._cur]
        at = bisect.bisect_right(self._restart_pos, piece.base)
        if at and piece.base - self._restart_pos[at - 1] <= CHUNK:
            return
        self._add_restart(piece.base, piece.before, auto=False)

    def _restart_for(self, target: int) -> tuple[int, Any]:
        at = max(0, bisect.bisect_right(self._restart_pos, target) - 1)
        if not self._restart_pos:  # nothing produced yet: the start
            return 0, _GzState(self._cnext, b"", None, -1, 0)
        return self._restart_pos[at], self._restart_state[at]

    def _forward_is_near(self, target: int) -> bool:
        if not self._restart_pos:
            return True
        best = self._restart_pos[max(0, bisect.bisect_right(self._restart_pos, target) - 1)]
        return best <= self._next or target - self._next <= CHUNK

    def forget_before(self, pos: int) -> None:
        keep = max(0, bisect.bisect_right(self._restart_pos, pos) - 1)
        del self._restart_pos[:keep], self._restart_state[:keep], self._restart_auto[:keep]
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
