"""Read the output of img2dataset (https://github.com/rom1504/img2dataset): image bytes that were already downloaded
from a URL list, with each sample's caption and metadata.

img2dataset writes one set of files per shard ``NAME`` (``00000``, ``00001``, ...) in its output folder:

- ``NAME_stats.json``: the shard's counts (``count``, ``successes``, ``failed_to_download``, ``failed_to_resize``,
  ``status_dict``; newer versions ``start_time`` and ``end_time``);
- the samples, in one of three layouts: ``files`` (a folder ``NAME/`` holding ``KEY.jpg``, ``KEY.txt`` -- the
  caption -- and ``KEY.json`` -- the metadata), ``webdataset`` (``NAME.tar`` holding the same three members per
  sample) or ``parquet`` (``NAME.parquet`` with the metadata columns and the bytes in a ``jpg`` column; ``png`` or
  ``webp`` with another ``encode_format``);
- for ``files`` and ``webdataset``, ``NAME.parquet`` with every row's metadata, failed downloads included: ``url``,
  ``caption``, ``key``, ``status`` (``success``, ``failed_to_download``, ``failed_to_resize``), ``error_message``,
  ``width``, ``height``, ``original_width``, ``original_height``, ``exif`` (exifread's tags of the *original*
  bytes, as a JSON string), ``sha256`` (of the original bytes; ``md5`` in older versions) and the input's extra
  columns.

:func:`find_shards` recognises such a folder by its content; :func:`iter_shard` streams one shard's samples (tar
members one at a time, Parquet in bounded batches), each a :class:`Sample`, naming every problem with its file and
member or row in an :class:`Errors` and going on. :func:`sample_items` turns a sample into what the store records
(:mod:`audit.ingest.img2dataset_run` runs it all).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from audit.errors import Refused, TarTruncated
from audit.ingest.problems import FileProblems as Errors
from audit.ingest.tables import MAX_TEXT, MAX_VALUE, clean_text, hex_digest, http_url, meta_value, reference_key
from audit.ingest.tarmembers import iter_tar, read_member
from audit.inputs import open_regular, read_regular
from audit.records import ArchivedAt, DatasetSighting, ImageFetch

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")  # img2dataset's encode_format, the image's extension and column
STATS_SUFFIX = "_stats.json"
MAX_JSON_BYTES = 1024 * 1024  # of a sample's .json and of a shard's _stats.json
MAX_CAPTION_BYTES = 256 * 1024  # of a sample's .txt
MAX_EXIF_TAGS = 300  # EXIF tags of a sample's .json kept in the sighting's attributes
MAX_EXIF_VALUE = 300  # characters of one EXIF value kept
BULKY_EXIF = re.compile(r"(?i)thumbnail|makernote|applicationnotes|usercomment|printim")  # not kept: blobs, not facts
MAX_ROW_GROUP_META_BYTES = 128 * 1024 * 1024  # uncompressed metadata columns of one Parquet row group read
MAX_ROW_GROUP_IMAGE_BYTES = 256 * 1024 * 1024  # uncompressed image column of one Parquet row group read
MAX_INDEX_ROWS = 1_000_000  # rows of a shard's Parquet remembered while its tar or folder is read
MAX_FOLDER_FILES = 3 * MAX_INDEX_ROWS  # files of a files-layout shard folder listed
PARQUET_BATCH_ROWS = 64
#: what is remembered of a success row of a shard's Parquet (its sample's .json holds it all)
INDEX_SUCCESS_COLUMNS = frozenset({"url", "caption", "key", "status", "error_message", "width", "height",
                                   "original_width", "original_height", "sha256", "md5"})
SUCCESS = "success"
_HTTP_STATUS = re.compile(r"^HTTP Error (\d{3})\b")


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard of an img2dataset output: its name, layout (``files``, ``webdataset``, ``parquet``) and files."""

    name: str
    folder: Path
    layout: str
    stats: Path | None = None
    parquet: Path | None = None  # the metadata (files, webdataset) or the samples themselves (parquet)
    tar: Path | None = None
    samples_dir: Path | None = None

    @property
    def data(self) -> Path:
        """The file or folder holding the samples."""
        return self.tar or self.samples_dir or self.parquet or self.folder / self.name


