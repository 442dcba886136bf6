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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import geometry as geo
from ..sidecar import fsl_bvals_bvecs, fsl_bvecs, world_gradients
from .checks import DERIVED_NOTE
from .records import GE_NO_DTI, FrameRecord
from .vendor import b_source, direction_source, missing_bvalue_note, vendor_of

__all__ = [
    "derived_volumes",
    "diffusion_meta",
    "flag_derived",
    "fsl_bvals_bvecs",
    "fsl_bvecs",
    "world_gradients",
]


#: Direction attributes (:func:`lazyvol.dicom.vendor.direction_source`) in the image frame, read
#: by the phase-encoding direction as dcm2niix's ``geCorrectBvecs`` reads them (it applies that
#: rule to Canon's ImageComments directions too, their first two components swapped).
_PHASE_FRAME = {"GE": "GE", "CANON": "Canon"}
#: dcm2niix's ``geCorrectBvecs`` (GE multi-shell, its issues 163 and 245): a direction of a
#: length strictly between these is a shortened vector of a lower shell under the series' largest
#: b-value; its b-value is b |g|^2, rounded to a multiple of 5 (at least 5).
_SHELL_LENGTHS = (0.03, 0.97)
#: The source label of the table of a series whose ImageType alone says it is a diffusion series.
_NO_BVALUE_SOURCE = "ImageType (0008,0008) DIFFUSION, no b-value stated"


def _ge_lps(g: Sequence[float], iop: Any, phase: str, plane: str = "axial") -> np.ndarray:
    """A GE gradient (0019,10BB/BC/BD: frequency, phase and slice axes) in patient coordinates.

    dcm2niix's ``geCorrectBvecs`` (from dicm2nii; GE's own validation in dcm2niix issues 737 and
    970), written in patient coordinates: with column phase encoding ``-g0 row - g1 col + g2
    normal``; with row phase encoding ``-g1 row + g0 col + g2 normal``. Its flips by the slice
    ``plane`` (:func:`_plane`) come first: a coronal series' phase component ``g1`` is negated,
    a sagittal series' whole vector (the antipode: the same diffusion axis, as dcm2niix writes it,
    its issue 863). The slice order and the patient position do not change it (checked against
    dcm2niix on real GE EPI headers and synthetic series of every plane).
    """
    row, col, normal = (np.asarray(v) for v in geo.dicom_cosines(iop))
    g0, g1, g2 = (float(x) for x in g)
    if plane == "sagittal":
        g0, g1, g2 = -g0, -g1, -g2
    elif plane == "coronal":
        g1 = -g1
    if phase == "ROW":
        return -g1 * row + g0 * col + g2 * normal
    return -g0 * row - g1 * col + g2 * normal


def _plane(iop: Any, n_slices: int) -> str:
    """The slice plane dcm2niix reads GE's (and Canon's) image-frame directions by (its
    ``verify_slice_dir``): the axis of the slice normal's largest component, a tie going to the
    later axis (axial before coronal before sagittal); ``"axial"`` for one slice per volume
    (dcm2niix then finds no slice direction and falls back to its axial rule) or no
    orientation."""
    if iop is None or n_slices < 2:
        return "axial"
    normal = np.abs(np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:6], float)))
    # (a tie within float32 rounding: dcm2niix compares float32 components with >=)
    axis = max(n for n in range(3) if normal[n] >= normal.max() - 1e-6)
    return ("sagittal", "coronal", "axial")[axis]


def _shell_b(b: float, length: float) -> float:
    """The b-value of a direction of ``length`` under the nominal ``b`` (:data:`_SHELL_LENGTHS`):
    ``b |g|^2`` rounded as dcm2niix rounds it, or ``b`` itself outside those lengths."""
    if not _SHELL_LENGTHS[0] < length < _SHELL_LENGTHS[1] or b <= _ZERO_LENGTH:
        return b
    scaled = b * length * length
    return 5.0 if scaled < 5 else 5.0 * math.floor((scaled + 2.5) / 5)


