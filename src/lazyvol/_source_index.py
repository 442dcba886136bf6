"""Which source slice and 4th-axis index each index of a cut volume comes from.

:meth:`lazyvol.Volume.__getitem__` keeps ``meta["source_index"]`` up to date for DICOM volumes
(so :meth:`lazyvol.Volume.dicom_header` finds the file behind slice ``k`` of a cut volume) and for
4D volumes (so the 4th axis' times stay right). Low level: no lazyvol imports.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

__all__ = [
    "SOURCE_INDEX_KEY",
    "axis4_reversed",
    "axis4_source",
    "axis_steps",
    "slice_source_index",
    "source_axes",
    "source_stride",
]

#: ``meta`` key with the source's slice and 4th-axis index of each index of a cut volume:
#: ``{"k": [source k per k], "t": [source t per t]}``, and for a volume of 5 axes or more the
#: source axis and indices of each axis from the 4th on (``"axes"``).
SOURCE_INDEX_KEY = "source_index"


def is_dicom(meta: Mapping[str, Any]) -> bool:
    """Whether ``meta`` describes a DICOM source."""
    return str(meta.get("format", "")).upper() == "DICOM"


def slice_source_index(
    meta: dict[str, Any], canon: tuple[slice | int, ...], shape: tuple[int, ...]
) -> None:
    """Update ``meta[SOURCE_INDEX_KEY]`` (in place) for ``volume[canon]``.

    Called by :meth:`lazyvol.Volume.__getitem__` for DICOM volumes (per-slice headers) and 4D
    volumes (the 4th axis' time of each index); 3D NIfTI and Zarr volumes are left alone.
    """
    if isinstance(canon[2], slice):
        _cut_filled_slices(meta, canon[2], shape[2])
    if not is_dicom(meta) and SOURCE_INDEX_KEY not in meta and len(shape) < 4:
        return
    found = meta.get(SOURCE_INDEX_KEY)
    idx: dict[str, Any] = found if isinstance(found, dict) else {}
    # "t" follows the 4th axis while it is the source's; once an integer index dropped it, "t"
    # keeps the index the volume was cut at (the axis now 4th is another source axis)
    timed = len(shape) > 3 and axis4_source(meta) == 3
    nt = shape[3] if timed else 1
    axes = _cut_axes(idx.get("axes"), canon, shape)
    ks = list(idx["k"]) if "k" in idx else list(range(shape[2]))
    ts = list(idx["t"]) if "t" in idx else list(range(nt))
    if len(ks) != shape[2] or len(ts) != nt:  # not ours any more: do not guess
        meta.pop(SOURCE_INDEX_KEY, None)
        if axes is not None:
            meta[SOURCE_INDEX_KEY] = {"axes": axes}
        return
    kitem = canon[2]
    ks = ks[kitem] if isinstance(kitem, slice) else [ks[kitem]]
    if timed:
        titem = canon[3]
        ts = ts[titem] if isinstance(titem, slice) else [ts[titem]]
    meta[SOURCE_INDEX_KEY] = {"k": ks, "t": ts}
    if axes is not None:
        meta[SOURCE_INDEX_KEY]["axes"] = axes


def _cut_filled_slices(meta: dict[str, Any], kitem: slice, nk: int) -> None:
    """Renumber ``meta["filled_slices"]`` (the k of the slices ``allow_gaps=True`` filled) for
    the slices ``kitem`` keeps of ``nk``: indices of the cut volume (they kept the source's)."""
    filled = meta.get("filled_slices")
    if not isinstance(filled, list) or not filled:
        return
    was = set(filled)
    meta["filled_slices"] = [n for n, k in enumerate(range(nk)[kitem]) if k in was]


def _cut_axes(
    axes: Any, canon: tuple[slice | int, ...], shape: tuple[int, ...]
) -> list[list[Any]] | None:
    """``[source axis, [source indices]]`` of each axis from the 4th on of ``volume[canon]``,
    kept for volumes of 5 axes or more (an integer index drops an axis: the ones after it move
    down), from ``axes`` (the same of the volume cut, None as opened); None when not kept."""
    if not isinstance(axes, list):
        if len(shape) < 5:
            return None
        axes = [[a, list(range(shape[a]))] for a in range(3, len(shape))]
    if len(axes) != len(shape) - 3 or any(
        len(ids) != n for (_, ids), n in zip(axes, shape[3:], strict=True)
    ):
        return None  # not ours any more: do not guess
    return [
        [src, ids[item]]
        for (src, ids), item in zip(axes, canon[3:], strict=True)
        if isinstance(item, slice)
    ]


def source_axes(meta: Mapping[str, Any], ndim: int) -> list[int] | None:
    """The source axis of each axis from the 4th on of a volume of ``ndim`` axes, as a cut of a
    volume of 5 axes or more recorded them (``meta[SOURCE_INDEX_KEY]["axes"]``: an integer index
    dropped an axis, the ones after it moved down); None when none is recorded: the volume's axes
    are its source's (3, 4, ...)."""
    index = meta.get(SOURCE_INDEX_KEY)
    axes = index.get("axes") if isinstance(index, Mapping) else None
    if isinstance(axes, list) and len(axes) == ndim - 3:
        return [int(src) for src, _ in axes]
    return None


def axis4_source(meta: Mapping[str, Any]) -> int:
    """The source axis a volume's 4th axis is: 3 (the source's 4th: its time axis, for NIfTI and
    OME) unless a cut of a volume of 5 axes or more dropped that one with an integer index
    (``vol[:, :, :, 0]``: then the source's 5th, as recorded under ``"axes"``). Every description
    of the 4th axis (its step, unit, origin, times, name) follows it."""
    index = meta.get(SOURCE_INDEX_KEY)
    axes = index.get("axes") if isinstance(index, Mapping) else None
    if isinstance(axes, list) and axes and isinstance(axes[0], list | tuple):
        return int(axes[0][0])
    return 3


def axis4_reversed(meta: Mapping[str, Any]) -> bool:
    """True when a volume's 4th axis is its source's, cut with a negative step (``vol[..., ::-1]``,
    ``vol[..., ::-2]``, a reversed slice of a cut): its volumes run backwards through the
    source's, so times fall along it, which NIfTI's ``pixdim[4]`` and an OME scale do not state."""
    index = meta.get(SOURCE_INDEX_KEY)
    ts = index.get("t") if isinstance(index, Mapping) else None
    if axis4_source(meta) != 3 or not isinstance(ts, list):
        return False
    return any(int(b) < int(a) for a, b in itertools.pairwise(ts))


def axis_steps(meta: Mapping[str, Any], ndim: int) -> list[tuple[int, int]] | None:
    """``(source axis, source steps per step)`` of each axis from the 4th on of a volume of
    ``ndim`` axes cut from a volume of 5 or more (``meta[SOURCE_INDEX_KEY]["axes"]``), the step 1
    where the cut is not evenly spaced; None when not known."""
    index = meta.get(SOURCE_INDEX_KEY)
    axes = index.get("axes") if isinstance(index, Mapping) else None
    if not isinstance(axes, list) or len(axes) != ndim - 3:
        return None
    out = []
    for src, ids in axes:
        strides = {abs(int(b) - int(a)) for a, b in itertools.pairwise(ids)}
        step = strides.pop() if len(strides) == 1 and 0 not in strides else 1
        out.append((int(src), step))
    return out


def source_stride(meta: Mapping[str, Any]) -> int:
    """Source volumes between a cut volume's consecutive volumes along the 4th axis
    (``vol[..., ::2]``: 2); 1 when uncut, or when the cut is not evenly spaced."""
    index = meta.get(SOURCE_INDEX_KEY)
    ts = index.get("t") if isinstance(index, dict) else None
    if not isinstance(ts, list) or len(ts) < 2:
        return 1
    strides = {abs(int(b) - int(a)) for a, b in itertools.pairwise(ts)}
    return strides.pop() if len(strides) == 1 and 0 not in strides else 1
