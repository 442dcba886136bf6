"""Opening the references :func:`lazyvol.references` writes as a Zarr store.

Those references (``lv.open("reference://", storage_options={"fo": refs})``) describe a Zarr v2
group whose array ``image`` holds the stored values, axes ``(k, j, i[, t, ...])``, a series-wide
rescale as CF ``scale_factor``/``add_offset`` in its attributes (or per slice, arrays
``rescale_slope`` and ``rescale_intercept`` over ``(k[, t])``), and in the group attributes under
``"lazyvol"`` the affine (voxel ``(i, j, k, 1)`` to RAS+ mm), the stored axes and the source's
metadata; no ``"format"`` (they are no store lazyvol wrote, with a manifest and checksums). They
open as the source opens: the volume's axes ``(i, j, k, ...)``, its affine, its values scaled as
the source's (``scale=False``: the stored values).

Each chunk is read by lazyvol's byte layer (:mod:`lazyvol._zarr_refs_store`), checked against
the identity the references record of its target: a source changed since the references were
made is a :class:`~lazyvol.errors.SourceChangedError` when a chunk of it is read (no extra
request over HTTP(S) and S3, one ``fstat`` locally); :func:`lazyvol.refs.check_references`
checks every target at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _json
from ._refs_common import EXTRA_AXES
from .errors import FormatError, IntegrityError, LazyvolError, UnsupportedError
from .geometry import affine_problem
from .volume import Volume
from .zarr_read import _array_meta, make_volume
from .zarr_store import StoreRoot

__all__ = ["is_references", "open_references"]

#: The array the references describe.
ARRAY = "image"


def is_references(lv: dict[str, Any]) -> bool:
    """Whether the ``"lazyvol"`` group attributes ``lv`` are those of references (an affine and
    stored axes, no store ``format``)."""
    return "format" not in lv and "stored_axes" in lv and "affine" in lv


def open_references(
    root: StoreRoot, lv: dict[str, Any], chunks: Any, level: int, scale: bool, checksums: bool
) -> Volume:
    """The volume references at ``root`` describe (module docstring).

    Raises
    ------
    FormatError
        The attributes do not describe the array (axes, affine, scaling).
    UnsupportedError
        A ``level`` other than 0 (references describe one).
    IntegrityError
        ``checksums`` required: references carry none.
    """
    where = root.where(".zattrs")
    if checksums:
        raise IntegrityError(
            f"{root.display}: references lazyvol.references wrote, not a lazyvol store; they "
            "carry no lazyvol checksums"
        )
    if level != 0:
        raise UnsupportedError(
            f"{root.display}: references lazyvol.references wrote describe one resolution, level "
            f"0; level {level} does not exist: open level 0"
        )
    arr_meta = _array_meta(root, ARRAY)
    ndim = len(arr_meta["shape"])
    axes = lv.get("stored_axes")
    if not 3 <= ndim <= 3 + len(EXTRA_AXES) or axes != ["k", "j", "i", *EXTRA_AXES[: ndim - 3]]:
        raise FormatError(
            f"{where}: lazyvol references whose stored_axes {axes!r} are not the (k, j, i, ...) "
            f"axes of their {ndim}-axis array {ARRAY!r}; make the references again"
        )
    try:
        affine = np.asarray(lv["affine"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{where}: lazyvol.affine is not a 4x4 matrix ({exc})") from None
    if problem := affine_problem(affine):
        raise FormatError(
            f"{where}: the references' affine (lazyvol.affine) {problem}: {affine.tolist()!r:.200}; "
            "make the references again from the source"
        )
    per_slice = _per_slice(root, arr_meta["shape"]) if lv.get("rescale") and scale else None
    scaling = _scaling(root) if scale and per_slice is None else (1.0, 0.0)
    made: Any = lv.get("meta")
    meta = {**(made if isinstance(made, dict) else {}), "references_of": lv.get("source")}
    meta["scaled"] = scaling != (1.0, 0.0) or per_slice is not None
    order = (2, 1, 0, *range(3, ndim))
    georef = (affine, meta, root.display)
    vol = make_volume(root, ARRAY, arr_meta, chunks, False, georef, order=order, scaling=scaling)
    if per_slice is None:
        return vol
    data = _scaled_per_slice(vol.data, *per_slice, root.display)
    return Volume(data, vol.affine, meta=vol.meta, source=vol.source)


#: The arrays of per-slice rescale values (``per_slice_rescale="arrays"``), axes ``(k[, t])``.
_RESCALE = ("rescale_slope", "rescale_intercept")
_RESCALE_FIELDS = "RescaleSlope / RescaleIntercept (the references' rescale_slope / _intercept)"


def _per_slice(root: StoreRoot, shape: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The references' per-slice ``(slopes, intercepts)``, each over the image's axes after
    ``(k, j, i)``'s first: ``(k[, t])``.

    Raises
    ------
    FormatError
        An array missing or unreadable, of another shape than the image's ``(k[, t])``, or
        holding a value that is not finite.
    """
    import zarr

    grid = (int(shape[0]), *(int(n) for n in shape[3:]))
    out = []
    for name in _RESCALE:
        try:
            meta = _array_meta(root, name)
            if tuple(meta.get("shape") or ()) != grid:
                raise ValueError(f"shape {meta.get('shape')!r}, not the image's (k[, t]) {grid}")
            values = np.asarray(
                zarr.open_array(root.zarr_store(name), mode="r", zarr_format=2)[...],
                dtype=np.float64,
            )
        except LazyvolError:
            raise
        except Exception as exc:  # (zarr's own errors are not typed)
            raise FormatError(
                f"{root.where(name)}: the references state rescale values per slice, but their "
                f"array {name} is unusable ({type(exc).__name__}: {exc}); make the references "
                "again"
            ) from None
        if not np.isfinite(values).all():
            raise FormatError(
                f"{root.where(name)}: array {name} holds values that are not finite "
                f"({values[~np.isfinite(values)][:3].tolist()!r}); make the references again"
            )
        out.append(values)
    return out[0], out[1]