def _record_lps(r: FrameRecord, frame: tuple[str, str]) -> list[float]:
    """A record's gradient, as a unit vector in patient coordinates (LPS), by the attributes it
    came from.

    GE's: :func:`_ge_lps`, by ``frame`` (the phase-encoding direction and the slice plane, as
    :func:`_phase_notes` gives them). Canon's ImageComments ``(x, y, z)``: dcm2niix reads it as
    the GE direction ``(y, x, z)`` (its ``nii_dicom.cpp``, checked against its .bvec on axial,
    coronal, sagittal and oblique slices, either phase direction and slice order). UIH's
    (0065,1037): ``g0 row + g1 col + g2 normal``, whatever the slice order (dcm2niix writes it
    unrotated as the .bvec, checked on axial, sagittal, coronal and oblique slices). The others: as stored (already LPS). A vector
    of another length is normalised, as dcm2niix normalises the standard, Siemens and Philips
    ones (its GE and UIH .bvec keep their length: the direction is the same).
    Raises ValueError for a degenerate orientation.
    """
    g = [float(x) for x in r.gradient or ()]
    kind = direction_source(r.diffusion_source)
    lps = np.asarray(g, dtype=np.float64)
    if kind in _PHASE_FRAME and r.iop is not None:
        if kind == "CANON":
            g = [g[1], g[0], g[2]]
        lps = _ge_lps(g, r.iop, *frame)
    elif kind == "UIH" and r.iop is not None:
        row, col, normal = (np.asarray(v) for v in geo.dicom_cosines(r.iop))
        lps = g[0] * row + g[1] * col + g[2] * normal
    return [float(round(x, 7)) + 0.0 for x in lps / np.linalg.norm(lps)]


def _phase_notes(
    firsts: Sequence[FrameRecord], vendor: str, n_slices: int
) -> tuple[tuple[str, str], list[str]]:
    """The in-plane phase-encoding direction and the slice plane (:func:`_plane`) image-frame
    directions (GE's, Canon's) are read with, and warnings."""
    acq = firsts[0].acq or {}
    phase = str(acq.get("InPlanePhaseEncodingDirectionDICOM") or "").strip().upper()
    notes = []
    plane = _plane(firsts[0].iop, n_slices)
    if plane != "axial":
        notes.append(
            f"{vendor} diffusion directions of a {plane} series follow dcm2niix's {plane} rule "
            "(its GE rule's flips by slice plane), which dcm2niix says has limited validation "
            "outside axial slices: check them (e.g. with dipy or FSL's dtifit)"
        )
    if phase not in ("COL", "ROW"):
        notes.append(
            f"{vendor} diffusion directions: InPlanePhaseEncodingDirection (0018,1312) is "
            f"{phase or 'missing'}; they are read as for column phase encoding (the EPI default)"
        )
        phase = "COL"
    elif phase == "ROW":
        notes.append(
            f"{vendor} diffusion directions with row phase encoding follow dcm2niix's rule, which "
            "dcm2niix itself calls untested: check them (e.g. with dipy or FSL's dtifit)"
        )
    return (phase, plane), notes


def _b0_diffusion_images(firsts: Sequence[FrameRecord], bvals: Sequence[float]) -> bool:
    """Whether a series of b = 0 volumes only is still a diffusion series, as dcm2niix writes its
    table (zeros): every volume states b = 0 and its ImageType says DIFFUSION (a reverse phase-
    encoding b = 0 series for distortion correction, as Siemens' ep2d_diff exports it). Not GE's:
    GE writes b = 0 in every BOLD image (dcm2niix writes no table for GE's)."""
    return all(
        r.b_value is not None
        and b == 0
        and not _ge(r.diffusion_source)
        and _says_diffusion(r.image_type)
        for r, b in zip(firsts, bvals, strict=True)
    )


def _says_diffusion(image_type: Sequence[str] | None) -> bool:
    """Whether ImageType (0008,0008) says DIFFUSION as dcm2niix reads it for a b = 0 series: its
    values joined by "_" hold "_DIFFUSION_" (a value DIFFUSION that is not the first or last,
    DIFFUSION_MAP, ...; not NODIFFUSION, nor a last value DIFFUSION), and its first value is not
    DERIVED (ADC / TRACEW / FA maps computed from a DWI: dcm2niix writes no table for them)."""
    values = [str(v).strip().upper() for v in (image_type or ())]
    return bool(values) and values[0] != "DERIVED" and "_DIFFUSION_" in "_".join(values)


def _ge(source: str) -> bool:
    """Whether GE's private attributes gave a volume's b-value or direction: its (0043,1039)
    holds the series' nominal b-value on a b = 0 image too (a b-value there with no direction is
    b = 0, as dcm2niix writes it), whichever attributes the direction came from."""
    return "GE" in (b_source(source), direction_source(source))


def _no_direction(r: FrameRecord) -> bool:
    """True when a record states no gradient direction: none, or one of zero length."""
    g = r.gradient
    return not g or float(np.linalg.norm(np.asarray(g, dtype=float))) <= _ZERO_LENGTH


def _shown(indices: Sequence[int]) -> str:
    return f"{list(indices[:8])}{' ...' if len(indices) > 8 else ''}"