# --- recognising an output ----------------------------------------------------------------------------------------

def find_shards(path: Path, errors: Errors | None = None) -> list[Shard] | None:
    """The shards of the img2dataset output ``path`` (its folder, or one shard's ``.tar`` or ``.parquet`` in it),
    sorted by name; None when ``path`` is not one: a folder holding at least one ``*_stats.json`` and, for some
    shard name, a ``NAME.tar``, a folder ``NAME/`` or a ``NAME.parquet`` with img2dataset's columns (``url``,
    ``key``, ``status``). Symlinks in the folder are not followed
    (named in ``errors``); other files (logs, READMEs) are left alone; a ``_stats.json`` without its samples is named
    in ``errors``."""
    if path.is_file():
        name = path.name
        stem = name[:-len(".tar")] if name.endswith(".tar") else name[:-len(".parquet")] \
            if name.endswith(".parquet") else None
        shards = find_shards(path.parent) if stem is not None else None
        return [s for s in shards if s.name == stem] or None if shards else None
    if not path.is_dir():
        return None
    stats: dict[str, Path] = {}
    tars: dict[str, Path] = {}
    parquets: dict[str, Path] = {}
    dirs: dict[str, Path] = {}
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                name = entry.name
                if entry.is_symlink():
                    if errors is not None and name.endswith((STATS_SUFFIX, ".tar", ".parquet")):
                        errors.add(path / name, "", "a symbolic link: not followed")
                    continue
                if entry.is_dir(follow_symlinks=False):
                    dirs[name] = Path(entry.path)
                elif not entry.is_file(follow_symlinks=False):
                    continue
                elif name.endswith(STATS_SUFFIX):
                    stats[name[:-len(STATS_SUFFIX)]] = Path(entry.path)
                elif name.endswith(".tar"):
                    tars[name[:-len(".tar")]] = Path(entry.path)
                elif name.endswith(".parquet"):
                    parquets[name[:-len(".parquet")]] = Path(entry.path)
    except OSError:
        return None
    if not stats:
        return None
    names = set(tars) | {n for n in dirs if n in stats or n in parquets}
    names |= {n for n, p in parquets.items() if n in names or _shard_parquet(p)}
    if names:  # the folder is an output: a Parquet beside its _stats.json is a shard, readable or not (named then)
        names |= set(parquets) & set(stats)
    shards = []
    for name in sorted(names):
        if name in tars:
            layout = "webdataset"
        elif name in dirs and (name in stats or name in parquets):
            layout = "files"
        else:
            layout = "parquet"
        shards.append(Shard(name=name, folder=path, layout=layout, stats=stats.get(name), parquet=parquets.get(name),
                            tar=tars.get(name), samples_dir=dirs.get(name) if layout == "files" else None))
    if not shards:
        return None
    if errors is not None:
        for name in sorted(set(stats) - names):
            errors.add(stats[name], "", "a shard's stats without its samples (no .tar, folder or .parquet)")
    return shards


SHARD_COLUMNS = frozenset({"url", "key", "status"})  # what img2dataset writes in every shard Parquet


def _shard_parquet(path: Path) -> bool:
    """Whether the Parquet file ``path`` has the columns of an img2dataset shard (a LAION-style table beside a
    ``_stats.json`` has not)."""
    import pyarrow.parquet as pq

    try:
        with open_regular(path, None) as fh:
            return SHARD_COLUMNS <= set(pq.read_schema(fh).names)
    except Exception:  # noqa: BLE001 - not a readable Parquet file: not a shard by its content
        return False


def is_img2dataset(path: Path) -> bool:
    """Whether ``path`` is an img2dataset output folder (or one shard file in one), by its content."""
    return find_shards(path) is not None


@dataclass(frozen=True, slots=True)
class ShardStats:
    """What a shard's ``_stats.json`` says (None where it does not say)."""

    count: int | None = None
    successes: int | None = None
    failed_to_download: int | None = None
    failed_to_resize: int | None = None
    start_time: dt.datetime | None = None


