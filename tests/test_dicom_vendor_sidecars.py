"""Classic (one frame per file) series carrying attributes the scanners of several vendors write,
against dcm2niix's conversion of the same files (its sidecar, .bval/.bvec and NIfTI) and the truth.

- EffectiveEchoTime (0018,9082) at the top level of a classic image: dcm2niix's echo time (read
  after EchoTime (0018,0081), it replaces it; 0 or empty: no EchoTime).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import dicom_time, write_dicom_4d_series, write_dicom_series
from lazyvol.testing.dicom_4d import _rewrite

SHAPE = (8, 6, 4)


def sidecars(dcm2niix, vol: lv.Volume, src: Path, tmp: Path) -> tuple[dict, dict]:
    """(dcm2niix's sidecar, lazyvol's) of the one series in ``src`` (dcm2niix's files in
    ``tmp / "out"``, lazyvol's ``tmp / "v.nii"`` and its sidecar)."""
    dcm2niix.run(src, tmp / "out", sidecar=True, check=True)
    (ref,) = sorted((tmp / "out").glob("*.json"))
    vol.to_nifti(tmp / "v.nii")
    return json.loads(ref.read_text()), json.loads((tmp / "v.json").read_text())


def time_volumes(
    files: list[str],
    nk: int,
    starts: list[float],
    tr_ms: str | None,
    slice_s: float = 0.1,
    more: Callable[[Any, int], None] | None = None,
) -> None:
    """Rewrite a series of ``write_dicom_4d_series`` (``nk`` slices, volumes told apart by
    TemporalPositionIdentifier): volume v's slice k acquired ``starts[v] + slice_s * k`` seconds
    after 10:00, RepetitionTime ``tr_ms`` (None: not stated); ``more(ds, v)`` edits each file
    further."""

    def edit(ds) -> None:
        v, k = int(ds.TemporalPositionIdentifier) - 1, (int(ds.InstanceNumber) - 1) % nk
        ds.AcquisitionTime = dicom_time(36000 + starts[v] + slice_s * k)
        if tr_ms is None:
            del ds.RepetitionTime
        else:
            ds.RepetitionTime = tr_ms
        if more is not None:
            more(ds, v)

    _rewrite(files, edit)


@pytest.mark.parametrize(("effective", "expected"), [(35.5, 0.0355), (0.0, None), (None, None)])
@pytest.mark.parametrize("manufacturer", ["SIEMENS", "Philips Medical Systems", "CANON_MEC"])
def test_top_level_effective_echo_time_is_the_echo_time_as_dcm2niix_reads_it(
    tmp_path, dcm2niix, manufacturer, effective, expected
):
    truth = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        modality="MR",
        extra={"Manufacturer": manufacturer, "EchoTime": "30", "RepetitionTime": "2000"},
    )
    _rewrite(truth.files, lambda ds: ds.add_new(0x00189082, "FD", effective))
    vol = lv.open(tmp_path / "s")
    ref, mine = sidecars(dcm2niix, vol, tmp_path / "s", tmp_path)
    assert ref.get("EchoTime") == pytest.approx(expected) if expected else "EchoTime" not in ref
    assert mine.get("EchoTime") == pytest.approx(expected) if expected else "EchoTime" not in mine


def _fsl_bvecs(vol: lv.Volume, ref_affine: np.ndarray) -> np.ndarray:
    """FSL/dcm2niix bvecs (3 x n) from lazyvol's LPS gradients, in the reference voxel frame."""
    g_ras = np.asarray(vol.meta["diffusion"]["gradients_lps"], float) * [-1, -1, 1]
    r = np.asarray(ref_affine, float)[:3, :3]
    bvec = g_ras @ (r / np.linalg.norm(r, axis=0))
    if np.linalg.det(r) > 0:  # FSL convention: x flipped for a right-handed (neurological) grid
        bvec[:, 0] *= -1
    return bvec.T


@pytest.mark.parametrize("sequence", ["SE", "GR", "SE\\IR"])
def test_siemens_csa_only_diffusion_of_a_non_epi_untyped_series_as_dcm2niix(
    tmp_path, dcm2niix, sequence
):
    from lazyvol.testing.mosaic import csa2_bytes

    bvals = [0.0, 1000.0, 1000.0, 2000.0]
    bvecs = [(0, 0, 0), (0.6, 0, 0.8), (0, 0.6, 0.8), (0, -1, 0)]
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, labels=(), bvals=bvals, bvecs=bvecs, vendor="SIEMENS",
        orientation="oblique",
    )  # fmt: skip

    def edit(ds) -> None:
        b, g = int(ds[0x0019100C].value), list(ds[0x0019100E].value)
        tags = {"B_value": ("IS", [b]), **({"DiffusionGradientDirection": ("FD", g)} if b else {})}
        ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        ds.add_new(0x00291010, "OB", csa2_bytes(tags))
        ds.ImageType, ds.ScanningSequence = ["ORIGINAL", "PRIMARY", "M", "ND"], sequence
        del ds[0x0019100C], ds[0x0019100E]

    _rewrite(truth.files, edit)
    vol = lv.open(tmp_path / "s")
    (ref,) = dcm2niix(tmp_path / "s", tmp_path / "out")
    np.testing.assert_allclose(np.loadtxt(ref.with_suffix(".bval")), bvals)
    assert vol.meta["diffusion"]["bvals"] == bvals
    np.testing.assert_allclose(vol.meta["diffusion"]["gradients_lps"], bvecs, atol=1e-6)
    bvec = np.loadtxt(ref.with_suffix(".bvec"))
    np.testing.assert_allclose(_fsl_bvecs(vol, nib.load(ref).affine), bvec, atol=1e-4)


