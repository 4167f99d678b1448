"""Reading an image's embedded C2PA manifest store (Content Credentials), offline.

``read_manifest`` reads it with ``c2pa-python`` (imported lazily, so the rest of the project loads without it):
remote manifests are never fetched, OCSP is never queried, no network host is allowed, and a file that only
references a remote manifest yields None. What the manifest says about a place or an opt-out is
:mod:`audit.signals.c2pa`'s business. Nothing here raises for bad data: it yields None and logs at debug.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

MAX_BYTES = 50 * 1024 * 1024  # larger files are not read at all

# Every networked feature of the C2PA SDK turned off: no remote manifest fetch, no OCSP, no host allowed at all.
# Trust is still checked, against the SDK's (empty) local trust configuration only: nothing is downloaded.
OFFLINE_SETTINGS: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "core": {"allowed_network_hosts": []},
}


def read_manifest(data: bytes, mime: str | None = None) -> dict[str, Any] | None:
    """The C2PA manifest store embedded in ``data`` as the SDK reports it (``active_manifest``, ``manifests``,
    ``validation_state``, ``validation_status``, ...), read offline; None for no manifest, a manifest only referenced
    by URL, a file over 50 MB, data the SDK cannot parse, or ``c2pa-python`` missing. ``mime`` is a hint: the SDK
    detects the container from the bytes and an unknown type is left to it."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        return None
    if len(data) > MAX_BYTES:
        log.debug("c2pa: %d bytes is over the %d byte limit: not read", len(data), MAX_BYTES)
        return None
    try:
        import c2pa
    except ImportError:
        log.debug("c2pa: c2pa-python is not installed")
        return None
    try:
        supported = set(c2pa.Reader.get_supported_mime_types())
        fmt = mime.split(";")[0].strip().lower() if isinstance(mime, str) else ""
        with c2pa.Context.from_dict(OFFLINE_SETTINGS) as context:
            reader = c2pa.Reader(fmt if fmt in supported else None, io.BytesIO(bytes(data)), None, context)
            with reader:
                if not reader.is_embedded() or reader.get_remote_url():
                    log.debug("c2pa: the manifest is remote, not read")
                    return None
                store = json.loads(reader.json())
    except Exception as exc:  # the SDK raises C2paError (and subclasses) for anything it cannot read
        log.debug("c2pa: no manifest read: %s: %s", type(exc).__name__, " ".join(str(exc).split())[:80])
        return None
    return store if isinstance(store, dict) else None
