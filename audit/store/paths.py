"""Files a store names (a crawl's WARC, an ingested archive): where to find them when the store is read from another
folder, or was moved with its files.

A crawl records its WARC's absolute path (:func:`recorded_path`). :func:`locate` finds a file a store names: as
recorded (absolute, or relative to the working directory for stores written before paths were recorded absolute),
else relative to the store's folder, else under its own name beside the store (a store moved with its WARCs). It
returns None when none exists, so that every reader can say which file is missing.
"""

from __future__ import annotations

import os
from pathlib import Path


def recorded_path(path: str | os.PathLike[str]) -> str:
    """The form in which a store records a file it writes beside itself: absolute, so that the store can be read
    from any working directory."""
    return str(Path(path).absolute())


def locate(recorded: str, store_path: str | os.PathLike[str] | None) -> Path | None:
    """The regular file a store names as ``recorded``, looked for as recorded, relative to the store's folder, then
    under its own name beside the store; None when it is in none of these places."""
    candidates = [Path(recorded)]
    if store_path is not None:
        folder = Path(store_path).parent
        if not Path(recorded).is_absolute():
            candidates.append(folder / recorded)
        candidates.append(folder / Path(recorded).name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None
