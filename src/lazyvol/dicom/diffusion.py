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


def _ge_lps(g: Sequence[float], iop: Any, phase: str) -> np.ndarray:
    """A GE gradient (0019,10BB/BC/BD: the image frame) in patient coordinates (LPS).

    dcm2niix's ``geCorrectBvecs`` (from dicm2nii, validated on GE diffusion data), written in
    patient coordinates: with column phase encoding ``-g0 row - g1 col + g2 normal``; with row
    phase encoding (dcm2niix: "untested") ``-g1 row + g0 col + g2 normal``. The slice order and
    the patient position do not change it (checked against dcm2niix on real GE EPI headers).
    """
    row, col, normal = (np.asarray(v) for v in geo.dicom_cosines(iop))
    if phase == "ROW":
        return -g[1] * row + g[0] * col + g[2] * normal
    return -g[0] * row - g[1] * col + g[2] * normal


def _ge_notes(firsts: Sequence[FrameRecord]) -> tuple[str, list[str]]:
    """The in-plane phase-encoding direction GE's directions are read with, and warnings."""
    acq = firsts[0].acq or {}
    phase = str(acq.get("InPlanePhaseEncodingDirectionDICOM") or "").strip().upper()
    notes = []
    iop = firsts[0].iop
    if iop is not None:
        normal = np.abs(np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float)))
        if int(np.argmax(normal)) != 2:
            notes.append(
                "GE diffusion directions of a sagittal or coronal series: the image-frame rule "
                "validated on axial GE data is applied; dcm2niix, which calls its own GE rule "
                "untested outside axial slices, gives other directions (opposite polarity "
                "sagittally, others coronally): check them"
            )
    if phase not in ("COL", "ROW"):
        notes.append(
            "GE diffusion directions: InPlanePhaseEncodingDirection (0018,1312) is "
            f"{phase or 'missing'}; they are read as for column phase encoding (GE's EPI default)"
        )
        phase = "COL"
    elif phase == "ROW":
        notes.append(
            "GE diffusion directions with row phase encoding follow dcm2niix's rule, which "
            "dcm2niix itself calls untested: check them (e.g. with dipy or FSL's dtifit)"
        )
    return phase, notes


def diffusion_meta(
    firsts: Sequence[FrameRecord], warnings: list[str] | None = None
) -> dict[str, Any] | None:
    """``meta["diffusion"]`` from one record per volume, or None when not a diffusion series.

    ``{"bvals": [...], "gradients_lps": [[x, y, z], ...], "source": ...}``: b-values and gradient
    directions in the patient frame (LPS), ``[0, 0, 0]`` for b = 0 or a missing direction. GE's
    image-frame directions are turned into LPS as dcm2niix does (:func:`_ge_lps`); doubts about
    them are appended to ``warnings``. A series counts only when some b-value is above 0.
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
    phase, notes = _ge_notes(firsts) if image_frame else ("", [])
    for r, b in zip(firsts, bvals):
        g = r.gradient
        if b == 0 or not g:
            grads.append([0.0, 0.0, 0.0])
        elif image_frame and r.iop is not None:
            try:
                lps = _ge_lps(g, r.iop, phase)
            except ValueError:
                return None  # degenerate orientation: no trustworthy directions
            grads.append([float(round(x, 7)) + 0.0 for x in lps])
        else:
            grads.append([float(x) for x in g])
    out: dict[str, Any] = {"bvals": bvals, "gradients_lps": grads, "source": source}
    if image_frame:
        out["source"] = (
            source + f" (image frame, {phase} phase encoding; converted to LPS as dcm2niix)"
        )
        if warnings is not None and any(b > 0 for b in bvals):
            warnings.extend(notes)
    return out
