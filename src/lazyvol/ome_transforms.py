"""Reading OME-Zarr ``coordinateTransformations`` (for :func:`lazyvol.zarr_ome.read_multiscales`):
a dataset's scale and translation, checked (numbers, one per axis; a dataset states its scale;
values inline, not in another array), a dataset's path (a key inside the store), the
millimetres per unit of each space axis, and the checks of the affine they give (finite,
invertible).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._location import is_inner_key
from .errors import FormatError, UnsupportedError
from .geometry import affine_problem
from .ome_units import MM_PER_UNIT, space_unit_name

__all__ = [
    "check_affine",
    "check_finite",
    "dataset_path",
    "mm_per_axis",
    "transforms",
    "vector",
]


def vector(tr: dict[str, Any], key: str, nd: int, store: str) -> np.ndarray:
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


def transforms(
    lst: Any, nd: int, store: str, dataset: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and translation of an OME ``coordinateTransformations`` list; ``dataset``: the path of
    the multiscales dataset it belongs to, whose list must state the scale (OME-NGFF requires one
    per dataset: without it the voxel size is unknown, and lazyvol does not invent one; an explicit
    ``identity`` states unit voxels)."""
    s = np.ones(nd)
    t = np.zeros(nd)
    if lst is not None and not isinstance(lst, list):
        raise FormatError(f"{store}: OME coordinateTransformations is not a list: {lst!r}")
    stated = False
    for tr in lst or []:
        if not isinstance(tr, dict):
            raise FormatError(f"{store}: an OME coordinate transformation is not an object: {tr!r}")
        kind = tr.get("type")
        if kind in ("scale", "translation") and kind not in tr and "path" in tr:
            raise UnsupportedError(
                f"{store}: OME coordinate transformation {kind!r} is stored in the array "
                f"{tr['path']!r} ('path'), which lazyvol does not read; state the values inline "
                f"({{'type': {kind!r}, {kind!r}: [...]}})"
            )
        if kind == "scale" and "scale" in tr:
            scale = vector(tr, "scale", nd, store)
            s = s * scale
            t = t * scale
            stated = True
        elif kind == "translation" and "translation" in tr:
            t = t + vector(tr, "translation", nd, store)
        elif kind == "identity":
            stated = True
        elif kind is not None:
            raise UnsupportedError(f"{store}: OME coordinate transformation {kind!r}")
    if dataset is not None and not stated:
        raise FormatError(
            f"{store}: OME multiscales dataset {dataset!r} states no 'scale' in its "
            "coordinateTransformations (OME-NGFF requires one per dataset): its voxel size is "
            "unknown and lazyvol does not invent one; add [{'type': 'scale', 'scale': [...]}] "
            "(one value per axis) to the dataset"
        )
    return s, t


def dataset_path(store: str, path: Any) -> str:
    """A multiscales dataset's ``path``: a key inside the store (never ``..``, absolute or empty
    parts, which would read another store's array under this one's name). A number (``0``, as
    some writers put it) and a trailing ``/`` are taken as the key they mean."""
    if isinstance(path, int) and not isinstance(path, bool) and path >= 0:
        path = str(path)
    if isinstance(path, str) and len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/")
    if not is_inner_key(path):
        raise FormatError(
            f"{store}: OME multiscales dataset path {path!r} is not a key inside the store (no "
            "'..', '.', empty or absolute parts); the OME metadata is corrupt"
        )
    return str(path)


def mm_per_axis(store: str, names: list[Any], units: list[Any]) -> list[float]:
    """Millimetres per unit of each OME space axis, volume order i, j, k (disk order ``z, y, x``
    last): OME axes are read in millimetres, each converted from its own unit (DESIGN's RAS+
    millimetres; OME-NGFF allows any length unit, per axis). Only a NIfTI header (a NIfTI file, a
    NIfTI-Zarr store's ``nifti`` array) keeps its own unit, as nibabel gives the file."""
    return [MM_PER_UNIT[space_unit_name(store, names[d], units[d])] for d in (-1, -2, -3)]


def check_affine(store: str, affine: np.ndarray, scale: np.ndarray, trans: np.ndarray) -> None:
    """A volume's affine from OME scale and translation must be finite and invertible
    (:func:`lazyvol.geometry.affine_problem`, every reader's rule): a zero, NaN or overflowing
    scale (1e308 times a unit factor) is refused here, naming the OME fields, before the array is
    opened."""
    problem = affine_problem(affine)
    if problem is not None:
        raise FormatError(
            f"{store}: OME coordinateTransformations scale {scale.tolist()} and translation "
            f"{trans.tolist()} give a non-finite or singular affine (it {problem}); each spatial "
            "scale must be a finite, non-zero voxel size; the OME metadata is corrupt"
        )


def check_finite(store: str, names: list[Any], scale: np.ndarray, trans: np.ndarray) -> None:
    """Every axis's scale and translation must be finite (time and channel too: a NaN first time
    was carried into the volume's metadata as a NIfTI ``toffset``)."""
    bad = [str(names[d]) for d in range(len(names)) if not np.isfinite([scale[d], trans[d]]).all()]
    if bad:
        raise FormatError(
            f"{store}: OME coordinateTransformations scale {scale.tolist()} and translation "
            f"{trans.tolist()} are not finite on axis {', '.join(bad)}; every scale and "
            "translation must be a finite number; the OME metadata is corrupt"
        )
