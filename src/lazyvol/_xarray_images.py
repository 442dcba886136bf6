"""The per-image DICOM attributes of :func:`lazyvol.xarray.to_xarray`: ``InstanceNumber``,
``AcquisitionTime`` and ``SOPInstanceUID`` of each image, read from the headers (no pixel data)
inside a dask task, only when used."""

from __future__ import annotations

import operator
import os
from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import numpy as np

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["SLICE_ATTRIBUTES", "slice_attributes"]

#: Per-image DICOM attributes given as coordinates along ``k`` (and the 4th axis of a 4D series).
SLICE_ATTRIBUTES = ("InstanceNumber", "AcquisitionTime", "SOPInstanceUID")


def slice_attributes(vol: Volume, dims: tuple[str, ...]) -> dict[str, Any]:
    """Per-image DICOM attributes as lazy dask arrays on ``dims`` (k, and the 4th axis of a 4D
    series), read on first use."""
    from ._location import is_url
    from .errors import LazyvolError
    from .headers import _is_dicom, _is_zarr, check_store_sources

    if not _is_dicom(vol.meta) or not vol.source or vol.ndim > 4 or _is_zarr(vol.source):
        return {}
    # A Zarr copy of a DICOM series keeps one source header, not each image's: the images' own
    # are read from the original files while they are the ones it was written from.
    try:
        check_store_sources(vol)
    except LazyvolError:
        return {}
    files = vol.meta.get("files")
    local = [str(f) for f in files if not is_url(str(f))] if isinstance(files, list) else []
    if not all(os.path.exists(f) for f in local) or (
        not files and not is_url(str(vol.source)) and not os.path.exists(str(vol.source))
    ):
        return {}
    shape = tuple(vol.shape[2:])
    task = dask.delayed(_read_slice_attributes, pure=True)(vol.source, _HeaderView(vol))
    out: dict[str, Any] = {}
    for n, (name, dtype) in enumerate(
        zip(SLICE_ATTRIBUTES, (np.int64, np.dtype("U32"), np.dtype("U64")), strict=True)
    ):
        item = dask.delayed(operator.itemgetter(n), pure=True)(task)  # (picklable: no lambda)
        out[name] = (dims, da.from_delayed(item, shape=shape, dtype=dtype), {})
    return out


class _HeaderView:
    """What :func:`lazyvol.headers.dicom_header` needs of a volume, picklable and light."""

    def __init__(self, vol: Volume) -> None:
        self.source = vol.source
        self.meta = {
            k: vol.meta[k]
            for k in ("format", "series_id", "relaxations", "source_index", "files", "path")
            if k in vol.meta
        }
        self.shape = vol.shape
        self.ndim = vol.ndim
        from ._opened import opened_stamps

        self.stamps = opened_stamps(vol)  # each file's identity at open, checked before its header


def _read_slice_attributes(source: str, view: _HeaderView) -> list[np.ndarray]:
    from .dicom.dicom_time import frame_time
    from .headers import dicom_headers, peek_dataset

    shape = tuple(view.shape[2:])  # (nk,) or (nk, nt)
    numbers, times, uids = [], [], []
    where = [(k, t[0] if t else 0) for k, *t in np.ndindex(*shape)]
    # a slice allow_gaps=True filled in has no image: stated missing (-1 and empty strings)
    for ds in dicom_headers(view, where, peek_dataset, filled_ok=True):  # type: ignore[arg-type]
        if ds is None:
            numbers.append(-1)
            times.append("")
            uids.append("")
            continue
        number = ds.get("InstanceNumber")
        numbers.append(int(number) if number not in (None, "") else -1)
        # a frame of an enhanced file: its own time (FrameAcquisitionDateTime), not the file's
        stamp = frame_time(ds.get("FrameAcquisitionDateTime"))
        times.append(stamp or str(ds.get("AcquisitionTime", "") or ""))
        uids.append(str(ds.get("SOPInstanceUID", "") or ""))
    return [
        np.asarray(numbers, dtype=np.int64).reshape(shape),
        np.asarray(times, dtype="U32").reshape(shape),
        np.asarray(uids, dtype="U64").reshape(shape),
    ]
