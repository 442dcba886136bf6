"""Diffusion tables: ``vol.meta["diffusion"]`` to FSL ``.bval`` / ``.bvec`` (as dcm2niix writes them).

``meta["diffusion"]`` keeps each volume's gradient direction as the scanner stored it, a unit vector
in the DICOM patient frame (LPS), so it stays right whatever the array's axes become. FSL (and
dcm2niix, MRtrix ``-export_grad_fsl``, dipy) expect b-vectors in the image's *voxel* axes: the
component of the gradient along each voxel axis, with the first component negated when the
voxel-to-world matrix has a positive determinant (FSL's convention treats voxel space as
radiological). :func:`fsl_bvecs` does exactly that for any affine (oblique, flipped or permuted
axes), so a volume written by :meth:`lazyvol.Volume.to_nifti` and its ``.bvec`` agree however the
volume was reoriented.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fsl_bvals_bvecs", "fsl_bvecs", "world_gradients"]

_LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


def fsl_bvecs(gradients_lps: Any, affine: Any) -> np.ndarray:
    """FSL b-vectors, shape (3, n): gradients (LPS unit vectors, n x 3) in the voxel axes of ``affine``.

    Parameters
    ----------
    gradients_lps : array-like, (n, 3)
        Gradient directions in the DICOM patient frame; zero vectors stay zero.
    affine : array-like, (4, 4)
        Voxel-to-RAS affine of the image the b-vectors go with.
    """
    g = np.asarray(gradients_lps, dtype=np.float64).reshape(-1, 3) * _LPS_TO_RAS
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    unit = m / np.linalg.norm(m, axis=0)
    vox = np.linalg.solve(unit, g.T)  # (3, n): components along the voxel axes
    if np.linalg.det(m) > 0:
        vox[0] = -vox[0]
    vox[np.abs(vox) < 1e-12] = 0.0
    return vox


def world_gradients(bvecs: Any, affine: Any) -> np.ndarray:
    """Inverse of :func:`fsl_bvecs`: FSL b-vectors (3, n) of an image to LPS directions (n, 3)."""
    v = np.array(bvecs, dtype=np.float64).reshape(3, -1)
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    if np.linalg.det(m) > 0:
        v[0] = -v[0]
    unit = m / np.linalg.norm(m, axis=0)
    return (unit @ v).T * _LPS_TO_RAS


def _fmt(x: float) -> str:
    return f"{x:.6g}" if x != 0 else "0"


def fsl_bvals_bvecs(diffusion: dict[str, Any], affine: Any) -> tuple[str, str]:
    """Text of the ``.bval`` (one line) and ``.bvec`` (three lines) files, space separated as dcm2niix."""
    bvals = [float(b) for b in diffusion["bvals"]]
    vecs = fsl_bvecs(diffusion["gradients_lps"], affine)
    bval = " ".join(_fmt(b) for b in bvals) + "\n"
    bvec = "".join(" ".join(_fmt(float(x)) for x in row) + "\n" for row in vecs)
    return bval, bvec
