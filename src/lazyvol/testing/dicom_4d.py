"""Synthetic 4D DICOM series (fMRI, DWI, complex, multi-echo) with known truth, one file per
slice per volume, with the vendors' ways of labelling volumes and diffusion."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from .dicom_base import DicomSeriesTruth, _check_choice, _check_shape, _ds_str, dicom_time
from .dicom_series import write_dicom_series

__all__ = ["write_dicom_4d_series"]


#: Private creators and elements of the vendor diffusion attributes (as the scanners write them).
_VENDOR_DIFFUSION = {
    "GE": {
        "creators": {0x00190010: "GEMS_ACQU_01", 0x00430010: "GEMS_PARM_01"},
        "manufacturer": "GE MEDICAL SYSTEMS",
    },
    "SIEMENS": {"creators": {0x00190010: "SIEMENS MR HEADER"}, "manufacturer": "SIEMENS"},
    "PHILIPS": {
        "creators": {0x20010010: "Philips Imaging DD 001", 0x20050010: "Philips MR Imaging DD 001"},
        "manufacturer": "Philips Medical Systems",
    },
}


def _diffusion_elements(
    ds: Any, vendor: str, b: float, g: Sequence[float], ge_offset: bool
) -> None:
    """Write a b-value and gradient direction with the vendor's (or the standard) attributes."""
    if vendor == "standard":
        ds.DiffusionBValue = float(b)
        ds.DiffusionGradientOrientation = [float(x) for x in g]
        return
    spec = _VENDOR_DIFFUSION[vendor]
    ds.Manufacturer = spec["manufacturer"]
    for tag, creator in spec["creators"].items():  # type: ignore[attr-defined]
        ds.add_new(tag, "LO", creator)
    if vendor == "GE":
        # a GE EPI's own: the directions are in the image frame, read by the phase encoding
        ds.PatientPosition = "HFS"
        ds.InPlanePhaseEncodingDirection = "COL"
        first = round(b) + (1_000_000_000 if ge_offset else 0)
        ds.add_new(0x00431039, "IS", [first, 8, 0, 0])
        for tag, x in zip((0x001910BB, 0x001910BC, 0x001910BD), g):
            ds.add_new(tag, "DS", _ds_str(x))
    elif vendor == "SIEMENS":
        ds.add_new(0x0019100C, "IS", round(b))
        ds.add_new(0x0019100E, "FD", [float(x) for x in g])
    else:
        ds.add_new(0x20011003, "FL", float(b))
        for tag, x in zip((0x200510B0, 0x200510B1, 0x200510B2), g):
            ds.add_new(tag, "FL", float(x))


