"""Opening the references :func:`lazyvol.references` writes as a Zarr store.

Those references (``lv.open("reference://", storage_options={"fo": refs})``) describe a Zarr v2
group whose array ``image`` holds the stored values, axes ``(k, j, i[, t, ...])``, a series-wide
rescale as CF ``scale_factor``/``add_offset`` in its attributes, and in the group attributes under
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
        A ``level`` other than 0 (references describe one); rescale values per slice
        (``per_slice_rescale="arrays"``) with ``scale=True``.
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
    if lv.get("rescale") and scale:
        raise UnsupportedError(
            f"{root.display}: the references state rescale values per slice (arrays "
            f"rescale_slope and rescale_intercept: {lv['rescale']!r}), which lazyvol does not "
            "apply to references; open them with scale=False for the stored values, or open "
            f"the source itself ({lv.get('source')})"
        )
    scaling = _scaling(root) if scale else (1.0, 0.0)
    made: Any = lv.get("meta")
    meta = {**(made if isinstance(made, dict) else {}), "references_of": lv.get("source")}
    meta["scaled"] = scaling != (1.0, 0.0)
    order = (2, 1, 0, *range(3, ndim))
    georef = (affine, meta, root.display)
    return make_volume(root, ARRAY, arr_meta, chunks, False, georef, order=order, scaling=scaling)


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
