"""Coverage-guided fuzzing (atheris, libFuzzer) of the image metadata path: bytes ->
``audit.decode.imagefacts.analyse_image`` (Pillow decode, fingerprints, EXIF/IPTC/XMP/C2PA) and
``audit.decode.metadata.read_metadata`` on its own.

Not collected by pytest (no ``test_`` prefix); ``tests/store/test_fuzz.py`` runs it for a bounded time. By hand::

    .venv/bin/python tests/store/fuzz_metadata.py CORPUS_DIR [SEED_DIR...] -max_total_time=60

The property: for any input, no exception escapes ``analyse_image`` (it returns an ``ImageRecord``, a bad file an
``error``) nor ``audit.decode.metadata.read_metadata`` (documented never to raise: per-field problems go to
``field_errors``), the record is JSON-safe as the store writes it, and the image signals read it without raising.
libFuzzer reports an uncaught exception as a crash and exits non-zero."""

from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports(include=["audit"]):
    from audit.decode import metadata
    from audit.decode.imagefacts import analyse_image
    from audit.outputs.inspection import inspect_dict
    from audit.records import ImageRecord
    from audit.signals.image import image_signals

MAX_PIXELS = 4_000_000  # small, so that one input never decodes for long


def test_one_input(data: bytes) -> None:
    record = analyse_image(data, max_pixels=MAX_PIXELS)
    if not isinstance(record, ImageRecord) or record.size != len(data):
        raise AssertionError(f"bad record {record!r}")
    json.dumps(inspect_dict("fuzz", record))  # what inspect prints and the store keeps is JSON-safe
    json.dumps([record.exif, record.iptc, record.xmp, record.location, record.c2pa])
    image_signals(record)
    meta = metadata.read_metadata(data, None)  # documented: never raises, problems go to field_errors
    if not isinstance(meta.field_errors, tuple | list):
        raise AssertionError("field_errors")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
