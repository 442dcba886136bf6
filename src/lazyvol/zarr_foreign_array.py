"""Checks at open of an OME-Zarr array another tool wrote (no manifest): that its chunks will
read as written (:func:`check_foreign_array`, for :mod:`lazyvol.zarr_io`)."""

from __future__ import annotations

import os
from typing import Any

from . import _json
from .errors import FormatError, LazyvolError
from .zarr_chunk_keys import misplaced_chunks
from .zarr_fill import fill_problem
from .zarr_store import StoreRoot

__all__ = ["check_foreign_array"]


def check_foreign_array(root: StoreRoot, array: str, arr_meta: dict[str, Any]) -> None:
    """A foreign array's chunks must read as written: its fill value one its dtype holds
    (:func:`lazyvol.zarr_fill.fill_problem`) and, locally, its chunk files where its metadata
    puts them (:func:`lazyvol.zarr_chunk_keys.misplaced_chunks`), or every chunk reads absent.
    A remote array's metadata is not read again: ``arr_meta`` (v3's as written) is judged."""
    if root.is_remote:
        problem = fill_problem(arr_meta)
        if problem is not None:
            raise FormatError(f"{root.where(array + '/zarr.json')}: {problem}")
        return
    for name in ("zarr.json", ".zarray"):
        try:
            doc = _json.loads(root.read(f"{array}/{name}"))
        except (OSError, ValueError, LazyvolError):
            continue
        problem = fill_problem(doc) if isinstance(doc, dict) else None
        if problem is None and isinstance(doc, dict):
            problem = misplaced_chunks(os.path.join(root.path, *array.split("/")), doc)
        if problem is not None:
            raise FormatError(f"{root.where(array + '/' + name)}: {problem}")
        return
