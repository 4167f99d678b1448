"""Read URL + caption tables (LAION-style datasets: Parquet, CSV or TSV files, or folders of such shards) as
*reference-only* sightings: each row names an image by its URL, with its caption and the row's own metadata, and no
bytes have been fetched yet.

Pure reading: :func:`iter_table_rows` streams the rows of one file in Arrow batches (a whole file is never in
memory), :func:`dataset_rows` turns them into the store's rows. The ingest (:mod:`audit.ingest.run`) writes them.

A reference-only image has no content digest: its key in ``images.sha256`` and ``sightings.sha256`` is
:func:`reference_key` (``ref:`` and the SHA-256 of its URL), and its ``images`` row says ``reference_only``. Fetching
the URL later (``provaudit fetch``) gives the sighting the digest of the bytes received.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from audit.errors import IngestError, Refused
from audit.ingest.problems import FileProblems
from audit.inputs import open_regular

logger = logging.getLogger(__name__)

#: file names read as tables (also inside a folder of shards)
TABLE_SUFFIXES = (".parquet", ".csv", ".tsv", ".csv.gz", ".tsv.gz")
REFERENCE_PREFIX = "ref:"
MAX_TEXT = 2000  # longest caption kept, in characters (as for alt texts and captions of pages)
MAX_URL = 4096  # longest image URL accepted
MAX_VALUE = 500  # longest value of a row's other columns kept in its metadata, in characters
MAX_COLUMNS = 64  # other columns of a row kept in its metadata
MAX_HEADER_BYTES = 1024 * 1024  # of a CSV/TSV header line
BATCH_ROWS = 65_536

#: the columns each role is read from when no ``--columns`` mapping names one: LAION-5B, LAION-400M, COYO, DataComp,
#: img2dataset's own output and WIT spell them so (first match wins, compared case-sensitively, then ignoring case)
ROLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "url": ("URL", "url", "image_url", "img_url", "image_link"),
    "caption": ("TEXT", "caption", "text", "alt", "alt_text", "caption_reference_description"),
    "page_url": ("page_url", "PAGE_URL", "source_url", "webpage_url"),
    "sha256": ("sha256", "SHA256", "image_sha256"),
    "md5": ("md5", "MD5", "image_md5"),
}
ROLES = tuple(ROLE_COLUMNS)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_SPACE = re.compile(r"\s+")


def reference_key(url: str) -> str:
    """The key of an image known only by its URL: ``ref:`` and the hex SHA-256 of the URL (UTF-8). Never equal to a
    content digest (which is 64 hex digits and nothing else)."""
    return REFERENCE_PREFIX + hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def is_reference_key(key: str | None) -> bool:
    return bool(key) and str(key).startswith(REFERENCE_PREFIX)


def parse_columns(spec: str | None) -> dict[str, str]:
    """``url=link,caption=alt`` as ``{"url": "link", "caption": "alt"}``; :class:`IngestError` for an unknown role
    or a malformed entry."""
    out: dict[str, str] = {}
    for entry in (spec or "").split(","):
        if not entry.strip():
            continue
        role, sep, name = entry.partition("=")
        role, name = role.strip(), name.strip()
        if not sep or not name:
            raise IngestError(f"--columns: {entry.strip()!r} is not ROLE=COLUMN")
        if role not in ROLE_COLUMNS:
            raise IngestError(f"--columns: unknown role {role!r} (roles: {', '.join(ROLES)})")
        out[role] = name
    return out


def is_table(path: Path) -> bool:
    """A Parquet, CSV or TSV file, by its name, or a Parquet file by its first bytes."""
    name = path.name.lower()
    if name.endswith(TABLE_SUFFIXES):
        return True
    try:
        with open_regular(path, None) as fh:
            return fh.read(4) == b"PAR1"
    except (Refused, OSError):
        return False


def table_shards(path: Path) -> list[Path] | None:
    """The table files of a folder (sorted, in subfolders too; symlinks are not followed), or None when it holds
    anything else than tables and the files datasets keep beside them (``_stats.json``, README, licences...)."""
    shards: list[Path] = []
    for entry in sorted(path.rglob("*")):
        if entry.is_symlink() or entry.is_dir():
            continue
        name = entry.name.lower()
        if name.endswith(TABLE_SUFFIXES):
            shards.append(entry)
        elif not (name.endswith((".json", ".jsonl", ".md", ".txt", ".crc")) or name.startswith((".", "_", "license",
                                                                                      "readme"))):
            return None
    return shards or None


@dataclass
class TableStats:
    files: int = 0
    rows: int = 0
    kept: int = 0  # rows that became a sighting
    bad_rows: int = 0
    bad_files: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._problems = FileProblems(self.errors)

    def error(self, path: Path, where: str, what: str) -> None:
        self._problems.add(path, where, what)


@dataclass(frozen=True, slots=True)
class Columns:
    """Which column of one file plays each role; ``others`` are kept in the row's metadata."""

    roles: Mapping[str, str]
    others: tuple[str, ...]


