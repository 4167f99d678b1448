"""Problems met while reading other people's files, each named by its file and where in it."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

MAX_ERRORS_PER_FILE = 100  # problems listed per file; the rest are counted


class FileProblems:
    """Problems met, each ``"<file>: <where>: <what>"``; at most ``MAX_ERRORS_PER_FILE`` listed per file, all
    counted."""

    def __init__(self, sink: list[str] | None = None) -> None:
        self.messages = sink if sink is not None else []
        self.count = 0
        self._per_file: dict[str, int] = {}

    def add(self, path: Path | str, where: str, what: str) -> None:
        self.count += 1
        key = str(path)
        n = self._per_file[key] = self._per_file.get(key, 0) + 1
        if n <= MAX_ERRORS_PER_FILE:
            message = f"{path}: {where}: {what}" if where else f"{path}: {what}"
            logger.warning("%s", message)
            self.messages.append(message)
        elif n == MAX_ERRORS_PER_FILE + 1:
            self.messages.append(f"{path}: more problems, not listed")

    def add_unlisted(self, path: Path | str, n: int) -> None:
        """Count ``n`` more problems of ``path`` that were not kept (read elsewhere, past the first ones listed)."""
        if n <= 0:
            return
        self.count += n
        key = str(path)
        before = self._per_file.get(key, 0)
        self._per_file[key] = before + n
        if before <= MAX_ERRORS_PER_FILE < before + n:
            self.messages.append(f"{path}: more problems, not listed")
