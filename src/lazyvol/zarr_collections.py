"""Why an OME-Zarr collection (a bioformats2raw collection, an HCS plate or well, a labels group)
opens as no volume, and which of its images to open instead (the refusal :mod:`lazyvol.zarr_io`
raises)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["not_an_image", "parent_attrs"]


def not_an_image(
    store: str,
    attrs: dict[str, Any],
    attrs_of: Callable[[str], dict[str, Any]] | None = None,
    parent_attrs: Callable[[], dict[str, Any]] | None = None,
) -> str:
    """Why the group ``attrs`` of ``store`` open as no volume, and what to open instead: one image
    of a bioformats2raw collection, one field of an OME-Zarr HCS plate, one label image of a
    labels group, or zarr itself.
    ``attrs_of(path)``: the attributes of the group at ``path`` in the store (a plate's first
    well's, whose images name its fields), ``{}`` when unreadable; ``parent_attrs()``: those of
    the group holding the store (a plate, when the store is one of its rows), ``{}`` likewise."""
    row = _plate_row(store, attrs, attrs_of, parent_attrs)
    if row is not None:
        return row
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
    elif _label_names(ome.get("labels")):
        names = _label_names(ome.get("labels"))
        inner = names[0]
        listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        what = (
            f"an OME-Zarr labels group (its label images: {listed}; the image they label is the "
            "group holding it)"
        )
    else:
        if "multiscales" in ome:  # (present, but no image in it: [] or not a list)
            return (
                f"{store}: OME-Zarr attribute 'multiscales' = {ome['multiscales']!r:.80} lists "
                "no image (OME-NGFF: a list of at least one multiscale image, its axes and "
                "datasets); the OME metadata is corrupt or unfinished; write it again"
            )
        if _xarray_of_lazyvol(attrs):
            # (ds.to_zarr of a dataset xr.open_dataset(..., engine="lazyvol") made: reopened with
            # the engine, it got the generic refusal below)
            return (
                f"{store}: a dataset xarray wrote (Dataset.to_zarr) from lazyvol's xarray engine, "
                "not a lazyvol store: reopen it with xarray.open_zarr(store); "
                "lazyvol.xarray.affine_of(ds.image) gives its affine. lazyvol.open reads the "
                "stores Volume.to_zarr writes"
            )
        return (
            f"{store}: a Zarr store that is neither a lazyvol store (group attribute 'lazyvol') "
            "nor an OME-Zarr image (attribute 'ome' with 'multiscales'); open it with zarr directly "
            "(or xarray.open_zarr, for a dataset xarray wrote)"
        )
    return (
        f"{store}: {what}, not one image; open one of its images, e.g. {store.rstrip('/')}/{inner}"
    )


def _xarray_of_lazyvol(attrs: dict[str, Any]) -> bool:
    """Whether group attributes are those lazyvol's xarray engine gives a dataset (its affine's
    16 numbers and its source), as ``Dataset.to_zarr`` keeps them."""
    affine = attrs.get("affine")
    return (
        isinstance(affine, list)
        and len(affine) == 16
        and all(isinstance(v, int | float) for v in affine)
        and isinstance(attrs.get("source"), str)
    )


def _label_names(labels: Any) -> list[str]:
    """The label images an OME-Zarr labels group lists (its ``labels``: paths inside it)."""
    if not isinstance(labels, list):
        return []
    return [n for n in labels if isinstance(n, str) and n and not n.startswith(("/", "."))]


def _first_field(well: Any) -> str | None:
    """The path of the first image (field of view) a well's ``well`` metadata lists, if any (its
    fields are named by these paths, "0" only by custom)."""
    images = well.get("images") if isinstance(well, dict) else None
    first = images[0] if isinstance(images, list) and images else None
    path = first.get("path") if isinstance(first, dict) else None
    return path if isinstance(path, str) and path else None


def _plate(attrs: dict[str, Any]) -> dict[str, Any] | None:
    inner = attrs.get("ome")
    plate = (inner if isinstance(inner, dict) else attrs).get("plate")
    return plate if isinstance(plate, dict) else None


def _plate_row(
    store: str,
    attrs: dict[str, Any],
    attrs_of: Callable[[str], dict[str, Any]] | None,
    parent_attrs: Callable[[], dict[str, Any]] | None,
) -> str | None:
    """The refusal of a group without attributes that is a row of the HCS plate holding it (its
    wells ``ROW/COLUMN`` listed by the plate), naming the row's images; None when it is not."""
    if attrs or parent_attrs is None:
        return None
    plate = _plate(parent_attrs())
    wells = plate.get("wells") if plate is not None else None
    row = store.rstrip("/").rsplit("/", 1)[-1]
    paths = [w.get("path") for w in wells or () if isinstance(w, dict)]
    columns = [p.split("/", 1)[1] for p in paths if isinstance(p, str) and p.startswith(f"{row}/")]
    if not columns:
        return None
    images = []
    for column in columns:
        well = attrs_of(column) if attrs_of is not None else {}
        well_ome = well.get("ome") if isinstance(well.get("ome"), dict) else None
        images.append(
            f"{store.rstrip('/')}/{column}/{_first_field((well_ome or well).get('well')) or '0'}"
        )
        if len(images) == 3:
            break
    more = f" (and {len(columns) - 3} more wells)" if len(columns) > 3 else ""
    return (
        f"{store}: row {row} of an OME-Zarr HCS plate (the group holding it lists its wells), "
        f"not one image: a row holds wells, each of fields of view; open one image, e.g. "
        f"{'; '.join(images)}{more}"
    )


def parent_attrs(root: Any) -> Callable[[], dict[str, Any]]:
    """``parent_attrs`` of :func:`not_an_image` for the store root ``root`` (a ``StoreRoot``):
    the attributes of the group its folder or prefix is in, ``{}`` when there is none or it is
    unreadable (read only when asked)."""

    def read() -> dict[str, Any]:
        from ._location import Location

        loc = root.loc
        url = loc.url.rstrip("/")
        if loc.is_remote:
            head, _, _ = url.rpartition("/")
            if not head or head.endswith(":/"):
                return {}
            up = Location(head, loc.options)
        else:
            head = os.path.dirname(url)
            if head == url:
                return {}
            up = Location(head)
        return dict(type(root)(up).attrs_of(""))

    return read
