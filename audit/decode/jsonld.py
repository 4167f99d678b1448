"""The image URLs a JSON-LD block names (schema.org ``image``, ``thumbnailUrl``, ``logo``, ``primaryImageOfPage``,
and the ``url`` / ``contentUrl`` of an ``ImageObject``), read within bounds.

JSON-LD in a page is hostile (megabytes of it, nesting 50 or 100,000 deep): a block longer than
:data:`MAX_JSONLD_CHARS` is not read, ``json.loads`` runs on the bounded text (a nesting too deep for it is an error,
not a crash), and the walk over the parsed value is iterative, stops at :data:`MAX_JSONLD_DEPTH` levels and after
the caller's count of values and URLs.
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSONLD_CHARS = 1024 * 1024  # characters of one block read
MAX_JSONLD_DEPTH = 20  # levels of nesting walked
MAX_JSONLD_VALUES = 20_000  # objects, arrays and strings visited in one block
IMAGE_KEYS = frozenset({"image", "thumbnailurl", "logo", "primaryimageofpage", "contenturl"})


def _is_image_object(obj: dict[str, Any]) -> bool:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and k.rsplit("/", 1)[-1].lower() in ("imageobject", "barcode") for k in kinds)


def jsonld_urls(text: str, max_urls: int) -> tuple[list[str], str | None]:
    """The image URLs named in the JSON-LD ``text``, in document order (duplicates kept), and why the list may be
    incomplete (the block too long, not JSON, nested deeper than :data:`MAX_JSONLD_DEPTH`, more than ``max_urls``
    URLs or :data:`MAX_JSONLD_VALUES` values), else None.

    A string is an image URL when it is the value (or an element of the array value) of an image key
    (:data:`IMAGE_KEYS`); an object there, or any object typed ``ImageObject``, names its ``url`` / ``contentUrl``
    (``contentUrl`` elsewhere, e.g. of a ``VideoObject``, is not an image)."""
    if len(text) > MAX_JSONLD_CHARS:
        return [], f"a JSON-LD block of {len(text):,} characters was not read (over {MAX_JSONLD_CHARS:,})"
    try:
        data = json.loads(text)
    except RecursionError:
        return [], "a JSON-LD block nested too deep to parse was not read"
    except ValueError:
        return [], "a JSON-LD block is not valid JSON"
    urls: list[str] = []
    problem: str | None = None
    # (value, depth, whether it sits under an image key)
    stack: list[tuple[Any, int, bool]] = [(data, 0, False)]
    visited = 0
    while stack:
        value, depth, under_image = stack.pop()
        visited += 1
        if visited > MAX_JSONLD_VALUES:
            problem = f"a JSON-LD block holds more than {MAX_JSONLD_VALUES:,} values: the rest was not read"
            break
        if isinstance(value, str):
            if under_image:
                if len(urls) >= max_urls:
                    problem = f"a JSON-LD block names more than {max_urls:,} image URLs: the rest were not read"
                    break
                urls.append(value)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth >= MAX_JSONLD_DEPTH:
            problem = f"a JSON-LD block nests deeper than {MAX_JSONLD_DEPTH} levels: the deeper values were not read"
            continue
        children: list[tuple[Any, int, bool]] = []
        if isinstance(value, list):
            children = [(item, depth + 1, under_image) for item in value]
        else:
            names_image = under_image or _is_image_object(value)
            for key, item in value.items():
                lowered = key.lower()
                if lowered == "contenturl":
                    children.append((item, depth + 1, names_image))
                elif lowered in IMAGE_KEYS:
                    children.append((item, depth + 1, True))
                elif lowered == "url" and names_image:
                    children.append((item, depth + 1, True))
                else:
                    children.append((item, depth + 1, False))
        stack.extend(reversed(children))
    return urls, problem
