"""Small helpers for Scrapy responses: headers as JSON-safe dicts, content-type checks."""

from __future__ import annotations

from typing import Any

MAX_HEADER_VALUES = 50
MAX_HEADER_LENGTH = 2000


def headers_dict(headers: Any) -> dict[str, list[str]]:
    """Scrapy ``Headers`` (bytes keys, lists of bytes) to ``{lower-case name: [values]}``, bounded in size."""
    out: dict[str, list[str]] = {}
    if not headers:
        return out
    for i, (name, values) in enumerate(headers.items()):
        if i >= MAX_HEADER_VALUES:
            break
        key = (name.decode("latin-1") if isinstance(name, bytes) else str(name)).lower()[:200]
        vals = values if isinstance(values, list | tuple) else [values]
        out[key] = [
            (v.decode("latin-1") if isinstance(v, bytes) else str(v))[:MAX_HEADER_LENGTH]
            for v in vals[:MAX_HEADER_VALUES]
        ]
    return out


def header_values(headers: Any, name: str, *, max_length: int = 500, max_values: int = 20) -> list[str]:
    """The non-empty values of header ``name`` (case-insensitive) in a headers mapping whose keys and values may be
    bytes or str and whose values may be lists; bounded in length and count."""
    values: list[str] = []
    for key, value in (headers or {}).items():
        if key.__class__ is str:  # the common case (headers read back from the store), checked cheaply
            if len(key) < len(name) or key.strip().lower() != name:
                continue
        else:
            if isinstance(key, bytes):
                key = key.decode("latin-1", "replace")
            if str(key).strip().lower() != name:
                continue
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, bytes):
                item = item.decode("latin-1", "replace")
            if isinstance(item, str) and item.strip():
                values.append(item[:max_length])
    return values[:max_values]


def content_type(headers: Any) -> str | None:
    if not headers:
        return None
    raw = headers.get(b"Content-Type") if hasattr(headers, "get") else None
    if raw is None:
        return None
    return raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)


def is_html(ctype: str | None) -> bool:
    return bool(ctype) and ctype.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml")  # type: ignore[union-attr]


def is_image_type(ctype: str | None) -> bool:
    return bool(ctype) and ctype.split(";")[0].strip().lower().startswith("image/")  # type: ignore[union-attr]
