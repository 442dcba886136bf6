"""Which source slice and 4th-axis index each index of a cut volume comes from.

:meth:`lazyvol.Volume.__getitem__` keeps ``meta["source_index"]`` up to date for DICOM volumes
(so :meth:`lazyvol.Volume.dicom_header` finds the file behind slice ``k`` of a cut volume) and for
4D volumes (so the 4th axis' times stay right). Low level: no lazyvol imports.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

__all__ = ["SOURCE_INDEX_KEY", "slice_source_index", "source_stride"]

#: ``meta`` key with the source's slice and 4th-axis index of each index of a cut volume:
#: ``{"k": [source k per k], "t": [source t per t]}``.
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
    if not is_dicom(meta) and SOURCE_INDEX_KEY not in meta and len(shape) < 4:
        return
    idx = meta.get(SOURCE_INDEX_KEY)
    nt = shape[3] if len(shape) > 3 else 1
    ks = list(idx["k"]) if isinstance(idx, dict) else list(range(shape[2]))
    ts = list(idx["t"]) if isinstance(idx, dict) else list(range(nt))
    if len(ks) != shape[2] or len(ts) != nt:  # not ours any more: do not guess
        meta.pop(SOURCE_INDEX_KEY, None)
        return
    kitem = canon[2]
    ks = ks[kitem] if isinstance(kitem, slice) else [ks[kitem]]
    if len(shape) > 3:
        titem = canon[3]
        ts = ts[titem] if isinstance(titem, slice) else [ts[titem]]
    meta[SOURCE_INDEX_KEY] = {"k": ks, "t": ts}


def source_stride(meta: Mapping[str, Any]) -> int:
    """Source volumes between a cut volume's consecutive volumes along the 4th axis
    (``vol[..., ::2]``: 2); 1 when uncut, or when the cut is not evenly spaced."""
    index = meta.get(SOURCE_INDEX_KEY)
    ts = index.get("t") if isinstance(index, dict) else None
    if not isinstance(ts, list) or len(ts) < 2:
        return 1
    strides = {abs(int(b) - int(a)) for a, b in itertools.pairwise(ts)}
    return strides.pop() if len(strides) == 1 and 0 not in strides else 1