def resolve_columns(names: Sequence[str], mapping: Mapping[str, str], path: Path) -> Columns:
    """The role of each column of a file with columns ``names``: from ``mapping`` when it names the role, else the
    first of :data:`ROLE_COLUMNS` present (exact spelling first, then ignoring case). :class:`IngestError` when the
    file has no URL column, or a mapped column is missing."""
    roles: dict[str, str] = {}
    lower = {n.lower(): n for n in reversed(names)}
    for role, candidates in ROLE_COLUMNS.items():
        if role in mapping:
            if mapping[role] not in names:
                raise IngestError(f"{path}: no column {mapping[role]!r} for {role} (columns: "
                                  f"{', '.join(names[:30])})")
            roles[role] = mapping[role]
            continue
        found = next((c for c in candidates if c in names), None) or next(
            (lower[c.lower()] for c in candidates if c.lower() in lower), None)
        if found is not None and found not in roles.values():
            roles[role] = found
    if "url" not in roles:
        raise IngestError(f"{path}: no image URL column (looked for {', '.join(ROLE_COLUMNS['url'])}; columns: "
                          f"{', '.join(names[:30])}); name it with --columns url=COLUMN")
    used = set(roles.values())
    return Columns(roles, tuple(n for n in names if n not in used)[:MAX_COLUMNS])


def column_names(path: Path, fh: BinaryIO) -> list[str] | None:
    """The column names of one table file (a CSV/TSV header, a Parquet schema), or None when they cannot be read
    (the file is then reported as it is read)."""
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz")):
            return _csv_header(path, fh, "\t" if ".tsv" in name else ",") or None
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(fh).schema_arrow.names)
    except Exception:  # noqa: BLE001 - any reading failure is reported when the file is read
        return None


def _open_text_head(fh: BinaryIO, gz: bool) -> BinaryIO:
    if gz:
        import gzip

        return gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
    return fh


def _csv_header(path: Path, fh: BinaryIO, delimiter: str) -> list[str]:
    head = _open_text_head(fh, path.name.lower().endswith(".gz"))
    line = head.readline(MAX_HEADER_BYTES + 1)
    if len(line) > MAX_HEADER_BYTES:
        raise IngestError(f"{path}: header line over {MAX_HEADER_BYTES:,} bytes")
    text = line.decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])


def iter_table_rows(path: Path, fh: BinaryIO, mapping: Mapping[str, str],
                    stats: TableStats) -> Iterator[tuple[Sequence[int], Columns, list[dict[str, Any]]]]:
    """Batches of one table file's rows as ``(the rows' numbers, columns, rows)``, rows counted from 1 after any
    header (a row left out keeps its number: the next row's is the one a reader of the file sees). Rows a CSV/TSV
    parser cannot split into the header's columns are named in ``stats`` and skipped;
    a file that cannot be read on raises :class:`IngestError` (the rows before it were yielded)."""
    import pyarrow as pa

    name = path.name.lower()
    try:
        if name.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz")):
            from pyarrow import csv as pacsv

            delimiter = "\t" if ".tsv" in name else ","
            header = _csv_header(path, fh, delimiter)
            if not header:
                raise IngestError(f"{path}: no header line")
            fh.seek(0)
            columns = resolve_columns(header, mapping, path)

            skipped: set[int] = set()

            def bad(row: Any) -> str:
                where = f"row {row.number - 1}" if row.number is not None else "a row"
                if row.number is not None:
                    skipped.add(row.number - 1)
                stats.bad_rows += 1
                stats.error(path, where, f"{row.actual_columns} fields where the header has {row.expected_columns}")
                return "skip"

            reader = pacsv.open_csv(
                fh, read_options=pacsv.ReadOptions(block_size=1 << 22, use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=bad,
                                                 newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                     strings_can_be_null=False))
            number = 0
            for batch in reader:
                numbers: list[int] = []
                while len(numbers) < batch.num_rows:
                    number += 1
                    if number in skipped:
                        skipped.discard(number)
                    else:
                        numbers.append(number)
                yield numbers, columns, batch.to_pylist()
            return
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(fh)
        names = list(pf.schema_arrow.names)
        columns = resolve_columns(names, mapping, path)
        first = 1
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, use_threads=False):
            yield range(first, first + batch.num_rows), columns, batch.to_pylist()
            first += batch.num_rows
    except IngestError:
        raise
    except (pa.ArrowException, OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        what = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise IngestError(f"{path}: cannot read on: {what}") from exc


def clean_text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = _SPACE.sub(" ", value if isinstance(value, str) else str(value)).strip()
    return text[:limit] or None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def http_url(value: Any) -> tuple[str, str] | None:
    """An http(s) URL and its lower-case host, or None."""
    if not isinstance(value, str):
        return None
    # a space is how many real rows write it (a browser sends %20): kept as %20; other whitespace and controls are not
    url = value.strip().replace(" ", "%20")
    if not url or len(url) > MAX_URL or not url[:8].lower().startswith(("http://", "https://")) \
            or _CONTROL.search(url):
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return (url, host) if host else None


def meta_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text[:MAX_VALUE]


def hex_digest(value: Any, pattern: re.Pattern[str]) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if pattern.fullmatch(text) else None


SIGHTING_COLUMNS = ("sighting_id", "crawl_id", "sha256", "image_url", "page_url", "image_host", "page_host",
                    "caption", "ref_kind", "attributes")


@dataclass
class DatasetRows:
    """The store's rows for one batch of a table: the columns of its sightings (:data:`SIGHTING_COLUMNS`) and the
    ``images`` rows of its reference-only images."""

    sightings: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in SIGHTING_COLUMNS})
    images: dict[str, dict[str, Any]] = field(default_factory=dict)


