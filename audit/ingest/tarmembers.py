"""Read the regular-file members of a tar file (a webdataset shard) one at a time, never extracting anything to disk.

Python's ``tarfile`` reads a pax header or a GNU long name of any declared size into memory and stops at the first
damaged header; a scraped dataset is hostile, so this reader parses the headers itself (POSIX ustar, pax ``x``/``g``
and GNU ``L``/``K`` records, base-256 sizes) with every piece of metadata bounded, and on a damaged header looks
for the next valid one (webdataset members start on 512-byte blocks), so the members after a break are kept. Names
are only strings: nothing is written, so a member called ``../../etc/passwd`` is just a name.

Each problem goes to ``report(offset, what)``; :func:`iter_tar` never raises for a broken tar.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from audit.errors import TarTruncated

logger = logging.getLogger(__name__)

BLOCK = 512
MAX_META_BYTES = 1024 * 1024  # of one pax header or GNU long name
RESYNC_CHUNK = 64 * 1024
_ZERO = bytes(BLOCK)
_KINDS = {b"1": "hard link", b"2": "symbolic link", b"3": "character device", b"4": "block device",
          b"5": "folder", b"6": "FIFO"}

Report = Callable[[int, str], None]


@dataclass(frozen=True, slots=True)
class TarMember:
    """A regular file of the tar: its name, size, the offset of its (first) header and of its data."""

    name: str
    size: int
    offset: int
    data_offset: int


def _number(field: bytes) -> int | None:
    """A header's numeric field: octal text, or base-256 (first byte 0x80); None when malformed or negative."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    if field[:1] == b"\xff":
        return None
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        return None


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156])
    if stored is None:
        return False
    rest = block[:148] + b" " * 8 + block[156:]
    if sum(rest) == stored:
        return True
    return sum(b - 256 if b > 127 else b for b in rest) == stored  # old writers summed signed bytes


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _padded(size: int) -> int:
    return (size + BLOCK - 1) // BLOCK * BLOCK


def _pax(data: bytes) -> dict[str, str]:
    """The ``length key=value\\n`` records of a pax header (malformed records end the parse)."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        if length <= 0 or pos + length > len(data):
            break
        record = data[space + 1:pos + length].rstrip(b"\n")
        key, sep, value = record.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return out


def iter_tar(fh: BinaryIO, report: Report, *, max_meta: int = MAX_META_BYTES, start: int = 0) -> Iterator[TarMember]:
    """The regular-file members of the tar open as ``fh`` (a regular file, seekable), in order. Folders are passed
    over; links, devices and FIFOs are reported and passed over; a damaged header is reported and the next valid
    header looked for; a member whose data runs past the end of the file (a truncated tar) is reported and ends the
    reading, as does a file that ends without its end-of-archive blocks. The caller reads a member's data with
    :func:`read_member` (or not at all). ``start``: the offset of a member's (first) header to begin at."""
    size_of_file = os.fstat(fh.fileno()).st_size
    pos = start
    long_name: str | None = None
    pax: dict[str, str] = {}
    first_header: int | None = None
    while True:
        fh.seek(pos)
        block = fh.read(BLOCK)
        if not block:
            report(pos, "the tar ends without its end-of-archive blocks (truncated?)")
            return
        if len(block) < BLOCK:
            report(pos, f"the tar ends inside a header ({len(block)} of {BLOCK} bytes): truncated")
            return
        if block == _ZERO:
            return
        size = _number(block[124:136])
        if not _checksum_ok(block) or size is None:
            found = _resync(fh, pos + BLOCK, size_of_file)
            where = "no further header found" if found is None else f"reading on at offset {found}"
            report(pos, f"not a valid tar header (damaged): {where}")
            long_name, pax, first_header = None, {}, None
            if found is None:
                return
            pos = found
            continue
        kind = block[156:157]
        name = _text(block[0:100])
        if block[257:262] == b"ustar":
            prefix = _text(block[345:500])
            if prefix:
                name = f"{prefix}/{name}"
        data = pos + BLOCK
        start = first_header if first_header is not None else pos
        if kind in (b"x", b"g", b"L", b"K"):
            if data + size > size_of_file:
                report(pos, f"a tar header of {size:,} bytes runs past the end of the file: truncated")
                return
            if kind in (b"x", b"L") and size > max_meta:
                report(pos, f"a tar {'pax header' if kind == b'x' else 'long name'} of {size:,} bytes, over "
                            f"{max_meta:,}: the member it describes is not read")
                pax, long_name = {"_skip": "1"}, None
            elif kind in (b"x", b"L"):
                fh.seek(data)
                raw = fh.read(size)
                if kind == b"x":
                    pax = _pax(raw)
                else:
                    long_name = _text(raw)
            first_header = start
            pos = data + _padded(size)
            continue
        skip = pax.pop("_skip", None) is not None
        if "path" in pax:
            name = pax["path"]
        elif long_name is not None:
            name = long_name
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                report(start, f"member {name!r}: pax size {pax['size'][:40]!r} is not a number: not read")
                skip = True
        long_name, pax, first_header = None, {}, None
        if size < 0:
            skip = True
        if data + size > size_of_file:
            report(start, f"member {name!r}: {size:,} bytes, but the file ends {max(0, size_of_file - data):,} "
                          "bytes after its header: the tar is truncated")
            return
        if skip:
            pass
        elif kind in (b"0", b"\0", b"7"):
            yield TarMember(name=name, size=size, offset=start, data_offset=data)
        elif kind != b"5":
            what = _KINDS.get(kind, f"member of type {kind!r}")
            report(start, f"member {name!r} is a {what}, not a regular file: not read")
        pos = data + _padded(size)


def _resync(fh: BinaryIO, start: int, size_of_file: int) -> int | None:
    """The offset of the next block at or after ``start`` that is a valid, non-empty tar header, or None."""
    pos = start
    while pos < size_of_file:
        fh.seek(pos)
        chunk = fh.read(RESYNC_CHUNK)
        if not chunk:
            return None
        for i in range(0, len(chunk) - BLOCK + 1, BLOCK):
            block = chunk[i:i + BLOCK]
            # ustar, pax and GNU headers (what webdataset and tar write) carry the magic: a cheap test first
            if block[257:262] == b"ustar" and _checksum_ok(block) and _number(block[124:136]) is not None:
                return pos + i
        pos += len(chunk) - len(chunk) % BLOCK or BLOCK
    return None


def read_member(fh: BinaryIO, member: TarMember) -> bytes:
    """The data of ``member`` (read from ``fh``, whose position is left anywhere); :class:`TarTruncated` when the
    file holds less (it changed since the member was listed)."""
    fh.seek(member.data_offset)
    data = fh.read(member.size)
    if len(data) != member.size:
        raise TarTruncated(f"member {member.name!r}: {len(data):,} of {member.size:,} bytes in the file")
    return data
