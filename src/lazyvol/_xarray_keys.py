"""Selections of the ``lazyvol`` xarray engine's lazily indexed image, spelled so that xarray
composes and splits them as numpy reads them.

xarray (2026.9) reads the ``-1`` that ``slice.indices`` gives for the start of an empty
descending slice (``slice(-12, None, -1)`` of 9 slices: ``(-1, -1, -1)``) as the last index:
composing a selection onto the lazily indexed array (``normalize_slice``, ``slice_slice``) turned
``isel(k=slice(-12, None, -1))`` into every slice reversed, where numpy selects none (dask's
``normalize_slice`` has the same fault, dask/dask#10555: a dask-backed image, ``chunks={}`` or
``vol.to_xarray()``, is not mended here), and splitting a descending empty slice for the backend
took its last index (a bare ``IndexError``). An empty slice is therefore spelled
``slice(0, 0, 1)`` before xarray sees it: the same selection, ascending. Imports xarray.
"""

from __future__ import annotations

from typing import Any

from xarray.core import indexing

__all__ = ["forward_empty_slices", "lazily_indexed", "lazily_indexed_coords"]


def forward_empty_slices(key: Any, shape: tuple[int, ...]) -> Any:
    """``key`` (an xarray indexer over ``shape``) with every empty slice spelled
    ``slice(0, 0, 1)``; ``key`` itself when it has none."""
    items = getattr(key, "tuple", None)
    if not isinstance(items, tuple) or len(items) != len(shape):
        return key
    empty = [
        isinstance(item, slice) and not range(*item.indices(int(n)))
        for item, n in zip(items, shape, strict=True)
    ]
    if not any(empty):
        return key
    return type(key)(
        tuple(slice(0, 0, 1) if gone else item for item, gone in zip(items, empty, strict=True))
    )


class _LazilyIndexed(indexing.LazilyIndexedArray):
    """xarray's lazily indexed array, each selection's empty slices spelled ascending before it
    is composed with the selections made before (:func:`forward_empty_slices`)."""

    __slots__ = ()

    def _updated_key(self, new_key: Any) -> Any:
        return super()._updated_key(forward_empty_slices(new_key, tuple(self.shape)))


def lazily_indexed(backend: Any) -> indexing.LazilyIndexedArray:
    """The lazily indexed array over ``backend`` that the engine's image variable holds."""
    return _LazilyIndexed(backend)


def lazily_indexed_coords(coords: dict[str, Any]) -> dict[str, Any]:
    """``coords`` (``{name: (dims, values, attrs)}``) with each dask array's values lazily indexed
    as the image is (an oblique grid's world coordinates, the DICOM per-image attributes): indexed
    through dask they kept every slice of a selection the image reads as empty, and the dataset's
    variables disagreed on the length of ``k``."""
    import dask.array as da

    out: dict[str, Any] = {}
    for name, value in coords.items():
        if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], da.Array):
            value = (value[0], _LazilyIndexed(value[1]), value[2])
        out[name] = value
    return out
