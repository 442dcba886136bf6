"""A foreign Zarr array's ``fill_value`` that its dtype cannot hold (floating-point, complex or
integer).

The fill value is what every chunk never written reads as. zarr-python casts a ``fill_value``
of ``1e40`` for a ``float32`` array (``float32``'s largest is about ``3.4e38``) to ``inf``, with
numpy's "overflow encountered in cast" warning escaping, and reads such chunks as ``inf``: a
value no writer of that array stored. :func:`fill_problem` tells such metadata at open.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["fill_problem"]

#: String fill values of floating-point types (Zarr v2 and v3) that are not numbers in decimal.
_WORDS = frozenset({"NaN", "Infinity", "-Infinity"})


def _dtype(doc: dict[str, Any]) -> np.dtype[Any] | None:
    name = doc.get("dtype") if doc.get("zarr_format") == 2 else doc.get("data_type")
    if not isinstance(name, str):
        return None
    try:
        return np.dtype(name)
    except TypeError:
        return None


def fill_problem(doc: dict[str, Any]) -> str | None:
    """What is wrong with the ``fill_value`` of the array metadata ``doc`` (a ``.zarray`` or an
    array's ``zarr.json``): of a floating-point dtype, a finite number past the dtype's range (of
    a complex dtype, such a real or imaginary part: zarr-python reads [1e40, 0] for complex64 as
    inf + 0j); of
    an integer dtype, a number that is no integer or one past the dtype's range (zarr-python
    refuses these with its own words: 'Python integer 300 out of bounds for uint8'); None
    otherwise."""
    dtype = _dtype(doc)
    if dtype is not None and dtype.kind in "iu":
        return _int_fill_problem(doc.get("fill_value"), dtype)
    fill = doc.get("fill_value")
    if dtype is not None and dtype.kind == "c" and isinstance(fill, list) and len(fill) == 2:
        part = np.dtype(f"{dtype.byteorder}f{dtype.itemsize // 2}")  # (the real, imaginary parts')
        for value in fill:
            if (problem := _float_fill_problem(value, part)) is not None:
                return problem.replace(
                    f"fill_value {value!r}", f"fill_value {fill!r} (a part of it, {value!r})", 1
                ).replace(f"fill value {part.name} holds", f"fill value {dtype.name} holds")
        return None
    if dtype is None or dtype.kind != "f":
        return None
    return _float_fill_problem(fill, dtype)


def _float_fill_problem(fill: Any, dtype: np.dtype[Any]) -> str | None:
    """What is wrong with ``fill`` as the fill value of the floating-point ``dtype``: a finite
    number past its range (zarr-python casts it to inf); None otherwise."""
    if isinstance(fill, bool) or fill is None:
        return None
    if isinstance(fill, str):
        if fill in _WORDS or fill.lower().startswith("0x"):  # (hex: the bits themselves)
            return None
        try:
            value = float(fill)
        except ValueError:
            return None
    elif isinstance(fill, (int, float)):
        value = float(fill) if not isinstance(fill, int) or abs(fill) < 2**1024 else math.inf
    else:
        return None
    top = float(np.finfo(dtype).max)
    with np.errstate(over="ignore"):  # (rounded to the dtype as zarr casts it: 3.4028235e38,
        cast = dtype.type(value)  # float32's largest printed short, is float32's largest)
    if (math.isfinite(value) or isinstance(fill, int)) and not np.isfinite(cast):
        return (
            f"its fill_value {fill!r} does not fit {dtype.name} (largest {top:g}): every chunk "
            f"never written would read as {'-' if value < 0 else ''}inf; the metadata is "
            f"corrupt; state a fill value {dtype.name} holds"
        )
    return None


def _int_fill_problem(fill: Any, dtype: np.dtype[Any]) -> str | None:
    """What is wrong with ``fill`` as the fill value of an integer ``dtype``: not integral
    (1.5, "NaN") or out of its range; None for what zarr-python reads (an integer, an integral
    float, a boolean, a decimal string of one, or null)."""
    if fill is None or isinstance(fill, bool):
        return None
    value: Any = fill
    if isinstance(fill, str):
        try:
            value = int(fill)
        except ValueError:
            try:
                value = float(fill)
            except ValueError:
                return None  # (text zarr judges itself)
    if isinstance(value, float):
        if not value.is_integer():
            return (
                f"its fill_value {fill!r} is not an integer, which {dtype.name} values are; "
                "the metadata is corrupt; state an integer fill value"
            )
        value = int(value)
    if not isinstance(value, int):
        return None
    info = np.iinfo(dtype)
    if not info.min <= value <= info.max:
        return (
            f"its fill_value {fill!r} does not fit {dtype.name} ({info.min}..{info.max}); the "
            f"metadata is corrupt; state a fill value {dtype.name} holds"
        )
    return None
