"""Every error provaudit raises for a condition its user must see: :class:`AuditError` and its subclasses.

An ``AuditError``'s message is one line for the user, naming the file or value concerned and saying why (no
traceback needed to understand it). The command line turns any ``AuditError`` that reaches it into that line and exit
status 1, in one place (``audit.cli``). This module imports nothing but the standard library, so that any layer
can raise these errors.
"""

from __future__ import annotations

from pathlib import Path


class AuditError(Exception):
    """Base class of provaudit's errors: ``str()`` is one line for the user."""


# --- inputs ----------------------------------------------------------------------------------------------------


class Refused(AuditError):
    """A path that is not read: not a regular file, over the size limit, or not openable. The message is one line
    without the path (the caller names it)."""


class ContentEncodingError(AuditError, ValueError):
    """A body that cannot be decoded: ``str()`` is the one-line reason. (Also a ``ValueError``, as before.)"""


class BodyTooLarge(ContentEncodingError):
    """A body over the size limit, once decoded (or before: :mod:`audit.ingest.warcpayload` raises it for the bytes
    read)."""


class HeaderTooLarge(AuditError):
    """A header line or block of an archive record over its bound."""


class IngestError(AuditError):
    """An input path cannot be ingested at all (does not exist, cannot be read)."""


class TarTruncated(AuditError, ValueError):
    """A tar member's data is not all in its file (:mod:`audit.ingest.tarmembers`)."""


class RereadBudgetSpent(AuditError, ValueError):
    """Re-reading WARC revisit originals passed over more records than one ingest allows (an archive with many records
    per gzip member); the revisit stays unresolved, its error says why."""


class SharedCrawlError(AuditError, ValueError):
    """The shared crawl's Redis cannot be used; the message says why. (Also a ``ValueError``, as before.)"""


class RenderError(AuditError, ValueError):
    """The rendered crawl (``AUDIT_RENDER``) cannot start: no browser at ``AUDIT_RENDER_BROWSER``, or
    scrapy-playwright is not installed; the message says what to install."""


class FaceDetectionError(AuditError):
    """Face detection could not run on an image (pixels that cannot be read, or a failure of the detector): the
    message is one line saying why. The image's other facts stand; its faces are unknown (not "none")."""


class NoFaceDetection(AuditError):
    """An output was limited to images of people (``--faces-only``) but face detection never ran on the store:
    the message says how to add faces (``provaudit audit --faces``)."""


class NotAudited(AuditError):
    """A store an output needs audited has no attributions, or fewer than it has images (rows added since the last
    ``provaudit audit``): the message says so and how to audit it."""


class PackageError(AuditError):
    """``provaudit package`` cannot write the WACZ: a WARC the store names is missing or no longer holds the record
    it recorded, a report cannot be read, or a size bound is passed; the message names the file."""


# --- stores ----------------------------------------------------------------------------------------------------


class StoreError(AuditError):
    """The store cannot be opened or written (locked by another writer, not a DuckDB file, ...)."""


class StoreBusy(StoreError):
    """Another process holds the store's file: DuckDB lets one process write a file, or any number of processes read
    it, never both at once. ``pid`` and ``program`` name the holder when DuckDB says who it is; ``reading`` tells
    whether it holds the file read-only."""

    def __init__(self, message: str, *, path: Path, pid: int | None, program: str | None, reading: bool) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid
        self.program = program
        self.reading = reading

    @property
    def holder(self) -> str:
        """``process 1234 (/usr/bin/python3)``, or ``another process`` when DuckDB did not say."""
        if self.pid is None:
            return "another process"
        return f"process {self.pid}" + (f" ({self.program})" if self.program else "")


class NotAStore(StoreError):
    """The file is not a provaudit store: empty, a folder, another format (SQLite, Parquet, ...), or a DuckDB database
    holding none of provaudit's tables."""


class UnsafeStore(StoreError):
    """The store holds something provaudit never writes and that would run, or be trusted, when the store is read: a
    view (or anything but a table) where a table belongs, a macro or function, a type, a column of another type or one
    computed or defaulted by an expression, or a ``signal_countries`` view that is not provaudit's. Such a store was
    made by hand or by an attacker; it is refused whole."""


class StoreIncomplete(StoreError):
    """A table or column the store should have is missing: the store is damaged, or was written by an older
    provaudit and opened read-only (opening it for writing once adds what is missing)."""


class ExportError(AuditError):
    """An export that cannot be written or read back; the message says which file and why."""


class FixityError(AuditError):
    """A folder of outputs whose fixity cannot be checked: no manifest, or one that cannot be read (the message
    names it)."""


class PdfError(AuditError):
    """A PDF that could not be written: no browser, or the browser failed or ran out of time (the message says
    which)."""


class MergeError(AuditError):
    """A shard that cannot be merged; the message names it and says why."""


class LabelsError(AuditError, ValueError):
    """A labels file (a filled labelling sheet) that cannot be used as it is: the message names every bad row by
    its line number and says what is wrong with it; nothing is stored until the file is fixed."""
