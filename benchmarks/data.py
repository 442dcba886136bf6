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


#: Tools whose timed work has no lazy imports (external commands, numpy/indexed_gzip imported in the
#: untimed preparation) or whose warm-up would need more than a path (a cluster): no warm-up call.
NO_WARMUP = {
    "gzip_cli",
    "cat_files",
    "dcm2niix_convert",
    "memmap_mean",
    "igzip_read",
    "igzip_parallel",
    "cluster_mean",
    "cluster_start",
}
TINY = (16, 16, 8)


def warmup_source(data_dir: Path, path: str) -> str | None:
    """A tiny source of the same kind as ``path`` (format, dtype, compression) for a warm-up call."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        info = nifti_info(path)
        return nifti(
            data_dir / "warmup", TINY, np.dtype(info["dtype"]).newbyteorder("=").name, info["gz"]
        )
    if p.is_dir() and (p / "zarr.json").exists():
        store = data_dir / "warmup" / "tiny.zarr"
        if not store.exists():
            import lazyvol as lv

            lv.open(nifti(data_dir / "warmup", TINY, "int16", False)).to_zarr(store)
        return str(store)
    if p.is_dir():
        from .cases import dicom

        kind = next(
            (k for k, s in dicom.SYNTAXES.items() if name.endswith("_" + k.split()[0].lower())),
            None,
        )
        base = data_dir / "warmup" / "dicom"
        plain = base / "tiny"
        if not plain.exists():
            base.mkdir(parents=True, exist_ok=True)
            dicom.write_series(str(plain), (TINY[0], TINY[1], 4))
        if kind is None:
            return str(plain)
        target = base / f"tiny_{kind.split()[0].lower()}"
        if not target.exists():
            dicom.compress_series(str(plain), str(target), dicom.SYNTAXES[kind], 4)
        return str(target)
    return None


def add_warmup(data_dir: Path, m: Any) -> None:
    """Give measure ``m`` an untimed warm-up call of the same tool on a tiny source of the same kind.

    The first call of a library in a process pays lazy imports (nibabel's optional packages,
    pydicom's handlers, dask's thread pool...): that is not what any case measures, so every tool
    calls itself once on a tiny different file before the timed work, and none of its per-file state
    (handles, indexes, caches) can help the measured file.
    """
    if m.func in NO_WARMUP or m.skip:
        return
    key = "path" if "path" in m.args else ("folder" if "folder" in m.args else None)
    if key is None:
        return
    try:
        tiny = warmup_source(data_dir, m.args[key])
    except (ImportError, AttributeError, OSError, ValueError):
        return
    if tiny is None:
        return
    warm = {key: tiny}
    for k in ("store", "cache", "out_dir"):
        if k in m.args:
            warm[k] = str(m.args[k]) + "-warmup"
    m.args["warmup"] = warm
