"""OME-Zarr metadata of a volume, both ways.

Writing: the OME ``axes`` (time, then space with ``x`` fastest, each space axis with its RFC-4
anatomical ``orientation``: the direction its index increases towards) and per-level
``scale``/``translation``. OME-Zarr expresses a scale and a translation per axis, in that axis's
own direction: when the affine's 3x3 part is a signed permutation of positive voxel sizes (flips
and axis swaps: every axial DICOM series, LPS; an LAS NIfTI), ``scale`` is the voxel size and
``translation`` the origin's coordinate along the axis's orientation (the RAS origin component of
the world axis it points along, negated when it points towards L, P or I), so they are exact
together with the orientations. For a rotated or sheared (oblique) affine OME gets the voxel sizes
and a zero translation at level 0 (downsampled levels shifted by their half voxels, as niizarr
writes them); the exact affine lives in lazyvol's own attributes and the NIfTI-Zarr header.

Reading (:func:`read_multiscales`): OME-Zarr 0.4/0.5 ``multiscales`` to the array path, the affine
in millimetres (units converted, ``meta["xyzt_units"]`` saying so; space axes placed by their RFC-4 orientations when all three name
different body axes, else read as pointing R, A, S) and the volume's ``meta``;
:func:`nifti_level`: the affine of a NIfTI-Zarr store's ``nifti`` header (in its unit), scaled to
the level.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import zarr_nifti
from ._source_index import axis4_source, source_axes
from ._warn import warn as _warn_user
from .errors import FormatError, OptionError, UnsupportedError
from .geometry import column_lengths
from .nifti_carry import QFORM_DIFFERS
from .nifti_fields import CARRIED_KEY
from .ome_transforms import check_affine, check_finite, dataset_path, mm_per_axis, transforms

__all__ = [
    "OmeLevel",
    "axis_directions",
    "check_level",
    "is_positive_diagonal",
    "level_affine",
    "nifti_level",
    "disk_axes",
    "ome_axes",
    "ome_holds",
    "ome_transforms",
    "volume_axes",
    "read_multiscales",
    "time_unit",
]


def check_level(level: Any, store: str) -> int:
    """The ``level=`` of an open, an integer (Python's or numpy's); OptionError for any other
    value (``int()`` made level 1 of 1.5, True and "1")."""
    if isinstance(level, bool) or not isinstance(level, numbers.Integral):
        raise OptionError(
            f"{store}: level={level!r} is not an integer (the multiscale level to open: 0 = full "
            "resolution, 1 = the first downsampled level, ...)"
        )
    return int(level)


_NIFTI_TIME_UNITS = {"sec": "second", "msec": "millisecond", "usec": "microsecond", "hz": None}


def is_positive_diagonal(affine: np.ndarray) -> bool:
    """True when OME's scale and translation express ``affine`` exactly (diagonal, positive)."""
    lin = affine[:3, :3]
    return bool(np.all(lin[~np.eye(3, dtype=bool)] == 0) and np.all(np.diag(lin) > 0))


#: Relative size of the off-axis entries of an affine column still read as a pure axis direction.
_AXIS_TOL = 1e-6


def axis_directions(affine: np.ndarray) -> tuple[list[int], list[float]] | None:
    """``(rows, signs)`` when the affine's 3x3 part is a signed permutation of non-zero voxel
    sizes (each column along one world axis, ``rows[i]``, towards R/A/S when ``signs[i]`` is +1);
    None for a rotated, sheared or degenerate affine."""
    lin = np.asarray(affine, dtype=np.float64)[:3, :3]
    if not np.all(np.isfinite(lin)):
        return None
    rows: list[int] = []
    signs: list[float] = []
    for col in lin.T:
        r = int(np.argmax(np.abs(col)))
        off = np.delete(np.abs(col), r)
        if col[r] == 0 or np.any(off > _AXIS_TOL * abs(col[r])):
            return None
        rows.append(r)
        signs.append(1.0 if col[r] > 0 else -1.0)
    return (rows, signs) if len(set(rows)) == 3 else None


def level_affine(affine: np.ndarray, factors_ijk: Sequence[int]) -> np.ndarray:
    """Affine of a block-mean downsampled level: voxel centres move to the block centres."""
    f = np.asarray(factors_ijk, dtype=np.float64)
    out = affine.copy()
    out[:3, :3] = affine[:3, :3] * f[None, :]
    out[:3, 3] = affine[:3, 3] + affine[:3, :3] @ ((f - 1) / 2)
    return out


