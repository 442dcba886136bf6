"""OME-Zarr images as another tool writes them (zarr-python and the OME-NGFF attributes, with no
lazyvol metadata, manifest or checksums): the "foreign" stores lazyvol reads without having
written them.

OME-NGFF 0.5 lives on Zarr v3, in the group attribute ``ome``
(``{"version": "0.5", "multiscales": [...]}``); 0.4 on Zarr v2, in the attribute ``multiscales``
with the version inside each multiscale. Either way the store's one dataset is the array ``"0"``
(level 0), stored in the axis order given (C order: ``z, y, x`` last).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

__all__ = ["ome_zarr_attributes", "write_ome_zarr"]

#: The OME axis type given to an axis named by one of these letters (another name gets none).
AXIS_TYPES = {"x": "space", "y": "space", "z": "space", "t": "time", "c": "channel"}

Axes = str | Sequence[str | Mapping[str, Any]]


def _axes(axes: Axes, unit: str | None, time_unit: str | None) -> list[Any]:
    """OME axes: the letters of a string as axis objects typed by :data:`AXIS_TYPES` (space axes
    in ``unit``, time axes in ``time_unit``, when given); the items of a list as given (axis
    objects copied; plain names, as OME-NGFF 0.3 wrote them, kept plain)."""
    if not isinstance(axes, str):
        return [dict(a) if isinstance(a, Mapping) else a for a in axes]
    out: list[Any] = []
    for axis in axes:
        item: dict[str, Any] = {"name": axis}
        kind = AXIS_TYPES.get(axis)
        if kind is not None:
            item["type"] = kind
        if kind == "space" and unit is not None:
            item["unit"] = unit
        if kind == "time" and time_unit is not None:
            item["unit"] = time_unit
        out.append(item)
    return out


def ome_zarr_attributes(
    axes: Axes = "zyx",
    *,
    scale: Sequence[float] | None = None,
    translation: Sequence[float] | None = None,
    unit: str | None = "millimeter",
    time_unit: str | None = None,
    version: Literal["0.4", "0.5"] = "0.5",
) -> dict[str, Any]:
    """The group attributes of an OME-Zarr image whose one dataset is the array ``"0"``.

    Parameters
    ----------
    axes : str or sequence of str or mapping
        The axes in stored order: a string of one-letter names (``"zyx"``, ``"tczyx"``; x, y,
        z are ``space`` axes, t ``time``, c ``channel``, any other letter has no type), written
        as axis objects; or a list written as given, of OME axis objects (an axis without a
        type, or of a type a test needs) or plain names (OME-NGFF 0.3's form).
    scale : sequence of float, optional
        The level's ``scale`` transform, one value per axis (default all 1).
    translation : sequence of float, optional
        A ``translation`` transform after the scale (default none).
    unit : str or None
        The unit of the space axes named by letter (``None``: no unit stated).
    time_unit : str or None
        The unit of a time axis named ``t`` (``None``: no unit stated).
    version : {"0.5", "0.4"}
        ``"0.5"``: the ``ome`` attribute (Zarr v3); ``"0.4"``: ``multiscales`` (Zarr v2).

    Returns
    -------
    dict
        The attributes to set on the group (``group.attrs.update(...)``).
    """
    listed = _axes(axes, unit, time_unit)
    transforms: list[dict[str, Any]] = [
        {"type": "scale", "scale": list(scale) if scale is not None else [1] * len(listed)}
    ]
    if translation is not None:
        transforms.append({"type": "translation", "translation": list(translation)})
    ms: dict[str, Any] = {
        "axes": listed,
        "datasets": [{"path": "0", "coordinateTransformations": transforms}],
    }
    if version == "0.5":
        return {"ome": {"version": "0.5", "multiscales": [ms]}}
    if version == "0.4":
        return {"multiscales": [{**ms, "version": "0.4"}]}
    raise ValueError(f"version={version!r}: give '0.5' or '0.4'")


def write_ome_zarr(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    axes: Axes = "zyx",
    chunks: Sequence[int] | None = None,
    scale: Sequence[float] | None = None,
    translation: Sequence[float] | None = None,
    unit: str | None = "millimeter",
    time_unit: str | None = None,
    version: Literal["0.4", "0.5"] = "0.5",
) -> str:
    """Write ``data`` as an OME-Zarr image another tool would write (no lazyvol metadata).

    Parameters
    ----------
    path : str or os.PathLike
        The store's folder (replaced when it exists).
    data : numpy.ndarray
        Level 0, in the stored axis order (the array ``"0"``).
    axes, scale, translation, unit, time_unit, version
        As :func:`ome_zarr_attributes`.
    chunks : sequence of int, optional
        The array's chunk shape (default: one chunk).

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> import numpy as np, lazyvol as lv
    >>> from lazyvol.testing import write_ome_zarr
    >>> store = write_ome_zarr("ct.zarr", np.zeros((4, 5, 6), "int16"), scale=[2.5, 0.8, 0.8])
    >>> lv.open(store).spacing
    (0.8, 0.8, 2.5)
    """
    import zarr

    data = np.asarray(data)
    group = zarr.open_group(os.fspath(path), mode="w", zarr_format=3 if version == "0.5" else 2)
    group.attrs.update(
        ome_zarr_attributes(
            axes,
            scale=scale,
            translation=translation,
            unit=unit,
            time_unit=time_unit,
            version=version,
        )
    )
    shape = tuple(chunks) if chunks is not None else data.shape
    group.create_array("0", shape=data.shape, dtype=data.dtype, chunks=shape)[...] = data
    return os.fspath(path)
