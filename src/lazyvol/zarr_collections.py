"""Why an OME-Zarr collection (a bioformats2raw collection, an HCS plate or well) opens as no
volume, and which of its images to open instead (the refusal :mod:`lazyvol.zarr_io` raises)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["not_an_image"]


def not_an_image(
    store: str,
    attrs: dict[str, Any],
    attrs_of: Callable[[str], dict[str, Any]] | None = None,
) -> str:
    """Why the group ``attrs`` of ``store`` open as no volume, and what to open instead: one image
    of a bioformats2raw collection or one field of an OME-Zarr HCS plate, or zarr itself.
    ``attrs_of(path)``: the attributes of the group at ``path`` in the store (a plate's first
    well's, whose images name its fields), ``{}`` when unreadable."""
    inner = attrs.get("ome")
    ome: dict[str, Any] = inner if isinstance(inner, dict) else attrs
    plate = ome.get("plate")
    if "bioformats2raw.layout" in ome:
        what, inner = "a bioformats2raw collection of images (series 0, 1, ...)", "0"
    elif isinstance(plate, dict):
        wells = plate.get("wells")
        first = wells[0].get("path") if isinstance(wells, list) and wells else None
        field = None
        if isinstance(first, str) and attrs_of is not None:
            well_attrs = attrs_of(first)
            well_ome = well_attrs.get("ome") if isinstance(well_attrs.get("ome"), dict) else None
            field = _first_field((well_ome or well_attrs).get("well"))
        inner = f"{first}/{field or '0'}" if isinstance(first, str) else "ROW/COLUMN/FIELD"
        what = "an OME-Zarr HCS plate (rows / columns / fields of view)"
    elif isinstance(ome.get("well"), dict):
        inner = _first_field(ome["well"]) or "0"
        what = "an OME-Zarr HCS well (one image per field of view)"
    else:
        return (
            f"{store}: a Zarr store that is neither a lazyvol store (group attribute 'lazyvol') "
            "nor an OME-Zarr image (attribute 'ome' with 'multiscales'); open it with zarr directly"
        )
    return (
        f"{store}: {what}, not one image; open one of its images, e.g. {store.rstrip('/')}/{inner}"
    )


def _first_field(well: Any) -> str | None:
    """The path of the first image (field of view) a well's ``well`` metadata lists, if any (its
    fields are named by these paths, "0" only by custom)."""
    images = well.get("images") if isinstance(well, dict) else None
    first = images[0] if isinstance(images, list) and images else None
    path = first.get("path") if isinstance(first, dict) else None
    return path if isinstance(path, str) and path else None