#: The most axes an OME-Zarr image has (OME-NGFF 0.4 and 0.5: 2 to 5).
OME_MAX_AXES = 5


def ome_holds(ndim: int) -> bool:
    """Whether OME-Zarr metadata can describe an ``ndim``-axis volume (a store of one with more
    axes is written without it: :func:`lazyvol.zarr_write.write_zarr`)."""
    return ndim <= OME_MAX_AXES


def disk_axes(ndim: int) -> tuple[int, ...]:
    """The volume axis each disk axis of a store lazyvol writes holds.

    The volume transposed (``(t, z, y, x)``: x fastest, the byte layout of a NIfTI image), except
    that a 5-axis volume stores time first, ``(t, c, z, y, x)`` (``c``: NIfTI's 5th axis), as
    OME-Zarr orders axes (time, then one channel or custom axis, then space) and NIfTI-Zarr lays
    them out.
    (OME has no place for a sixth axis: such volumes keep the transposed order, and their stores
    have no OME metadata, :func:`ome_holds`.)
    """
    return (3, 4, 2, 1, 0) if ndim == 5 else tuple(reversed(range(ndim)))


def volume_axes(names: Sequence[Any] | None, types: Sequence[Any] | None = None) -> tuple[int, ...]:
    """For each volume axis, the disk axis holding it, from a store's axes (disk order).

    The three trailing space axes are the volume's ``i, j, k`` (reversed: x fastest on disk); the
    time axis (OME type ``time``, or without types the axis named ``t``) is the 4th; the other
    leading axes follow, innermost first. This reads :func:`disk_axes` back, foreign OME images
    (``(c, z, y, x)``, ``(t, c, z, y, x)``) and stores lazyvol wrote before 5-axis volumes stored
    time first (``(dim5, t, z, y, x)``).
    """
    n = len(names or ())
    lead = range(n - 3)
    if types is not None and len(types) == n:
        time = next((d for d in lead if types[d] == "time"), None)
    else:
        time = next((d for d in lead if names is not None and names[d] == "t"), None)
    rest = [d for d in reversed(lead) if d != time]
    return (n - 1, n - 2, n - 3, *([] if time is None else [time]), *rest)


