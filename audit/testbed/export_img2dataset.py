"""Write an img2dataset output (https://github.com/rom1504/img2dataset) from rows of URLs, captions and image bytes,
as img2dataset's downloader and writers lay it out, for tests and ``provaudit testweb export --format img2dataset``.

Given each row's *original* bytes (what the URL served), this does what img2dataset does after a download: reads the
original's EXIF with exifread (``details=False``, every tag as ``str(value).strip()``, the dict dumped as a JSON
string), hashes the original (``sha256``, img2dataset's default ``compute_hash``), resizes and re-encodes it (by
default to 256 px with white borders, JPEG quality 95: the EXIF does not survive), and writes the sample:

- ``files``: a folder per shard, ``00000/000000000.jpg`` with ``.txt`` (the caption) and ``.json`` (the sample's
  metadata, ``json.dumps(meta, indent=4)``), and beside it ``00000.parquet`` (every row's metadata, failures
  included) and ``00000_stats.json``;
- ``webdataset``: ``00000.tar`` holding ``<key>.jpg``, ``<key>.json``, ``<key>.txt`` per sample (webdataset's
  ``TarWriter``: members in sorted extension order, mode 0444, owner ``bigdata``), the ``.parquet`` and the stats;
- ``parquet``: ``00000.parquet`` with the metadata columns and the image bytes in a ``jpg`` column (NULL for a
  failed sample), and the stats.

A row without bytes is a failed download (``status`` ``failed_to_download`` with its ``error_message``, e.g.
``HTTP Error 404: Not Found``); bytes that cannot be decoded are ``failed_to_resize``: such rows appear in the
shard's Parquet only, as in img2dataset. Keys are img2dataset's ``compute_key``: the shard id followed by the
sample's index in the shard, zero-padded (``000000001``: shard 0, sample 1, up to 10,000 samples per shard).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import math
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

OutputFormat = Literal["files", "webdataset", "parquet"]
OUTPUT_FORMATS: tuple[str, ...] = ("files", "webdataset", "parquet")
OOM_SHARD_COUNT = 5  # digits of a shard name (img2dataset: 00000, 00001, ...)
PARQUET_BUFFER_ROWS = 100  # img2dataset's BufferedParquetWriter writes every 100 samples


@dataclass(frozen=True)
class Img2DatasetRow:
    """One URL of the input list: the bytes it served (None: the download failed with ``error_message``), its
    caption, and extra input columns kept with it (img2dataset's ``save_additional_columns``). ``exif`` stands for
    what exifread reads of the original when given (tag name to string); otherwise it is read from ``image``."""

    url: str
    caption: str | None = None
    image: bytes | None = None
    error_message: str | None = None
    exif: Mapping[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Img2DatasetOutput:
    """What :func:`write_img2dataset` wrote: the output folder, the shard names, and per row its key and status."""

    out_dir: Path
    output_format: str
    shards: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # per input row, in order
    statuses: list[str] = field(default_factory=list)  # per input row: success, failed_to_download, failed_to_resize


def compute_key(index: int, shard_id: int, oom_sample_per_shard: int, oom_shard_count: int = OOM_SHARD_COUNT) -> str:
    """img2dataset's sample key: ``10**oom_sample_per_shard * shard_id + index``, zero-padded to the sum of the two
    widths."""
    return f"{10 ** oom_sample_per_shard * shard_id + index:0{oom_sample_per_shard + oom_shard_count}d}"


def exif_tags(data: bytes) -> dict[str, str] | None:
    """What img2dataset keeps of an image's EXIF: exifread's tags (``details=False``), each ``str(value).strip()``;
    None when exifread fails."""
    import exifread

    try:
        tags = exifread.process_file(io.BytesIO(data), details=False)
    except Exception:  # noqa: BLE001 - img2dataset records None for any failure
        return None
    return {k: str(v).strip() for k, v in tags.items() if v is not None}


def resize(data: bytes, *, image_size: int = 256, resize_mode: str = "border", encode_quality: int = 95,
           skip_reencode: bool = False) -> tuple[bytes, int, int, int, int]:
    """``(bytes, width, height, original_width, original_height)`` as img2dataset's resizer gives them: ``border``
    fits the longer side to ``image_size`` and pads to a white square, ``keep_ratio`` fits the shorter side, ``no``
    keeps the size; the result is re-encoded as JPEG (no EXIF) unless ``skip_reencode`` and nothing changed.
    Raises for bytes that are not an image (img2dataset's ``failed_to_resize``)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        img = ImageOps.exif_transpose(opened).convert("RGB")
    original_width, original_height = img.size
    if resize_mode == "no" and skip_reencode:
        return data, original_width, original_height, original_width, original_height
    if resize_mode == "border":
        ratio = image_size / max(img.size)
        inner = img.resize((max(1, int(img.width * ratio)), max(1, int(img.height * ratio))), Image.Resampling.LANCZOS)
        img = Image.new("RGB", (image_size, image_size), (255, 255, 255))
        img.paste(inner, ((image_size - inner.width) // 2, (image_size - inner.height) // 2))
    elif resize_mode == "keep_ratio":
        ratio = image_size / min(img.size)
        img = img.resize((max(1, int(img.width * ratio)), max(1, int(img.height * ratio))), Image.Resampling.LANCZOS)
    elif resize_mode != "no":
        raise ValueError(f"resize_mode {resize_mode!r}: border, keep_ratio or no")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=encode_quality)
    return out.getvalue(), img.width, img.height, original_width, original_height


def write_img2dataset(rows: Iterable[Img2DatasetRow], out_dir: str | Path, *, output_format: str,
                      shard_size: int = 10_000, image_size: int = 256, resize_mode: str = "border",
                      skip_reencode: bool = False, start_time: float | None = None) -> Img2DatasetOutput:
    """Write ``rows`` as the img2dataset output ``out_dir`` (created; it should be empty) in ``output_format``
    (``files``, ``webdataset`` or ``parquet``), ``shard_size`` samples per shard. ``start_time`` (Unix seconds,
    default now) is the download time the stats and tar members record."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format {output_format!r}: one of {', '.join(OUTPUT_FORMATS)}")
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = start_time if start_time is not None else dt.datetime.now(dt.UTC).timestamp()
    result = Img2DatasetOutput(out, output_format)
    extra_names: list[str] = []
    listed = list(rows)
    for row in listed:
        extra_names += [k for k in row.extra if k not in extra_names]
    oom_sample = math.ceil(math.log10(shard_size)) if shard_size > 1 else 0
    for shard_id, first in enumerate(range(0, len(listed), shard_size)):
        shard = listed[first:first + shard_size]
        name = f"{shard_id:0{OOM_SHARD_COUNT}d}"
        result.shards.append(name)
        _write_shard(out, name, shard_id, shard, extra_names, output_format, oom_sample, result,
                     image_size=image_size, resize_mode=resize_mode, skip_reencode=skip_reencode, start=start)
    return result


def _schema(extra_names: Sequence[str], output_format: str) -> pa.Schema:
    """The shard Parquet's columns: the input's (extra columns, then caption and url), img2dataset's own, and for the
    ``parquet`` format the image bytes."""
    fields = [pa.field(n, pa.string()) for n in extra_names]
    fields += [pa.field("caption", pa.string()), pa.field("url", pa.string()), pa.field("key", pa.string()),
               pa.field("status", pa.string()), pa.field("error_message", pa.string()),
               pa.field("width", pa.int32()), pa.field("height", pa.int32()),
               pa.field("original_width", pa.int32()), pa.field("original_height", pa.int32()),
               pa.field("exif", pa.string()), pa.field("sha256", pa.string())]
    if output_format == "parquet":
        fields.append(pa.field("jpg", pa.binary()))
    return pa.schema(fields)


def _write_shard(out: Path, name: str, shard_id: int, rows: Sequence[Img2DatasetRow], extra_names: Sequence[str],
                 output_format: str, oom_sample: int, result: Img2DatasetOutput, *, image_size: int,
                 resize_mode: str, skip_reencode: bool, start: float) -> None:
    schema = _schema(extra_names, output_format)
    buffered: list[dict[str, Any]] = []
    writer = pq.ParquetWriter(out / f"{name}.parquet", schema)
    tar = tarfile.open(out / f"{name}.tar", mode="w|") if output_format == "webdataset" else None
    folder = out / name
    if output_format == "files":
        folder.mkdir(exist_ok=True)
    counts = {"success": 0, "failed_to_download": 0, "failed_to_resize": 0}
    status_dict: dict[str, int] = {}

    def flush() -> None:
        if buffered:
            writer.write_table(pa.Table.from_pylist(buffered, schema=schema))
            buffered.clear()

    try:
        for index, row in enumerate(rows):
            key = compute_key(index, shard_id, oom_sample)
            meta: dict[str, Any] = {n: _text(row.extra.get(n)) for n in extra_names}
            meta.update(caption=row.caption, url=row.url, key=key, status=None, error_message=row.error_message,
                        width=None, height=None, original_width=None, original_height=None, exif=None, sha256=None)
            image: bytes | None = None
            if row.image is None:
                meta["status"] = "failed_to_download"
                meta["error_message"] = row.error_message or "HTTP Error 404: Not Found"
            else:
                try:
                    image, w, h, ow, oh = resize(row.image, image_size=image_size, resize_mode=resize_mode,
                                                 skip_reencode=skip_reencode)
                except Exception as exc:  # noqa: BLE001 - undecodable bytes: img2dataset's failed_to_resize
                    meta["status"] = "failed_to_resize"
                    meta["error_message"] = re.sub(r" at 0x[0-9a-fA-F]+", "", str(exc))[:200]  # no address
                else:
                    tags = dict(row.exif) if row.exif is not None else exif_tags(row.image)
                    meta.update(status="success", width=w, height=h, original_width=ow, original_height=oh,
                                exif=json.dumps(tags) if tags is not None else None,
                                sha256=hashlib.sha256(row.image).hexdigest())
            status = str(meta["status"])
            counts[status] += 1
            reason = status if status == "success" else str(meta["error_message"])  # img2dataset counts errors so
            status_dict[reason] = status_dict.get(reason, 0) + 1
            result.keys.append(key)
            result.statuses.append(status)
            caption = str(row.caption) if row.caption is not None else ""
            if image is not None and output_format == "files":
                (folder / f"{key}.jpg").write_bytes(image)
                (folder / f"{key}.txt").write_text(caption, encoding="utf-8")
                (folder / f"{key}.json").write_text(json.dumps(meta, indent=4), encoding="utf-8")
            elif image is not None and tar is not None:
                members = {"jpg": image, "json": json.dumps(meta, indent=4, ensure_ascii=False).encode("utf-8"),
                           "txt": caption.encode("utf-8")}
                for ext in sorted(members):  # webdataset's TarWriter writes a sample's members in key order
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size, info.mtime, info.mode = len(members[ext]), int(start), 0o444
                    info.uname = info.gname = "bigdata"
                    tar.addfile(info, io.BytesIO(members[ext]))
            parquet_row = dict(meta)
            if output_format == "parquet":
                parquet_row["jpg"] = image
            buffered.append(parquet_row)
            if len(buffered) >= PARQUET_BUFFER_ROWS:
                flush()
        flush()
    finally:
        writer.close()
        if tar is not None:
            tar.close()
    stats = {"count": len(rows), "successes": counts["success"], "failed_to_download": counts["failed_to_download"],
             "failed_to_resize": counts["failed_to_resize"], "duration": 1.0, "start_time": start,
             "end_time": start + 1.0, "status_dict": status_dict}
    (out / f"{name}_stats.json").write_text(json.dumps(stats, indent=4), encoding="utf-8")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