def read_stats(shard: Shard, errors: Errors) -> ShardStats:
    """The shard's ``_stats.json``, or empty stats (named in ``errors`` when the file is there but unreadable)."""
    if shard.stats is None:
        return ShardStats()
    try:
        data = json.loads(read_regular(shard.stats, MAX_JSON_BYTES))
    except (Refused, OSError, ValueError, RecursionError) as exc:
        errors.add(shard.stats, "", f"unreadable ({_reason(exc)}): the shard is read without it")
        return ShardStats()
    if not isinstance(data, dict):
        errors.add(shard.stats, "", "not a JSON object: the shard is read without it")
        return ShardStats()

    def count(name: str) -> int | None:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    start = data.get("start_time")
    when = None
    if isinstance(start, int | float) and not isinstance(start, bool) and 0 < start < 32503680000:
        when = dt.datetime.fromtimestamp(float(start), dt.UTC)
    return ShardStats(count("count"), count("successes"), count("failed_to_download"), count("failed_to_resize"),
                      when)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return text or type(exc).__name__


# --- samples ------------------------------------------------------------------------------------------------------

@dataclass
class Sample:
    """One sample of a shard: where it is, its key, its metadata (the ``.json``, or its row of the Parquet; image
    bytes left out), caption and image bytes (None for a failed download or bytes that could not be read)."""

    shard: Shard
    file: Path  # the file (or folder) holding it, for messages
    where: str  # member or row, for messages
    key: str | None
    meta: dict[str, Any] | None
    caption: str | None = None
    image: bytes | None = None
    archived_at: ArchivedAt | None = None
    image_where: str | None = None  # the member or row its bytes were read from
    problems: list[str] = field(default_factory=list)  # why a part of it was not read


def _split(name: str) -> tuple[str, str]:
    """webdataset's split of a member name into key and extension: at the first dot of its last path part."""
    head, slash, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (head + slash + stem, ext.lower()) if dot else (name, "")


