"""The measured repetition time of a dynamic PET series stored one slice per file, as dcm2niix.

dcm2niix measures the interval between a series' volumes (its first and last volumes' first
AcquisitionTime, over the volumes between) and, where it is over 50 ms off the stated
RepetitionTime (0018,0080), writes it as RepetitionTime (and pixdim[4]), the stated one as
RepetitionTimeExcitation; for PET too (GE's included), before its PET keys: a frame whose
ActualFrameDuration (0018,1242) is 0 takes the measured interval as its FrameDuration. lazyvol
left PET out: it wrote the stated TR (or none), and frames of no duration the stated TR (or 0).

The reference is dcm2niix's sidecar of each synthetic series.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import pytest

import lazyvol as lv
from lazyvol.testing import dicom_time, write_dicom_4d_series
from test_dicom_vendor_sidecars import sidecars, time_volumes

_KEYS = ("RepetitionTime", "RepetitionTimeExcitation", "FrameDuration", "FrameTimesStart")


@pytest.mark.parametrize(
    ("manufacturer", "tr_ms", "starts", "frame_ms"),
    [
        ("SIEMENS", "2000", [0, 3, 6], None),  # 3 s apart, TR 2 s stated
        ("SIEMENS", None, [0, 60, 120], None),  # no TR stated: the measured one
        ("SIEMENS", "0", [0, 60, 120], None),
        ("SIEMENS", "2000", [0, 2, 4], None),  # as stated
        ("SIEMENS", "2000", [0, 3, 6], "3000"),  # FrameDuration, no RepetitionTime
        ("SIEMENS", "2000", [0, 3, 6], "0"),  # frames of no duration: the measured interval
        ("SIEMENS", None, [0, 60, 120], "0"),
        ("GE MEDICAL SYSTEMS", "2000", [0, 3, 6], None),  # GE's PET too (not its MR)
        ("GE MEDICAL SYSTEMS", "2000", [0, 3, 6], "0"),
        ("Philips Medical Systems", "2000", [0, 3, 6], "series"),  # with FrameTimesStart
    ],
)
def test_pet_repetition_time_is_the_measured_frame_interval_as_dcm2niix(
    tmp_path, dcm2niix, manufacturer, tr_ms, starts, frame_ms
):
    nk = 3
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, (6, 5, nk), len(starts), labels=("TemporalPositionIdentifier",), modality="PT",
        extra={"Manufacturer": manufacturer},
    )  # fmt: skip

    def frames(ds, v: int) -> None:
        if frame_ms == "series":
            ds.SeriesTime = dicom_time(36000 - 5)
        elif frame_ms is not None:
            ds.ActualFrameDuration = frame_ms

    time_volumes(truth.files, nk, starts, tr_ms, more=frames)
    vol = lv.open(src)
    ref, mine = sidecars(dcm2niix, vol, src, tmp_path)
    assert {k for k in _KEYS if k in ref} == {k for k in _KEYS if k in mine}
    for key in (k for k in _KEYS if k in ref):
        assert mine[key] == pytest.approx(ref[key], abs=1e-4), key
    if "RepetitionTime" in ref:  # (dcm2niix's pixdim[4] is the measured one; lazyvol's too)
        (out,) = (tmp_path / "out").glob("*.nii")
        pixdim = nib.load(out).header["pixdim"][4]
        assert nib.load(tmp_path / "v.nii").header["pixdim"][4] == pytest.approx(pixdim)
    measured = abs(starts[-1] - starts[0]) / (len(starts) - 1)
    stated = float(tr_ms or 0) / 1000
    warned = [w for w in vol.meta.get("warnings", []) if w.startswith("RepetitionTime (0018")]
    assert bool(warned) == (stated > 0 and abs(measured - stated) > 0.05)


def _durations(durations: list[str]):
    """``more`` for :func:`time_volumes`: volume v's ActualFrameDuration ``durations[v]`` (ms)."""

    def more(ds, v: int) -> None:
        ds.ActualFrameDuration = durations[v]

    return more


def test_pet_frame_durations_stated_keep_the_stated_values(tmp_path: Path, dcm2niix) -> None:
    """Frames of different stated durations: each its own, whatever the measured interval."""
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, (6, 5, 2), 3, labels=("TemporalPositionIdentifier",), modality="PT",
        extra={"Manufacturer": "SIEMENS"},
    )  # fmt: skip
    durations = ["5000", "0", "20000"]
    time_volumes(truth.files, 2, [0, 10, 20], "1000", slice_s=0.0, more=_durations(durations))
    ref, mine = sidecars(dcm2niix, lv.open(src), src, tmp_path)
    assert mine["FrameDuration"] == ref["FrameDuration"] == [5, 10, 20]
    assert "RepetitionTime" not in mine and "RepetitionTime" not in ref
    assert mine["RepetitionTimeExcitation"] == ref["RepetitionTimeExcitation"] == 1


@pytest.mark.parametrize(
    ("tr_ms", "durations"),
    [("1000", ["5000", "0", "20000"]), (None, ["5000"] * 3), ("10000", ["10000"] * 3)],
)
def test_pet_pixdim4_beside_a_frame_duration_is_dcm2niix_s(
    tmp_path: Path, dcm2niix, tr_ms, durations
) -> None:
    """A PET sidecar with a FrameDuration has no RepetitionTime (as dcm2niix's), but dcm2niix
    still writes the (measured) interval as pixdim[4], in seconds; lazyvol wrote 0."""
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, (6, 5, 2), 3, labels=("TemporalPositionIdentifier",), modality="PT",
        extra={"Manufacturer": "SIEMENS"},
    )  # fmt: skip
    time_volumes(truth.files, 2, [0, 10, 20], tr_ms, slice_s=0.0, more=_durations(durations))
    (ref,) = dcm2niix(src, tmp_path / "out")
    ref_hdr = nib.load(ref).header
    vol = lv.open(src)
    vol.to_nifti(tmp_path / "v.nii")
    mine = nib.load(tmp_path / "v.nii").header
    assert "RepetitionTime" not in json.loads((tmp_path / "v.json").read_text())
    assert ref_hdr["pixdim"][4] == pytest.approx(10.0)
    assert mine["pixdim"][4] == pytest.approx(ref_hdr["pixdim"][4])
    assert mine.get_xyzt_units()[1] == ref_hdr.get_xyzt_units()[1] == "sec"
    vol[..., ::2].to_nifti(tmp_path / "cut.nii")  # volumes 0 and 2: 20 s apart
    assert nib.load(tmp_path / "cut.nii").header["pixdim"][4] == pytest.approx(20.0)
    assert "RepetitionTime" not in json.loads((tmp_path / "cut.json").read_text())
