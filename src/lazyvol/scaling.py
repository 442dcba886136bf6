"""The scaling of blocks: ``stored * slope + inter`` into the dtype :mod:`lazyvol.scaled_dtypes`
chooses, exact or rounded once, with casts and overflow checks (shared by all readers)."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterable
from typing import Literal

import numpy as np

from .errors import DataTypeError, FormatError
from .scaled_dtypes import int_bounds, int_reach, is_identity

__all__ = [
    "apply_scale",
    "cast_into",
    "check_cast",
    "check_integer_scaling",
    "check_scaled",
    "may_overflow",
    "nifti_scaling",
    "numbers_hint",
    "scale_into",
    "scale_rounded_into",
]


def numbers_hint(dtype: np.dtype) -> str:
    """How to get plain numbers from values of ``dtype``, for a message refusing them: one
    channel of RGB (structured) data, the magnitude of complex data, else a cast."""
    if dtype.names:
        return (
            f"take one channel ({', '.join(dtype.names)}), e.g. "
            f"lazyvol.Volume(vol.data[{dtype.names[0]!r}], vol.affine)"
        )
    if dtype.kind == "V":  # raw RGB bytes (a file's layout): lazyvol.open names the channels
        return (
            "open it with lazyvol.open, whose data names the channels (R, G, B), and take one, "
            "e.g. lazyvol.Volume(vol.data['R'], vol.affine)"
        )
    if dtype.kind == "c":
        return "take a real quantity, e.g. the magnitude: lazyvol.Volume(abs(vol.data), vol.affine)"
    return "convert the values, e.g. lazyvol.Volume(vol.data.astype('float32'), vol.affine)"


def check_cast(where: str, stored: np.dtype, out: np.dtype, field: str) -> None:
    """Refuse a ``dtype=`` that cannot hold what each stored value is: one number for the
    channels of RGB/RGBA (structured) data, a real number for complex data (numpy's cast drops
    the channels with a bare TypeError inside the read, or the imaginary part with a warning).

    Raises
    ------
    DataTypeError
        Naming ``where`` (the source), ``field`` (where its dtype is stated) and the fix.
    """
    lost = ""
    if stored.names and out != stored:
        lost = f"one number per voxel cannot hold its channels ({', '.join(stored.names)})"
    elif stored.kind == "c" and out.kind != "c":
        lost = "the cast would drop the imaginary part of each value"
    if lost:
        raise DataTypeError(
            f"{where}: dtype={out.name!r} cannot hold this image's {stored.newbyteorder('=')} "
            f"values ({field}): {lost}; open it without dtype= and {numbers_hint(stored)}"
        )


def check_integer_scaling(
    where: str, out: np.dtype, pairs: Iterable[tuple[float, float]], fields: str
) -> None:
    """Refuse, at open, an integer ``dtype=`` for values a scaling makes fractional: a slope or
    intercept of ``pairs`` that is not a whole number (nibabel gives such values only as
    floats: ``get_fdata`` takes float dtypes only, ``dataobj`` is float when scaled); numpy's
    cast would truncate them without a word. Values that merely pass the dtype's range are
    refused as each block is read (:func:`scale_into`), as are fractional values of float data.

    Raises
    ------
    DataTypeError
        Naming ``where`` (the source), ``fields`` (the header fields of the scaling), a pair,
        and the fix.
    """
    if out.kind not in "iu":
        return
    odd = sorted(
        {(s, i) for s, i in pairs if not (float(s).is_integer() and float(i).is_integer())}
    )
    if odd:
        shown = f"{odd[0][0]!r} / {odd[0][1]!r}" + (
            f" (and {len(odd) - 1} more)" if odd[1:] else ""
        )
        raise DataTypeError(
            f"{where}: dtype={out.name!r} cannot hold the scaled values: {fields} = {shown} is "
            f"not a whole-number scaling, so the values are fractional and {out.name} would "
            "truncate them; ask for a floating-point dtype (dtype='float32' or 'float64'), or read "
            "the stored integers with scale=False"
        )


def nifti_scaling(raw_slope: float, raw_inter: float, where: str) -> tuple[float, float]:
    """``(slope, inter)`` that a NIfTI header's ``scl_slope`` / ``scl_inter`` fields apply.

    None when the slope is 0 or NaN (nifti1.h: scaling applies when ``scl_slope != 0``; nibabel
    reads NaN as unset), whatever the intercept holds: ``(1.0, 0.0)`` then. A usable slope with an
    infinite slope, or an intercept that is not finite, is refused (nibabel refuses it too),
    naming ``where`` (the file or store) and both fields.

    Raises
    ------
    FormatError
        A usable slope with a non-finite slope or intercept.
    """
    raw_slope, raw_inter = float(raw_slope), float(raw_inter)
    if raw_slope == 0 or math.isnan(raw_slope):
        return 1.0, 0.0
    if not (math.isfinite(raw_slope) and math.isfinite(raw_inter)):
        raise FormatError(
            f"{where}: NIfTI field scl_slope = {raw_slope} / scl_inter = {raw_inter} is not "
            "finite; pass scale=False for stored values"
        )
    return raw_slope, raw_inter


def apply_scale(
    block: np.ndarray,
    slope: float,
    inter: float,
    out_dtype: np.dtype,
    *,
    where: str = "",
    fields: str = "slope / intercept",
) -> np.ndarray:
    """``block * slope + inter`` in ``out_dtype`` (a new array unless nothing changes).

    A float32 (complex64) ``out_dtype`` gets each value rounded once from the float64
    (complex128) result (:func:`scale_rounded_into`), whatever the stored dtype: float32
    arithmetic rounds the product before the intercept is added, thousands of units in the last
    place off where the intercept cancels it (int16 * 0.3 - 1024.7 near 0). A result past
    ``out_dtype``'s range (a slope above 1 or an intercept on float32 data, a slope beyond
    float64 on integers) is where :func:`may_overflow` says it can happen: a finite stored value
    that comes out inf or NaN raises :class:`~lazyvol.errors.FormatError` (:func:`check_scaled`;
    ``where``: the file, ``fields``: the header fields of the scaling) instead of becoming a value
    no stored value said; the stored data's own NaN and inf are kept.
    """
    out_dtype = np.dtype(out_dtype)
    if is_identity(slope, inter):
        if out_dtype.kind in "fc" and may_overflow(block.dtype, 1.0, 0.0, out_dtype):
            out = np.empty_like(block, dtype=out_dtype)
            cast_into(block, out, where=where)
            return out
        if out_dtype.kind not in "iu" or _exact_in(block.dtype, 1.0, 0.0, out_dtype):
            return block.astype(out_dtype, copy=block.dtype != out_dtype)
        fields = ""  # (a cast to an integer dtype, checked: a message names no scaling)
    out = np.empty_like(block, dtype=out_dtype)
    if _rounds_in_wide(block.dtype, out_dtype):
        scale_rounded_into(block, out, slope, inter, where=where, fields=fields)
        return out
    scale_into(block, out, slope, inter, where=where, fields=fields)
    return out


def _rounds_in_wide(stored: np.dtype, out_dtype: np.dtype) -> bool:
    """Whether scaling ``stored`` values into ``out_dtype`` is computed in float64 (complex128)
    and rounded once (:func:`scale_rounded_into`): a float output narrower than float64, or a
    complex one narrower than complex128, from real (or, for complex, any) stored numbers."""
    if out_dtype.kind == "f":
        return out_dtype.itemsize < 8 and stored.kind in "iubf"
    return out_dtype.kind == "c" and out_dtype.itemsize < 16 and stored.kind in "iubfc"


def scale_rounded_into(
    src: np.ndarray,
    dest: np.ndarray,
    slope: float,
    inter: float,
    *,
    where: str = "",
    fields: str = "slope / intercept",
) -> None:
    """``dest[...] = src * slope + inter`` computed in float64 (complex128 for a complex
    ``dest``) and rounded once to ``dest``'s dtype: each value the nearest of that dtype to the
    real one (float32 arithmetic rounds the slope, the product and the sum: a DICOM DS slope such
    as 0.3 is no float32, and an intercept cancelling the rounded product leaves its error, up to
    thousands of units in the last place of a result near 0). ``src`` may be a strided view; the
    wide temporaries are of at most ``ROUNDED_PIECE`` values at a time. Where
    :func:`may_overflow` says a result can leave ``dest``'s range, checked with
    :func:`check_scaled` (``where``, ``fields``: the file and header fields errors name); a
    slope of 1 and no intercept is a cast (:func:`cast_into`: what does not fit is the dtype=)."""
    if dest.dtype.kind == "b":
        _nonzero_into(src, dest, slope, inter)
        return
    if is_identity(slope, inter):
        cast_into(src, dest, where=where)
        return
    if dest.dtype.kind == "c":
        _scale_parts_into(src, dest, slope, inter, where=where, fields=fields)
        return
    if _rounds_once_in(src.dtype, slope, inter, dest.dtype):
        scale_into(src, dest, slope, inter, where=where, fields=fields)  # (no temporary)
        return
    buf: np.ndarray = np.empty(min(src.size, ROUNDED_PIECE), dtype=_wide(dest.dtype))  # (reused)
    with np.errstate(over="ignore", invalid="ignore"):
        for part, out in _pieces(src, dest):
            work = buf[: part.size].reshape(part.shape)
            np.multiply(part, float(slope), out=work, dtype=work.dtype, casting="unsafe")
            if inter != 0:
                work += float(inter)
            np.copyto(out, work, casting="same_kind")
    if may_overflow(src.dtype, slope, inter, dest.dtype):
        check_scaled(dest, src, slope, inter, where=where, fields=fields)


#: Most values scaled through one wide temporary by :func:`scale_rounded_into` (2 MiB of float64:
#: the temporary stays in cache, and a block's scaling needs no memory of the block's size).
ROUNDED_PIECE = 2**18


def _wide(dtype: np.dtype) -> type:
    """The dtype a value of ``dtype`` is computed in before its one rounding."""
    return np.complex128 if np.dtype(dtype).kind == "c" else np.float64


def _pieces(src: np.ndarray, dest: np.ndarray) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Matching views of ``src`` and ``dest`` (same shape) covering both, each of at most
    ``ROUNDED_PIECE`` values: flat runs where both share a contiguous layout, else slabs along
    ``src``'s outermost axis in memory, a slab still too big cut the same way in turn."""
    if src.size <= ROUNDED_PIECE or src.ndim == 0:
        yield src, dest
        return
    both_f = src.flags.f_contiguous and dest.flags.f_contiguous
    if both_f or (src.flags.c_contiguous and dest.flags.c_contiguous):
        order: Literal["F", "C"] = "F" if both_f else "C"
        flat_src, flat_dest = src.reshape(-1, order=order), dest.reshape(-1, order=order)
        for at in range(0, flat_src.size, ROUNDED_PIECE):
            yield flat_src[at : at + ROUNDED_PIECE], flat_dest[at : at + ROUNDED_PIECE]
        return
    axis = max((a for a in range(src.ndim) if src.shape[a] > 1), key=lambda a: abs(src.strides[a]))
    slab = src.size // src.shape[axis]
    step = max(1, ROUNDED_PIECE // max(1, slab))
    for at in range(0, src.shape[axis], step):
        cut = (slice(None),) * axis + (slice(at, at + step),)
        yield from _pieces(src[cut], dest[cut])


def scale_into(
    src: np.ndarray,
    dest: np.ndarray,
    slope: float,
    inter: float,
    *,
    where: str = "",
    fields: str = "slope / intercept",
    stored: tuple[int, int] | None = None,
) -> None:
    """``dest[...] = src * slope + inter`` in ``dest``'s dtype (``src`` cast to it first, then
    ``* slope``, then ``+ inter``), in one pass. An integer dtype takes the integral slope and
    intercept where they map every value ``src`` can hold into it (``stored``: the range its
    values are known to lie in, which the caller has made sure of, e.g. a DICOM BitsStored's once
    the unused high bits are cleared; never a range a header merely states, as no value is
    checked against it here); otherwise (a ``dtype=`` asked for) the values are scaled exactly
    (integers, in int64) or in float64, each checked to be a whole number that fits
    (:class:`~lazyvol.errors.DataTypeError`: numpy's ``astype`` would truncate or wrap it). Where :func:`may_overflow` says a float result
    can leave its range, checked with :func:`check_scaled` (``where``, ``fields``: the file and
    header fields errors name)."""
    out_dtype = dest.dtype
    if out_dtype.kind == "b":  # (slope and intercept as bool were True: every value read True)
        _nonzero_into(src, dest, slope, inter)
        return
    if out_dtype.kind == "c" and not is_identity(slope, inter):
        _scale_parts_into(src, dest, slope, inter, where=where, fields=fields)
        return
    if out_dtype.kind in "iu" and not _exact_in(src.dtype, slope, inter, out_dtype, stored):
        _checked_int_into(src, dest, slope, inter, where, fields)
        return
    risky = may_overflow(src.dtype, slope, inter, out_dtype)
    with np.errstate(over="ignore", invalid="ignore") if risky else contextlib.nullcontext():
        native = out_dtype.newbyteorder("=")  # (a ufunc's dtype= takes no byte order)
        if out_dtype.kind in "iu":  # (in its wrapping arithmetic, every result fitting it: the
            # slope and intercept modulo 2**bits, as -1 into uint8 for 255 - x is 255)
            size = 1 << (8 * native.itemsize)
            s_val, i_val = (
                np.array(int(v) % size, np.uint64).astype(native)[()] for v in (slope, inter)
            )
        else:
            s_val, i_val = native.type(slope), native.type(inter)
        if slope != 1:
            np.multiply(src, s_val, out=dest, dtype=native, casting="unsafe")
            if inter != 0:
                np.add(dest, i_val, out=dest)
        elif inter != 0:
            np.add(src, i_val, out=dest, dtype=native, casting="unsafe")
        else:
            np.copyto(dest, src, casting="unsafe")
    if risky:
        check_scaled(dest, src, slope, inter, where=where, fields=fields)


def _scale_parts_into(
    src: np.ndarray, dest: np.ndarray, slope: float, inter: float, *, where: str, fields: str
) -> None:
    """``dest[...] = src * slope + inter`` for a complex ``dest``, part by part: the real part
    ``re * slope + inter``, the imaginary part ``im * slope`` (0 for real ``src``), each computed
    in float64 (complex256: long double) and rounded once. numpy's complex product promotes the real slope to a complex
    number, and its ``0 * inf`` makes a stored inf read as ``inf+nanj`` (a real inf asked for as
    complex, or a complex ``inf+1j`` scaled by 2); the same checks as :func:`scale_into` apply."""
    pairs = [(src.real if src.dtype.kind == "c" else src, dest.real, float(inter))]
    if src.dtype.kind == "c":
        pairs.append((src.imag, dest.imag, 0.0))
    else:
        dest.imag[...] = 0
    wide = np.result_type(np.float64, dest.real.dtype)  # (complex256: its long double parts)
    buf: np.ndarray = np.empty(min(src.size, ROUNDED_PIECE), dtype=wide)  # (reused)
    with np.errstate(over="ignore", invalid="ignore"):
        for part_src, part_dest, add in pairs:
            for part, out in _pieces(part_src, part_dest):
                work = buf[: part.size].reshape(part.shape)
                np.multiply(part, wide.type(slope), out=work, dtype=wide, casting="unsafe")
                if add != 0:
                    work += add
                np.copyto(out, work, casting="same_kind")
    if may_overflow(src.dtype, slope, inter, dest.dtype):
        check_scaled(dest, src, slope, inter, where=where, fields=fields)


def _nonzero_into(src: np.ndarray, dest: np.ndarray, slope: float, inter: float) -> None:
    """``dest[...] = src * slope + inter != 0`` (numpy's ``astype(bool)`` of the real values):
    for integers, exactly (zero only at ``-inter / slope``), else computed in float64 (complex128)."""
    if src.dtype.kind in "iub" and slope != 0 and math.isfinite(slope) and math.isfinite(inter):
        from fractions import Fraction  # (here: ~1 ms of a first DICOM open that never needs it)

        zero = Fraction(-inter) / Fraction(slope)  # (floats are exact fractions)
        lo, hi = (0, 1) if src.dtype.kind == "b" else int_bounds(src.dtype)  # (bool: 0, 1)
        if zero.denominator != 1 or not lo <= zero.numerator <= hi:
            dest[...] = True
            return
        np.not_equal(src, src.dtype.type(zero.numerator), out=dest)
        return
    with np.errstate(over="ignore", invalid="ignore"):
        for part, out in _pieces(src, dest):
            np.not_equal(part.astype(_wide(part.dtype)) * slope + inter, 0, out=out)


@functools.lru_cache(maxsize=256)
def _rounds_once_in(stored: np.dtype, slope: float, inter: float, out_dtype: np.dtype) -> bool:
    """Whether ``x * slope + inter`` computed in ``out_dtype`` (a float dtype) is rounded once for
    every ``x`` of the integer dtype ``stored``: the slope and intercept are ``out_dtype``
    numbers and every product is exact (the stored values' bits and the slope's significant
    bits fit its mantissa: 16-bit values times 0.5 or 1.25 in float32), so only the sum rounds.
    Cached: DICOM asks once per frame, with a handful of distinct arguments per series."""
    out_dtype, stored = np.dtype(out_dtype), np.dtype(stored)
    if out_dtype.kind != "f" or stored.kind not in "iub":
        return False
    if not (math.isfinite(slope) and math.isfinite(inter)):
        return False  # (checked by the float64 path; an infinite slope has no integer ratio)
    if not abs(slope) >= float(np.finfo(out_dtype).tiny):  # (0, NaN, or subnormal products)
        return False
    cast = out_dtype.type
    with np.errstate(over="ignore"):  # (1e308 as float32 is inf: not exact, no warning)
        if float(cast(slope)) != slope or float(cast(inter)) != inter:
            return False
    odd = float(slope).as_integer_ratio()[0]
    significant = abs(odd).bit_length() - ((odd & -odd).bit_length() - 1)
    room = np.finfo(out_dtype).nmant + 1
    return 8 * stored.itemsize + significant <= room and not may_overflow(
        stored, slope, inter, out_dtype
    )


@functools.lru_cache(maxsize=256)
def _exact_in(
    stored: np.dtype,
    slope: float,
    inter: float,
    out_dtype: np.dtype,
    bounds: tuple[int, int] | None = None,
) -> bool:
    """Whether every value of dtype ``stored`` (within ``bounds`` when given) scaled by an
    integral ``slope`` / ``inter`` is an integer that ``out_dtype`` (an integer dtype) holds."""
    if stored.kind not in "iub" or not (float(slope).is_integer() and float(inter).is_integer()):
        return False
    ends = [b * int(slope) + int(inter) for b in bounds or int_bounds(stored)]
    out = np.iinfo(out_dtype)
    return out.min <= min(ends) and max(ends) <= out.max


def _checked_int_into(
    src: np.ndarray, dest: np.ndarray, slope: float, inter: float, where: str, fields: str
) -> None:
    """``dest[...] = src * slope + inter`` for an integer ``dest`` that does not hold every value
    ``src``'s dtype could take: integers scaled exactly (their actual range checked first, in
    Python integers), anything else in float64; a value the dtype cannot hold (a fraction, one
    past its range, NaN, inf) raises :class:`~lazyvol.errors.DataTypeError`. Computed through
    temporaries of at most ``ROUNDED_PIECE`` values (:func:`_pieces`), not of the block's size."""
    out_dtype = dest.dtype
    integral = float(slope).is_integer() and float(inter).is_integer()
    if src.dtype.kind in "iub" and integral:
        if not src.size:
            return
        lo, hi = int(src.min()), int(src.max())
        ends = sorted((lo * int(slope) + int(inter), hi * int(slope) + int(inter)))
        info = np.iinfo(out_dtype)
        if not (info.min <= ends[0] and ends[1] <= info.max):
            raise _unfit(where, fields, out_dtype, f"{ends[0]} .. {ends[1]}")
        if slope == 1 and inter == 0:
            np.copyto(dest, src, casting="unsafe")  # (each value fits: the cast is exact)
            return
        i64 = np.iinfo(np.int64)
        if i64.min <= min(lo, hi, *ends) and max(lo, hi, *ends) <= i64.max:
            for part, out in _pieces(src, dest):
                exact = part.astype(np.int64)
                exact *= int(slope)
                exact += int(inter)
                np.copyto(out, exact, casting="unsafe")
            return
    for part, out in _pieces(src, dest):
        piece = _checked_float_piece(part, slope, inter, out_dtype, where, fields)
        np.copyto(out, piece, casting="unsafe")


def _checked_float_piece(
    src: np.ndarray, slope: float, inter: float, out_dtype: np.dtype, where: str, fields: str
) -> np.ndarray:
    """``src * slope + inter`` computed in float64 as ``out_dtype`` (an integer dtype), each
    value checked to be a whole number it holds (:func:`_checked_int_into`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        work = src.astype(np.float64)
        work *= slope
        work += inter
        out: np.ndarray = np.trunc(work)
    info = np.iinfo(out_dtype)
    # (the upper bound as max + 1: float64 rounds int64's max up to 2**63, which int64 lacks)
    with np.errstate(invalid="ignore"):
        bad = ~((out >= info.min) & (out < float(info.max) + 1.0))
    if bad.any():
        vals = work[bad]
        finite = vals[np.isfinite(vals)]
        shown = [f"{finite.min()} .. {finite.max()}"] if finite.size else []
        shown += ["NaN or inf"] if finite.size < vals.size else []
        raise _unfit(where, fields, out_dtype, ", ".join(shown))
    cut = out != work  # (each value finite here: a fraction the cast would drop)
    if cut.any():
        what = f"values scaled by {fields}" if fields else "values"
        raise DataTypeError(
            f"{where}: {int(cut.sum())} {what} in this block are not whole numbers (e.g. "
            f"{float(work[cut][0])!r}): "
            f"the {out_dtype} asked for with dtype= would truncate them; ask for a floating-point "
            "dtype (dtype='float32'), or leave dtype= unset (lazyvol then picks one that holds "
            "every value)"
        )
    return out


def cast_into(src: np.ndarray, dest: np.ndarray, *, where: str = "") -> None:
    """``dest[...] = src`` unscaled, for a float (complex) ``dest`` of the ``dtype=`` asked for:
    where :func:`may_overflow` says a finite value of ``src`` can pass ``dest``'s range (float64
    data as float32, uint16 as float16), one that did raises
    :class:`~lazyvol.errors.DataTypeError` naming ``where`` instead of reading as inf."""
    risky = may_overflow(src.dtype, 1.0, 0.0, dest.dtype)
    with np.errstate(over="ignore", invalid="ignore") if risky else contextlib.nullcontext():
        np.copyto(dest, src, casting="unsafe")
    if not risky:
        return
    # Part by part: a complex value with one inf part (inf + 1e300j) is no finite value, yet its
    # finite part must not read as inf either. A real src fills dest's real part only.
    lost = []
    for part, made in zip(_parts(src), _parts(dest), strict=False):
        bad = ~np.isfinite(made)
        if part.dtype.kind == "f":
            bad &= np.isfinite(part)
        if bad.any():
            lost.append(part[bad])
    if lost:
        every = np.concatenate(lost)
        shown = f"{every.min()} .. {every.max()}"
        raise _unfit(where, "", dest.dtype, ("parts " if src.dtype.kind == "c" else "") + shown)


def _parts(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """A complex array's real and imaginary parts, any other array alone."""
    return (values.real, values.imag) if values.dtype.kind == "c" else (values,)


