"""A quick look at a volume: three orthogonal slices through a point, with world axes in the
affine's unit (mm, or a NIfTI's own space unit such as micron).

:meth:`lazyvol.Volume.plot` delegates here. Only the three slices are read (one ``dask.compute``).
The views are the voxel planes nearest to axial, coronal and sagittal (no resampling): for an
oblique acquisition the title says so and the world axes are distances along those voxel axes.
Axes carry anatomical letters, and the left-right convention is stated in the figure:
``"radiological"`` (default; the patient's right on the left of the axial and coronal views, as
on a scanner console) or ``"neurological"`` (the patient's right on the right).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dask
import numpy as np

from .errors import DataTypeError, OptionError, _printable
from .zarr_nifti import space_unit

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["plot_volume"]

_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))
_CONVENTIONS = ("radiological", "neurological")


def _require_matplotlib() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("vol.plot() needs matplotlib: pip install matplotlib") from exc
    return plt


def _axes_map(affine: np.ndarray) -> list[int]:
    """World axis (0=x, 1=y, 2=z) nearest to each voxel axis (nibabel's io_orientation)."""
    from nibabel.orientations import io_orientation

    ornt = io_orientation(np.asarray(affine, dtype=np.float64))
    return [int(w) for w in ornt[:, 0]]


def _oblique(affine: np.ndarray, atol: float = 1e-4) -> bool:
    rzs = np.asarray(affine, dtype=np.float64)[:3, :3]
    cos = np.abs(rzs) / np.linalg.norm(rzs, axis=0)
    return bool(np.any((cos > atol) & (cos < 1 - atol)))


def plot_volume(
    vol: Volume,
    point: Sequence[float] | None = None,
    *,
    voxel: Sequence[int] | None = None,
    t: int = 0,
    convention: str = "radiological",
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    figsize: tuple[float, float] = (12.0, 4.4),
) -> Any:
    """Draw the axial, coronal and sagittal slices of ``vol`` through a point.

    Parameters
    ----------
    vol : Volume
    point : (x, y, z), optional
        World point (RAS+) in the affine's unit (mm unless the source states another);
        default the volume's centre.
    voxel : (i, j, k), optional
        The point as voxel indices instead (rounded to whole voxels; negative ones count from
        the end, as numpy's do).
    t : int
        4th-axis index shown for 4D volumes.
    convention : {"radiological", "neurological"}
        Left-right display of the axial and coronal views (stated in the figure).
    cmap, vmin, vmax
        Passed to ``imshow``; the default window is the 0.5-99.5 percentiles of the slices.
    figsize : (float, float)

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    OptionError
        ``point`` or ``voxel`` is not three finite numbers or lies outside the volume (the message
        gives the volume's extent), or ``convention`` is another word.
    DataTypeError
        The volume holds no plain numbers (RGB, complex).
    """
    if convention not in _CONVENTIONS:
        raise OptionError(f"plot: convention must be one of {_CONVENTIONS}, got {convention!r}")
    if vol.dtype.names or vol.dtype.kind not in "biuf":
        raise DataTypeError(f"plot() shows numbers; this volume holds {vol.dtype}")
    plt = _require_matplotlib()
    aff = np.asarray(vol.affine, dtype=np.float64)
    idx = _point_index(aff, vol.shape[:3], point, voxel)
    world = (aff @ np.r_[np.asarray(idx, dtype=np.float64), 1.0])[:3]
    images = _view_images(vol, aff, idx, world, t)
    finite = np.concatenate([im[np.isfinite(im)].ravel() for im, _ in images])
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    window = (float(lo) if vmin is None else vmin, float(hi) if vmax is None else vmax)
    fig, axes = plt.subplots(1, 3, figsize=figsize, layout="constrained")
    unit = space_unit(vol.meta)  # the affine's unit
    for ax, view, image in zip(axes, _VIEWS, images, strict=True):
        _draw_view(ax, view, image, world, (convention, unit), cmap, window)
    fig.suptitle(_title(vol, aff, idx, world, t, (convention, unit)), fontsize=9)
    return fig


#: (title, normal world axis, horizontal world axis, vertical world axis) of each view.
_VIEWS = (("axial", 2, 0, 1), ("coronal", 1, 0, 2), ("sagittal", 0, 1, 2))

_Image = tuple[np.ndarray, list[tuple[np.ndarray, float]]]


def _point_index(
    aff: np.ndarray,
    shape3: Sequence[int],
    point: Sequence[float] | None,
    voxel: Sequence[int] | None,
) -> list[int]:
    """The voxel nearest to ``voxel``, ``point`` (world) or the centre.

    Raises
    ------
    OptionError
        Not three finite numbers, or a voxel outside the volume (a point or voxel beyond an edge
        was drawn at that edge, its views labelled with the edge's place).
    """
    if voxel is None and point is None:
        return [int(v) for v in np.rint((np.asarray(shape3, dtype=np.float64) - 1) / 2)]
    name = "voxel" if voxel is not None else "point"
    given = _three_numbers(voxel if voxel is not None else point, name)
    if voxel is not None:
        ijk = np.rint(given)
        ijk = np.where(ijk < 0, ijk + np.asarray(shape3), ijk)  # (numpy's negative indices)
    else:
        ijk = np.rint((np.linalg.inv(aff) @ np.r_[given, 1.0])[:3])
    if all(0 <= v < n for v, n in zip(ijk, shape3, strict=True)):
        return [int(v) for v in ijk]
    if voxel is not None:
        raise OptionError(
            f"plot: voxel={tuple(voxel)} is outside the volume of shape {tuple(shape3)}; give "
            "indices from 0 to the shape's size - 1 (or negative ones, counted from the end)"
        )
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape3], indexing="ij")).reshape(3, -1)
    world = (aff[:3, :3] @ corners + aff[:3, 3:]).T
    box = ", ".join(
        f"{c} {lo:.1f} to {hi:.1f}"
        for c, lo, hi in zip("xyz", world.min(axis=0), world.max(axis=0), strict=True)
    )
    raise OptionError(
        f"plot: point={tuple(float(v) for v in given)} is outside the volume, which spans {box} "
        "(RAS+: x grows to the patient's right, y to anterior, z to superior; a DICOM viewer's "
        "LPS coordinates have x and y negated); give a point inside it, or voxel=(i, j, k)"
    )


