"""The dtype rule for scaled values (shared by all readers).

``scale=True`` gives values in real units (``stored * slope + inter``) in the narrowest dtype that
holds every possible result exactly; when no integer dtype does (fractional slope or intercept, or a
range past int64), float32, unless the stored data is already float64, scaled integers could
overflow float32 or could not all be told apart in it (a slope below float32's spacing at the
largest value it gives), or a nonzero slope or intercept is below float32's smallest normal number:
float64 then. :mod:`lazyvol.scaling` applies the rule to blocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "common_stored_dtype",
    "int_bounds",
    "int_reach",
    "is_identity",
    "scaled_dtype",
    "scaled_dtype_bits",
    "scaled_dtype_images",
    "stored_range",
]


_INT_CANDIDATES = [
    np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64")
]


def _narrowest_int(lo: float, hi: float) -> np.dtype | None:
    """The first of :data:`_INT_CANDIDATES` holding every value in ``[lo, hi]``, or None."""
    for cand in _INT_CANDIDATES:
        info = np.iinfo(cand)
        if info.min <= lo and hi <= info.max:
            return cand
    return None


def is_identity(slope: float, inter: float) -> bool:
    """True when ``slope == 1`` and ``inter == 0`` (no scaling to do)."""
    return float(slope) == 1.0 and float(inter) == 0.0


def scaled_dtype(stored: np.dtype, pairs: Iterable[tuple[float, float]]) -> np.dtype:
    """Narrowest dtype holding ``stored * slope + inter`` exactly for every (slope, inter) pair.

    Parameters
    ----------
    stored : numpy.dtype
        The stored (on-disk) dtype.
    pairs : iterable of (slope, inter)
        Every scaling that applies to some part of the volume (one per DICOM slice, one for NIfTI).

    Returns
    -------
    numpy.dtype
        ``stored`` (native byte order) when every pair is the identity; an integer dtype when every
        pair is integral and the whole range of results fits; complex stays complex; otherwise
        float32 (float64 if the stored data is float64, if scaled integers could overflow float32
        or neighbouring ones could round to one float32 value, or if a nonzero slope or intercept
        is below float32's smallest normal number).
    """
    stored = np.dtype(stored).newbyteorder("=")
    pairs = [(float(s), float(i)) for s, i in pairs]
    if not pairs or all(is_identity(s, i) for s, i in pairs):
        return stored
    if any(0 < abs(x) < float(np.finfo(np.float32).tiny) for p in pairs for x in p):
        # A slope or intercept below float32's smallest normal number (scl_slope 1e-300 in a
        # NIfTI-2 header) reads as zeros or loses its digits in float32: float64, as nibabel.
        return np.dtype(np.complex128) if stored.kind == "c" else np.dtype(np.float64)
    if stored.kind == "c":
        return np.dtype(np.complex128) if stored.itemsize >= 16 else np.dtype(np.complex64)
    if stored.kind == "f":
        return np.dtype(np.float64) if stored.itemsize >= 8 else np.dtype(np.float32)
    if stored.kind in "iub" and all(s.is_integer() and i.is_integer() for s, i in pairs):
        low, high = int_bounds(stored)
        lo = math.inf
        hi = -math.inf
        for s, i in pairs:
            ends = (low * int(s) + int(i), high * int(s) + int(i))
            lo = min(lo, *ends)
            hi = max(hi, *ends)
        found = _narrowest_int(lo, hi)
        if found is not None:
            return found
    if stored.kind in "iub":
        # As nibabel's int_scinter_ftype: float32 unless the scaled range of the stored integers
        # overflows it (an scl_slope of 3e38 on int16 made +-inf of finite values).
        reach = int_reach(stored)
        tops = [(abs(s), reach * abs(s) + abs(i)) for s, i in pairs]  # (slope, largest value)
        if max(top for _, top in tops) > float(np.finfo(np.float32).max):
            return np.dtype(np.float64)
        # float32 holds about 7 significant digits: where its spacing at the largest value a
        # scaling gives passes its slope, neighbouring stored values could read as one value (a
        # slope of 0.001 over an intercept of 1e9 made all 256 values of a uint8 image 1e9).
        if any(0 < s < float(np.spacing(np.float32(top))) for s, top in tops):
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def int_bounds(stored: np.dtype) -> tuple[int, int]:
    """Smallest and largest value an integer (or bool, as uint8) dtype ``stored`` holds."""
    info = np.iinfo(stored) if stored.kind != "b" else np.iinfo(np.uint8)
    return int(info.min), int(info.max)


def int_reach(stored: np.dtype) -> int:
    """Largest magnitude an integer (or bool) dtype ``stored`` holds."""
    return max(abs(b) for b in int_bounds(stored))


def stored_range(stored: np.dtype, bits_stored: int) -> tuple[int, int]:
    """The values a DICOM image of stored dtype ``stored`` and BitsStored ``bits_stored`` holds."""
    if np.dtype(stored).kind == "i":
        return -(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1
    return 0, 2**bits_stored - 1


def common_stored_dtype(kinds: Iterable[tuple[np.dtype, int]]) -> np.dtype:
    """The stored dtype of a volume whose images are stored as ``kinds`` ((stored dtype,
    BitsStored) pairs): the one dtype when they share it; otherwise the narrowest integer dtype
    holding every image's values (``uint16`` of 12 bits and ``int16`` together: ``int16``;
    ``uint16`` of 16 bits and ``int16``: ``int32``)."""
    pairs = {(np.dtype(d).newbyteorder("="), int(b)) for d, b in kinds}
    dtypes = {d for d, _ in pairs}
    if len(dtypes) == 1:
        return dtypes.pop()
    ends = [v for d, b in pairs for v in stored_range(d, b)]
    lo, hi = min(ends), max(ends)
    found = _narrowest_int(lo, hi)
    return np.dtype(np.int64) if found is None else found


def scaled_dtype_bits(
    stored: np.dtype, bits_stored: int, pairs: Sequence[tuple[float, float]]
) -> np.dtype:
    """:func:`scaled_dtype` with the value range that DICOM's BitsStored allows.

    12-bit unsigned CT with RescaleIntercept -1024 holds -1024..3071: int16, not int32. Otherwise the
    same rule: the stored dtype when no scaling applies, the narrowest exact integer dtype when every
    slope and intercept is integral, float32 otherwise.
    """
    base = scaled_dtype(stored, pairs)
    if base.kind not in "iu" or base == stored.newbyteorder("="):
        return base
    lo_s, hi_s = stored_range(stored, bits_stored)
    ends = [v * int(s) + int(i) for s, i in set(pairs) for v in (lo_s, hi_s)]
    found = _narrowest_int(min(ends), max(ends))
    return base if found is None else found


def scaled_dtype_images(images: Iterable[tuple[np.dtype, int, float, float]]) -> np.dtype:
    """:func:`scaled_dtype_bits` for images that differ in stored dtype (DICOM files of one series
    that differ in BitsAllocated or PixelRepresentation); ``images``: the (stored dtype,
    BitsStored, slope, intercept) of each.

    Their :func:`common_stored_dtype` when no scaling applies; when every slope and intercept is
    integral, the narrowest integer dtype holding each image's range scaled by its own pair;
    otherwise :func:`scaled_dtype` of the common stored dtype (float32, float64 where float32
    could overflow).
    """
    seen = {(np.dtype(d).newbyteorder("="), int(b), float(s), float(i)) for d, b, s, i in images}
    common = common_stored_dtype((d, b) for d, b, _, _ in seen)
    pairs = [(s, i) for _, _, s, i in seen]
    if all(is_identity(s, i) for s, i in pairs):
        return common
    if all(s.is_integer() and i.is_integer() for s, i in pairs):
        ends = [v * int(s) + int(i) for d, b, s, i in seen for v in stored_range(d, b)]
        found = _narrowest_int(min(ends), max(ends))
        if found is not None:
            return found
    return scaled_dtype(common, pairs)