def _unfit(where: str, fields: str, out_dtype: np.dtype, shown: str) -> DataTypeError:
    what = f"values scaled by {fields}" if fields else "values"
    return DataTypeError(
        f"{where}: {what} ({shown}) do not fit the {out_dtype} asked for with dtype=; ask for a "
        "wider or floating-point dtype, or leave dtype= unset (lazyvol then picks one that holds "
        "every value)"
    )


@functools.lru_cache(maxsize=256)
def may_overflow(stored: np.dtype, slope: float, inter: float, out_dtype: np.dtype) -> bool:
    """True when ``x * slope + inter`` can leave ``out_dtype``'s range (a float dtype) for some
    finite ``x`` of dtype ``stored``: for float data, a slope above 1 in magnitude or an
    intercept; for integers, when the whole stored range scaled passes its largest value.
    Cached: DICOM asks once per frame, with a handful of distinct arguments per series."""
    out_dtype, stored = np.dtype(out_dtype), np.dtype(stored)
    if out_dtype.kind not in "fc":
        return False
    if stored.kind in "fc":  # complex parts scale as floats do; a narrower float (a dtype=
        # asked for: float64 data as float32) overflows whatever the scaling
        if float(np.finfo(stored).max) > float(np.finfo(out_dtype).max):
            return True
        return abs(float(slope)) > 1 or float(inter) != 0
    if stored.kind in "iub":
        top = int_reach(stored) * abs(float(slope)) + abs(float(inter))
        return not top <= float(np.finfo(out_dtype).max)
    return False