@pytest.mark.parametrize(
    "stated",
    [
        *("MR Solutions", "MEDISO", "HYPERFINE", "Leica Microsystems", "CPS", "GEMS", "Sie"),
        *("SIEMENS", "GE MEDICAL SYSTEMS", "TOSHIBA_MEC", "Philips Medical Systems", "UIH"),
    ],
)
def test_manufacturer_is_named_as_dcm2niix_names_it(tmp_path, dcm2niix, stated):
    write_dicom_series(tmp_path / "s", SHAPE, modality="MR", extra={"Manufacturer": stated})
    ref, mine = sidecars(dcm2niix, lv.open(tmp_path / "s"), tmp_path / "s", tmp_path)
    assert mine["Manufacturer"] == ref["Manufacturer"]


@pytest.mark.parametrize(
    ("manufacturer", "n_volumes", "timed"),
    [("UIH", 1, False), ("UIH", 2, True), ("SIEMENS", 1, True), ("SIEMENS", 2, True)],
)
def test_acquisition_time_slice_timing_of_one_volume_as_dcm2niix(
    tmp_path, dcm2niix, manufacturer, n_volumes, timed
):
    extra = {"Manufacturer": manufacturer, "InPlanePhaseEncodingDirection": "COL"}
    src = tmp_path / "s"
    write_dicom_4d_series(
        src, SHAPE, n_volumes, labels=("AcquisitionTime",), modality="MR", extra=extra
    )
    ref, mine = sidecars(dcm2niix, lv.open(src), src, tmp_path)
    assert ("SliceTiming" in ref) is timed
    assert ("SliceTiming" in mine) is timed
    if timed:
        np.testing.assert_allclose(mine["SliceTiming"], ref["SliceTiming"], atol=5e-3)


@pytest.mark.parametrize(
    ("manufacturer", "tr_ms", "starts", "extra"),
    [
        ("SIEMENS", "2000", [0, 3, 6], {}),  # sparse: 3 s between volumes, TR 2 s
        ("SIEMENS", "2000", [0, 3, 7, 10], {}),  # uneven: the mean interval
        ("Philips Medical Systems", "3000", [0, 2, 4], {}),
        ("CANON_MEC", "2000", [0, 2.055, 4.11], {}),  # just over 50 ms
        ("SIEMENS", "2000", [0, 2.045, 4.09], {}),  # within 50 ms: as stated
        ("SIEMENS", "2000", [0, 3, 6], {"ScanningSequence": "SE\\IR"}),  # RepetitionTimeInversion
        ("Philips Medical Systems", "2000", [0, 3, 6], {"ScanningSequence": "IR"}),
        ("SIEMENS", "2000", [0, 3, 6], {"NumberOfAverages": "2"}),
        ("SIEMENS", "1000", [0, 3, 6], {"NumberOfAverages": "3"}),
        ("SIEMENS", None, [0, 3, 6], {}),  # no TR stated
        ("GE MEDICAL SYSTEMS", "2000", [0, 3, 6], {}),  # not GE's
    ],
)
def test_repetition_time_is_the_measured_volume_interval_as_dcm2niix(
    tmp_path, dcm2niix, manufacturer, tr_ms, starts, extra
):
    nk = 3
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, (6, 5, nk), len(starts), labels=("TemporalPositionIdentifier",), modality="MR",
        extra={"Manufacturer": manufacturer, "MRAcquisitionType": "2D", **extra},
    )  # fmt: skip
    time_volumes(truth.files, nk, starts, tr_ms)
    vol = lv.open(src)
    ref, mine = sidecars(dcm2niix, vol, src, tmp_path)
    keys = {k for k in ref if k.startswith("RepetitionTime")}
    assert keys == {k for k in mine if k.startswith("RepetitionTime")}
    for key in keys:
        assert mine[key] == pytest.approx(ref[key], abs=1e-4), key
    (out,) = (tmp_path / "out").glob("*.nii")
    assert vol.spacing[3] == pytest.approx(nib.load(out).header["pixdim"][4], abs=1e-4)
    assert nib.load(tmp_path / "v.nii").header["pixdim"][4] == pytest.approx(ref["RepetitionTime"])


