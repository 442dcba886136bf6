"""Diffusion tables: ``vol.meta["diffusion"]`` to FSL ``.bval`` / ``.bvec`` (as dcm2niix writes them).

``meta["diffusion"]`` keeps each volume's gradient direction as the scanner stored it, a unit vector
in the DICOM patient frame (LPS), so it stays right whatever the array's axes become. FSL (and
dcm2niix, MRtrix ``-export_grad_fsl``, dipy) expect b-vectors in the image's *voxel* axes: the
component of the gradient along each voxel axis, with the first component negated when the
voxel-to-world matrix has a positive determinant (FSL's convention treats voxel space as
radiological). :func:`fsl_bvecs` does exactly that for any affine (oblique, flipped or permuted
axes), so a volume written by :meth:`lazyvol.Volume.to_nifti` and its ``.bvec`` agree however the
volume was reoriented. (The functions live in :mod:`lazyvol.sidecar`, which the NIfTI writer uses
without depending on the DICOM reader.)
"""

from __future__ import annotations

from ..sidecar import fsl_bvals_bvecs, fsl_bvecs, world_gradients

__all__ = ["fsl_bvals_bvecs", "fsl_bvecs", "world_gradients"]