def check_scaled(
    out: np.ndarray,
    stored: np.ndarray,
    slope: float,
    inter: float,
    *,
    where: str = "",
    fields: str = "slope / intercept",
) -> None:
    """Raise :class:`~lazyvol.errors.FormatError` when scaling made a finite ``stored`` value
    (same shape as ``out``) inf or NaN in ``out``: past the dtype's range, or ``0 * inf`` from a
    slope beyond it. ``where`` names the file, ``fields`` the header fields of the scaling."""
    made = ~np.isfinite(out)
    if stored.dtype.kind in "fc":
        made &= np.isfinite(stored)
    if made.any():
        wide = "complex128" if out.dtype.kind == "c" else "float64"
        fix = (
            f"open with dtype='{wide}' to hold them, or check the header's scaling fields (a "
            "damaged header?)"
            if out.dtype.itemsize < (16 if out.dtype.kind == "c" else 8)
            else f"no {wide} holds them: check the header's scaling fields (a damaged header?), "
            "or read the stored values with scale=False"
        )
        raise FormatError(
            f"{where or 'image data'}: the scaling ({fields} = {slope:g} / {inter:g}) takes "
            f"{int(made.sum())} finite stored values of this block past the {out.dtype} range "
            f"(they would read as inf or NaN); {fix}"
        )