def _load_json(raw: bytes) -> dict[str, Any] | str:
    """A sample's ``.json`` as a dict, or why it is not one."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return f"bad .json ({_reason(exc)})"
    return data if isinstance(data, dict) else "bad .json (not an object)"


def _caption(raw: bytes) -> str | None:
    return clean_text(raw.decode("utf-8", "replace"), MAX_TEXT)


class _Builder:
    """Gathers the members (or files) of one sample, one key at a time."""

    def __init__(self, shard: Shard, file: Path, max_image_bytes: int) -> None:
        self.shard, self.file, self.max_image_bytes = shard, file, max_image_bytes
        self.current: Sample | None = None

    def start(self, key: str) -> Sample | None:
        """Begin the sample ``key``; returns the previous one if it is complete."""
        done = None
        if self.current is not None and self.current.key != key:
            done, self.current = self.current, None
        if self.current is None:
            self.current = Sample(self.shard, self.file, f"sample {key}", key, None)
        return done

    def limit(self, ext: str) -> int | None:
        if ext in IMAGE_EXTENSIONS:
            return self.max_image_bytes
        return {"json": MAX_JSON_BYTES, "txt": MAX_CAPTION_BYTES}.get(ext)

    def put(self, ext: str, data: bytes, at: ArchivedAt | None, where: str) -> None:
        sample = self.current
        assert sample is not None
        if ext in IMAGE_EXTENSIONS:
            sample.image, sample.archived_at, sample.image_where = data, at, where
        elif ext == "json":
            loaded = _load_json(data)
            if isinstance(loaded, str):
                sample.problems.append(f"{where}: {loaded}")
            else:
                sample.meta = loaded
        elif ext == "txt":
            sample.caption = _caption(data)

    def end(self) -> Sample | None:
        done, self.current = self.current, None
        return done


def _tar_samples(shard: Shard, errors: Errors, *, max_image_bytes: int,
                 max_file_bytes: int | None) -> Iterator[Sample]:
    assert shard.tar is not None
    path = shard.tar
    builder = _Builder(shard, path, max_image_bytes)
    try:
        fh = open_regular(path, max_file_bytes)
    except Refused as exc:
        errors.add(path, "", f"shard not read: {exc}")
        return
    with fh:
        for member in iter_tar(fh, lambda offset, what: errors.add(path, f"offset {offset}", what)):
            key, ext = _split(member.name)
            where = f"member {member.name}"
            done = builder.start(key)
            if done is not None:
                yield done
            limit = builder.limit(ext)
            if limit is None:
                continue  # other members (img2dataset writes none): not read
            if member.size > limit:
                errors.add(path, where, f"{member.size:,} bytes, over the limit of {limit:,}: not read")
                if builder.current is not None:
                    builder.current.problems.append(f"{ext} not read")
                continue
            try:
                data = read_member(fh, member)
            except (TarTruncated, OSError) as exc:
                errors.add(path, where, f"cannot be read ({_reason(exc)})")
                continue
            builder.put(ext, data, ArchivedAt(str(path), member.offset), where)
    last = builder.end()
    if last is not None:
        yield last


def _folder_samples(shard: Shard, errors: Errors, *, max_image_bytes: int) -> Iterator[Sample]:
    assert shard.samples_dir is not None
    folder = shard.samples_dir
    by_key: dict[str, dict[str, Path]] = {}
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_FOLDER_FILES:
                    errors.add(folder, "", f"more than {MAX_FOLDER_FILES:,} files: the rest are not read")
                    break
                if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                    what = "a symbolic link: not followed" if entry.is_symlink() else "not a regular file: not read"
                    errors.add(Path(entry.path), "", what)
                    continue
                key, ext = _split(entry.name)
                by_key.setdefault(key, {})[ext] = Path(entry.path)
    except OSError as exc:
        errors.add(folder, "", f"shard folder not read: {exc.strerror or exc}")
        return
    builder = _Builder(shard, folder, max_image_bytes)
    for key in sorted(by_key):
        files = by_key.pop(key)
        image = next((files[e] for e in IMAGE_EXTENSIONS if e in files), None)
        builder.start(key)
        for ext, file in sorted(files.items()):
            limit = builder.limit(ext)
            if limit is None:
                continue
            try:
                data = read_regular(file, limit)
            except (Refused, OSError) as exc:
                errors.add(file, "", f"not read ({_reason(exc)})")
                if builder.current is not None:
                    builder.current.problems.append(f"{ext} not read")
                continue
            builder.put(ext, data, ArchivedAt(str(file), 0) if ext in IMAGE_EXTENSIONS else None, file.name)
        sample = builder.end()
        if sample is not None:
            sample.file = image or folder / key
            sample.where = ""
            sample.image_where = None
            yield sample


def _parquet_batches(path: Path, fh: BinaryIO, errors: Errors, *, image_columns: bool,
                     skip: tuple[str, ...] = ()) -> Iterator[tuple[int, list[dict[str, Any]], str | None]]:
    """``(first row number, rows, image column)`` of a shard Parquet, in batches, one row group at a time: a row
    group whose metadata columns are over ``MAX_ROW_GROUP_META_BYTES`` is named and left out; one whose images are
    over ``MAX_ROW_GROUP_IMAGE_BYTES`` is read without them (named). ``skip`` columns are not read."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(fh, pre_buffer=False)
    names = list(pf.schema_arrow.names)
    image = next((c for c in IMAGE_EXTENSIONS if c in names), None) if image_columns else None
    meta_cols = [n for n in names if n not in IMAGE_EXTENSIONS and n not in skip]
    index = {n: i for i, n in enumerate(pf.schema_arrow.names)}
    first = 1
    for group in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(group)
        rows_in_group = rg.num_rows
        sizes = {pf.metadata.schema.column(j).path.split(".")[0]: 0 for j in range(rg.num_columns)}
        for j in range(rg.num_columns):
            top = pf.metadata.schema.column(j).path.split(".")[0]
            sizes[top] = sizes.get(top, 0) + rg.column(j).total_uncompressed_size
        meta_size = sum(sizes.get(c, 0) for c in meta_cols)
        where = f"rows {first}-{first + rows_in_group - 1}"
        if meta_size > MAX_ROW_GROUP_META_BYTES:
            errors.add(path, where, f"{meta_size:,} bytes of metadata in one row group, over "
                                    f"{MAX_ROW_GROUP_META_BYTES:,}: not read")
            first += rows_in_group
            continue
        columns = list(meta_cols)
        with_image = image
        if image is not None and sizes.get(image, 0) > MAX_ROW_GROUP_IMAGE_BYTES:
            errors.add(path, where, f"{sizes[image]:,} bytes of images in one row group, over "
                                    f"{MAX_ROW_GROUP_IMAGE_BYTES:,}: their bytes are not read")
            with_image = None
        if with_image is not None:
            columns.append(with_image)
        columns.sort(key=index.__getitem__)
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[group], columns=columns,
                                     use_threads=False):
            yield first, batch.to_pylist(), with_image
            first += batch.num_rows