def write_dicom_4d_series(
    folder: str | os.PathLike[str],
    shape: Sequence[int] = (16, 12, 5),
    n_volumes: int = 4,
    *,
    labels: Sequence[str] = ("AcquisitionTime",),
    numbering: str = "volume",
    bvals: Sequence[float] | None = None,
    bvecs: Sequence[Sequence[float]] | None = None,
    vendor: str = "standard",
    ge_bvalue_offset: bool = False,
    components: Sequence[str] | None = None,
    tr_s: float = 2.0,
    echoes: int = 1,
    shuffle_names: bool = True,
    seed: int = 0,
    **series_kw: Any,
) -> DicomSeriesTruth:
    """Write a 4D series stored one single-frame file per slice per volume (fMRI / DWI / ASL).

    Parameters
    ----------
    folder : path
    shape : (ni, nj, nk)
    n_volumes : int
        Volumes (time points, diffusion directions, ...), written in acquisition order t = 0, 1, ...
    labels : sequence of str
        Which attributes tell the volumes apart: any of ``"AcquisitionTime"`` (interleaved slice
        times within each TR, volumes ``tr_s`` apart), ``"TemporalPositionIdentifier"``,
        ``"AcquisitionNumber"``; empty: only InstanceNumber (as GE fMRI).
    numbering : {"volume", "position"}
        InstanceNumber runs volume by volume (GE, Siemens) or position by position (Philips).
    bvals, bvecs : optional
        Diffusion series: b-value and gradient direction (LPS) per volume, written with
        ``vendor``'s attributes: ``"standard"`` (0018,9087)/(0018,9089), ``"GE"``,
        ``"SIEMENS"`` or ``"PHILIPS"`` private elements. ``ge_bvalue_offset`` adds GE's 1e9.
        Without ``bvals``, a vendor only sets Manufacturer (and, for GE ``components``, the
        private image kind (0043,102F) with the same ImageType for every component, as GE does).
    components : sequence of str, optional
        Complex-data series: one ImageType value per volume (e.g. ``["M", "P"]``): the files of
        all components share the SeriesInstanceUID and positions; ``stored[..., t]`` is the
        volume of ``components[t]``.
    echoes : int
        Multi-echo time series: each volume is written ``echoes`` times (EchoNumbers 1.., EchoTime
        15 ms apart, same AcquisitionTime); ``stored[..., t * echoes + e]`` is echo e of volume t.
    **series_kw
        Passed to :func:`write_dicom_series` (orientation, spacing, dtype, modality, ...).

    Returns
    -------
    DicomSeriesTruth
        ``stored`` is (ni, nj, nk, n_volumes) in acquisition order; ``meta`` holds ``bvals``,
        ``bvecs``, ``components`` and ``acquisition_times`` (per volume and slice) when written.
    """
    from pydicom.uid import generate_uid

    ni, nj, nk = _check_shape(shape)
    _check_choice("vendor", vendor, ("standard", *_VENDOR_DIFFUSION))
    _check_choice("numbering", numbering, ("volume", "position"))
    if bvals is not None and bvecs is not None and len(bvecs) != len(bvals):
        raise ValueError(f"bvecs: {len(bvecs)} direction(s) for {len(bvals)} b-value(s)")
    if components is not None:
        n_volumes = len(components)
    if bvals is not None:
        n_volumes = len(bvals)
    series_number = int(series_kw.pop("series_number", 1))
    series_uid = series_kw.pop("series_uid", None) or generate_uid(
        entropy_srcs=[f"lazyvol-4d-{seed}-{series_number}"]
    )
    modality = series_kw.pop("modality", "MR")
    image_type = tuple(series_kw.pop("image_type", ("ORIGINAL", "PRIMARY", "EPI", "NONE")))
    plan = _Plan(folder, (ni, nj, nk), n_volumes, echoes, numbering, labels, tr_s, seed)
    ident = (series_uid, series_number, modality, image_type)
    extras = (vendor, bvals, bvecs, ge_bvalue_offset, components)
    volumes, files, truth0, times = _write_volumes(plan, ident, extras, series_kw)
    if shuffle_names:
        files = _shuffle(files, seed + 7)
    meta: dict[str, Any] = {"modality": modality, "series_number": series_number}
    meta.update(
        _meta(bvals, bvecs, components, n_volumes, times if "AcquisitionTime" in labels else None)
    )
    return DicomSeriesTruth(
        files=files,
        stored=np.stack(volumes, axis=-1),
        slopes=truth0.slopes,
        intercepts=truth0.intercepts,
        affine=truth0.affine,
        series_uid=str(series_uid),
        positions=truth0.positions,
        meta=meta,
    )


def _slice_attrs(
    w: int,
    t: int,
    e: int,
    nk: int,
    n_written: int,
    n_volumes: int,
    numbering: str,
    labels: Sequence[str],
    tr_s: float,
    times: np.ndarray,
) -> list[dict[str, Any]]:
    """Per-slice attributes of the ``w``-th volume written (volume ``t``, echo ``e``); fills
    ``times[w]`` with each slice's acquisition time in seconds."""
    # interleaved slice order within each TR: 0, 2, 4, ..., 1, 3, ...
    slice_rank = {k: n for n, k in enumerate([*range(0, nk, 2), *range(1, nk, 2)])}
    per_slice = []
    for k in range(nk):
        inst = w * nk + k + 1 if numbering == "volume" else k * n_written + w + 1
        attrs: dict[str, Any] = {
            "InstanceNumber": inst,
            "EchoTime": _ds_str(30 + 15 * e),
            "EchoNumbers": e + 1,
        }
        attrs["RepetitionTime"] = _ds_str(tr_s * 1000)
        secs = 10 * 3600 + t * tr_s + slice_rank[k] * tr_s / nk
        times[w, k] = secs
        if "AcquisitionTime" in labels:
            attrs["AcquisitionTime"] = dicom_time(secs)
        else:
            attrs["AcquisitionTime"] = "100000"
        if "TemporalPositionIdentifier" in labels:
            attrs["TemporalPositionIdentifier"] = t + 1
            attrs["NumberOfTemporalPositions"] = n_volumes
        attrs["AcquisitionNumber"] = t + 1 if "AcquisitionNumber" in labels else 1
        per_slice.append(attrs)
    return per_slice


@dataclass(frozen=True)
class _Plan:
    """How the volumes of a 4D series are written."""

    folder: str | os.PathLike[str]
    shape: tuple[int, int, int]
    n_volumes: int
    echoes: int
    numbering: str
    labels: Sequence[str]
    tr_s: float
    seed: int


