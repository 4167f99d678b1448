"""The floor for ``provaudit ingest`` of a WARC: the least work any ingest of it must do, done as simply and fast as
plain Python allows.

It iterates the archive's records with warcio (``ArchiveIterator``, its own gzip and framing), reads every response
and resource payload (``content_stream()``: de-chunked, content encoding undone) and sha256-hashes it, and
fingerprints every image -- each distinct content once, as the ingest does -- with
:func:`audit.decode.fingerprint.fingerprint` in ``--workers`` worker processes (default 2, forked: the cheapest
start), the payloads sent to them in chunks. No HTML is parsed, no metadata read, nothing is stored: what is left
of an ingest once everything it adds to "read, hash, fingerprint" is free.

    python bench/ingest_floor.py demo-out/provenance-*.warc.gz          # prints a JSON line
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"II*\x00", b"MM\x00*", b"BM")
CHUNK = 16


def _fingerprint_chunk(chunk: list[bytes]) -> list[int | None]:
    from PIL import Image

    from audit.decode.fingerprint import fingerprint

    out: list[int | None] = []
    for data in chunk:
        try:
            out.append(fingerprint(Image.open(io.BytesIO(data))).phash)
        except Exception:  # not a readable image: counted as no fingerprint
            out.append(None)
    return out


def _chunks(path: Path, counts: dict[str, int]) -> Iterator[list[bytes]]:
    from warcio.archiveiterator import ArchiveIterator

    seen: set[bytes] = set()
    chunk: list[bytes] = []
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type not in ("response", "resource"):
                continue
            try:
                payload = record.content_stream().read()
            except Exception:  # a content encoding warcio cannot undo: hash the raw payload
                payload = record.raw_stream.read()
            counts["payloads"] += 1
            counts["payload_bytes"] += len(payload)
            digest = hashlib.sha256(payload).digest()
            ctype = (record.http_headers.get_header("Content-Type") or "") if record.http_headers else ""
            if not (ctype.startswith("image/") or payload.startswith(IMAGE_MAGIC)) or digest in seen:
                continue
            seen.add(digest)
            chunk.append(payload)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def floor(path: Path, workers: int = 2) -> dict[str, float | int]:
    counts = {"payloads": 0, "payload_bytes": 0, "images": 0, "fingerprinted": 0}
    t = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for result in pool.imap_unordered(_fingerprint_chunk, _chunks(path, counts)):
            counts["images"] += len(result)
            counts["fingerprinted"] += sum(1 for r in result if r is not None)
    return {**counts, "seconds": round(time.perf_counter() - t, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warc", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(floor(args.warc, args.workers)))


if __name__ == "__main__":
    main()