@dataclass
class IndexRow:
    """A row of a shard's metadata Parquet, remembered until its sample is met in the tar or folder."""

    row: int
    meta: dict[str, Any]


def read_index(shard: Shard, errors: Errors, *, max_file_bytes: int | None) -> dict[str, IndexRow]:
    """The rows of a ``files`` or ``webdataset`` shard's metadata Parquet by key (``exif`` left out, and of a
    success only :data:`INDEX_SUCCESS_COLUMNS`: the sample's ``.json`` has the rest), at most ``MAX_INDEX_ROWS``;
    empty (named) when it is missing or unreadable."""
    out: dict[str, IndexRow] = {}
    if shard.parquet is None:
        errors.add(shard.data, "", "no shard Parquet beside it: failed downloads are not known")
        return out
    try:
        with open_regular(shard.parquet, max_file_bytes) as fh:
            for first, rows, _image in _parquet_batches(shard.parquet, fh, errors, image_columns=False,
                                                        skip=("exif",)):
                for n, row in enumerate(rows, start=first):
                    key = row.get("key")
                    key = str(key) if key is not None else f"row {n}"
                    if len(out) >= MAX_INDEX_ROWS:
                        errors.add(shard.parquet, f"row {n}", f"more than {MAX_INDEX_ROWS:,} rows: the rest are "
                                                              "not read")
                        return out
                    if row.get("status") == SUCCESS:  # its sample has the rest: only what stands in for a bad .json
                        row = {k: v for k, v in row.items() if k in INDEX_SUCCESS_COLUMNS}
                    out[key] = IndexRow(n, row)
    except Refused as exc:
        errors.add(shard.parquet, "", f"not read: {exc}")
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a broken file: the rows read are kept
        errors.add(shard.parquet, "", f"cannot be read on ({_reason(exc)}): {len(out):,} rows read before")
    return out


def iter_shard(shard: Shard, errors: Errors, *, max_image_bytes: int,
               max_file_bytes: int | None) -> Iterator[Sample]:
    """Every sample of one shard: those with bytes (tar members, files, Parquet rows), then, for ``files`` and
    ``webdataset``, the rows of its metadata Parquet that no sample had (failed downloads: ``image`` None). Never
    raises for broken files: each problem is named in ``errors`` and the samples read are kept."""
    if shard.layout == "parquet":
        yield from _parquet_samples(shard, errors, max_image_bytes=max_image_bytes, max_file_bytes=max_file_bytes)
        return
    index = read_index(shard, errors, max_file_bytes=max_file_bytes)
    samples = (_tar_samples(shard, errors, max_image_bytes=max_image_bytes, max_file_bytes=max_file_bytes)
               if shard.layout == "webdataset" else _folder_samples(shard, errors, max_image_bytes=max_image_bytes))
    for sample in samples:
        row = index.pop(sample.key, None) if sample.key is not None else None
        if sample.meta is None and row is not None:
            sample.problems.append(f"its metadata read from {shard.parquet.name if shard.parquet else '?'} row "
                                   f"{row.row} (without EXIF and the input's extra columns)")
            sample.meta = dict(row.meta)
        yield sample
    assert shard.parquet is not None or not index
    for key, row in index.items():
        meta = dict(row.meta)
        sample = Sample(shard, shard.parquet or shard.data, f"row {row.row}", key, meta)
        if meta.get("status") == SUCCESS:
            sample.problems.append(f"a success in the shard Parquet, but its sample is not in {shard.data.name}")
        yield sample


