"""kerchunk references (version 1) as another tool writes them, for the reference:// tests: an
OME-Zarr 0.4 image (z, y, x) of one chunk per slice, no identity of its targets recorded."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def ome_image_refs(shape: tuple[int, int, int], dtype: Any, slices: list[list[Any]]) -> dict:
    """References to an image of ``shape`` (k, j, i) and ``dtype`` whose slice ``z`` is the
    reference ``slices[z]``: ``[url]`` (a whole file) or ``[url, offset, length]``."""
    k, j, i = shape
    zarray = {"zarr_format": 2, "shape": [k, j, i], "chunks": [1, j, i]}
    zarray.update(dtype=np.dtype(dtype).str, compressor=None, fill_value=None, filters=None)
    zarray["order"] = "C"
    scale = [{"type": "scale", "scale": [1.0] * 3}]
    ms = {
        "version": "0.4",
        "axes": [{"name": x, "type": "space", "unit": "millimeter"} for x in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": scale}],
    }
    refs = {
        ".zgroup": json.dumps({"zarr_format": 2}),
        ".zattrs": json.dumps({"multiscales": [ms]}),
        "0/.zarray": json.dumps(zarray),
        **{f"0/{z}.0.0": ref for z, ref in enumerate(slices)},
    }
    return {"version": 1, "refs": refs}


def nifti_image_refs(target: str, nii: Any) -> dict:
    """References to the voxels of the NIfTI image ``nii`` (nibabel's, uncompressed) stored in
    ``target`` (a path or URL): slice z at its byte offset in the file's data."""
    i, j, k = nii.shape
    dtype = nii.get_data_dtype()
    plane = i * j * dtype.itemsize
    offset = int(nii.dataobj.offset)
    return ome_image_refs((k, j, i), dtype, [[target, offset + z * plane, plane] for z in range(k)])