def dataset_rows(crawl_id: str, path: Path, numbers: Sequence[int], columns: Columns,
                 rows: Sequence[Mapping[str, Any]],
                 stats: TableStats) -> DatasetRows:
    """One batch of table rows as sightings (``ref_kind`` ``dataset``, the caption as ``caption``, the other
    columns as ``attributes``) of reference-only images. A row without an http(s) URL is named in ``stats`` and
    left out."""
    out = DatasetRows()
    cols = out.sightings
    sid, cid, key_col, url_out, page_out = (cols["sighting_id"], cols["crawl_id"], cols["sha256"],
                                            cols["image_url"], cols["page_url"])
    host_out, page_host_out, caption_out, kind_out, attrs_out = (cols["image_host"], cols["page_host"],
                                                                 cols["caption"], cols["ref_kind"],
                                                                 cols["attributes"])
    roles = columns.roles
    url_col, caption_col, page_col = roles["url"], roles.get("caption"), roles.get("page_url")
    sha_col, md5_col = roles.get("sha256"), roles.get("md5")
    others = columns.others
    plain = not others and not sha_col and not md5_col  # the metadata is only the file and the row number
    file_json = json.dumps(path.name, ensure_ascii=False)
    prefix = (crawl_id.encode("utf-8", "surrogatepass") + b"\0")
    for number, row in zip(numbers, rows, strict=True):
        stats.rows += 1
        parsed = http_url(row.get(url_col))
        if parsed is None:
            stats.bad_rows += 1
            raw = row.get(url_col)
            shown = "empty" if raw in (None, "") else repr(str(raw)[:80])
            stats.error(path, f"row {number}", f"no http(s) image URL in column {url_col!r} ({shown})")
            continue
        url, host = parsed
        caption = clean_text(row.get(caption_col), MAX_TEXT) if caption_col else None
        page = http_url(row.get(page_col)) if page_col else None
        page_url, page_host = page if page is not None else (None, None)
        key = reference_key(url)
        h = hashlib.blake2b(prefix, digest_size=16)
        for part in (url, page_url or "", "dataset", caption or ""):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        if plain:
            attributes = f'{{"file": {file_json}, "row": {number}}}'
            published_sha = published_md5 = None
        else:
            meta = {name: meta_value(row.get(name)) for name in others}
            published_sha = hex_digest(row.get(sha_col), _HEX64) if sha_col else None
            published_md5 = hex_digest(row.get(md5_col), _HEX32) if md5_col else None
            if sha_col:
                meta[sha_col] = meta_value(row.get(sha_col))
            if md5_col:
                meta[md5_col] = meta_value(row.get(md5_col))
            attributes = json.dumps({"file": path.name, "row": number, **meta}, ensure_ascii=False)
        sid.append(h.hexdigest())
        cid.append(crawl_id)
        key_col.append(key)
        url_out.append(url)
        page_out.append(page_url)
        host_out.append(host)
        page_host_out.append(page_host)
        caption_out.append(caption)
        kind_out.append("dataset")
        attrs_out.append(attributes)
        image = out.images.get(key)
        if image is None:
            out.images[key] = {"sha256": key, "reference_only": True, "published_sha256": published_sha,
                               "published_md5": published_md5}
        else:
            image["published_sha256"] = image["published_sha256"] or published_sha
            image["published_md5"] = image["published_md5"] or published_md5
        stats.kept += 1
    return out