def _parquet_samples(shard: Shard, errors: Errors, *, max_image_bytes: int,
                     max_file_bytes: int | None) -> Iterator[Sample]:
    assert shard.parquet is not None
    path = shard.parquet
    try:
        fh = open_regular(path, max_file_bytes)
    except Refused as exc:
        errors.add(path, "", f"shard not read: {exc}")
        return
    read = 0
    with fh:
        try:
            for first, rows, image_col in _parquet_batches(path, fh, errors, image_columns=True):
                for n, row in enumerate(rows, start=first):
                    read += 1
                    data = row.pop(image_col, None) if image_col is not None else None
                    for ext in IMAGE_EXTENSIONS:
                        row.pop(ext, None)
                    key = row.get("key")
                    sample = Sample(shard, path, f"row {n}", str(key) if key is not None else None, row)
                    if isinstance(data, bytes) and len(data) > max_image_bytes:
                        sample.problems.append(f"its image of {len(data):,} bytes is over the limit of "
                                               f"{max_image_bytes:,}: not read")
                    elif isinstance(data, bytes) and data:
                        sample.image, sample.image_where = data, f"row {n}"
                    elif row.get("status") == SUCCESS:
                        sample.problems.append("a success without image bytes" if image_col else
                                               "no image column (jpg, png, webp) in the shard")
                    yield sample
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a broken file: the rows read are kept
            errors.add(path, "", f"cannot be read on ({_reason(exc)}): {read:,} rows read before")


# --- a sample as the store's items -----------------------------------------------------------------------------

def clean_exif(value: Any) -> dict[str, str] | None:
    """The ``exif`` of a sample's metadata (img2dataset writes a JSON string of exifread's tags) as a bounded dict:
    string tags only, blobs (thumbnails, maker notes) left out, each value at most ``MAX_EXIF_VALUE`` characters,
    at most ``MAX_EXIF_TAGS`` tags; None when there is none or it is not such an object."""
    if isinstance(value, str):
        if len(value) > MAX_JSON_BYTES:
            return None
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if not isinstance(value, dict):
        return None
    out: dict[str, str] = {}
    for k, v in value.items():
        if len(out) >= MAX_EXIF_TAGS:
            break
        if not isinstance(k, str) or len(k) > 100 or BULKY_EXIF.search(k) or isinstance(v, dict | list):
            continue
        out[k] = str(v)[:MAX_EXIF_VALUE]
    return out or None


def http_status(error_message: Any) -> int | None:
    """The HTTP status a failed download's ``error_message`` names (urllib's ``HTTP Error 404: Not Found``)."""
    if not isinstance(error_message, str):
        return None
    m = _HTTP_STATUS.match(error_message)
    return int(m.group(1)) if m else None


