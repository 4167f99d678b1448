"""A short coverage-guided fuzz run (atheris) of the image metadata path, bounded in time, as part of the test suite.

``tests/store/fuzz_metadata.py`` is run in a subprocess for ``FUZZ_SECONDS`` (25 s by default; set the environment
variable for a longer run) under a hard timeout, seeded with real photos of ``../shared/corpora/photos`` (EXIF, IPTC,
XMP, extended XMP, GPS, maker notes; JPEG, GIF, WebP, HEIC). The test fails on any uncaught exception, crash, hang
(``-timeout``) or memory blow-up (``-rss_limit_mb``), and reports the number of executions."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).with_name("fuzz_metadata.py")
FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "25"))
SEEDS = [  # small real files (< 40 kB) with the metadata blocks the parsers read
    "exif-samples/jpg/Canon_40D.jpg", "exif-samples/jpg/Nikon_D70.jpg", "exif-samples/jpg/long_description.jpg",
    "exif-samples/jpg/xmp/BlueSquare.jpg", "exif-samples/jpg/Canon_40D_photoshop_import.jpg",
    "exiftool-t-images/IPTC.jpg", "exiftool-t-images/XMP.jpg", "exiftool-t-images/ExtendedXMP.jpg",
    "exiftool-t-images/MWG.jpg", "exiftool-t-images/Apple.jpg", "exiftool-t-images/GIF.gif",
    "exiftool-t-images/RIFF.webp", "exiftool-t-images/QuickTime.heic", "exiftool-t-images/PhotoMechanic.jpg",
]


def test_fuzz_the_image_metadata_path(corpora, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in SEEDS:
        src = corpora / "photos" / name
        assert src.is_file(), src
        shutil.copy(src, seeds / src.name)
    work = tmp_path / "corpus"  # inputs libFuzzer finds that reach new code go here
    work.mkdir()
    cmd = [sys.executable, str(HARNESS), str(work), str(seeds), f"-max_total_time={FUZZ_SECONDS}",
           "-timeout=20", "-rss_limit_mb=3072", "-max_len=65536", "-seed=2022", "-print_final_stats=1",
           f"-artifact_prefix={tmp_path}/"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=FUZZ_SECONDS + 120,
                          cwd=tmp_path)
    log = proc.stdout + proc.stderr
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    assert proc.returncode == 0 and not crashes, f"fuzzing found {crashes}:\n{log[-6000:]}"
    assert "Uncaught Python exception" not in log
    runs = re.search(r"Done (\d+) runs in (\d+) second", log)
    assert runs, log[-3000:]
    executions = int(runs.group(1))
    coverage = re.search(r"cov: (\d+) ft: (\d+) corp: (\d+)", log[log.rfind("cov:") - 20:] if "cov:" in log else "")
    print(f"\natheris: {executions} executions in {runs.group(2)} s; "
          f"{'coverage ' + coverage.group(1) + ' edges, corpus ' + coverage.group(3) if coverage else ''}")
    assert executions >= 200  # the run did exercise the path, not just start
