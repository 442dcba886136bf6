"""OME-Zarr metadata of a volume, both ways.

Writing: the OME ``axes`` (time, then space with ``x`` fastest, each space axis with its RFC-4
anatomical ``orientation``) and per-level ``scale``/``translation``. OME-Zarr can only express a
scale and a translation per axis: when the affine is diagonal with positive voxel sizes they are
exact; otherwise (rotated, flipped, sheared, oblique) OME gets the voxel sizes and a zero
translation, and the exact affine lives in lazyvol's own attributes and the NIfTI-Zarr header.

Reading (:func:`read_multiscales`): OME-Zarr 0.4/0.5 ``multiscales`` to the array path, the affine
in millimetres (units converted) and the volume's ``meta``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import zarr_nifti
from .errors import FormatError, UnsupportedError

__all__ = [
    "OmeLevel",
    "is_positive_diagonal",
    "level_affine",
    "ome_axes",
    "ome_transforms",
    "read_multiscales",
    "time_unit",
]

_UNIT_TO_MM = {
    "angstrom": 1e-7,
    "nanometer": 1e-6,
    "micrometer": 1e-3,
    "millimeter": 1.0,
    "centimeter": 10.0,
    "decimeter": 100.0,
    "meter": 1000.0,
}
_NIFTI_TIME_UNITS = {"sec": "second", "msec": "millisecond", "usec": "microsecond", "hz": None}


def is_positive_diagonal(affine: np.ndarray) -> bool:
    """True when OME's scale and translation express ``affine`` exactly (diagonal, positive)."""
    lin = affine[:3, :3]
    return bool(np.all(lin[~np.eye(3, dtype=bool)] == 0) and np.all(np.diag(lin) > 0))


def level_affine(affine: np.ndarray, factors_ijk: Sequence[int]) -> np.ndarray:
    """Affine of a block-mean downsampled level: voxel centres move to the block centres."""
    f = np.asarray(factors_ijk, dtype=np.float64)
    out = affine.copy()
    out[:3, :3] = affine[:3, :3] * f[None, :]
    out[:3, 3] = affine[:3, 3] + affine[:3, :3] @ ((f - 1) / 2)
    return out


