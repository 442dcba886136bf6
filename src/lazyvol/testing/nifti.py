"""Synthetic NIfTI volumes with realistic content (a head-like phantom plus noise)."""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._fsutil import atomic_path
from .dicom_base import _check_shape

__all__ = ["phantom_slab", "write_phantom_nifti"]


def phantom_slab(
    shape: Sequence[int], k0: int, k1: int, *, dtype: Any = "int16", seed: int = 0, t: int = 0
) -> np.ndarray:
    """Slices ``k0:k1`` of a deterministic head-like phantom of spatial ``shape`` (i, j, k).

    The content is an ellipsoid "head" with a shell, a brighter core and smooth ripples, plus
    per-voxel noise, so gzip compresses it about as well as a real scan (2-4x), not like zeros.

    Parameters
    ----------
    shape : (int, int, int)
        Spatial shape of the whole volume.
    k0, k1 : int
        The slab of slices along the last spatial axis to produce.
    dtype : dtype
        Output dtype (integers are rounded and clipped to their range).
    seed : int
        Noise seed; slab ``k`` always gets the same noise whatever ``k0``/``k1`` are.
    t : int
        Time index; shifts the ripples a little so 4D volumes differ over time.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(shape[0], shape[1], k1 - k0)``.
    """
    ni, nj, nk = (int(s) for s in shape[:3])
    dt = np.dtype(dtype)
    x = (np.arange(ni, dtype=np.float32) - (ni - 1) / 2) / max(ni / 2, 1)
    y = (np.arange(nj, dtype=np.float32) - (nj - 1) / 2) / max(nj / 2, 1)
    out = np.empty((ni, nj, k1 - k0), dtype=dt)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    for idx, k in enumerate(range(k0, k1)):
        z = (k - (nk - 1) / 2) / max(nk / 2, 1)
        r = np.sqrt((xx / 0.85) ** 2 + (yy / 0.95) ** 2 + np.float32(z / 0.9) ** 2)
        val = np.where(r < 1.0, 900.0, 0.0).astype(np.float32)
        val += np.where((r > 0.88) & (r < 1.0), 600.0, 0.0)
        val += np.where(r < 0.45, 250.0, 0.0)
        val += (80.0 * np.sin(9 * xx + 0.3 * t) * np.cos(7 * yy + 5 * z)) * (r < 1.0)
        rng = np.random.default_rng([seed, t, k])
        val += rng.normal(0.0, 12.0, size=val.shape).astype(np.float32)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            out[:, :, idx] = np.clip(np.rint(val), info.min, info.max)
        else:
            out[:, :, idx] = val
    return out


def write_phantom_nifti(
    path: str | os.PathLike[str],
    shape: Sequence[int] = (64, 64, 32),
    *,
    dtype: Any = "int16",
    affine: np.ndarray | None = None,
    slope: float = 1.0,
    inter: float = 0.0,
    seed: int = 0,
    big_endian: bool = False,
    nifti2: bool = False,
    slab_bytes: int = 64 * 2**20,
    compresslevel: int = 1,
) -> str:
    """Write a phantom NIfTI file slab by slab (memory stays bounded for any size).

    Parameters
    ----------
    path : str or path-like
        Destination ending in ``.nii`` or ``.nii.gz``.
    shape : sequence of int
        3D ``(i, j, k)`` or 4D ``(i, j, k, t)``.
    dtype : dtype
        On-disk dtype.
    affine : (4, 4) array, optional
        Default: 1 mm isotropic, centred.
    slope, inter : float
        ``scl_slope`` / ``scl_inter`` written to the header (the stored values are the phantom's).
    seed : int
        Noise seed.
    big_endian : bool
        Write big-endian header and data.
    nifti2 : bool
        Write NIfTI-2 instead of NIfTI-1.
    slab_bytes : int
        Bytes generated and written at a time.
    compresslevel : int
        gzip level for ``.nii.gz``.

    Returns
    -------
    str
        The path written.
    """
    import nibabel as nib

    path = os.fspath(path)
    shape = _check_shape(shape, (3, 4))
    spatial = shape[:3]
    nt = shape[3] if len(shape) > 3 else 1
    dt = np.dtype(dtype).newbyteorder(">" if big_endian else "<")
    if affine is None:
        affine = np.eye(4)
        affine[:3, 3] = -(np.asarray(spatial) - 1) / 2
    cls = nib.Nifti2Header if nifti2 else nib.Nifti1Header
    hdr = cls(endianness=">" if big_endian else "<")
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dt)
    hdr.set_xyzt_units("mm", "sec")
    hdr.set_sform(affine, code=1)
    hdr.set_qform(affine, code=1)
    hdr["scl_slope"] = slope
    hdr["scl_inter"] = inter
    offset = 544 if nifti2 else 352
    hdr.set_data_offset(offset)
    per_slice = spatial[0] * spatial[1] * dt.itemsize
    step = max(1, slab_bytes // per_slice)
    with atomic_path(path) as tmp:
        opener = (
            gzip.open(tmp, "wb", compresslevel=compresslevel)
            if path.endswith(".gz")
            else open(tmp, "wb")
        )
        with opener as f:
            hdr.write_to(f)  # (with nibabel's 4-byte extension flag: 352 or 544 bytes)
            f.write(b"\0" * (offset - f.tell()))
            for t in range(nt):
                for k0 in range(0, spatial[2], step):
                    k1 = min(spatial[2], k0 + step)
                    slab = phantom_slab(spatial, k0, k1, dtype=dt.newbyteorder("="), seed=seed, t=t)
                    f.write(np.asfortranarray(slab.astype(dt)).tobytes(order="F"))
    return path