def _table(
    firsts: Sequence[FrameRecord], bvals: list[float], frame: tuple[str, str]
) -> tuple[list[float], list[list[float]], list[int]]:
    """b-values, LPS unit directions (:func:`_record_lps`) and the indices of the volumes whose
    b-value their image-frame gradient's length scaled (:func:`_shell_b`). Raises ValueError
    for a degenerate orientation."""
    out_b, grads, scaled = [], [], []
    for n, (r, b) in enumerate(zip(firsts, bvals)):
        if b == 0 or _no_direction(r):
            out_b.append(b)
            grads.append([0.0, 0.0, 0.0])
            continue
        if direction_source(r.diffusion_source) in _PHASE_FRAME:
            shell = _shell_b(b, float(np.linalg.norm(np.asarray(r.gradient, dtype=float))))
            if shell != b:
                scaled.append(n)
                b = shell
        out_b.append(b)
        try:
            grads.append(_record_lps(r, frame))
        except ValueError as e:
            raise ValueError(r.diffusion_source) from e
    return out_b, grads, scaled


def _typed_b0_table(firsts: Sequence[FrameRecord]) -> dict[str, Any] | None:
    """The table of a series stating no b-value at all (a b = 0 series whose CSA header an
    anonymiser dropped): zeros where every ImageType says DIFFUSION, not GE's, as dcm2niix writes
    it; None otherwise."""
    if any(vendor_of(r.manufacturer) == "GE" or not _says_diffusion(r.image_type) for r in firsts):
        return None
    return {
        "bvals": [0.0] * len(firsts),
        "gradients_lps": [[0.0, 0.0, 0.0] for _ in firsts],
        "source": f"{_NO_BVALUE_SOURCE} (b = 0, as dcm2niix)",
    }


def diffusion_meta(
    firsts: Sequence[FrameRecord], warnings: list[str] | None = None, n_slices: int = 2
) -> dict[str, Any] | None:
    """``meta["diffusion"]`` from one record per volume, or None when not a diffusion series.

    ``{"bvals": [...], "gradients_lps": [[x, y, z], ...], "source": ...}``: b-values and gradient
    directions in the patient frame (LPS), unit vectors, ``[0, 0, 0]`` for b = 0 or a missing
    direction. Each volume's direction is turned into LPS by the attributes it came from
    (:func:`_record_lps`; image-frame ones by the slice plane of ``n_slices`` slices per volume,
    :func:`_plane`); doubts about image-frame directions are appended to ``warnings``. A GE
    (or Canon ImageComments) gradient shorter than unit is a lower shell under the series' largest
    b-value: its b-value is b |g|^2 (:func:`_shell_b`, as dcm2niix), its index in
    ``"shell_scaled"``. A GE image with a b-value
    but a zero or missing direction is a b = 0 image (GE's (0043,1039) may hold the series'
    nominal b-value there): its b-value is 0, as dcm2niix writes it, its index in
    ``"ge_zero_direction"``; but where its series states no DTI directions (GE's (0019,10E0)
    below 1: a DWI of trace / ADC images) it is a derived image, as dcm2niix reads it: its
    b-value kept, ``"ge_no_dti"`` true (:func:`flag_derived` names it). A volume without a b-value among volumes that state one is a b = 0
    image (Canon writes none on its b = 0 images), its index in ``"no_bvalue"``. A series counts
    only when some volume is diffusion-weighted: a b-value above 0 with a direction, or above
    :data:`DERIVED_MIN_B` without one (UIH writes its b = 0 images as b = 1.25 with no
    direction: a series of only those gets no table, as dcm2niix writes none). A GE series whose
    every weighted volume lacks a direction keeps none either, with a note saying why.
    """
    if not firsts:
        return None
    if all(r.b_value is None for r in firsts):
        return _typed_b0_table(firsts)
    missing = [n for n, r in enumerate(firsts) if r.b_value is None]
    bvals = [0.0 if r.b_value is None else float(r.b_value) for r in firsts]
    zeroed = [n for n, r in enumerate(firsts) if _ge(r.diffusion_source) and bvals[n] > 0]
    zeroed = [n for n in zeroed if _no_direction(firsts[n])]
    # (a GE series stating no DTI directions: those are trace / ADC images, kept and flagged)
    traces = [n for n in zeroed if (firsts[n].acq or {}).get(GE_NO_DTI)]
    zeroed = [n for n in zeroed if n not in traces]
    for n in zeroed:
        bvals[n] = 0.0
    if not any(
        b > DERIVED_MIN_B or (b > 0 and not _no_direction(r)) for r, b in zip(firsts, bvals)
    ) and not _b0_diffusion_images(firsts, bvals):
        # Not a diffusion series (GE writes b = 0 in every BOLD image, UIH b = 1.25 in its b = 0
        # images): no table, as dcm2niix.
        if zeroed and warnings is not None:
            warnings.append(
                f"GE diffusion: every volume with a b-value ({len(zeroed)}) has no gradient "
                "direction (0019,10BB-10BD): they are read as b = 0 images, as dcm2niix writes "
                "them, so the series has no diffusion table (a trace / isotropic series?)"
            )
        return None
    # (the weighted volumes' attributes: a b = 0 volume's, or its lack of any, tell no direction)
    sources = list(dict.fromkeys(r.diffusion_source for r, b in zip(firsts, bvals) if b > 0))
    framed = [s for s in sources if direction_source(s) in _PHASE_FRAME]
    kind = _PHASE_FRAME[direction_source(framed[0])] if framed else ""
    frame, notes = _phase_notes(firsts, kind, n_slices) if framed else (("", ""), [])
    try:
        bvals, grads, scaled = _table(firsts, bvals, frame)
    except ValueError as e:
        if warnings is not None:
            warnings.append(
                "diffusion table not kept: ImageOrientationPatient (0020,0037) is degenerate, "
                f"so the image-frame gradient directions ({e}) have no patient-frame direction"
            )
        return None
    out: dict[str, Any] = {"bvals": bvals, "gradients_lps": grads, "source": "; ".join(sources)}
    if framed:
        out["source"] = "; ".join(
            s + (f" (image frame, {frame[0]} phase encoding; converted to LPS as dcm2niix)")
            if s in framed
            else s
            for s in sources
        )
    if scaled:
        out["shell_scaled"] = scaled
        notes.append(
            f"{kind} diffusion: {len(scaled)} volume(s) (table indices {_shown(scaled)}) have a "
            "gradient shorter than unit length under the series' b-value: a lower shell of a "
            "multi-shell (tensor.dat) series; their b-value is b |g|^2 and their direction g "
            "normalised, as dcm2niix writes them"
        )
    if traces:
        out["ge_no_dti"] = True
    if zeroed:
        out["ge_zero_direction"] = zeroed
        notes.append(
            f"GE diffusion: {len(zeroed)} volume(s) with a b-value but no gradient direction "
            f"(0019,10BB-10BD) (table indices {_shown(zeroed)}) are b = 0 images, as dcm2niix "
            "writes them (their (0043,1039) holds the nominal b-value)"
        )
    if missing:
        out["no_bvalue"] = missing
        note = missing_bvalue_note(firsts[0].manufacturer or "", missing)
        if note is not None:
            notes.append(note)
    if warnings is not None:
        warnings.extend(notes)
    return out