@pytest.mark.parametrize(
    ("manufacturer", "creator", "text"),
    [
        ("UIH", "Image Private Header", "A>>P"),
        ("UIH", "Other", "H>>F"),
        ("UIH", "Image Private Header", ""),
        ("SIEMENS", "Image Private Header", "A>>P"),
    ],
)
def test_uih_phase_encoding_direction_displayed_as_dcm2niix(
    tmp_path, dcm2niix, manufacturer, creator, text
):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, modality="MR", extra={"Manufacturer": manufacturer}
    )

    def edit(ds) -> None:
        ds.add_new(0x00650010, "LO", creator)
        ds.add_new(0x00651005, "SH", text)

    _rewrite(truth.files, edit)
    ref, mine = sidecars(dcm2niix, lv.open(tmp_path / "s"), tmp_path / "s", tmp_path)
    key = "PhaseEncodingDirectionDisplayed"
    assert mine.get(key) == ref.get(key) == ((text or None) if manufacturer == "UIH" else None)


@pytest.mark.parametrize(
    "manufacturer", ["SIEMENS", "Philips Medical Systems", "GE MEDICAL SYSTEMS"]
)
@pytest.mark.parametrize("volumes", [1, 3])
@pytest.mark.parametrize(
    "image_type",
    [("ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"), ("DERIVED", "PRIMARY", "DIFFUSION", "NONE")],
)
def test_diffusion_image_type_without_b_values_has_dcm2niix_zero_table(
    tmp_path, dcm2niix, manufacturer, volumes, image_type
):
    src = tmp_path / "s"
    write_dicom_4d_series(
        src, SHAPE, volumes, labels=(), image_type=image_type, extra={"Manufacturer": manufacturer}
    )
    (ref,) = dcm2niix(src, tmp_path / "out")
    vol = lv.open(src)
    vol.to_nifti(tmp_path / "v.nii")
    for ext in ("bval", "bvec"):
        theirs, mine = ref.with_suffix(f".{ext}"), tmp_path / f"v.{ext}"
        assert mine.exists() == theirs.exists(), ext
        if theirs.exists():
            np.testing.assert_array_equal(np.loadtxt(mine), np.loadtxt(theirs))


def _in_reference_axes(direction: str, ours: np.ndarray, ref: np.ndarray) -> str:
    """A PhaseEncodingDirection of the grid ``ours`` (affine) in the axes of the grid ``ref``."""
    t = np.rint(np.linalg.inv(ref) @ ours)[:3, :3]
    column = t[:, "ijk".index(direction[0])]
    axis = int(np.flatnonzero(column)[0])
    sign = column[axis] * (-1 if direction.endswith("-") else 1)
    return "ijk"[axis] + ("" if sign > 0 else "-")


@pytest.mark.parametrize("sequence", ["GR", "SE", "GR\\IR"])
@pytest.mark.parametrize("phase", ["ROW", "COL"])
@pytest.mark.parametrize("positive", [0, 1])
def test_siemens_non_epi_csa_phase_polarity_as_dcm2niix(
    tmp_path, dcm2niix, sequence, phase, positive
):
    from lazyvol.testing.mosaic import csa2_bytes

    src = tmp_path / "s"
    extra = {"Manufacturer": "SIEMENS", "ScanningSequence": sequence}
    extra["InPlanePhaseEncodingDirection"] = phase
    truth = write_dicom_series(src, SHAPE, modality="MR", orientation="oblique", extra=extra)
    tags = {"PhaseEncodingDirectionPositive": ("IS", [positive])}
    tags["BandwidthPerPixelPhaseEncode"] = ("FD", [21.5])

    def edit(ds) -> None:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
        ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        ds.add_new(0x00291010, "OB", csa2_bytes(tags))

    _rewrite(truth.files, edit)
    ref, mine = sidecars(dcm2niix, lv.open(src), src, tmp_path)
    (out,) = (tmp_path / "out").glob("*.nii")
    ours = _in_reference_axes(
        mine["PhaseEncodingDirection"], nib.load(tmp_path / "v.nii").affine, nib.load(out).affine
    )
    assert ours == ref["PhaseEncodingDirection"]
    assert mine["BandwidthPerPixelPhaseEncode"] == ref["BandwidthPerPixelPhaseEncode"] == 21.5


def test_repetition_time_of_a_run_across_midnight_stays_as_dcm2niix(tmp_path, dcm2niix):
    """Volumes dated on two days (23:59:58, 00:00:01, 00:00:04): dcm2niix measures no interval
    across dates and keeps the stated TR; the times of day alone gave a day-long one."""
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, (6, 5, 3), 3, labels=("TemporalPositionIdentifier",), modality="MR",
        extra={"Manufacturer": "SIEMENS", "MRAcquisitionType": "2D"},
    )  # fmt: skip
    starts = [86398.0, 86401.0, 86404.0]

    def edit(ds) -> None:
        t = starts[int(ds.TemporalPositionIdentifier) - 1]
        ds.AcquisitionDate = "20240101" if t < 86400 else "20240102"
        ds.AcquisitionTime = dicom_time(t)
        ds.RepetitionTime = "2000"

    _rewrite(truth.files, edit)
    ref, mine = sidecars(dcm2niix, lv.open(src), src, tmp_path)
    assert ref["RepetitionTime"] == mine["RepetitionTime"] == 2
    assert "RepetitionTimeExcitation" not in ref and "RepetitionTimeExcitation" not in mine
