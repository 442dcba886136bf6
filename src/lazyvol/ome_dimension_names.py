"""An OME image's Zarr v3 ``dimension_names`` against its OME ``axes`` (OME-NGFF 0.5: they MUST
match): :func:`check_dimension_names`, for :mod:`lazyvol.zarr_io`'s open of an OME image."""

from __future__ import annotations

from typing import Any

from .errors import UnsupportedError

__all__ = ["check_dimension_names"]


def check_dimension_names(store: str, lvl: Any, arr_meta: dict[str, Any]) -> None:
    """The array's Zarr ``dimension_names`` must not put an OME axis at another place than the
    OME axes do (OME-NGFF 0.5: they MUST match): one of the two is wrong about which array axis
    is which (x and z, time and z, time and channel), and reading by the OME order would swap
    voxel sizes, orientation or volumes silently. A name is an OME axis's as written, else
    lower-cased when that names one axis. Other differences (``time`` for ``t``, names missing,
    names of no OME axis) are not judged."""
    dims = arr_meta.get("dimension_names")
    if not isinstance(dims, list) or len(dims) != lvl.ndim:
        return
    ome = [""] * lvl.ndim
    for vol_ax, disk_ax in enumerate(lvl.order):
        ome[disk_ax] = str(lvl.meta["axes"][vol_ax])
    lowered = [o.lower() for o in ome]

    def place(name: str) -> int | None:
        if name in ome:
            return ome.index(name)
        return lowered.index(name.lower()) if lowered.count(name.lower()) == 1 else None

    moved = [d for at, d in enumerate(dims) if isinstance(d, str) and place(d) not in (None, at)]
    if moved:
        raise UnsupportedError(
            f"{store} (array {lvl.path!r}): its dimension_names {dims} put "
            f"{', '.join(map(repr, moved))} at another place than the OME axes {ome} do "
            "(OME-NGFF requires them to match); lazyvol cannot tell which is right; write the "
            "store with matching names"
        )