def ome_axes(
    ndim: int, meta: dict[str, Any], affine: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """OME axes, disk order (:func:`disk_axes`): time (4th volume axis) then NIfTI's 5th axis as
    a channel, or the names and types of an OME-Zarr source's axes (:func:`_named_axes`); with
    ``affine``, each space axis has its RFC-4 ``orientation``."""
    axes: list[dict[str, Any]] = []
    if ndim > 3:
        named = _lead_axes(ndim, meta)
        unit = time_unit(meta)
        if unit and named[3].get("type") == "time":
            named[3]["unit"] = unit
        axes = [named[v] for v in disk_axes(ndim)[: ndim - 3]]
    unit = zarr_nifti.SPACE_UNITS[zarr_nifti.space_unit(meta)]  # the affine's own unit
    space: list[dict[str, Any]] = [
        {"name": n, "type": "space", "unit": unit} for n in ("x", "y", "z")
    ]
    if affine is not None:
        for ax, orient in zip(space, zarr_nifti.anatomical_orientations(affine)):
            if orient is not None:
                ax["orientation"] = orient
    return axes + space[::-1]


def _lead_axes(ndim: int, meta: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The OME axes of volume axes 3, 4, ...: as an OME-Zarr source named them
    (:func:`_named_axes`), else lazyvol's own by the source axis each is
    (:func:`lazyvol._source_index.source_axes`): the source's 4th is time ``t``; NIfTI's 5th
    axis, or any one other axis beside a time axis or none, NIfTI-Zarr's channel axis ``c``;
    others ``dimN`` (the source's N-th axis)."""
    named = _named_axes(ndim, meta)
    if named is not None:
        return named
    named = {}
    for v, src in enumerate(source_axes(meta, ndim) or range(3, ndim), start=3):
        named[v] = {"name": "t", "type": "time"} if src == 3 else {"name": f"dim{src + 1}"}
    others = [v for v, axis in named.items() if "type" not in axis]
    if ndim == 5 and len(others) == 2:
        # OME-NGFF has no 5-D form without a time axis (beside space and time, at most one
        # channel or custom axis): a 6-D/7-D source cut to 5-D is written as t, c, the order the
        # reader gives back (two untyped axes came back swapped); lazyvol's own attributes keep
        # the true axes, and the t axis states no time unit.
        return {3: {"name": "t", "type": "time"}, 4: {"name": "c", "type": "channel"}}
    if ndim <= 5 and len(others) == 1:
        named[others[0]] = {"name": "c", "type": "channel"}
    return named


def _named_axes(ndim: int, meta: dict[str, Any]) -> dict[int, dict[str, Any]] | None:
    """The OME axes of volume axes 3, 4 as an OME-Zarr source named and typed them
    (``meta["axes"]``, ``meta["axis_types"]``, the source's volume order, taken for the source
    axis each is: :func:`lazyvol._source_index.source_axes`; a type not recorded is read from the
    name, as :func:`read_multiscales` does), so a channel axis is written as a channel axis; None
    when ``meta`` names none, or names that OME cannot hold in lazyvol's disk order (:func:`disk_axes`:
    at most a time axis, first, and one other axis)."""
    names = meta.get("axes")
    sources = source_axes(meta, ndim)  # None: not cut, the source's axes as they are
    if (
        meta.get("format") != "ome-zarr"
        or not isinstance(names, list)
        or (len(names) != ndim and (sources is None or max(sources) >= len(names)))
    ):
        return None
    sources = sources or list(range(3, ndim))
    types = meta.get("axis_types")
    if not isinstance(types, list) or len(types) != len(names):
        types = [_axis_type(n) for n in names]
    lead = [(str(names[src]), types[src] or None) for src in sources]
    if (
        ndim > 5
        or not all(n and n.lower() not in ("x", "y", "z") for n, _ in lead)
        or len({n for n, _ in lead}) != len(lead)
        or any(t == "space" for _, t in lead)
        or any(t == "time" for _, t in lead[1:])
        or (ndim == 5 and lead[0][1] != "time")
    ):
        return None
    return {3 + d: {"name": n, **({"type": t} if t else {})} for d, (n, t) in enumerate(lead)}


def ome_transforms(
    affine: np.ndarray, ndim: int, meta: dict[str, Any], base: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """OME ``scale`` and ``translation`` of a level (disk axis order): the voxel sizes; the
    translation is the origin along each axis's own direction (its RFC-4 orientation) when the
    affine is a signed permutation of voxel sizes (:func:`axis_directions`). An oblique affine
    cannot be placed: level 0 (``base``, the level-0 affine; None: this is level 0) is at zero and
    a downsampled level is shifted by where its first voxel lies in level 0's voxel grid."""
    scale_xyz = [float(s) for s in column_lengths(affine[:3, :3])]
    directions = axis_directions(affine)
    if directions is not None:
        rows, signs = directions
        trans_xyz = [sign * affine[r, 3] + 0.0 for r, sign in zip(rows, signs)]  # no -0.0
    elif base is not None:
        offset = np.linalg.solve(base[:3, :3], affine[:3, 3] - base[:3, 3])  # level-0 voxels
        trans_xyz = list(offset * column_lengths(base[:3, :3]))
    else:
        trans_xyz = [0.0, 0.0, 0.0]
    lead_scale = [1.0] * (ndim - 3)
    lead_trans = [0.0] * (ndim - 3)
    if ndim > 3:
        spacing, _ = zarr_nifti.axis4_step(meta, native=True)  # in time_unit(meta)
        if spacing is not None:
            lead_scale[disk_axes(ndim).index(3)] = spacing
        if _lead_axes(ndim, meta)[3].get("type") == "time":  # the time of the first volume
            lead_trans[disk_axes(ndim).index(3)] = zarr_nifti.axis4_origin(meta, native=True)
    scale = lead_scale + [float(v) for v in reversed(scale_xyz)]
    trans = lead_trans + [float(v) for v in reversed(trans_xyz)]
    return [{"type": "scale", "scale": scale}, {"type": "translation", "translation": trans}]


def time_unit(meta: dict[str, Any]) -> str | None:
    """The OME time unit of a volume's 4th axis: its NIfTI ``xyzt_units``, else an OME source's
    time unit NIfTI has no code for (minute, hour, ...: the unit of the step and origin
    :func:`lazyvol.zarr_nifti.axis4_step` gives with ``native=True``), else seconds for a DICOM
    series' RepetitionTime step; None when unknown, when the step is unknown (the axis' scale 1
    is then no step in any unit), or when the 4th axis is not the source's
    (:func:`lazyvol._source_index.axis4_source`)."""
    if axis4_source(meta) != 3:
        return None
    if zarr_nifti.ome_time_seconds(meta) is not None:
        return str(meta["units"][3]).strip().lower()
    if zarr_nifti.axis4_step(meta, native=True)[0] is None:
        return None  # (no step known: the axis' scale is a placeholder, in no unit)
    units = meta.get("xyzt_units")
    if isinstance(units, list) and len(units) == 2:
        return _NIFTI_TIME_UNITS.get(str(units[1]))
    step, unit = zarr_nifti.axis4_step(meta)
    return _NIFTI_TIME_UNITS.get(unit) if step is not None and unit is not None else None


@dataclass(frozen=True)
class OmeLevel:
    """One level of an OME-Zarr image: its array path, axis count, affine (unit: meta) and meta."""

    path: str
    ndim: int
    affine: np.ndarray
    meta: dict[str, Any]
    #: for each volume axis, the disk axis holding it (:func:`volume_axes`)
    order: tuple[int, ...] = ()


#: World row and sign (+1: towards R, A or S) of each RFC-4 anatomical orientation value: the
#: RAS code each value is written for (:data:`lazyvol.zarr_nifti.RFC4`), read back.
_RFC4_AXIS = {
    value: ("RLAPSI".index(code) // 2, 1.0 if code in "RAS" else -1.0)
    for code, value in zarr_nifti.RFC4.items()
}


def _orientations(
    store: str, axes_ijk: list[Any]
) -> tuple[list[int], list[float], list[str]] | None:
    """``(rows, signs, values)`` of the space axes i, j, k from their RFC-4 anatomical
    ``orientation`` when all three name a left/right, posterior/anterior or inferior/superior
    direction of three different body axes; None (read as R, A, S) otherwise, with a warning when
    some of them do but not all three, or two name the same body axis."""
    values = []
    for ax in axes_ijk:
        orient = ax.get("orientation") if isinstance(ax, dict) else None
        value = orient.get("value") if isinstance(orient, dict) else None
        ok = isinstance(orient, dict) and orient.get("type") == "anatomical"
        values.append(value if ok and isinstance(value, str) and value in _RFC4_AXIS else None)
    if all(v is None for v in values):
        return None
    if any(v is None for v in values) or len({_RFC4_AXIS[str(v)][0] for v in values}) != 3:
        _warn_user(
            f"lazyvol: {store}: the RFC-4 orientations of the OME space axes x, y, z are "
            f"{values}, not three directions of different body axes (left/right, "
            "posterior/anterior, inferior/superior); they are ignored and the axes read as "
            "pointing towards R, A and S",
            RuntimeWarning,
        )
        return None
    found = [_RFC4_AXIS[str(v)] for v in values]
    return [r for r, _ in found], [s for _, s in found], [str(v) for v in values]


def _require_axes(store: str, ome: dict[str, Any], level: int) -> None:
    """OME-NGFF 0.1 and 0.2 ``multiscales`` have no ``axes`` (t, c, z, y, x implied) and 0.3's
    datasets no ``coordinateTransformations``: neither states a voxel size, and both are refused
    as what they are (an UnsupportedError), not as corrupt metadata. ``axes`` missing from a
    later version (which requires them) is corrupt metadata (a FormatError)."""
    scales = ome.get("multiscales")
    ms = scales[0] if isinstance(scales, list) and scales else None
    if not isinstance(ms, dict):
        return
    version = ms.get("version", ome.get("version"))
    if "axes" not in ms and "coordinateSystems" in ms:
        raise UnsupportedError(
            f"{store}: OME-Zarr multiscales (version {version!r}) state their axes in "
            "'coordinateSystems' and their transformations between coordinate systems (OME-NGFF "
            "0.6, RFC-5), which lazyvol does not read yet; write the image as OME-Zarr 0.5 "
            "('axes' and a 'scale' per dataset), or read the arrays with zarr"
        )
    if "axes" not in ms:
        if version is None or str(version) in ("0.1", "0.2"):
            raise UnsupportedError(
                f"{store}: OME-Zarr multiscales (version {version!r}) state no 'axes': OME-NGFF "
                "0.1 and 0.2 imply t, c, z, y, x and state no voxel size, which lazyvol does not "
                "invent; add 'axes' and a 'scale' per dataset (OME-Zarr 0.4 or later), or read "
                "the arrays with zarr"
            )
        raise FormatError(
            f"{store}: OME-Zarr multiscales (version {version!r}) state no 'axes', which "
            "OME-NGFF 0.3 and later require; add the 'axes' list (one entry per array axis)"
        )
    datasets = ms.get("datasets")
    ds = datasets[level] if isinstance(datasets, list) and 0 <= level < len(datasets) else None
    if str(version) == "0.3" and isinstance(ds, dict) and "coordinateTransformations" not in ds:
        raise UnsupportedError(
            f"{store}: OME-Zarr multiscales version '0.3' state no voxel size (a dataset's "
            "'coordinateTransformations' came with OME-NGFF 0.4), which lazyvol does not invent; "
            f"add [{{'type': 'scale', 'scale': [...]}}] to dataset {ds.get('path')!r} "
            "(OME-Zarr 0.4 or later), or read the arrays with zarr"
        )


def read_multiscales(store: str, ome: dict[str, Any], level: int) -> OmeLevel:
    """Level ``level`` of OME ``multiscales`` metadata (``store`` names it in errors).

    Raises
    ------
    FormatError
        No axes/datasets, or no such level.
    UnsupportedError
        Not exactly three trailing space axes, a transformation other than scale/translation, or
        no voxel size by the version's rules (OME-NGFF 0.1/0.2: no axes; 0.3: no transformations).
    """
    _require_axes(store, ome, level)
    try:
        ms = ome["multiscales"][0]
        axes = ms["axes"]
        if not isinstance(axes, list):
            raise TypeError(f"axes = {axes!r} is not a list")
        names = [a["name"] if isinstance(a, dict) else str(a) for a in axes]  # (0.3: names)
        datasets = ms["datasets"]
        ds = datasets[level] if 0 <= level < len(datasets) else None
    except (KeyError, IndexError, TypeError) as exc:
        raise FormatError(
            f"{store}: OME-Zarr multiscales axes/datasets are corrupt: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(ds, dict):  # (a negative level is no level: as for a lazyvol store)
        raise FormatError(
            f"{store}: OME-Zarr multiscales has no level {level} (datasets[{level}] = {ds!r}; "
            f"{len(datasets)} levels, 0 = full resolution)"
        )
    types = [_axis_type(a) for a in axes]
    units = [a.get("unit") if isinstance(a, dict) else None for a in axes]
    nd = len(axes)
    space = [i for i, t in enumerate(types) if t == "space"]
    if len(space) != 3:
        raise UnsupportedError(
            f"{store}: OME-Zarr axes {names} need exactly three trailing space axes for a volume "
            "(a 2-D image states no slice thickness, which lazyvol does not invent); use zarr"
        )
    if space != list(range(nd - 3, nd)):
        after = [str(names[i]) for i in range(space[0], nd) if i not in space]
        raise UnsupportedError(
            f"{store}: OME-Zarr axes {names} put {', '.join(map(repr, after))} after a space "
            "axis; OME-NGFF orders them time, then channel or custom, then space (z, y, x), "
            "and lazyvol reads the three space axes last, as stored, not reordered; write the "
            "array with its space axes last, or read it with zarr"
        )
    _check_names(store, names, space)
    # disk (.., z, y, x) -> volume (x, y, z, ..): i = x, j = y, k = z
    oriented = _orientations(store, [axes[d] for d in reversed(space)])
    rows, signs = oriented[:2] if oriented else ([0, 1, 2], [1.0, 1.0, 1.0])
    affine = np.eye(4)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        s1, t1 = transforms(
            ds.get("coordinateTransformations"), nd, store, dataset=str(ds.get("path"))
        )
        s2, t2 = transforms(ms.get("coordinateTransformations"), nd, store)
        scale = s1 * s2
        trans = t1 * s2 + t2
        factors = mm_per_axis(store, names, units)
        for vol_ax, disk_ax in enumerate(reversed(space)):
            f = factors[vol_ax]
            row, sign = rows[vol_ax], signs[vol_ax]
            affine[:3, vol_ax] = 0.0
            affine[row, vol_ax] = sign * scale[disk_ax] * f
            affine[row, 3] = sign * trans[disk_ax] * f
    check_affine(store, affine, scale, trans)
    check_finite(store, names, scale, trans)
    order = volume_axes(names, types)
    meta: dict[str, Any] = {
        "affine_source": "ome-orientation" if oriented else "ome",
        "format": "ome-zarr",
        "ome_version": str(ome.get("version", "")),
        "axes": [names[d] for d in order],
        "axis_types": [types[d] or "" for d in order],
        "units": [units[d] or "" for d in order],
        "ome_scale": [float(scale[d]) for d in order],
        "ome_translation": [float(trans[d]) for d in order],
        "level": level,
    }
    if oriented:
        meta["ome_orientation"] = oriented[2]
    timed = nd > 3 and types[order[3]] == "time"
    if timed and scale[order[3]] > 0:
        meta["axis4_spacing"] = float(scale[order[3]])
    # the units as a NIfTI source's meta names them (nibabel's names): the affine's, the time's
    time_unit = zarr_nifti.nifti_time_unit(units[order[3]]) if timed else None
    meta["xyzt_units"] = ["mm", time_unit or "unknown"]
    if timed and trans[order[3]] != 0:  # the first volume's time, where a NIfTI keeps it
        meta[CARRIED_KEY] = {"toffset": float(trans[order[3]])}
    return OmeLevel(dataset_path(store, ds.get("path")), nd, affine, meta, order)


def _check_names(store: str, names: Sequence[Any], space: Sequence[int]) -> None:
    """Refuse axis names that reading the space axes by position (z, y, x) would misread: a name
    given twice (OME-NGFF: names MUST be unique), or a space axis named x, y or z away from its
    place (``(y, x, z)``, ``(z, x, x)``: one axis's voxel size and data put on another)."""
    written = [str(n) for n in names]  # (unique as written: ``c`` and ``C`` are two names)
    twice = sorted({n for n in written if written.count(n) > 1})
    lowered = [n.lower() for n in written]
    if twice:
        raise FormatError(
            f"{store}: OME-Zarr axes {list(names)} name {', '.join(map(repr, twice))} more than "
            "once (OME-NGFF: axis names MUST be unique), so which array axis is which is not "
            "known; give every axis its own name"
        )
    space_names = [lowered[i] for i in space]
    if any(n in _ZYX and _ZYX.index(n) != at for at, n in enumerate(space_names)):
        raise UnsupportedError(
            f"{store}: OME-Zarr space axes are stored in the order {space_names}; lazyvol reads "
            "them as z, y, x (the order OME-NGFF asks for) and does not reorder axes, so reading "
            "by position would put one axis's voxel size and data on another; write the array "
            "with its space axes in z, y, x order"
        )


_ZYX = ("z", "y", "x")

#: The type of an OME axis that does not state one, by its name (OME 0.3's names: x, y, z, c, t).
_TYPE_OF_NAME = {"x": "space", "y": "space", "z": "space", "t": "time", "c": "channel"}


def _axis_type(axis: Any) -> str | None:
    """An OME axis's ``type``; where it is not stated (plain names of OME 0.3, or an axis object
    without it: the specification says SHOULD, not MUST), from its name: "space" for x, y and z,
    "time" for t, "channel" for c (OME 0.3's five names); None for any other name."""
    if isinstance(axis, dict) and axis.get("type") is not None:
        return str(axis["type"])
    name = axis.get("name") if isinstance(axis, dict) else axis
    return _TYPE_OF_NAME.get(str(name).lower())


#: Relative difference of the NIfTI header's voxel sizes from OME level 0's still taken as equal.
NIFTI_RTOL = 1e-4


def nifti_level(
    store: str, lvl: OmeLevel, lvl0: OmeLevel, shape0: Sequence[int], raw: bytes | None
) -> OmeLevel:
    """``lvl`` with the affine of a NIfTI-Zarr store's ``nifti`` header (``raw``), the authority
    for orientation and position, scaled to the level as its OME transforms scale level 0
    (``lvl0``, array shape ``shape0`` in volume order). The header is used when it parses and
    agrees with level 0 (spatial shape; its affine's voxel sizes or its ``pixdim``, which
    NIfTI-Zarr writes as the OME scale, within :data:`NIFTI_RTOL`); otherwise ``lvl``
    is kept, with a warning naming the disagreement (also in ``meta["nifti_disagreement"]``), and
    saying, for a header that does not parse, that the values are unscaled too."""
    if raw is None:
        return lvl
    unscaled = ""
    try:
        hdr_affine, source, hdr_shape, unit = zarr_nifti.header_affine(raw)
    except ValueError as exc:
        problem = f"its header is not usable: {exc}"
        # (the header alone records scl_slope / scl_inter: a scaled image's values come back as
        # the stored integers, which the warning must say, not the affine only)
        unscaled = (
            ", nor for the value scaling (scl_slope / scl_inter, which only that header records):"
            " the values are the stored ones, unscaled"
        )
    else:
        # compared in mm; the affine stays in the header's unit (as nibabel gives the NIfTI)
        hdr_sizes = np.sqrt((hdr_affine[:3, :3] ** 2).sum(axis=0)) * zarr_nifti.mm_per_unit(unit)
        ome_sizes = np.sqrt((lvl0.affine[:3, :3] ** 2).sum(axis=0)) * zarr_nifti.mm_per_unit(
            zarr_nifti.space_unit(lvl0.meta)
        )
        # (the OME scale is the header's pixdim, as NIfTI-Zarr writes it, or its affine's sizes)
        pix_sizes = zarr_nifti.header_pixdim_mm(raw, unit)
        if tuple(hdr_shape[:3]) != tuple(int(n) for n in shape0[:3]):
            problem = f"its shape {list(hdr_shape)} is not level 0's {list(shape0)}"
        elif not any(
            np.allclose(sizes, ome_sizes, rtol=NIFTI_RTOL, atol=0)
            for sizes in (hdr_sizes, pix_sizes)
        ):
            problem = (
                f"its {source} voxel sizes {hdr_sizes.tolist()} mm and pixdim "
                f"{pix_sizes.tolist()} mm differ from the OME scale of level 0, "
                f"{ome_sizes.tolist()} mm"
            )
        else:
            to_level = np.linalg.inv(lvl0.affine) @ lvl.affine  # level voxel -> level-0 voxel
            meta = dict(lvl.meta, affine_source=f"nifti-{source}")
            meta["xyzt_units"] = [unit, meta["xyzt_units"][1]]
            if lvl.ndim > 3:
                _header_time(meta, raw)
            _header_codes(meta, raw)
            return OmeLevel(lvl.path, lvl.ndim, hdr_affine @ to_level, meta, lvl.order)
    message = (
        f"lazyvol: {store}: the NIfTI-Zarr 'nifti' array is not used for the affine{unscaled}: "
        f"{problem}; the affine comes from the OME metadata"
    )
    _warn_user(message, RuntimeWarning)
    return OmeLevel(
        lvl.path, lvl.ndim, lvl.affine, dict(lvl.meta, nifti_disagreement=problem), lvl.order
    )


def _header_time(meta: dict[str, Any], raw: bytes) -> None:
    """``meta`` (in place) with the 4th axis' step, time unit and first volume's time of a
    NIfTI-Zarr header, the authority over the OME time axis (niizarr writes a time scale of 1 and
    a zero translation whatever ``pixdim[4]`` and ``toffset`` say)."""
    step, unit, toffset = zarr_nifti.header_time(raw)
    if step is None:
        return
    meta["axis4_spacing"] = step
    if unit != "unknown":
        meta["xyzt_units"] = [meta["xyzt_units"][0], unit]
    if toffset:
        meta[CARRIED_KEY] = {"toffset": toffset}
    else:
        meta.pop(CARRIED_KEY, None)


def _header_codes(meta: dict[str, Any], raw: bytes) -> None:
    """``meta`` (in place) with the xform codes of a NIfTI-Zarr header whose affine the volume has,
    as the NIfTI reader records a file's (``sform_code``, ``qform_code``, and
    :data:`lazyvol.nifti_carry.QFORM_DIFFERS` when its qform holds another transform than the
    sform): a NIfTI written from the volume states them (:func:`lazyvol.nifti_carry.xform_codes`)."""
    s_code, q_code, differs = zarr_nifti.header_codes(raw)
    meta["sform_code"], meta["qform_code"] = s_code, q_code
    if differs:
        meta[CARRIED_KEY] = {**meta.get(CARRIED_KEY, {}), QFORM_DIFFERS: True}