def _write_volumes(
    plan: _Plan,
    ident: tuple[str, int, str, tuple[str, ...]],
    extras: tuple[str, Any, Any, bool, Sequence[str] | None],
    series_kw: dict[str, Any],
) -> tuple[list[np.ndarray], list[str], DicomSeriesTruth, np.ndarray]:
    """Write every volume (and echo): stored values, files, the first truth, acquisition times."""
    series_uid, series_number, modality, image_type = ident
    vendor, bvals, bvecs, ge_bvalue_offset, components = extras
    ni, nj, nk = plan.shape
    n_volumes, echoes, seed = plan.n_volumes, plan.echoes, plan.seed
    folder, numbering, labels, tr_s = plan.folder, plan.numbering, plan.labels, plan.tr_s
    volumes = []
    files: list[str] = []
    times = np.zeros((n_volumes * echoes, nk))
    truth0: DicomSeriesTruth | None = None
    n_written = n_volumes * echoes
    for w in range(n_written):
        t, e = divmod(w, echoes)
        per_slice = _slice_attrs(w, t, e, nk, n_written, n_volumes, numbering, labels, tr_s, times)
        itype = image_type if components is None else (*image_type[:2], components[w], "ND")
        truth = write_dicom_series(
            folder,
            (ni, nj, nk),
            series_uid=series_uid,
            series_number=series_number,
            modality=modality,
            image_type=itype,
            per_slice=per_slice,
            prefix=f"V{w:03d}_",
            seed=seed * 1000 + w,
            shuffle_names=False,
            **series_kw,
        )
        diffusion = None
        if bvals is not None:
            diffusion = (float(bvals[t]), bvecs[t] if bvecs is not None else (0.0, 0.0, 0.0))
        kind = None if components is None else components[w]
        _vendor_rewrite(truth.files, vendor, diffusion, ge_bvalue_offset, image_type, kind)
        truth0 = truth0 or truth
        volumes.append(truth.stored)
        files.extend(truth.files)
    assert truth0 is not None
    return volumes, files, truth0, times


def _vendor_rewrite(
    files: Sequence[str],
    vendor: str,
    diffusion: tuple[float, Sequence[float]] | None,
    ge_offset: bool,
    image_type: Sequence[str],
    component: str | None,
) -> None:
    """Add the diffusion attributes (b, g) of ``vendor``, or its Manufacturer (and GE's kind)."""
    if diffusion is not None:
        b, g = diffusion
        change = partial(_diffusion_elements, vendor=vendor, b=b, g=g, ge_offset=ge_offset)
        _rewrite(files, change)
    elif vendor != "standard":
        _rewrite(
            files, partial(_vendor_kind, vendor=vendor, image_type=image_type, component=component)
        )


def _meta(
    bvals: Sequence[float] | None,
    bvecs: Sequence[Sequence[float]] | None,
    components: Sequence[str] | None,
    n_volumes: int,
    times: np.ndarray | None,
) -> dict[str, Any]:
    """The truth's ``meta``: what was written besides the pixels."""
    meta: dict[str, Any] = {}
    if bvals is not None:
        meta["bvals"] = [float(b) for b in bvals]
        meta["bvecs"] = [list(map(float, g)) for g in (bvecs or [(0, 0, 0)] * n_volumes)]
    if components is not None:
        meta["components"] = list(components)
    if times is not None:
        meta["acquisition_times"] = times.tolist()
    return meta


def _rewrite(files: Sequence[str], change: Callable[[Any], None]) -> None:
    """Read each file, ``change`` its dataset, write it back."""
    from pydicom import dcmread

    for path in files:
        ds = dcmread(path)
        change(ds)
        ds.save_as(path, enforce_file_format=True)


def _vendor_kind(ds: Any, vendor: str, image_type: Sequence[str], component: str | None) -> None:
    """A vendor's Manufacturer; for GE complex data, its private image kind (0043,102F)."""
    ds.Manufacturer = _VENDOR_DIFFUSION[vendor]["manufacturer"]
    if vendor == "GE" and component is not None:
        # GE keeps ImageType and says the kind in (0043,102F)
        ds.ImageType = list(image_type)
        ds.add_new(0x00430010, "LO", "GEMS_PARM_01")
        kind = {"M": 0, "P": 1, "R": 2, "I": 3}.get(component, 0)
        ds.add_new(0x0043102F, "SS", kind)


def _shuffle(files: list[str], seed: int) -> list[str]:
    """Permute the files' names on disk; ``out[n]`` holds what was written as ``files[n]``."""
    perm = np.random.default_rng(seed).permutation(len(files))
    tmp = [f + ".tmp" for f in files]
    for src, dst in zip(files, tmp):
        os.replace(src, dst)
    new = [files[p] for p in perm]
    for src, dst in zip(tmp, new):
        os.replace(src, dst)
    return new
