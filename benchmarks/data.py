"""Benchmark data, generated once into the data folder (``benchmarks/.data/`` by default).

Files are written with lazyvol's public synthetic writers (:mod:`lazyvol.testing`): realistic
content (a head-like phantom with noise, gzip ratio like a real scan), streamed slab by slab so any
size fits in bounded memory. A file is written to a temporary name and renamed when complete, so an
interrupted run never leaves a file that looks finished.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def nifti_name(shape: Sequence[int], dtype: str, gz: bool) -> str:
    dims = "x".join(str(int(s)) for s in shape)
    return f"phantom_{dims}_{np.dtype(dtype).name}.nii" + (".gz" if gz else "")


def nifti(data_dir: Path, shape: Sequence[int], dtype: str = "int16", gz: bool = False) -> str:
    """Path of a phantom NIfTI of ``shape``/``dtype``, generating it on first use."""
    from lazyvol.testing import write_phantom_nifti

    path = data_dir / "nifti" / nifti_name(shape, dtype, gz)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_phantom_nifti(path, tuple(int(s) for s in shape), dtype=dtype)
    return str(path)


def nifti_info(path: str) -> dict[str, Any]:
    """Header facts of a NIfTI file: shape, dtype, vox_offset, data bytes and total stream bytes."""
    import nibabel as nib

    img: Any = nib.load(path)
    shape = tuple(int(s) for s in img.shape)
    dtype = img.get_data_dtype()
    offset = int(img.dataobj.offset)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return {
        "path": os.path.abspath(path),
        "shape": list(shape),
        "dtype": dtype.str,
        "offset": offset,
        "nbytes": nbytes,
        "stream_bytes": offset + nbytes,
        "gz": path.lower().endswith(".gz"),
        "file_bytes": os.path.getsize(path),
        "scaled": bool(
            np.isfinite(img.dataobj.slope)
            and (img.dataobj.slope != 1.0 or img.dataobj.inter != 0.0)
        ),
    }