def _three_numbers(values: Any, name: str) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        out = np.empty(0)
    if out.shape != (3,) or not np.isfinite(out).all():
        raise OptionError(f"plot: {name}={values!r} must be three finite numbers")
    return out


def _view_images(
    vol: Volume, aff: np.ndarray, idx: list[int], world: np.ndarray, t: int
) -> list[_Image]:
    """The three planes through ``idx`` (read in one compute), each oriented so world coordinates
    increase along its rows and columns, with the world positions of its pixels."""
    data = vol.data
    if vol.ndim > 3:
        if not -vol.shape[3] <= t < vol.shape[3]:
            raise IndexError(f"t={t} is out of range for {vol.shape[3]} volumes")
        data = data[(slice(None),) * 3 + (t,) + (0,) * (vol.ndim - 4)]
    vox_of = {w: a for a, w in enumerate(_axes_map(aff))}  # world axis -> voxel axis
    cuts = []
    for _name, normal, _h, _v in _VIEWS:
        index: list[Any] = [slice(None)] * 3
        index[vox_of[normal]] = idx[vox_of[normal]]
        cuts.append(data[tuple(index)])
    planes = dask.compute(*cuts)
    return [
        _orient(np.asarray(plane, dtype=np.float64), view, vox_of, aff, idx, world, vol.shape[:3])
        for view, plane in zip(_VIEWS, planes, strict=True)
    ]