#: A b-value above which a volume with no gradient direction is a derived image, and the length
#: under which a direction counts as none: dcm2niix's (b > 5: UIH writes b = 1.25 with a zero
#: vector for its b = 0 images; FLT_EPSILON).
DERIVED_MIN_B = 5.0
_ZERO_LENGTH = float(np.finfo(np.float32).eps)


def derived_volumes(diffusion: dict[str, Any]) -> list[int]:
    """Indices (in the table) of the volumes with a b-value but no gradient direction: derived
    trace / ADC / isotropic images, not diffusion-weighted directions (dcm2niix: "appears to be
    derived image ADC/Isotropic (non-zero b-value with zero vector length)"). Not GE's: dcm2niix
    writes such a GE volume as b = 0, and warns of none, unless the series states no DTI
    directions (``"ge_no_dti"``: (0019,10E0) below 1, see
    :func:`lazyvol.dicom.vendor.ge_without_directions`): its such volumes are trace / ADC images
    to dcm2niix too."""
    ge = any(_ge(s) for s in str(diffusion.get("source", "")).split("; "))
    if ge and not diffusion.get("ge_no_dti"):
        return []
    out = []
    for n, (b, g) in enumerate(zip(diffusion["bvals"], diffusion["gradients_lps"], strict=True)):
        if float(b) > DERIVED_MIN_B and float(np.linalg.norm(g)) <= _ZERO_LENGTH:
            out.append(n)
    return out


def flag_derived(
    meta: dict[str, Any], volumes: Sequence[Sequence[FrameRecord | None]], warnings: list[str]
) -> None:
    """Record the derived volumes of ``meta["diffusion"]`` (the table of ``volumes``, one list of
    slices each) as ``meta["diffusion"]["derived_volumes"]`` and say which (file, frames) they
    are."""
    from .stack_notes import image_list

    diffusion = meta.get("diffusion")
    if not diffusion:
        return
    derived = derived_volumes(diffusion)
    if not derived:
        return
    diffusion["derived_volumes"] = derived
    shown = ", ".join(
        f"{t} (b = {float(diffusion['bvals'][t]):g}: "
        f"{image_list([r for r in volumes[t] if r is not None], 2)})"
        for t in derived[:4]
    ) + (f" and {len(derived) - 4} more" if len(derived) > 4 else "")
    warnings.append(
        f"{DERIVED_NOTE} of {len(diffusion['bvals'])}: {shown}: a b-value with no gradient "
        "direction (a zero or missing vector) makes a derived trace / ADC / isotropic image, not "
        "a diffusion-weighted direction (dcm2niix says so too); its .bvec column is 0 0 0. "
        "They are meta['diffusion']['derived_volumes'] (0-based): leave them out of a model fit"
    )