def ome_axes(
    ndim: int, meta: dict[str, Any], affine: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """OME axes, disk order; with ``affine``, each space axis has its RFC-4 ``orientation``."""
    axes: list[dict[str, Any]] = []
    if ndim > 3:
        t: dict[str, str] = {"name": "t", "type": "time"}
        unit = time_unit(meta)
        if unit:
            t["unit"] = unit
        axes.append(t)
        for extra in range(ndim - 4):
            axes.insert(0, {"name": f"dim{5 + extra}"})
    space: list[dict[str, Any]] = [
        {"name": n, "type": "space", "unit": "millimeter"} for n in ("x", "y", "z")
    ]
    if affine is not None:
        for ax, orient in zip(space, zarr_nifti.anatomical_orientations(affine)):
            if orient is not None:
                ax["orientation"] = orient
    return axes + space[::-1]


def ome_transforms(affine: np.ndarray, ndim: int, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """OME ``scale`` and ``translation`` of a level (disk axis order): exact for a positive
    diagonal affine, else the voxel sizes and a zero translation."""
    sizes = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    if is_positive_diagonal(affine):
        scale_xyz = list(np.diag(affine[:3, :3]))
        trans_xyz = list(affine[:3, 3])
    else:
        scale_xyz = list(sizes)
        trans_xyz = [0.0, 0.0, 0.0]
    lead_scale = [1.0] * (ndim - 3)
    if ndim > 3:
        spacing = meta.get("axis4_spacing")
        if isinstance(spacing, int | float) and math.isfinite(spacing) and spacing > 0:
            lead_scale[-1] = float(spacing)
    scale = lead_scale + [float(v) for v in reversed(scale_xyz)]
    trans = [0.0] * (ndim - 3) + [float(v) for v in reversed(trans_xyz)]
    return [{"type": "scale", "scale": scale}, {"type": "translation", "translation": trans}]


def time_unit(meta: dict[str, Any]) -> str | None:
    """The OME time unit of a volume's NIfTI ``xyzt_units`` (None when unknown)."""
    units = meta.get("xyzt_units")
    if isinstance(units, list) and len(units) == 2:
        return _NIFTI_TIME_UNITS.get(str(units[1]))
    return None


@dataclass(frozen=True)
class OmeLevel:
    """One level of an OME-Zarr image: its array path, axis count, affine (mm) and meta."""

    path: str
    ndim: int
    affine: np.ndarray
    meta: dict[str, Any]


def _vector(tr: dict[str, Any], key: str, nd: int, store: str) -> np.ndarray:
    """An OME transformation's ``scale`` or ``translation``: ``nd`` numbers, else FormatError."""
    value = tr[key]
    if (
        not isinstance(value, list)
        or len(value) != nd
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise FormatError(
            f"{store}: OME coordinateTransformations {key} = {value!r} is not {nd} numbers (one "
            "per axis); the OME metadata is corrupt"
        )
    return np.asarray(value, dtype=np.float64)


def _transforms(lst: Any, nd: int, store: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.ones(nd)
    t = np.zeros(nd)
    if lst is not None and not isinstance(lst, list):
        raise FormatError(f"{store}: OME coordinateTransformations is not a list: {lst!r}")
    for tr in lst or []:
        if not isinstance(tr, dict):
            raise FormatError(f"{store}: an OME coordinate transformation is not an object: {tr!r}")
        if tr.get("type") == "scale" and "scale" in tr:
            scale = _vector(tr, "scale", nd, store)
            s = s * scale
            t = t * scale
        elif tr.get("type") == "translation" and "translation" in tr:
            t = t + _vector(tr, "translation", nd, store)
        elif tr.get("type") not in (None, "identity"):
            raise UnsupportedError(f"{store}: OME coordinate transformation {tr.get('type')!r}")
    return s, t


def _check_affine(store: str, affine: np.ndarray, scale: np.ndarray, trans: np.ndarray) -> None:
    """A volume's affine from OME scale and translation must be finite and invertible: a zero,
    NaN or overflowing scale (1e308 times a unit factor) is refused, never passed on."""
    if not np.isfinite(affine).all() or not np.diag(affine)[:3].all():
        raise FormatError(
            f"{store}: OME coordinateTransformations scale {scale.tolist()} and translation "
            f"{trans.tolist()} give a non-finite or singular affine; each spatial scale must be a "
            "finite, non-zero voxel size; the OME metadata is corrupt"
        )


def read_multiscales(store: str, ome: dict[str, Any], level: int) -> OmeLevel:
    """Level ``level`` of OME ``multiscales`` metadata (``store`` names it in errors).

    Raises
    ------
    FormatError
        No axes/datasets, or no such level.
    UnsupportedError
        Not exactly three trailing space axes, or a transformation other than scale/translation.
    """
    try:
        ms = ome["multiscales"][0]
        axes = ms["axes"]
        ds = ms["datasets"][level]
    except (KeyError, IndexError, TypeError) as exc:
        raise FormatError(
            f"{store}: OME-Zarr multiscales metadata lacks axes/datasets (or level {level}): {exc}"
        ) from exc
    names = [a["name"] if isinstance(a, dict) else str(a) for a in axes]
    types = [
        a.get("type") if isinstance(a, dict) else ("space" if a in "zyx" else None) for a in axes
    ]
    units = [a.get("unit") if isinstance(a, dict) else None for a in axes]
    nd = len(axes)
    space = [i for i, t in enumerate(types) if t == "space"]
    if len(space) != 3 or space != list(range(nd - 3, nd)):
        raise UnsupportedError(
            f"{store}: OME-Zarr axes {names} need exactly three trailing space axes for a volume"
        )
    affine = np.eye(4)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        s1, t1 = _transforms(ds.get("coordinateTransformations"), nd, store)
        s2, t2 = _transforms(ms.get("coordinateTransformations"), nd, store)
        scale = s1 * s2
        trans = t1 * s2 + t2
        # disk (.., z, y, x) -> volume (x, y, z, ..): i = x, j = y, k = z
        for vol_ax, disk_ax in enumerate(reversed(space)):
            u = units[disk_ax]
            f = _UNIT_TO_MM.get(str(u), 1.0) if u else 1.0
            affine[vol_ax, vol_ax] = scale[disk_ax] * f
            affine[vol_ax, 3] = trans[disk_ax] * f
    _check_affine(store, affine, scale, trans)
    meta: dict[str, Any] = {
        "format": "ome-zarr",
        "ome_version": str(ome.get("version", "")),
        "axes": list(reversed(names)),
        "units": list(reversed([u or "" for u in units])),
        "ome_scale": list(reversed(scale.tolist())),
        "ome_translation": list(reversed(trans.tolist())),
        "level": level,
    }
    if nd > 3 and types[nd - 4] == "time" and scale[nd - 4] > 0:
        meta["axis4_spacing"] = float(scale[nd - 4])
    return OmeLevel(str(ds["path"]), nd, affine, meta)
