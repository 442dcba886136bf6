"""PET and CT sidecar keys (``lazyvol.dicom.bids_pet``), value by value against the sidecar the
installed dcm2niix writes for the same files and against pydicom's values; the frame lists of a
cut dynamic PET volume.

The one divergence (not tested here): for a dynamic series without SeriesTime dcm2niix lists the
first volume's DecayFactor alone; lazyvol lists every volume's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import lazyvol as lv
from lazyvol.dicom.dicom_time import tm_seconds
from lazyvol.testing import dicom_time, write_dicom_4d_series, write_dicom_series
from test_dicom_mosaic import sidecar_pair

pytestmark = pytest.mark.usefixtures("dicom_cache")

KEYS = (
    "TracerName",
    "InjectedRadioactivity",
    "InjectedRadioactivityUnits",
    "RadionuclideHalfLife",
    "RadionuclidePositronFraction",
    "DoseCalibrationFactor",
    "Units",
    "DecayCorrection",
    "AttenuationCorrectionMethod",
    "AttenuationCorrection",
    "ScatterCorrectionMethod",
    "ReconstructionMethod",
    "ReconMethodName",
    "ReconMethodParameterLabels",
    "ReconMethodParameterValues",
    "DecayFactor",
    "DecayCorrectionFactor",
    "FrameTimesStart",
    "FrameDuration",
    "FrameReferenceTime",
    "SeriesTime",
    "AcquisitionTime",
    "ScanStart",
    "ImageDecayCorrected",
    "ImageDecayCorrectionTime",
    "RepetitionTime",
    "ConvolutionKernel",
    "ReconFilterType",
    "ReconFilterSize",
    "ExposureTime",
    "XRayTubeCurrent",
    "XRayExposure",
)
DURATIONS = [60000, 120000, 300000]  # ms, one per frame
DECAY = [1.01, 1.05, 1.2]


def _pet(ds: pydicom.Dataset, frame: int = 0, **change: Any) -> None:
    ds.Units = "BQML"
    ds.DecayCorrection = "START"
    ds.AttenuationCorrectionMethod = "measured,AC_CT"
    ds.ScatterCorrectionMethod = "Model-based"
    ds.ReconstructionMethod = "OSEM3D 3i21s"
    ds.DoseCalibrationFactor = 1.0
    ds.DecayFactor = DECAY[frame]
    ds.ActualFrameDuration = DURATIONS[frame]
    ds.FrameReferenceTime = sum(DURATIONS[:frame]) + DURATIONS[frame] / 2
    ds.SeriesTime = "095000"
    item = Dataset()
    item.Radiopharmaceutical = "FDG -- fluorodeoxyglucose"
    item.RadionuclideTotalDose = 370000000.0
    item.RadionuclideHalfLife = 6586.2
    item.RadionuclidePositronFraction = 0.97
    item.RadiopharmaceuticalStartTime = "094000"
    ds.RadiopharmaceuticalInformationSequence = Sequence([item])
    for key, value in change.items():
        setattr(ds, key, value)


def _rewrite(files: list[str], change: Any) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        change(ds)
        ds.save_as(f)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"AcquisitionTime": "095130", "DecayCorrection": "ADMIN"},
        {"SeriesTime": "", "DecayCorrection": "NONE", "ActualFrameDuration": 0},
        {"ReconstructionMethod": "VPFX", "Units": "CNTS", "ConvolutionKernel": "XYZ Gauss4.00"},
    ],
    ids=["start", "admin", "no series time", "ge names"],
)
def test_static_pet_keys_match_dcm2niix(tmp_path: Path, change: dict) -> None:
    src = tmp_path / "in"
    t = write_dicom_series(src, (8, 8, 3), modality="PT", extra={"RepetitionTime": 2000})
    _rewrite(t.files, lambda ds: _pet(ds, **change))
    mine, ref = sidecar_pair(src, tmp_path, KEYS)
    assert mine == ref
    ds = pydicom.dcmread(t.files[0])
    item = ds.RadiopharmaceuticalInformationSequence[0]
    assert mine["TracerName"] == str(item.Radiopharmaceutical).split(" -- ")[0]
    assert mine["InjectedRadioactivity"] == pytest.approx(float(item.RadionuclideTotalDose) / 1e6)
    assert mine["RadionuclideHalfLife"] == pytest.approx(float(item.RadionuclideHalfLife))
    assert mine["AttenuationCorrection"] == "measured"
    assert "RepetitionTime" not in mine  # (FrameDuration says it)


def test_tracer_name_decoded_with_the_files_character_set(tmp_path: Path) -> None:
    """Text inside RadiopharmaceuticalInformationSequence was parsed as Latin-1 whatever the file's
    SpecificCharacterSet (h55): a UTF-8 tracer name came out garbled. It equals pydicom's."""
    src = tmp_path / "in"
    t = write_dicom_series(src, (8, 8, 2), modality="PT")
    name = "[\u00b9\u2078F]Fluorodesoxyglucose \u2013 M\u00fcller"

    def utf8(ds: pydicom.Dataset) -> None:
        _pet(ds)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.RadiopharmaceuticalInformationSequence[0].Radiopharmaceutical = name

    _rewrite(t.files, utf8)
    item = pydicom.dcmread(t.files[0]).RadiopharmaceuticalInformationSequence[0]
    assert str(item.Radiopharmaceutical) == name
    assert lv.open(src).meta["bids"]["TracerName"] == name