def _orient(
    img: np.ndarray,
    view: tuple[str, int, int, int],
    vox_of: dict[int, int],
    aff: np.ndarray,
    idx: list[int],
    world: np.ndarray,
    shape3: Sequence[int],
) -> _Image:
    _name, normal, h, v = view
    spacing = np.sqrt((aff[:3, :3] ** 2).sum(axis=0))
    a_h, a_v = vox_of[h], vox_of[v]
    rest = [a for a in range(3) if a != vox_of[normal]]
    if rest.index(a_h) != 0:
        img = img.T  # rows: horizontal voxel axis
    extents = []
    for axis, world_axis in ((a_h, h), (a_v, v)):
        step = aff[world_axis, axis]
        pos = world[world_axis] + (np.arange(shape3[axis]) - idx[axis]) * (
            np.sign(step) * spacing[axis] if step != 0 else spacing[axis]
        )
        extents.append((pos, float(spacing[axis])))
    if extents[0][0][0] > extents[0][0][-1]:
        img = img[::-1, :]
        extents[0] = (extents[0][0][::-1], extents[0][1])
    if extents[1][0][0] > extents[1][0][-1]:
        img = img[:, ::-1]
        extents[1] = (extents[1][0][::-1], extents[1][1])
    return img.T, extents  # imshow: rows = vertical


def _draw_view(
    ax: Any,
    view: tuple[str, int, int, int],
    image: _Image,
    world: np.ndarray,
    labels: tuple[str, str],
    cmap: str,
    window: tuple[float, float],
) -> None:
    convention, unit = labels
    name, normal, h, v = view
    img, ((hpos, dh), (vpos, dv)) = image
    extent = (hpos[0] - dh / 2, hpos[-1] + dh / 2, vpos[0] - dv / 2, vpos[-1] + dv / 2)
    ax.imshow(
        img,
        origin="lower",
        extent=extent,
        cmap=cmap,
        vmin=window[0],
        vmax=window[1],
        aspect="equal",
        interpolation="nearest",
    )
    ax.axvline(world[h], color="tab:orange", lw=0.6, alpha=0.7)
    ax.axhline(world[v], color="tab:orange", lw=0.6, alpha=0.7)
    flip_lr = h == 0 and convention == "radiological"
    if flip_lr:
        ax.invert_xaxis()
    low_h, high_h = _LETTERS[h]
    left, right = (high_h, low_h) if flip_lr else (low_h, high_h)
    low_v, high_v = _LETTERS[v]
    ax.set_xlabel(f"{'xyz'[h]} ({unit})   {left} \u2190 \u2192 {right}")
    ax.set_ylabel(f"{'xyz'[v]} ({unit})   {low_v} \u2192 {high_v}")
    for text, (xpos, ypos) in ((left, (0.02, 0.5)), (right, (0.98, 0.5)), (high_v, (0.5, 0.97))):
        ax.text(
            xpos,
            ypos,
            text,
            transform=ax.transAxes,
            color="yellow",
            ha="center",
            va="center",
            fontsize=11,
            fontweight="bold",
        )
    ax.set_title(f"{name}  {'xyz'[normal]} = {world[normal]:.1f} {unit}")


def _title(
    vol: Volume,
    aff: np.ndarray,
    idx: list[int],
    world: np.ndarray,
    t: int,
    labels: tuple[str, str],
) -> str:
    convention, unit = labels
    where = ", ".join(f"{c}={w:.1f}" for c, w in zip("xyz", world, strict=True))
    conv = (
        "radiological: the patient's right is on the left"
        if convention == "radiological"
        else "neurological: the patient's right is on the right"
    )
    oblique = "  [oblique: views are the nearest voxel planes]" if _oblique(aff) else ""
    # (a file name that is not valid UTF-8 holds lone surrogates, which matplotlib's text
    # layout refuses with a TypeError: shown with its bytes as \xNN)
    src = f"{_printable(str(vol.source))}  " if vol.source else ""
    tpart = f"  t={t}" if vol.ndim > 3 else ""
    return (
        f"{src}voxel {tuple(idx)}{tpart}  ({where} {unit}, RAS)\n{conv} (axial and coronal views)"
        f"{oblique}"
    )
