"""Diffusion tables: ``vol.meta["diffusion"]`` from the records (:func:`diffusion_meta`), and to FSL
``.bval`` / ``.bvec`` (as dcm2niix writes them).

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

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import geometry as geo
from ..sidecar import fsl_bvals_bvecs, fsl_bvecs, world_gradients
from .records import FrameRecord
from .vendor import SOURCES as _VENDOR_SOURCES

__all__ = ["diffusion_meta", "fsl_bvals_bvecs", "fsl_bvecs", "world_gradients"]


GE_SOURCE = _VENDOR_SOURCES["GE"]


def diffusion_meta(firsts: Sequence[FrameRecord]) -> dict[str, Any] | None:
    """``meta["diffusion"]`` from one record per volume, or None when not a diffusion series.

    ``{"bvals": [...], "gradients_lps": [[x, y, z], ...], "source": ...}``: b-values and gradient
    directions as the scanner stored them (patient frame, LPS), ``[0, 0, 0]`` for b = 0 or a
    missing direction. A series counts only when some b-value is above 0.
    """
    if not firsts or any(r.b_value is None for r in firsts):
        return None
    bvals = [float(r.b_value) for r in firsts if r.b_value is not None]
    if not any(b > 0 for b in bvals):
        # Not a diffusion series (GE writes b = 0 in every BOLD image): no table, as dcm2niix.
        return None
    grads = []
    source = firsts[0].diffusion_source
    image_frame = source == GE_SOURCE
    for r, b in zip(firsts, bvals):
        g = r.gradient
        if b == 0 or not g:
            grads.append([0.0, 0.0, 0.0])
        elif image_frame and r.iop is not None:
            # GE stores directions in the image frame (row, reversed column, normal): to LPS
            try:
                row, col, normal = geo.dicom_cosines(r.iop)
            except ValueError:
                return None  # degenerate orientation: no trustworthy directions
            lps = g[0] * np.asarray(row) - g[1] * np.asarray(col) + g[2] * np.asarray(normal)
            grads.append([float(round(x, 7)) + 0.0 for x in lps])
        else:
            grads.append([float(x) for x in g])
    out: dict[str, Any] = {"bvals": bvals, "gradients_lps": grads, "source": source}
    if image_frame:
        out["source"] = source + " (image frame: row, -column, normal; converted to LPS)"
    return out
