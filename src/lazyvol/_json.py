"""JSON documents lazyvol reads from files it may not have written (a store's metadata).

``json.loads`` raises :class:`RecursionError`, not the ``ValueError`` of any other unparseable
document, for valid JSON nested deeper than Python's parser recurses (``[[[...]]]`` 100,000 deep
in a ``zarr.json``): readers that catch ``ValueError`` for unreadable metadata let it out untyped,
and a sniff that took it for a failure skipped the reader the file was for. :func:`loads` gives
it as the ``ValueError`` every caller expects.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["loads"]


def loads(raw: str | bytes | bytearray) -> Any:
    """``json.loads(raw)``; ValueError for a document nested too deeply to parse."""
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise ValueError(
            "JSON nested too deeply to parse (more levels of arrays/objects than Python's "
            "parser recurses)"
        ) from exc