def _dynamic(tmp_path: Path, **change: Any) -> tuple[Path, Any]:
    src = tmp_path / "in"
    t = write_dicom_4d_series(
        src, (8, 8, 3), 3, modality="PT", image_type=("ORIGINAL", "PRIMARY"), tr_s=2.0
    )
    first = min(min(row) for row in t.meta["acquisition_times"])

    def change_one(ds: pydicom.Dataset) -> None:
        frame = int((tm_seconds(ds.AcquisitionTime) - first) // 2.0)  # (volumes 2 s apart)
        _pet(ds, frame, **change)

    _rewrite(t.files, change_one)
    return src, t


@pytest.mark.parametrize("change", [{}, {"SeriesTime": "100000"}], ids=["zero", "offset"])
def test_dynamic_pet_frame_lists_match_dcm2niix(tmp_path: Path, change: dict) -> None:
    src, t = _dynamic(tmp_path, **change)
    mine, ref = sidecar_pair(src, tmp_path, KEYS)
    assert mine == ref
    assert mine["FrameDuration"] == [d / 1000 for d in DURATIONS]
    assert mine["DecayCorrectionFactor"] == DECAY
    zero = tm_seconds(change.get("SeriesTime", "095000"))
    starts = [min(row) for row in t.meta["acquisition_times"]]
    assert mine["FrameTimesStart"] == pytest.approx([max(0.0, s - zero) for s in starts])


@pytest.mark.parametrize(
    "cut", [(slice(1, 3),), (slice(None, None, -1),), (2,)], ids=["1:3", "::-1", "2"]
)
def test_cut_dynamic_pet_lists_its_frames(tmp_path: Path, cut: tuple) -> None:
    src, t = _dynamic(tmp_path)
    vol = lv.open(src)[(..., *cut)]
    vol.to_nifti(tmp_path / "v.nii")
    doc = json.loads((tmp_path / "v.json").read_text())
    frames = list(range(3))[cut[0]]
    frames = frames if isinstance(frames, list) else [frames]
    starts = [min(row) - tm_seconds("095000") for row in t.meta["acquisition_times"]]
    assert doc["FrameDuration"] == [DURATIONS[f] / 1000 for f in frames]
    assert doc["DecayCorrectionFactor"] == [DECAY[f] for f in frames]
    assert doc["FrameTimesStart"] == pytest.approx([starts[f] for f in frames])
    reference = [(sum(DURATIONS[:f]) + DURATIONS[f] / 2) / 1000 for f in frames]
    assert doc["FrameReferenceTime"] == pytest.approx(reference)
    # the cut volume's meta lists its own frames too, as meta["axis4_values"]
    assert vol.meta["bids"]["FrameDuration"] == [DURATIONS[f] / 1000 for f in frames]
    assert vol.meta["bids"]["DecayCorrectionFactor"] == [DECAY[f] for f in frames]
    assert vol.meta["bids"]["FrameTimesStart"] == pytest.approx([starts[f] for f in frames])


def test_ct_keys_match_dcm2niix(tmp_path: Path) -> None:
    src = tmp_path / "in"
    t = write_dicom_series(src, (8, 8, 3), modality="CT", slope=1.0, intercept=-1024.0)

    def ct(ds: pydicom.Dataset) -> None:
        ds.KVP = 120
        ds.XRayTubeCurrent = 200
        ds.Exposure = 150
        ds.ExposureTime = 750
        ds.ConvolutionKernel = "FC13"
        ds.CTDIvol = 50.0

    _rewrite(t.files, ct)
    mine, ref = sidecar_pair(src, tmp_path, KEYS)
    assert mine == ref
    ds = pydicom.dcmread(t.files[0])
    assert mine["ExposureTime"] == pytest.approx(float(ds.ExposureTime) / 1000)
    assert mine["XRayTubeCurrent"] == int(ds.XRayTubeCurrent)
    assert mine["XRayExposure"] == int(ds.Exposure)
    assert (mine["ReconFilterType"], mine["ReconFilterSize"]) == ("FC", 13)


def test_names_parsed_as_dcm2niix(tmp_path: Path) -> None:
    """ReconMethodName and its parameters, ReconFilterType and -Size, text by text."""
    src = tmp_path / "one"
    t = write_dicom_series(src, (4, 4, 1), modality="PT")
    methods = ["PSF+TOF3i21s", "OSEM i33s32", "BLOB-OS-TF", "Q.Clear VPFX", "OSEM 3DRP", "OS"]
    kernels = ["B30f", "I30f 3", "L 1.5", "FC13\\AIDR", "All-pass 3.0"]
    for n, (method, kernel) in enumerate(zip(methods, [*kernels, ""], strict=True)):
        folder = tmp_path / f"case{n}"
        folder.mkdir()
        ds = pydicom.dcmread(t.files[0])
        ds.ReconstructionMethod = method
        if kernel:
            ds.ConvolutionKernel = kernel
        ds.save_as(folder / "a.dcm")
        mine, ref = sidecar_pair(folder / "a.dcm", folder, KEYS, lv.open(folder / "a.dcm"))
        assert mine == ref, (method, kernel)


@pytest.mark.parametrize("dated", [True, False])
def test_frame_starts_across_midnight(tmp_path: Path, dated: bool) -> None:
    """A dynamic scan begun at 23:59:57 with frames 2 s apart: the frames after midnight got
    FrameTimesStart 0 (times of day, clamped at 0; dcm2niix does the same) (h55). With dates, by
    date and time; without, times of day in volume order, a day added where they fall back."""
    src = tmp_path / "in"
    t = write_dicom_4d_series(
        src, (8, 8, 3), 4, modality="PT", image_type=("ORIGINAL", "PRIMARY"), tr_s=2.0
    )
    first = min(min(row) for row in t.meta["acquisition_times"])
    start = 23 * 3600 + 59 * 60 + 57.0

    def midnight(ds: pydicom.Dataset) -> None:
        offset = tm_seconds(ds.AcquisitionTime) - first
        _pet(ds, 0, SeriesTime=dicom_time(start), ActualFrameDuration=2000)
        ds.AcquisitionTime = dicom_time(start + offset)
        if dated:
            ds.AcquisitionDate = "20240101" if start + offset < 86400 else "20240102"
        elif "AcquisitionDate" in ds:
            del ds.AcquisitionDate

    _rewrite(t.files, midnight)
    vol = lv.open(src)  # (the volumes ordered by their TemporalPositionIdentifier)
    assert vol.meta["bids"]["FrameTimesStart"] == [0, 2, 4, 6]


def test_decay_correction_time_of_a_scan_hours_after_injection(tmp_path: Path) -> None:
    """DecayCorrection ADMIN, injected at 06:00, scanned at 19:10 (Zr-89, Cu-64): the time is
    the plain difference, as dcm2niix writes it; a fold into +-12 h for injections before midnight
    gave +39000 s, an injection after the scan (h56)."""
    src = tmp_path / "in"
    t = write_dicom_series(src, (8, 8, 3), modality="PT")

    def late(ds: pydicom.Dataset) -> None:
        _pet(ds, DecayCorrection="ADMIN", SeriesTime="191000")
        ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartTime = "060000"

    _rewrite(t.files, late)
    mine, ref = sidecar_pair(src, tmp_path, KEYS)
    assert mine["ImageDecayCorrectionTime"] == ref["ImageDecayCorrectionTime"] == -47400


@pytest.mark.parametrize("exposure", [150, 0, "", None], ids=["150", "0", "empty", "absent"])
def test_slice_thickness_and_spacing_as_dcm2niix_with_exposure(tmp_path: Path, exposure) -> None:
    """dcm2niix takes an image stating Exposure (0018,1152), whatever its value, for an X-ray one
    and writes no SliceThickness, SpacingBetweenSlices nor EchoTime for it ("with CT scans, slice
    thickness often varies"); lazyvol wrote both for every CT series (CT_small among them)."""
    src = tmp_path / "in"
    t = write_dicom_series(src, (8, 8, 3), modality="CT", slope=1.0, intercept=-1024.0)

    def ct(ds: pydicom.Dataset) -> None:
        ds.SliceThickness = 2.5
        ds.SpacingBetweenSlices = 2.5
        if exposure is not None:
            ds.Exposure = exposure

    _rewrite(t.files, ct)
    keys = ("SliceThickness", "SpacingBetweenSlices", "EchoTime", "XRayExposure")
    mine, ref = sidecar_pair(src, tmp_path, keys)
    assert mine == ref
    assert ("SliceThickness" in mine) == (exposure is None)


@pytest.mark.parametrize(
    ("modality", "echo_time", "x_ray"),
    [("MR", 12.0, False), ("CT", 3.0, False), ("MR", 0, True), ("MR", "", True)],
    ids=["MR-TE12", "CT-TE3", "MR-TE0", "MR-TE-empty"],
)
def test_an_image_stating_an_echo_time_and_exposure_is_no_x_ray(
    tmp_path: Path, modality, echo_time, x_ray
) -> None:
    """dcm2niix takes Exposure (0018,1152) for an X-ray image only while the echo time it read
    before it (EchoTime (0018,0081)) is 0 ('if (d.TE == 0) { d.isXRay = true'): an MR image with
    an Exposure tag keeps its SliceThickness, SpacingBetweenSlices and EchoTime, and has no
    XRayExposure; lazyvol dropped them for any image stating Exposure."""
    src = tmp_path / "in"
    t = write_dicom_series(src, (8, 8, 3), modality=modality)

    def stated(ds: pydicom.Dataset) -> None:
        ds.SliceThickness = 2.5
        ds.SpacingBetweenSlices = 2.5
        ds.EchoTime = echo_time
        ds.Exposure = 5

    _rewrite(t.files, stated)
    keys = ("SliceThickness", "SpacingBetweenSlices", "EchoTime", "XRayExposure")
    mine, ref = sidecar_pair(src, tmp_path, keys)
    assert mine == ref
    assert ("SliceThickness" in mine) == (not x_ray) == ("XRayExposure" not in mine)