@dataclass
class Checks:
    """Counters of an ingest: samples, and the published hashes checked against the bytes."""

    samples: int = 0
    with_bytes: int = 0
    reference_only: int = 0
    bad_samples: int = 0
    sha256_matched: int = 0
    sha256_reencoded: int = 0  # different, and the sample was resized: img2dataset hashes the bytes it downloaded
    sha256_mismatched: int = 0  # different, at the original's size: not the bytes img2dataset downloaded
    md5_matched: int = 0
    md5_reencoded: int = 0
    md5_mismatched: int = 0


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def sample_items(sample: Sample, *, when: dt.datetime, errors: Errors,
                 checks: Checks) -> list[ImageFetch | DatasetSighting]:
    """What the store records for one sample: for one with bytes, the fetch of its URL carrying them (analysed by the
    ingest) and its sighting (``ref_kind`` ``dataset``, the caption, the metadata without the URL and caption as
    attributes, the EXIF bounded); for one without (a failed download), the fetch's failure and a sighting of the
    reference-only image of its URL with the published hashes. A sample without an http(s) URL records nothing.
    Every problem is named in ``errors`` with the sample's file and member or row; the bytes are checked against
    the published ``sha256`` (and ``md5``)."""
    checks.samples += 1
    where = sample.where
    for problem in sample.problems:
        errors.add(sample.file, where, problem)
    meta = sample.meta or {}
    parsed = http_url(meta.get("url"))
    url = parsed[0] if parsed is not None else None
    if url is None:
        checks.bad_samples += 1
        raw = meta.get("url")
        shown = "none" if raw in (None, "") else repr(str(raw)[:80])
        errors.add(sample.file, where, f"no http(s) URL in its metadata ({shown}): not recorded")
        return []
    if sample.problems:
        checks.bad_samples += 1
    caption = sample.caption if sample.caption is not None else clean_text(meta.get("caption"), MAX_TEXT)
    attributes: dict[str, Any] = {"file": sample.shard.data.name, "shard": sample.shard.name,
                                  "at": sample.image_where or sample.where or sample.file.name}
    for name, value in meta.items():
        if name in ("url", "caption", "exif") or len(attributes) > 64:
            continue
        attributes[str(name)[:100]] = meta_value(value)
    attributes["exif"] = clean_exif(meta.get("exif"))  # None when absent (failed downloads, the Parquet's rows)
    published_sha = hex_digest(meta.get("sha256"), re.compile(r"[0-9a-f]{64}"))
    published_md5 = hex_digest(meta.get("md5"), re.compile(r"[0-9a-f]{32}"))
    # two outputs ingested together may both hold shard 00000, key 000000000: the output's folder tells them apart
    output = str(sample.shard.folder.resolve())
    discriminator = f"{output}/{sample.shard.name}/{sample.key}" if sample.key is not None else \
        f"{output}/{sample.shard.name}/{sample.file.name}/{where}"
    status = meta.get("status")
    if sample.image is None:
        checks.reference_only += 1
        error_message = meta.get("error_message")
        what = f"img2dataset {status or 'no bytes'}"
        if isinstance(error_message, str) and error_message:
            what += f": {error_message[:MAX_VALUE]}"
        elif sample.problems:
            what += f": {sample.problems[0]}"
        return [ImageFetch(url=url, fetched_at=when, status=http_status(error_message), error=what),
                DatasetSighting(image_url=url, discriminator=discriminator, caption=caption, attributes=attributes,
                                fetched_at=when, reference_key=reference_key(url), published_sha256=published_sha,
                                published_md5=published_md5)]
    checks.with_bytes += 1
    _check_hashes(sample, meta, published_sha, published_md5, errors, checks)
    return [ImageFetch(url=url, fetched_at=when, body=sample.image, archived_at=sample.archived_at),
            DatasetSighting(image_url=url, discriminator=discriminator, caption=caption, attributes=attributes,
                            fetched_at=when, published_sha256=published_sha, published_md5=published_md5)]


def _check_hashes(sample: Sample, meta: Mapping[str, Any], published_sha: str | None, published_md5: str | None,
                  errors: Errors, checks: Checks) -> None:
    """Each published hash against the bytes: a match; a difference on a resized sample (img2dataset hashes the
    bytes it downloaded, before resizing: expected, counted); any other difference, named in ``errors``."""
    assert sample.image is not None
    size = (_int(meta.get("width")), _int(meta.get("height")))
    original = (_int(meta.get("original_width")), _int(meta.get("original_height")))
    resized = None not in size and None not in original and size != original
    for name, published in (("sha256", published_sha), ("md5", published_md5)):
        if published is None:
            continue
        digest = hashlib.sha256 if name == "sha256" else hashlib.md5
        actual = digest(sample.image, usedforsecurity=False).hexdigest()
        if actual == published:
            setattr(checks, f"{name}_matched", getattr(checks, f"{name}_matched") + 1)
        elif resized:
            setattr(checks, f"{name}_reencoded", getattr(checks, f"{name}_reencoded") + 1)
        else:
            setattr(checks, f"{name}_mismatched", getattr(checks, f"{name}_mismatched") + 1)
            shown = f"{size[0]}x{size[1]}" if None not in size else "size not given"
            errors.add(sample.file, sample.where,
                       f"published {name} mismatch: the bytes' {name} is {actual}, the sample's metadata publishes "
                       f"{published} for the bytes img2dataset downloaded, and they were not resized ({shown}): "
                       "re-encoded at the same size, or not those bytes")
