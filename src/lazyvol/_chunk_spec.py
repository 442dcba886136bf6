"""What a ``chunks=`` specification may say before dask's ``normalize_chunks`` reads it.

dask takes some specifications otherwise than a user means, without a word: ``True`` (zarr's
"choose for me") and the string ``"-1"`` are lengths of one voxel (a chunk per voxel: millions of
tasks for one volume), and a dict's keys that are no axis numbers (``{"k": 1}``, xarray's way of
naming dimensions; ``{-1: 1}``; ``{5: 2}`` for a 4-axis volume) are ignored.
:func:`checked_spec` refuses those with an :class:`~lazyvol.errors.OptionError` and numbers a
dict's negative axes from the end, as numpy and dask's ``rechunk`` do. Low level: errors only.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from .errors import OptionError

__all__ = ["checked_spec"]

_TAKES = (
    "give positive lengths per axis (-1 or None for a whole axis), a dict {axis number: length} "
    "(i, j, k, t = 0, 1, 2, 3), a size such as '32MiB', or 'auto'"
)


def checked_spec(chunks: object, shape: Sequence[int], where: str = "") -> object:
    """``chunks`` as dask should read it: a dict's axes numbered 0 .. ndim - 1.

    Raises
    ------
    OptionError
        A bool where a length goes, a size string that is not a positive size, or a dict key that
        is no axis of ``shape``.
    """
    at = f"{where}: " if where else ""
    ndim = len(shape)
    if isinstance(chunks, dict):
        out: dict[int, object] = {}
        for key, value in chunks.items():
            axis = _axis(key, ndim)
            if axis is None:
                raise OptionError(
                    f"{at}chunks={chunks!r}: {key!r} is no axis of the volume ({ndim} axes, "
                    f"shape {tuple(int(n) for n in shape)}); {_TAKES}"
                )
            _check_length(value, chunks, at)
            out[axis] = value
        return out
    if isinstance(chunks, tuple | list):
        for value in chunks:
            _check_length(value, chunks, at)
        return chunks
    _check_length(chunks, chunks, at)
    return chunks


def _axis(key: object, ndim: int) -> int | None:
    """``key`` as an axis number (a negative one counted from the end), None if it is none."""
    if isinstance(key, bool | np.bool_):
        return None
    try:
        axis = operator.index(key)  # type: ignore[arg-type]
    except TypeError:
        return None
    return axis % ndim if -ndim <= axis < ndim else None


def _check_length(value: object, chunks: object, at: str) -> None:
    """Refuse a bool or a size string of no positive size where a chunk length goes."""
    if isinstance(value, bool | np.bool_):
        raise OptionError(
            f"{at}chunks={chunks!r}: {value!r} is no chunk length (dask reads True as 1 voxel "
            f"per chunk); {_TAKES}"
        )
    if isinstance(value, str) and value.strip().lower() != "auto":
        from dask.utils import parse_bytes

        try:
            size = parse_bytes(value)
        except (ValueError, TypeError):
            return  # (not a size: dask's own refusal names it)
        if size <= 0:
            raise OptionError(
                f"{at}chunks={chunks!r}: {value!r} is no size of a chunk (dask reads it as "
                f"{size} bytes, one voxel per chunk); {_TAKES}"
            )