def _scaled_per_slice(data: Any, slopes: np.ndarray, inters: np.ndarray, where: str) -> Any:
    """``data`` (axes ``(i, j, k[, t])``) with each slice ``(k[, t])`` scaled by its own slope
    and intercept, in the narrowest dtype holding every slice's values exactly
    (:func:`~lazyvol.scaled_dtypes.scaled_dtype`, as ``lazyvol.open`` gives the source)."""
    import dask.array as da

    from .scaled_dtypes import scaled_dtype

    dtype = scaled_dtype(data.dtype, zip(slopes.ravel().tolist(), inters.ravel().tolist()))
    shape = (1, 1, *slopes.shape)
    chunks = ((1,), (1,), *data.chunks[2:])
    factors = [da.from_array(a.reshape(shape), chunks=chunks) for a in (slopes, inters)]
    return da.map_blocks(
        _scale_slices,
        data,
        *factors,
        dtype=dtype,
        meta=np.empty((0,) * data.ndim, dtype=dtype),
        out_dtype=dtype.str,
        where=where,
    )


def _scale_slices(
    block: np.ndarray, slopes: np.ndarray, inters: np.ndarray, out_dtype: str, where: str
) -> np.ndarray:
    """One block scaled slice by slice (``slopes``/``inters``: ``(1, 1, k[, t])`` of it)."""
    from .scaling import apply_scale

    out = np.empty(block.shape, dtype=np.dtype(out_dtype))
    for idx in np.ndindex(*slopes.shape[2:]):
        at = (slice(None), slice(None), *idx)
        s, b = float(slopes[(0, 0, *idx)]), float(inters[(0, 0, *idx)])
        out[at] = apply_scale(block[at], s, b, out.dtype, where=where, fields=_RESCALE_FIELDS)
    return out


def _scaling(root: StoreRoot) -> tuple[float, float]:
    """The array's CF ``(scale_factor, add_offset)`` (``(1.0, 0.0)`` when it states none)."""
    key = f"{ARRAY}/.zattrs"
    try:
        attrs = _json.loads(root.read(key))
    except FileNotFoundError:
        return 1.0, 0.0
    except LazyvolError:
        raise
    except (OSError, ValueError) as exc:
        raise FormatError(f"{root.where(key)}: unreadable Zarr v2 attributes: {exc}") from None
    out = []
    for name, default in (("scale_factor", 1.0), ("add_offset", 0.0)):
        value = attrs.get(name, default) if isinstance(attrs, dict) else default
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise FormatError(f"{root.where(key)}: {name} {value!r} is not a finite number")
        out.append(float(value))
    return out[0], out[1]
