"""Figures for docs/reliability.md ("attack -> bound -> measured") of the decode allow-list, the worker process
groups and the content-encoding bounds. Each case runs in a fresh process measured by its peak resident memory.

    .venv/bin/python bench/bench_hostile_decode.py          # prints one line per case

Cases: a 1 GiB compression bomb per content encoding (gzip, deflate, br, zstd) decoded under the default
AUDIT_MAX_IMAGE_BYTES; PostScript payloads through `provaudit inspect` with a stand-in `gs` first on PATH (counts
its runs); a worker job that starts a grandchild and hangs (is the grandchild gone after the timeout?).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 32 * 1024 * 1024  # AUDIT_MAX_IMAGE_BYTES
GIB = 1 << 30
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n{ } loop\nshowpage\n%%EOF\n"

DECODE = """
import resource, sys, time
from pathlib import Path
from audit.decode.contentcoding import decode
from audit.errors import ContentEncodingError
body = Path(sys.argv[1]).read_bytes()
start = time.perf_counter()
try:
    decode(body, sys.argv[2], limit=int(sys.argv[3]))
    error = None
except ContentEncodingError as exc:
    error = str(exc)
print(f"{time.perf_counter() - start:.2f}", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, error)
"""

HANG = """
import subprocess, sys, time
from pathlib import Path
from audit.decode.workers import Bounds, Job, WorkerPool

def hang(data, bounds):
    child = subprocess.Popen(["sleep", "600"])
    Path(data.decode()).write_text(str(child.pid))
    time.sleep(600)

def failed(data, error):
    return error

start = time.perf_counter()
with WorkerPool(Job(run=hang, failed=failed), 1, bounds=Bounds(timeout=2), start_method="fork") as pool:
    print(pool.run(sys.argv[1].encode()))
print(f"{time.perf_counter() - start:.2f}")
"""


def bomb(encoding: str) -> bytes:
    chunk = bytes(1 << 20)
    if encoding == "br":
        import brotli

        c = brotli.Compressor(quality=5)
        return b"".join(c.process(chunk) for _ in range(GIB >> 20)) + c.finish()
    if encoding == "zstd":
        from backports.zstd import ZstdCompressor

        z = ZstdCompressor()
        return b"".join(z.compress(chunk) for _ in range(GIB >> 20)) + z.flush()
    d = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    return b"".join(d.compress(chunk) for _ in range(GIB >> 20)) + d.flush()


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        baseline = subprocess.run([sys.executable, "-c", "import resource, audit.decode.contentcoding; "
                                   "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"],
                                  cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        print(f"python + audit.decode.contentcoding alone: peak {baseline} MB")
        for encoding in ("gzip", "deflate", "br", "zstd"):
            path = tmpdir / f"bomb.{encoding}"
            path.write_bytes(bomb(encoding))
            out = subprocess.run([sys.executable, "-c", DECODE, str(path), encoding, str(LIMIT)], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.split(" ", 2)
            print(f"{encoding} bomb, {path.stat().st_size:,} bytes -> 1 GiB: {out[0]} s, peak {out[1]} MB, "
                  f"error: {out[2].strip()}")

        bin_dir = tmpdir / "bin"
        bin_dir.mkdir()
        ran = tmpdir / "gs-ran"
        (bin_dir / "gs").write_text(f'#!/bin/sh\necho "$@" >> {ran}\n')
        (bin_dir / "gs").chmod(0o755)
        files = []
        for i in range(100):
            files.append(tmpdir / f"eps-{i}.jpg")
            files[-1].write_bytes(EPS + b"%" + str(i).encode() + b"\n")
        env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "audit.cli", "inspect", "--json", *map(str, files)], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        took = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        errors = {line.split('"error": ')[1].rstrip("}") for line in proc.stdout.splitlines()}
        runs = len(ran.read_text().splitlines()) if ran.exists() else 0
        print(f"provaudit inspect of 100 PostScript files served as .jpg: {took:.2f} s, peak {peak} MB, "
              f"gs runs {runs}, errors {sorted(errors)}")

        pid_file = tmpdir / "grandchild.pid"
        out = subprocess.run([sys.executable, "-c", HANG, str(pid_file)], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
        pid = int(pid_file.read_text())
        waited = 0.0
        while not gone(pid) and waited < 10:
            time.sleep(0.01)
            waited += 0.01
        print(f"worker job that starts `sleep 600` and hangs, timeout 2 s: {' '.join(out[:-1])} after {out[-1]} s; "
              f"grandchild {'gone' if gone(pid) else 'STILL RUNNING'} {waited:.2f} s after the pool returned")
        if not gone(pid):
            os.kill(pid, 9)


if __name__ == "__main__":
    main()
