"""Sidecar values an enhanced (multi-frame) MR file keeps in its functional groups, against
dcm2niix's sidecars and NIfTI headers.

- The in-plane phase-encoding direction lives in MRFOVGeometrySequence (0018,9107), valued
  "COLUMN" / "ROW": lazyvol read only the top-level (0018,1312) "COL" / "ROW", so enhanced files
  had no PhaseEncodingAxis and no phase axis in ``dim_info``.
- Siemens XA files (no CSA header) give the phase-encoding polarity in (0021,111C), at the top
  level of classic files and in the private sequence (0021,11FE) of the functional groups of
  enhanced ones; dcm2niix reads it, lazyvol did not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_enhanced_dicom

SHAPE = (8, 6, 4)


def _converted(dcm2niix, src: Path, out: Path) -> list[tuple[dict, nib.Nifti1Image]]:
    """dcm2niix's sidecars and NIfTI images of a folder, sorted by name."""
    dcm2niix.run(src, out, name="%s_%e", sidecar=True, check=True)
    niis = sorted(out.glob("*.nii"))
    return [(json.loads(n.with_suffix(".json").read_text()), nib.load(n)) for n in niis]


def _written(vol: lv.Volume, path: Path) -> tuple[dict, nib.Nifti1Image]:
    vol.to_nifti(path)
    return json.loads(path.with_suffix(".json").read_text()), nib.load(path)


def _phase_world(doc: dict, affine: np.ndarray) -> tuple[np.ndarray, bool]:
    """The world (RAS) direction of a sidecar's phase-encoding axis and whether its polarity is
    stated (PhaseEncodingDirection) or not (PhaseEncodingAxis)."""
    key = doc.get("PhaseEncodingDirection") or doc["PhaseEncodingAxis"]
    column = affine[:3, "ijk".index(key[0])]
    sign = -1.0 if key.endswith("-") else 1.0
    return sign * column / np.linalg.norm(column), "PhaseEncodingDirection" in doc


def _assert_same_phase(mine: tuple[dict, nib.Nifti1Image], ref: tuple[dict, nib.Nifti1Image]):
    """Same phase-encoding direction in the world (whatever voxel axes each file has), same
    in-plane direction, and ``dim_info`` phase and frequency axes along the same world axes."""
    (doc, img), (ref_doc, ref_img) = mine, ref
    assert (
        doc["InPlanePhaseEncodingDirectionDICOM"] == ref_doc["InPlanePhaseEncodingDirectionDICOM"]
    )
    world, signed = _phase_world(doc, img.affine)
    ref_world, ref_signed = _phase_world(ref_doc, ref_img.affine)
    assert signed == ref_signed
    if signed:
        np.testing.assert_allclose(world, ref_world, atol=1e-6)
    else:
        assert abs(float(world @ ref_world)) == pytest.approx(1.0)
    for n in (0, 1):  # freq, phase
        axis, ref_axis = img.header.get_dim_info()[n], ref_img.header.get_dim_info()[n]
        assert axis is not None and ref_axis is not None
        a, b = img.affine[:3, axis], ref_img.affine[:3, ref_axis]
        assert abs(float(a @ b)) == pytest.approx(float(np.linalg.norm(a) * np.linalg.norm(b)))


def _xa_private(positive: int) -> Dataset:
    """A Siemens "SIEMENS MR SDI 02" private block holding (0021,111C) = ``positive``."""
    item = Dataset()
    item.add_new(0x00210011, "LO", "SIEMENS MR SDI 02")
    item.add_new(0x0021111C, "IS", str(positive))
    return item


def _enhanced(path: Path, manufacturer: str, direction: str, positive: int | None, where: str):
    """An enhanced MR time series whose phase-encoding direction is in its shared functional
    groups' MRFOVGeometrySequence and, when ``positive`` is given, its Siemens XA polarity in the
    private sequence (0021,11FE) of the ``where`` ("shared" / "per-frame") functional groups."""
    write_enhanced_dicom(path, SHAPE, n_volumes=2)
    ds = pydicom.dcmread(path)
    ds.Manufacturer = manufacturer
    shared = ds.SharedFunctionalGroupsSequence[0]
    fov = Dataset()
    fov.InPlanePhaseEncodingDirection = direction
    shared.MRFOVGeometrySequence = DicomSequence([fov])
    if positive is not None:
        groups = [shared] if where == "shared" else list(ds.PerFrameFunctionalGroupsSequence)
        for group in groups:
            group.add_new(0x00210011, "LO", "SIEMENS MR SDI 02")
            group.add_new(0x002111FE, "SQ", DicomSequence([_xa_private(positive)]))
    ds.save_as(path)


@pytest.mark.parametrize(
    ("manufacturer", "direction", "positive", "where"),
    [
        ("Philips", "COLUMN", None, "shared"),
        ("Philips", "ROW", None, "shared"),
        ("Siemens Healthineers", "COLUMN", None, "shared"),
        ("Siemens Healthineers", "COLUMN", 1, "shared"),
        ("Siemens Healthineers", "COLUMN", 0, "per-frame"),
        ("Siemens Healthineers", "ROW", 0, "shared"),
        ("Siemens Healthineers", "ROW", 1, "per-frame"),
        ("Philips", "COLUMN", 1, "shared"),  # (0021,111C) is Siemens's: not read for others
    ],
)
def test_enhanced_phase_encoding_as_dcm2niixs(
    tmp_path, dcm2niix, manufacturer, direction, positive, where
):
    _enhanced(tmp_path / "in" / "e.dcm", manufacturer, direction, positive, where)
    ((ref_doc, ref_img),) = _converted(dcm2niix, tmp_path / "in", tmp_path / "out")
    assert ref_doc["InPlanePhaseEncodingDirectionDICOM"] == direction[:3]
    assert ("PhaseEncodingDirection" in ref_doc) is (
        positive is not None and manufacturer != "Philips"
    )
    mine = _written(lv.open(tmp_path / "in"), tmp_path / "v.nii")
    _assert_same_phase(mine, (ref_doc, ref_img))


@pytest.mark.parametrize(("direction", "positive"), [("COL", 1), ("COL", 0), ("ROW", 0)])
def test_classic_siemens_xa_polarity_as_dcm2niixs(tmp_path, dcm2niix, direction, positive):
    """A classic (one frame a file) Siemens XA series: (0021,111C) at the top level."""
    truth = write_dicom_4d_series(
        tmp_path / "in",
        SHAPE,
        n_volumes=2,
        modality="MR",
        extra={"Manufacturer": "SIEMENS", "InPlanePhaseEncodingDirection": direction},
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        ds.update(_xa_private(positive))
        ds.save_as(p)
    ((ref_doc, ref_img),) = _converted(dcm2niix, tmp_path / "in", tmp_path / "out")
    assert "PhaseEncodingDirection" in ref_doc
    mine = _written(lv.open(tmp_path / "in"), tmp_path / "v.nii")
    _assert_same_phase(mine, (ref_doc, ref_img))


def _multi_echo(path: Path, times: list[float], echo_index: list[int], pointers: bool) -> None:
    """A Philips enhanced time series of 3 time points x ``len(times)`` echoes, echo ``e`` of
    each time point stored after echo ``e - 1``, with EffectiveEchoTime ``times[e]`` and
    DimensionIndexValues (InStackPositionNumber, TemporalPositionIndex, ``echo_index[e]``),
    listed in a DimensionIndexSequence when ``pointers``."""
    n_echoes = len(times)
    write_enhanced_dicom(path, SHAPE, n_volumes=3 * n_echoes)
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "Philips"
    if pointers:
        items = []
        # InStackPositionNumber, TemporalPositionIndex, EffectiveEchoTime
        dims = [(0x00209057, 0x00209111), (0x00209128, 0x00209111), (0x00189082, 0x00189114)]
        for pointer, group in dims:
            item = Dataset()
            item.DimensionIndexPointer = pointer
            item.FunctionalGroupPointer = group
            items.append(item)
        ds.DimensionIndexSequence = DicomSequence(items)
    for item in ds.PerFrameFunctionalGroupsSequence:
        content = item.FrameContentSequence[0]
        t, e = divmod(int(content.TemporalPositionIndex) - 1, n_echoes)
        content.TemporalPositionIndex = t + 1
        content.DimensionIndexValues = [int(content.InStackPositionNumber), t + 1, echo_index[e]]
        echo = Dataset()
        echo.EffectiveEchoTime = times[e]
        item.MREchoSequence = DicomSequence([echo])
    ds.save_as(path)


@pytest.mark.parametrize("pointers", [True, False])
@pytest.mark.parametrize(
    ("times", "echo_index"),
    [
        ([10.0, 30.0], [1, 2]),
        ([30.0, 10.0, 20.0], [1, 2, 3]),  # numbered in the frames' order, not by echo time
        ([30.0, 10.0], [2, 1]),  # ... which the echo dimension's index decides
        ([10.0, 30.0], [5, 3]),  # (by its rank)
    ],
)
def test_enhanced_multi_echo_echo_numbers_as_dcm2niixs(
    tmp_path, dcm2niix, times, echo_index, pointers
):
    """Each echo of an enhanced multi-echo time series (told apart by EffectiveEchoTime) has the
    EchoNumber dcm2niix gives it."""
    _multi_echo(tmp_path / "in" / "e.dcm", times, echo_index, pointers)
    refs = _converted(dcm2niix, tmp_path / "in", tmp_path / "out")
    expected = {doc["EchoNumber"]: doc["EchoTime"] for doc, _ in refs}
    assert sorted(expected) == list(range(1, len(times) + 1))
    mine = {}
    for info in lv.scan(tmp_path / "in"):
        doc, _ = _written(lv.open(tmp_path / "in", series=info.id), tmp_path / f"{info.id}.nii")
        mine[doc["EchoNumber"]] = doc["EchoTime"]
    assert mine == expected


def test_single_frame_echoes_told_apart_by_echo_time_alone_have_no_echo_number(tmp_path, dcm2niix):
    """Single-frame files without EchoNumbers, told apart by EchoTime: dcm2niix writes them as
    separate series, without EchoNumber; so does lazyvol."""
    truth = write_dicom_4d_series(
        tmp_path / "in",
        SHAPE,
        n_volumes=2,
        echoes=2,
        modality="MR",
        extra={"Manufacturer": "SIEMENS"},
    )
    for p in truth.files:
        ds = pydicom.dcmread(p)
        del ds.EchoNumbers
        ds.save_as(p)
    refs = _converted(dcm2niix, tmp_path / "in", tmp_path / "out")
    assert len(refs) == 2 and not any("EchoNumber" in doc for doc, _ in refs)
    infos = lv.scan(tmp_path / "in")
    assert len(infos) == 2
    for info in infos:
        doc, _ = _written(lv.open(tmp_path / "in", series=info.id), tmp_path / f"{info.id}.nii")
        assert "EchoNumber" not in doc


@pytest.mark.parametrize("direction", ["OTHER", "COLUMN", "R"])
def test_in_plane_direction_spelled_otherwise_as_dcm2niixs(tmp_path, dcm2niix, direction):
    """(0018,1312) is read by its first letter, as dcm2niix reads it; a value naming neither rows
    nor columns ("OTHER") gives no in-plane direction (it was written into the sidecar as it
    stood, where dcm2niix writes none)."""
    write_dicom_4d_series(
        tmp_path / "in",
        SHAPE,
        n_volumes=2,
        modality="MR",
        extra={"Manufacturer": "SIEMENS", "InPlanePhaseEncodingDirection": direction},
    )
    ((ref_doc, _),) = _converted(dcm2niix, tmp_path / "in", tmp_path / "out")
    bids = lv.open(tmp_path / "in").meta["bids"]
    for key in ("InPlanePhaseEncodingDirectionDICOM", "PhaseEncodingAxis"):
        assert bids.get(key) == ref_doc.get(key)


@pytest.mark.parametrize(
    ("sequence", "echo_train", "bandwidth"),
    [
        (["SE", "IR"], 200, False),
        (["SE"], 120, False),
        (["GR"], 8, False),
        (["GR"], 1, False),
        (["GR", "IR"], 1, True),
        (["SE"], 1, True),
    ],
)
def test_a_3d_acquisition_has_a_phase_axis_as_dcm2niix_gives_it(
    tmp_path, dcm2niix, sequence, echo_train, bandwidth
):
    """A 3D acquisition has a phase-encoding axis only with an echo train or a stated
    phase-encode bandwidth, and no spin echo (3D EPI, segmented gradient echo, Siemens MPRAGE;
    dcm2niix's issue 849 rule): 3D turbo spin echo (SPACE, CUBE, VISTA: ScanningSequence SE) got
    one (h35); an MPRAGE stating its bandwidth (XA (0021,1153)) got none where dcm2niix writes it
    (h50)."""
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(tmp_path / "in", (16, 16, 4), modality="MR")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.Manufacturer = "SIEMENS"
        ds.MRAcquisitionType = "3D"
        ds.ScanningSequence = sequence
        ds.EchoTrainLength = echo_train
        ds.InPlanePhaseEncodingDirection = "ROW"
        if bandwidth:
            ds.add_new(0x00210011, "LO", "SIEMENS MR SDI 02")
            ds.add_new(0x00211153, "FD", BW_PHASE)
        ds.save_as(f)
    ((ref_doc, _),) = _converted(dcm2niix, tmp_path / "in", tmp_path / "out")
    bids = lv.open(tmp_path / "in").meta["bids"]
    for key in ("PhaseEncodingDirection", "PhaseEncodingAxis"):
        assert (key in bids) is (key in ref_doc), (key, ref_doc.get(key))


BW_PHASE = 28.935


def _xa_classic(folder: Path) -> None:
    """A Siemens XA classic ("interoperability") 4-D EPI export: no CSA header; polarity in
    (0021,111C), the phase-encode bandwidth in (0021,1153) (FD)."""
    t = write_dicom_4d_series(folder, shape=(16, 12, 5), n_volumes=3)
    for f in t.files:
        ds = pydicom.dcmread(f)
        ds.Manufacturer, ds.SoftwareVersions = "SIEMENS", "syngo MR XA30"
        ds.MRAcquisitionType, ds.InPlanePhaseEncodingDirection = "2D", "COL"
        ds.ScanningSequence, ds.EchoTrainLength = "EP", 56
        ds.add_new(0x00210010, "LO", "SIEMENS MR SDI 02")
        ds.add_new(0x0021111C, "IS", "1")
        ds.add_new(0x00211153, "FD", BW_PHASE)
        ds.save_as(f, enforce_file_format=True)


def _xa_enhanced(path: Path) -> None:
    """A Siemens XA enhanced 4-D EPI file: both in the shared group's (0021,11FE) sequence."""
    write_enhanced_dicom(path, shape=(16, 12, 5), n_volumes=3)
    ds = pydicom.dcmread(path)
    ds.Manufacturer, ds.SoftwareVersions, ds.MRAcquisitionType = "SIEMENS", "syngo MR XA30", "2D"
    shared = ds.SharedFunctionalGroupsSequence[0]
    fov = Dataset()
    fov.InPlanePhaseEncodingDirection = "COLUMN"
    shared.MRFOVGeometrySequence = DicomSequence([fov])
    timing = Dataset()
    timing.RepetitionTime, timing.EchoTrainLength = 1000, 56
    shared.MRTimingAndRelatedParametersSequence = DicomSequence([timing])
    shared.add_new(0x00210010, "LO", "SIEMENS MR SDI 02")
    private = Dataset()
    private.add_new(0x00210010, "LO", "SIEMENS MR SDI 02")
    private.add_new(0x0021111C, "IS", "1")
    private.add_new(0x00211153, "FD", BW_PHASE)
    shared.add_new(0x002111FE, "SQ", DicomSequence([private]))
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("kind", ["classic", "enhanced"])
def test_xa_phase_bandwidth_gives_the_readout_times_as_dcm2niix(tmp_path, dcm2niix, kind):
    """Siemens XA software writes BandwidthPerPixelPhaseEncode in (0021,1153), not in a CSA header
    or (0019,1028): lazyvol wrote no EffectiveEchoSpacing / TotalReadoutTime for any XA EPI (what
    fieldmap correction needs), where dcm2niix writes them."""
    src = tmp_path / "in"
    if kind == "classic":
        _xa_classic(src)
    else:
        src.mkdir()
        _xa_enhanced(src / "e.dcm")
    (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    for key in ("BandwidthPerPixelPhaseEncode", "EffectiveEchoSpacing", "TotalReadoutTime"):
        assert key in ref_doc and doc.get(key) == pytest.approx(ref_doc[key], rel=1e-5), key
    assert doc["EffectiveEchoSpacing"] == pytest.approx(1 / (BW_PHASE * doc["ReconMatrixPE"]))


@pytest.mark.parametrize("block", [0x10, 0x12])
def test_xa_private_block_moved_by_a_pacs_is_read_as_dcm2niix(tmp_path, dcm2niix, block):
    """A PACS that rewrites a file may move a private block (dcm2niix's dcm_qa_agfa): with
    "SIEMENS MR SDI 02" at (0021,00xx) its polarity and bandwidth are (0021,xx1C) and
    (0021,xx53). lazyvol read the usual (0021,111C) / (0021,1153) only: no
    PhaseEncodingDirection, EffectiveEchoSpacing or TotalReadoutTime, where dcm2niix follows the
    creator. A series with the usual layout beside it keeps its values."""
    for name, where in (("moved", block), ("usual", 0x11)):
        src = tmp_path / name
        t = write_dicom_4d_series(src, shape=(16, 12, 5), n_volumes=2)
        for f in t.files:
            ds = pydicom.dcmread(f)
            ds.Manufacturer, ds.SoftwareVersions = "SIEMENS", "syngo MR XA30"
            ds.MRAcquisitionType, ds.InPlanePhaseEncodingDirection = "2D", "COL"
            ds.ScanningSequence, ds.EchoTrainLength = "EP", 56
            ds.add_new(0x00210010, "LO", "SIEMENS MR SDS 01")
            ds.add_new(0x00210000 | where, "LO", "SIEMENS MR SDI 02")
            ds.add_new(0x00210000 | where << 8 | 0x1C, "IS", "0")
            ds.add_new(0x00210000 | where << 8 | 0x53, "FD", BW_PHASE)
            ds.save_as(f, enforce_file_format=True)
        ref, *_ = _converted(dcm2niix, src, tmp_path / f"out_{name}")
        mine = _written(lv.open(src), tmp_path / f"{name}.nii")
        for key in ("BandwidthPerPixelPhaseEncode", "EffectiveEchoSpacing", "TotalReadoutTime"):
            assert key in ref[0] and mine[0].get(key) == pytest.approx(ref[0][key], rel=1e-5), key
        assert "PhaseEncodingDirection" in ref[0]
        _assert_same_phase(mine, ref)


def test_xa_bandwidth_read_as_siemens_writes_it_or_as_text():
    """(0021,1153) is a double (FD); an implicit-VR file states no VR, and a value written as
    text of 8 characters must not be taken for a double's bytes."""
    import struct

    from lazyvol.dicom.bids import xa_bandwidth
    from lazyvol.dicom.walker import _RawValue

    for vr in ("FD", None):
        for little in (True, False):
            packed = struct.pack("<d" if little else ">d", BW_PHASE)
            assert xa_bandwidth(_RawValue(packed, little, vr)) == BW_PHASE
    for vr in ("DS", None):
        assert xa_bandwidth(_RawValue(b"28.93500", True, vr)) == BW_PHASE
    assert xa_bandwidth(_RawValue(b"-1.0", True, "DS")) is None
    assert xa_bandwidth(None) is None


@pytest.mark.parametrize("vendor", ["Philips", "SIEMENS", "GE"])
def test_enhanced_parallel_reduction_factors_as_dcm2niix(tmp_path, dcm2niix, vendor):
    """An enhanced file states its acceleration in the functional groups' MRModifierSequence
    (0018,9069) / (0018,9155), not at the top level: lazyvol's sidecar had no
    ParallelReductionFactorInPlane / OutOfPlane where dcm2niix writes them (for Siemens the
    in-plane one only)."""
    src = tmp_path / "in"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", shape=(16, 12, 5), n_volumes=2)
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer, ds.MRAcquisitionType = vendor, "2D"
    modifier = Dataset()
    modifier.ParallelAcquisition = "YES"
    modifier.ParallelReductionFactorInPlane, modifier.ParallelReductionFactorOutOfPlane = 3.0, 2.0
    ds.SharedFunctionalGroupsSequence[0].MRModifierSequence = DicomSequence([modifier])
    ds.save_as(src / "e.dcm", enforce_file_format=True)
    (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    for key in ("ParallelReductionFactorInPlane", "ParallelReductionFactorOutOfPlane"):
        assert doc.get(key) == ref_doc.get(key), key
    assert doc["ParallelReductionFactorInPlane"] == 3


@pytest.mark.parametrize("vendor", ["Philips", "SIEMENS", "GE"])
def test_enhanced_frequency_fov_and_sequence_name_as_dcm2niix(tmp_path, dcm2niix, vendor):
    """An enhanced MR file states its imaging frequency as TransmitterFrequency (0018,9098)
    (MRImagingModifierSequence), PercentPhaseFieldOfView / PercentSampling in
    MRFOVGeometrySequence and its sequence as PulseSequenceName (0018,9005): lazyvol's sidecar had
    no ImagingFrequency, PercentPhaseFOV, PercentSampling or SequenceName where dcm2niix writes
    them (the name is no ProtocolName, for dcm2niix neither)."""
    src = tmp_path / "in"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", shape=(16, 12, 5))
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer, ds.MRAcquisitionType, ds.PulseSequenceName = vendor, "2D", "epfid2d1"
    del ds.SeriesDescription
    modifier, fov = Dataset(), Dataset()
    modifier.TransmitterFrequency = 123.2
    fov.PercentPhaseFieldOfView, fov.PercentSampling = 87.5, 80.0
    for g in ds.PerFrameFunctionalGroupsSequence:
        g.MRImagingModifierSequence = DicomSequence([modifier])
        g.MRFOVGeometrySequence = DicomSequence([fov])
    ds.save_as(src / "e.dcm", enforce_file_format=True)
    (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    expected = {
        "ImagingFrequency": 123.2,
        "PercentPhaseFOV": 87.5,
        "PercentSampling": 80,
        "SequenceName": "epfid2d1",
        "ProtocolName": None,
    }
    assert {k: doc.get(k) for k in expected} == expected
    assert {k: ref_doc.get(k) for k in expected} == expected


@pytest.mark.parametrize("vendor", ["Philips", "SIEMENS"])
def test_enhanced_philips_partial_fourier_steps_as_dcm2niix(tmp_path, dcm2niix, vendor):
    """A Philips enhanced file acquired with partial Fourier (MRModifierSequence PartialFourier
    (0018,9081) YES) has its phase-encoding steps (0018,9231) as PhaseEncodingStepsNoPartialFourier
    with PartialFourierEnabled "YES", as dcm2niix writes them and as lazyvol writes a classic
    Philips file's; it wrote PhaseEncodingSteps. Other vendors keep PhaseEncodingSteps."""
    src = tmp_path / "in"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", shape=(16, 12, 5))
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer, ds.MRAcquisitionType = vendor, "2D"
    modifier, fov = Dataset(), Dataset()
    modifier.PartialFourier, modifier.PartialFourierDirection = "YES", "PHASE"
    fov.MRAcquisitionPhaseEncodingStepsInPlane = 62
    ds.SharedFunctionalGroupsSequence[0].MRModifierSequence = DicomSequence([modifier])
    ds.SharedFunctionalGroupsSequence[0].MRFOVGeometrySequence = DicomSequence([fov])
    ds.save_as(src / "e.dcm", enforce_file_format=True)
    (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    keys = ("PhaseEncodingSteps", "PhaseEncodingStepsNoPartialFourier", "PartialFourierEnabled")
    assert {k: doc.get(k) for k in keys} == {k: ref_doc.get(k) for k in keys}
    philips = vendor == "Philips"
    assert doc.get("PhaseEncodingStepsNoPartialFourier" if philips else "PhaseEncodingSteps") == 62


@pytest.mark.parametrize(
    ("vendor", "modality", "image_type", "frame_type"),
    [
        (
            "Philips",
            "MR",
            ["ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"],
            ["ORIGINAL", "PRIMARY", "T1"],
        ),
        (
            "SIEMENS",
            "MR",
            ["ORIGINAL", "PRIMARY", "M", "DIS2D", "NORM"],
            ["ORIGINAL", "PRIMARY", "M"],
        ),
        ("SIEMENS", "MR", ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"], ["ORIGINAL", "PRIMARY", "M"]),
        ("CANON_MEC", "CT", ["ORIGINAL", "PRIMARY", "AXIAL"], ["ORIGINAL", "PRIMARY", "AXIAL"]),
    ],
)
def test_enhanced_image_type_is_the_files_as_dcm2niixs(
    tmp_path, dcm2niix, vendor, modality, image_type, frame_type
):
    """The sidecar's ImageType of an enhanced file is its ImageType (0008,0008), as dcm2niix
    writes it: lazyvol wrote the first frame's FrameType (0008,9007) (['ORIGINAL', 'PRIMARY',
    'M', 'NONE'] where the file says M\\DIS2D\\NORM), so a Siemens XA volume had no
    NonlinearGradientCorrection either. The frames' FrameType still splits them by kind."""
    src = tmp_path / "in"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", shape=(16, 12, 5), modality=modality)
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer, ds.ImageType = vendor, image_type
    kind = Dataset()
    kind.FrameType = [*frame_type, "NONE"]
    if modality == "MR":
        kind.ComplexImageComponent = "MAGNITUDE"
    for g in ds.PerFrameFunctionalGroupsSequence:
        setattr(g, f"{modality}ImageFrameTypeSequence", DicomSequence([kind]))
    ds.save_as(src / "e.dcm", enforce_file_format=True)
    (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    keys = ("ImageType", "NonlinearGradientCorrection")
    assert {k: doc.get(k) for k in keys} == {k: ref_doc.get(k) for k in keys}
    assert doc["ImageType"][:3] == [t for v in image_type for t in v.split("_")][:3]


@pytest.mark.parametrize("stated", [None, ""])
def test_enhanced_file_without_image_type_has_none_as_dcm2niix(tmp_path, dcm2niix, stated):
    """An enhanced file whose ImageType (0008,0008) is absent or empty (an anonymiser's or a
    converter's file) has no sidecar ImageType and no NonlinearGradientCorrection, as dcm2niix
    writes it (it reads the file's ImageType, never a frame's FrameType): lazyvol fell back to
    the first frame's FrameType (['ORIGINAL', 'PRIMARY', 'M', 'ND', 'MAGNITUDE'], false)."""
    src = tmp_path / "in"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", shape=(16, 12, 5))
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer = "SIEMENS"
    if stated is None:
        ds.pop("ImageType", None)
    else:
        ds.ImageType = stated
    kind = Dataset()
    kind.FrameType, kind.ComplexImageComponent = ["ORIGINAL", "PRIMARY", "M", "ND"], "MAGNITUDE"
    for g in ds.PerFrameFunctionalGroupsSequence:
        g.MRImageFrameTypeSequence = DicomSequence([kind])
    ds.save_as(src / "e.dcm", enforce_file_format=True)
    (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    keys = ("ImageType", "NonlinearGradientCorrection")
    assert {k: doc.get(k) for k in keys} == {k: ref_doc.get(k) for k in keys} == dict.fromkeys(keys)


def _enhanced_ct(path: Path, kernel: Any, seed: int) -> np.ndarray:
    """An enhanced CT file stating ``kernel`` in its CT Reconstruction macro only (as the IOD
    puts it: CTReconstructionSequence (0018,9314) of the shared functional groups)."""
    truth = write_enhanced_dicom(path, shape=(16, 12, 5), modality="CT", seed=seed)
    ds = pydicom.dcmread(path)
    ds.Manufacturer, ds.InstanceNumber = "CANON_MEC", seed + 1
    ds.StudyInstanceUID, ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.98", "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.99"  # (one series, whatever the seed)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = (
        f"1.2.826.0.1.3680043.8.498.{seed}"
    )
    recon = Dataset()
    recon.ConvolutionKernel, recon.ReconstructionDiameter = kernel, 320.0
    ds.SharedFunctionalGroupsSequence[0].CTReconstructionSequence = DicomSequence([recon])
    ds.save_as(path, enforce_file_format=True)
    return truth.stored


@pytest.mark.parametrize("kernel", ["FC13", ["FC52", "AIDR 3D"]])
def test_enhanced_ct_convolution_kernel_as_dcm2niixs(tmp_path, dcm2niix, kernel):
    """An enhanced CT file states its ConvolutionKernel (0018,1210) in CTReconstructionSequence
    (0018,9314): dcm2niix writes it (with ReconFilterType / ReconFilterSize), lazyvol wrote
    none of the three, as it does for a classic file's top-level kernel."""
    src = tmp_path / "in"
    src.mkdir()
    _enhanced_ct(src / "e.dcm", kernel, 0)
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    keys = ("ConvolutionKernel", "ReconFilterType", "ReconFilterSize")
    if isinstance(kernel, str):  # (dcm2niix writes a backslash unescaped: its JSON is invalid)
        (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
        assert {k: doc.get(k) for k in keys} == {k: ref_doc.get(k) for k in keys}
    assert doc["ConvolutionKernel"] == (kernel if isinstance(kernel, str) else "\\".join(kernel))


def test_two_enhanced_ct_reconstruction_kernels_are_two_volumes(tmp_path):
    """Two enhanced CT files of one series at the same positions, reconstructed with two
    kernels stated in their CTReconstructionSequence: they became one 4D volume ordered by
    InstanceNumber (the kernel at the top level of classic files splits them). One volume per
    kernel, each its own file's data."""
    truth = {k: _enhanced_ct(tmp_path / f"{k}.dcm", k, n) for n, k in enumerate(["FC13", "FC52"])}
    report = lv.scan(tmp_path)
    assert sorted(i.shape for i in report) == [(16, 12, 5), (16, 12, 5)]
    for info in report:
        (kernel,) = [r.split()[-1] for r in info.reasons if r.startswith("this volume: kernel ")]
        vol = lv.open(tmp_path, series=info.id, scale=False)
        np.testing.assert_array_equal(vol.compute(), truth[kernel])


@pytest.mark.parametrize("where", ["top", "groups"])
@pytest.mark.parametrize(
    "values",
    [
        {"NumberOfAverages": 2.0, "EchoTrainLength": 1, "GradientEchoTrainLength": 35},
        {"NumberOfAverages": 1.0, "EchoTrainLength": 12, "GradientEchoTrainLength": 1},
        {"NumberOfAverages": 2.5, "EchoTrainLength": 12, "GradientEchoTrainLength": 3},
        {"EchoTrainLength": 10, "GradientEchoTrainLength": 0},
    ],
)
def test_averages_and_echo_train_as_dcm2niixs(tmp_path, dcm2niix, where, values):
    """NumberOfAverages (0018,0083) (MRAveragesSequence in an enhanced file) and
    GradientEchoTrainLength (0018,9241) (MRTimingAndRelatedParametersSequence): dcm2niix writes
    NumberOfAverages above 1, and the gradient echo train as EchoTrainLength where above 1 (an
    EPI stating EchoTrainLength 1); lazyvol wrote no NumberOfAverages, EchoTrainLength from
    (0018,0091) alone, and no Siemens PartialFourier estimate from the echo train."""
    src = tmp_path / "in"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", shape=(96, 96, 3))
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer, ds.MRAcquisitionType = "SIEMENS", "2D"
    averages = {k: v for k, v in values.items() if k == "NumberOfAverages"}
    timing = {k: v for k, v in values.items() if k != "NumberOfAverages"}
    fov = Dataset()
    fov.MRAcquisitionPhaseEncodingStepsInPlane, fov.InPlanePhaseEncodingDirection = 94, "COLUMN"
    shared = ds.SharedFunctionalGroupsSequence[0]
    shared.MRFOVGeometrySequence = DicomSequence([fov])
    for target, attrs, seq in (
        (ds if where == "top" else Dataset(), timing, "MRTimingAndRelatedParametersSequence"),
        (ds if where == "top" else Dataset(), averages, "MRAveragesSequence"),
    ):
        for k, v in attrs.items():
            setattr(target, k, v)
        if where == "groups" and attrs:
            setattr(shared, seq, DicomSequence([target]))
    ds.save_as(src / "e.dcm", enforce_file_format=True)
    (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    keys = ("NumberOfAverages", "EchoTrainLength", "PartialFourier")
    assert {k: doc.get(k) for k in keys} == {k: ref_doc.get(k) for k in keys}


@pytest.mark.parametrize("in_groups", [None, "2.5"])
def test_top_level_spacing_between_slices_as_dcm2niix_writes_it(tmp_path, dcm2niix, in_groups):
    """An enhanced file stating SpacingBetweenSlices (0018,0088) (and SliceThickness) at its top
    level, not in its Pixel Measures: dcm2niix writes the top-level value, lazyvol wrote no
    SpacingBetweenSlices (each frame took its groups' None over the file's value). Stated in
    the groups too, theirs wins (dcm2niix reads them last). The geometry stays the positions'."""
    path = tmp_path / "in" / "e.dcm"
    path.parent.mkdir()
    write_enhanced_dicom(path, SHAPE, spacing=(1.0, 1.0, 2.5))
    ds = pydicom.dcmread(path)
    pm = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        if key in pm:
            delattr(pm, key)
    if in_groups is not None:
        pm.SpacingBetweenSlices = in_groups
    ds.SpacingBetweenSlices = "3.1"
    ds.SliceThickness = "2.75"
    ds.save_as(path)
    ((ref, _),) = _converted(dcm2niix, path.parent, tmp_path / "ref")
    vol = lv.open(path.parent, cache=None)
    mine, img = _written(vol, tmp_path / "lv.nii")
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        assert mine.get(key) == ref.get(key), key
    assert mine["SpacingBetweenSlices"] == float(in_groups or 3.1)
    assert img.header.get_zooms()[2] == pytest.approx(2.5)  # (the positions', not 3.1)


@pytest.mark.parametrize("where", ["top", "shared", "per-frame"])
@pytest.mark.parametrize(
    ("spoiling", "variant"),
    [
        ("RF_AND_GRADIENT", None),
        ("RF", "SK"),
        ("GRADIENT", None),
        ("NONE", "SP"),
        (None, "SP"),
        (None, "SK\\SP"),
        (None, "OSP"),
        ("X", "SP\\SK"),
    ],
)
def test_spoiling_as_dcm2niix_writes_it(tmp_path, dcm2niix, where, spoiling, variant):
    """Spoiling (0018,9016) (MRModifierSequence in an enhanced file, or the top level) and a
    SequenceVariant (0018,0021) value SP: dcm2niix writes SpoilingState (and SpoilingType);
    lazyvol wrote neither, classic or enhanced files."""
    src = tmp_path / "in"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", shape=(8, 6, 3))
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer, ds.ScanningSequence = "SIEMENS", "GR"
    if variant is not None:
        ds.SequenceVariant = variant
    if spoiling is not None:
        modifier = Dataset()
        modifier.Spoiling = spoiling
        if where == "top":
            ds.Spoiling = spoiling
        elif where == "shared":
            ds.SharedFunctionalGroupsSequence[0].MRModifierSequence = DicomSequence([modifier])
        else:
            for group in ds.PerFrameFunctionalGroupsSequence:
                group.MRModifierSequence = DicomSequence([modifier])
    ds.save_as(src / "e.dcm", enforce_file_format=True)
    (ref_doc, _), *_ = _converted(dcm2niix, src, tmp_path / "out")
    doc, _ = _written(lv.open(src), tmp_path / "mine.nii")
    keys = ("SpoilingState", "SpoilingType")
    assert {k: doc.get(k) for k in keys} == {k: ref_doc.get(k) for k in keys}


def test_classic_spoiled_variant_has_a_spoiling_state(tmp_path):
    """A classic series whose SequenceVariant holds SP: SpoilingState true, as dcm2niix."""
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(tmp_path / "s", (6, 5, 3))
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.SequenceVariant, ds.ScanningSequence = ["SK", "SP"], "GR"
        ds.save_as(path)
    doc, _ = _written(lv.open(tmp_path / "s"), tmp_path / "mine.nii")
    assert doc["SpoilingState"] is True
    assert "SpoilingType" not in doc


@pytest.mark.parametrize(
    "kinds", [("MAGNITUDE", "PHASE"), ("REAL", "IMAGINARY"), ("MAGNITUDE", "PHASE", "REAL")]
)
@pytest.mark.parametrize("text", [("M", "NONE"), ("P", "NONE"), ("R", "I"), ("MIXED", "NONE")])
def test_philips_file_of_several_kinds_image_type_as_dcm2niix(tmp_path, dcm2niix, kinds, text):
    """A Philips enhanced file whose frames are of several kinds (ComplexImageComponent, indexed
    by DimensionIndexValues): dcm2niix writes one volume per kind whose ImageType has that kind
    alone appended (MAGNITUDE never), not the kinds its text names; lazyvol appended both (a
    phase volume's ['ORIGINAL', 'PRIMARY', 'M', 'NONE', 'MAGNITUDE', 'PHASE'] where dcm2niix
    writes [..., 'NONE', 'PHASE'])."""
    src = tmp_path / "in"
    src.mkdir()
    nk = 3
    write_enhanced_dicom(src / "e.dcm", shape=(8, 6, nk), n_volumes=len(kinds))
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer, ds.ImageType = "Philips", ["ORIGINAL", "PRIMARY", *text]
    pointers = ((0x00209056, 0x00209111), (0x00209057, 0x00209111), (0x00089208, 0x00189226))
    ds.DimensionIndexSequence = DicomSequence([Dataset() for _ in pointers])
    for item, (ptr, group) in zip(ds.DimensionIndexSequence, pointers, strict=True):
        item.DimensionIndexPointer, item.FunctionalGroupPointer = ptr, group
    for n, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        t, k = divmod(n, nk)
        content = group.FrameContentSequence[0]
        content.StackID, content.DimensionIndexValues = "1", [1, k + 1, t + 1]
        del content.TemporalPositionIndex
        kind = Dataset()
        kind.FrameType = ["ORIGINAL", "PRIMARY", kinds[t][0], "NONE"]
        kind.ComplexImageComponent = kinds[t]
        group.MRImageFrameTypeSequence = DicomSequence([kind])
    ds.save_as(src / "e.dcm", enforce_file_format=True)
    refs = sorted(doc["ImageType"] for doc, _ in _converted(dcm2niix, src, tmp_path / "out"))
    mine = []
    for info in lv.scan(src):
        doc, _ = _written(lv.open(src, series=info.id), tmp_path / f"{info.id}.nii")
        mine.append(doc["ImageType"])
    assert sorted(mine) == refs


@pytest.mark.parametrize(
    ("manufacturer", "top", "key", "top_value", "classic_value", "expected"),
    [
        # InversionTimes (0018,9079), first value, ms: read after InversionTime (0018,0082)
        ("SIEMENS", 0x00189079, "InversionTime", [900.0], None, 0.9),
        ("SIEMENS", 0x00189079, "InversionTime", [900.0, 2500.0], None, 0.9),  # MP2RAGE: first
        ("SIEMENS", 0x00189079, "InversionTime", [900.0], "1100", 0.9),
        ("SIEMENS", 0x00189079, "InversionTime", [0.0], "1100", None),
        ("SIEMENS", 0x00189079, "InversionTime", None, "1100", 1.1),
        # TransmitterFrequency (0018,9098), MHz: read after ImagingFrequency (0018,0084)
        ("Philips", 0x00189098, "ImagingFrequency", 123.25, None, 123.25),
        ("Philips", 0x00189098, "ImagingFrequency", 123.25, "127.7", 123.25),
        ("Philips", 0x00189098, "ImagingFrequency", 0.0, "127.7", None),
        ("Philips", 0x00189098, "ImagingFrequency", None, "127.7", 127.7),
    ],
)
def test_top_level_enhanced_value_replaces_the_classic_one_as_dcm2niix(
    tmp_path, dcm2niix, manufacturer, top, key, top_value, classic_value, expected
):
    """InversionTimes (0018,9079) and TransmitterFrequency (0018,9098) at the top level of a file
    (a classic file that keeps the enhanced attribute): dcm2niix takes the first value as
    InversionTime / ImagingFrequency, read after (0018,0082) / (0018,0084), which it replaces
    (none when it is not above 0); lazyvol did not read them, so such a file's sidecar had none,
    or the classic attribute's where the two differ."""
    truth = write_dicom_4d_series(tmp_path / "in", SHAPE, 2, modality="MR")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.Manufacturer = manufacturer
        if top_value is not None:
            ds.add_new(top, "FD", top_value)
        if classic_value is not None:
            setattr(ds, key, classic_value)
        ds.save_as(f)
    mine, _ = _written(lv.open(tmp_path / "in"), tmp_path / "v.nii")
    ((ref, _),) = _converted(dcm2niix, tmp_path / "in", tmp_path / "out")
    assert mine.get(key) == expected
    assert mine.get(key) == ref.get(key)


@pytest.mark.parametrize(
    ("manufacturer", "factor", "expected"),
    [("SIEMENS", 1.0, None), ("SIEMENS", 2.0, 2), ("Philips", 1.0, 1)],
)
def test_enhanced_in_plane_factor_of_one_as_dcm2niix(
    tmp_path, dcm2niix, manufacturer, factor, expected
):
    """An enhanced Siemens file's MRModifierSequence ParallelReductionFactorInPlane of 1 (no
    acceleration): dcm2niix writes no factor (as for a classic file's (0018,9069)); lazyvol
    wrote 1. Other vendors' 1 stays, as dcm2niix writes it."""
    path = tmp_path / "in" / "e.dcm"
    write_enhanced_dicom(path, SHAPE)
    ds = pydicom.dcmread(path)
    ds.Manufacturer = manufacturer
    mod = Dataset()
    mod.ParallelReductionFactorInPlane = factor
    mod.ParallelAcquisition = "YES"
    ds.SharedFunctionalGroupsSequence[0].MRModifierSequence = DicomSequence([mod])
    ds.save_as(path)
    mine, _ = _written(lv.open(tmp_path / "in"), tmp_path / "v.nii")
    ((ref, _),) = _converted(dcm2niix, tmp_path / "in", tmp_path / "out")
    assert mine.get("ParallelReductionFactorInPlane") == expected
    assert mine.get("ParallelReductionFactorInPlane") == ref.get("ParallelReductionFactorInPlane")
