"""Sidecar keys dcm2niix derives from other sidecar values (lazyvol.dicom.sidecar_derived):
PulseSequenceType for every vendor, and a Siemens one-file-per-slice series' multiband factor
from its slice times, checked against the installed dcm2niix."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import dicom_time, write_dicom_4d_series, write_dicom_series

SHAPE = (8, 6, 6)


def _ref(dcm2niix, src: Path, out: Path) -> dict:
    dcm2niix.run(src, out, name="%s", sidecar=True, check=True)
    (path,) = sorted(out.glob("*.json"))
    return json.loads(path.read_text())


def _mine(src: Path, out: Path) -> dict:
    vol = lv.open(src)
    vol.to_nifti(out)
    return json.loads(out.with_suffix(".json").read_text())


@pytest.mark.parametrize(
    ("sequence", "variant"),
    [
        ("EP", "SK\\SS"),
        ("EP\\SE", "NONE"),
        ("SE\\EP", "SK"),
        ("GR", "SP"),
        ("GR", "OSP"),
        ("GR", "TRSS\\SP"),
        ("GR\\IR", "SK\\MP\\SP"),
        ("IR\\GR", "SP"),
        ("RM\\GR", "MP"),
        ("SE", "SK"),
        ("IR\\SE", "NONE"),
        ("IR", "MP"),
        ("RM", "NONE"),
    ],
)
@pytest.mark.parametrize("manufacturer", ["GE MEDICAL SYSTEMS", "Philips Medical Systems", "UIH"])
def test_pulse_sequence_type_as_dcm2niix(tmp_path, dcm2niix, manufacturer, sequence, variant):
    extra = {"Manufacturer": manufacturer, "ScanningSequence": sequence, "SequenceVariant": variant}
    write_dicom_series(tmp_path / "s", shape=SHAPE, modality="MR", extra=extra)
    ref = _ref(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _mine(tmp_path / "s", tmp_path / "v.nii")
    assert mine.get("PulseSequenceType") == ref.get("PulseSequenceType")
    if sequence in ("EP", "GR\\IR", "SE"):
        assert "PulseSequenceType" in mine


@pytest.mark.parametrize(
    ("manufacturer", "bands"), [("SIEMENS", 2), ("SIEMENS", 3), ("SIEMENS", 1), ("UIH", 2)]
)
def test_siemens_multiband_factor_from_slice_times(tmp_path, dcm2niix, manufacturer, bands):
    nk, tr_s = SHAPE[2], 2.0
    truth = write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        n_volumes=2,
        labels=("AcquisitionTime", "AcquisitionNumber"),
        modality="MR",
        tr_s=tr_s,
        extra={"Manufacturer": manufacturer, "ScanningSequence": "EP", "MRAcquisitionType": "2D"},
    )
    # slices k and k + nk / bands excited together, the excitations tr_s / (nk / bands) apart
    shots = nk // bands
    for path in truth.files:
        ds = pydicom.dcmread(path)
        k = int(ds.InstanceNumber - 1) % nk
        t = int(ds.AcquisitionNumber) - 1
        secs = 36000 + t * tr_s + (k % shots) * tr_s / shots
        ds.AcquisitionTime = dicom_time(secs)
        ds.save_as(path)
    ref = _ref(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _mine(tmp_path / "s", tmp_path / "v.nii")
    assert mine.get("MultibandAccelerationFactor") == ref.get("MultibandAccelerationFactor")
    assert mine.get("PulseSequenceType") == ref.get("PulseSequenceType")
    if manufacturer == "SIEMENS" and bands > 1:
        assert mine["MultibandAccelerationFactor"] == bands
        assert mine["PulseSequenceType"] == "Multiband Gradient Echo EPI"


_READOUT_KEYS = (
    "WaterFatShift",
    "EstimatedTotalReadoutTime",
    "EstimatedEffectiveEchoSpacing",
    "EchoTrainLength",
)


@pytest.mark.parametrize(
    ("shift", "epi", "train", "direction", "manufacturer"),
    [
        (12.3, 35, 35, "COL", "Philips Medical Systems"),
        (12.3, 35, None, "COL", "Philips Medical Systems"),  # the EPI factor is the train
        (12.3, 35, 0, "ROW", "Philips Medical Systems"),
        (12.3, 20, 35, "COL", "Philips Medical Systems"),  # (0018,0091) wins
        (12.3, 35, 1, "COL", "Philips Medical Systems"),
        (9.1, None, 53, "ROW", "Philips Healthcare"),
        (0.0, 35, 35, "COL", "Philips Medical Systems"),  # no shift: none
        (12.3, 35, 35, "COL", "GE MEDICAL SYSTEMS"),  # another vendor's element: not read
        # (a non-square image stating no direction nor AcquisitionMatrix: no ReconMatrixPE, so
        # dcm2niix writes neither estimate; lazyvol wrote the readout (h181))
        (12.3, 35, 35, None, "Philips Medical Systems"),
        (12.3, 35, 35, "", "Philips Medical Systems"),
    ],
)
def test_philips_readout_estimate_as_dcm2niix(
    tmp_path, dcm2niix, shift, epi, train, direction, manufacturer
):
    extra = {
        "Manufacturer": manufacturer,
        "ImagingFrequency": "127.8",
        "ScanningSequence": "GR",
        "SequenceVariant": "SK",
        "MRAcquisitionType": "2D",
    }
    if direction is not None:
        extra["InPlanePhaseEncodingDirection"] = direction
    if train is not None:
        extra["EchoTrainLength"] = train
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, n_volumes=2, numbering="position", modality="MR", extra=extra
    )
    for path in truth.files:
        ds = pydicom.dcmread(path)
        block = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
        block.add_new(0x22, "FL", shift)
        if epi is not None:
            block.add_new(0x13, "SL", epi)
        ds.save_as(path)
    ref = _ref(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _mine(tmp_path / "s", tmp_path / "v.nii")
    assert {k: mine.get(k) for k in _READOUT_KEYS} == {k: ref.get(k) for k in _READOUT_KEYS}
    if shift and manufacturer.startswith("Philips") and direction:
        n = train if train else epi
        readout = shift / (127.8 * 3.4 * (n + 1)) * n  # (the formula's own value)
        assert mine["EstimatedTotalReadoutTime"] == pytest.approx(readout, rel=1e-5)
        recon = SHAPE[0] if direction == "ROW" else SHAPE[1]
        assert mine["EstimatedEffectiveEchoSpacing"] == pytest.approx(
            readout / (recon - 1), rel=1e-5
        )


@pytest.mark.parametrize(
    ("software", "after_start"),
    [
        ("syngo MR XA30", True),
        ("syngo MR XA60A", False),  # XA classic without it: none, as dcm2niix
        ("syngo MR E11", False),  # AcquisitionTime, as before
    ],
)
def test_siemens_xa_classic_slice_timing_from_time_after_start(
    tmp_path, dcm2niix, software, after_start
):
    nk = SHAPE[2]
    # TimeAfterStart in another slice order than AcquisitionTime's: descending, 0.3 s apart
    _siemens_series(tmp_path / "s", software, 2, after_start)
    ref = _ref(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _mine(tmp_path / "s", tmp_path / "v.nii")
    assert ("SliceTiming" in mine) == ("SliceTiming" in ref)
    if after_start:
        expected = [round(0.3 * (nk - 1 - k), 4) for k in range(nk)]
        assert mine["SliceTiming"] == pytest.approx(expected, abs=1e-6)
    if "SliceTiming" in ref:
        assert mine["SliceTiming"] == pytest.approx(ref["SliceTiming"], abs=5e-3)


@pytest.mark.parametrize(
    ("hyperband", "sequence"),
    [
        ("3\\1\\0\\0", "EP\\GR"),
        ("1\\1\\0", "EP\\GR"),
        ("2", "SE"),
        ("2.7", "EP"),
        ("x", "EP"),
        ("3x", "EP"),  # (dcm2niix reads the leading whole number, as atoi: 3)
        ("1e1", "EP"),  # (1, not 10)
    ],
)
def test_ge_hyperband_factor_as_dcm2niix(tmp_path, dcm2niix, hyperband, sequence):
    truth = write_dicom_4d_series(
        tmp_path / "s",
        SHAPE,
        n_volumes=2,
        labels=(),
        modality="MR",
        extra={"Manufacturer": "GE MEDICAL SYSTEMS", "ScanningSequence": sequence},
    )
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.add_new((0x0043, 0x0010), "LO", "GEMS_PARM_01")
        ds.add_new((0x0043, 0x10B6), "LO", hyperband)
        ds.save_as(path)
    ref = _ref(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _mine(tmp_path / "s", tmp_path / "v.nii")
    for key in ("MultibandAccelerationFactor", "PulseSequenceType"):
        assert mine.get(key) == ref.get(key)
    if hyperband[0] in "23":
        assert mine["MultibandAccelerationFactor"] == int(hyperband[0])


@pytest.mark.parametrize(
    ("software", "after_start", "volumes", "expected"),
    [
        ("syngo MR XA30", True, 1, None),  # one volume: neither TimeAfterStart nor AcquisitionTime
        ("syngo MR XA30", False, 1, "acquisition"),  # one volume without it: AcquisitionTime
        ("syngo MR E11", True, 2, None),  # not XA: TimeAfterStart read by no rule, none
        ("XA30", True, 3, None),  # (a bare "XA30" is not XA to dcm2niix)
        ("syngo MR XA30", "first corrupted", 3, "after start"),  # the second volume's
    ],
)
def test_siemens_time_after_start_only_for_xa_series(
    tmp_path, dcm2niix, software, after_start, volumes, expected
):
    nk = SHAPE[2]
    _siemens_series(tmp_path / "s", software, volumes, after_start)
    ref = _ref(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _mine(tmp_path / "s", tmp_path / "v.nii")
    assert ("SliceTiming" in mine) == (expected is not None) == ("SliceTiming" in ref)
    if expected == "after start":
        assert mine["SliceTiming"] == pytest.approx([0.3 * (nk - 1 - k) for k in range(nk)])
    if expected is not None:
        assert mine["SliceTiming"] == pytest.approx(ref["SliceTiming"], abs=5e-3)


@pytest.mark.parametrize(("modality", "sequence"), [("CT", "SE"), ("PT", "GR"), ("CT", None)])
def test_pulse_sequence_type_any_modality_as_dcm2niix(tmp_path, dcm2niix, modality, sequence):
    extra = {"Manufacturer": "SIEMENS"}
    if sequence is not None:
        extra["ScanningSequence"] = sequence
    write_dicom_series(tmp_path / "s", shape=SHAPE, modality=modality, extra=extra)
    ref = _ref(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _mine(tmp_path / "s", tmp_path / "v.nii")
    assert mine.get("PulseSequenceType") == ref.get("PulseSequenceType")
    expected = {"SE": "Spin Echo", "GR": "Gradient Echo", None: None}[sequence]
    assert mine.get("PulseSequenceType") == expected


@pytest.mark.parametrize(("train", "epi"), [(0, 35), (53, 35), (None, 35)])
def test_philips_enhanced_epi_factor_where_groups_state_no_train(tmp_path, dcm2niix, train, epi):
    """An enhanced file's EchoTrainLength (MR Timing and Related Parameters) of 0 is no train:
    the EPI factor (2001,1013) is, as dcm2niix takes it (and as for a classic file)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from lazyvol.testing import write_enhanced_dicom

    (tmp_path / "s").mkdir()
    truth = write_enhanced_dicom(tmp_path / "s" / "e.dcm", SHAPE, n_volumes=2)
    (path,) = truth.files
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "Philips Medical Systems"
    ds.ImagingFrequency = "127.8"
    ds.ScanningSequence, ds.SequenceVariant, ds.MRAcquisitionType = "EP", "SK", "2D"
    block = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    block.add_new(0x22, "FL", 12.3)
    block.add_new(0x13, "SL", epi)
    timing, fov = Dataset(), Dataset()
    if train is not None:
        timing.EchoTrainLength = train
    fov.InPlanePhaseEncodingDirection = "COL"
    shared = ds.SharedFunctionalGroupsSequence[0]
    shared.MRTimingAndRelatedParametersSequence = Sequence([timing])
    shared.MRFOVGeometrySequence = Sequence([fov])
    ds.save_as(path)
    ref = _ref(dcm2niix, tmp_path / "s", tmp_path / "out")
    mine = _mine(tmp_path / "s", tmp_path / "v.nii")
    keys = (*_READOUT_KEYS, "EchoTrainLength")
    assert {k: mine.get(k) for k in keys} == {k: ref.get(k) for k in keys}
    n = train or epi
    assert mine["EchoTrainLength"] == n
    readout = 12.3 / (127.8 * 3.4 * (n + 1)) * n
    assert mine["EstimatedTotalReadoutTime"] == pytest.approx(readout, rel=1e-5)


def _siemens_series(folder, software: str, volumes: int, after_start) -> None:
    """A Siemens 2-D EPI series of ``volumes`` volumes with AcquisitionTime; where ``after_start``,
    each image's TimeAfterStart (0021,1104) descending over the slices, 0.3 s apart, volumes 2 s
    apart ("first corrupted": the first volume's first slice 3 s late)."""
    nk = SHAPE[2]
    truth = write_dicom_4d_series(
        folder,
        SHAPE,
        n_volumes=volumes,
        labels=("AcquisitionTime", "AcquisitionNumber"),
        modality="MR",
        extra={
            "Manufacturer": "SIEMENS",
            "SoftwareVersions": software,
            "ScanningSequence": "EP",
            "MRAcquisitionType": "2D",
            "AcquisitionDate": "20240101",
        },
    )
    for path in truth.files:
        ds = pydicom.dcmread(path)
        k, t = (int(ds.InstanceNumber) - 1) % nk, int(ds.AcquisitionNumber) - 1
        if after_start:
            late = 3.0 if (after_start == "first corrupted" and t == 0 and k == 0) else 0.0
            block = ds.private_block(0x0021, "SIEMENS MR SDI 02", create=True)
            block.add_new(0x04, "DS", f"{5 + 2.0 * t + 0.3 * (nk - 1 - k) + late:.4f}")
        ds.save_as(path)


def _xa_enhanced(src, volumes, software, times, unstated=None):
    """A Siemens XA enhanced time series of SHAPE (TR 1.8 s) in folder ``src`` whose frames state
    TimeAfterStart (0021,1104) in (0021,11FE): slice k of volume t at 1.8 t + times[k] s, but
    for frame ``unstated``, which states none."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from lazyvol.testing import write_enhanced_dicom

    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", SHAPE, n_volumes=volumes)
    ds = pydicom.dcmread(src / "e.dcm")
    ds.Manufacturer, ds.SoftwareVersions = "SIEMENS", software
    ds.MRAcquisitionType, ds.RepetitionTime = "2D", 1800.0
    for n, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        if n == unstated:
            continue
        t, k = divmod(n, SHAPE[2])
        item = Dataset()
        item.add_new(0x00210011, "LO", "SIEMENS MR SDI 02")
        item.add_new(0x00211104, "DS", f"{1.8 * t + times[k]:.4f}")
        group.add_new(0x00210011, "LO", "SIEMENS MR SDI 02")
        group.add_new(0x002111FE, "SQ", DicomSequence([item]))
    ds.save_as(src / "e.dcm")
    return src


@pytest.mark.parametrize(
    ("software", "volumes"), [("syngo MR XA30", 3), ("syngo MR XA60", 1), ("XA30", 2)]
)
def test_siemens_enhanced_slice_timing_from_frames_time_after_start(
    tmp_path, dcm2niix, software, volumes
):
    """A Siemens XA enhanced time series states each frame's TimeAfterStart (0021,1104) in its
    functional groups' private sequence (0021,11FE) ("SIEMENS MR SDI 02"): dcm2niix writes
    SliceTiming from the first volume's, whatever the software version and the volume count;
    lazyvol read it at the top level of classic files only and wrote none."""
    order = [0, 2, 4, 1, 3, 5]  # (interleaved, 0.3 s apart)
    src = _xa_enhanced(tmp_path / "in", volumes, software, [0.3 * o for o in order])
    ref = _ref(dcm2niix, src, tmp_path / "out")
    mine = _mine(src, tmp_path / "v.nii")
    assert mine["SliceTiming"] == pytest.approx([0.3 * o for o in order], abs=1e-6)
    assert mine["SliceTiming"] == pytest.approx(ref["SliceTiming"], abs=5e-3)


def test_an_enhanced_frame_without_time_after_start_takes_no_other_frames_time(tmp_path):
    """A frame of a Siemens XA enhanced time series that states no TimeAfterStart (0021,1104)
    took another frame's (the file's values hold the first frame's, and each frame was completed
    with another frame's values): slice 3 of 0, 0.6, 1.2, 0.3, 0.9, 1.5 s was written at 0 s, and
    MultibandAccelerationFactor 2 derived from two slices 'at once'. The first volume's times
    are incomplete: no SliceTiming (dcm2niix writes the times shifted by one frame)."""
    times = [0, 0.6, 1.2, 0.3, 0.9, 1.5]
    src = _xa_enhanced(tmp_path / "in", 2, "syngo MR XA30", times, unstated=3)
    mine = _mine(src, tmp_path / "v.nii")
    assert "SliceTiming" not in mine and "MultibandAccelerationFactor" not in mine


@pytest.mark.parametrize("lacking", ["first", "last", "second volume"])
def test_a_value_some_enhanced_frames_state_is_written_as_dcm2niix(tmp_path, dcm2niix, lacking):
    """An enhanced file whose per-frame MR Timing / Modifier groups are on some frames only:
    8f159fd's frames, no longer completed with the file's frame of the most values, left
    RepetitionTime, FlipAngle, InversionTime (and EchoTrainLength where the first frame lacks
    it) out of the sidecar, silently; dcm2niix writes the values the file states."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from lazyvol.testing import write_enhanced_dicom

    path = tmp_path / "in" / "e.dcm"
    path.parent.mkdir()
    write_enhanced_dicom(path, (16, 16, 4), n_volumes=2)
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "Philips"
    per = ds.PerFrameFunctionalGroupsSequence
    skip = {"first": {0}, "last": {len(per) - 1}, "second volume": set(range(4, len(per)))}
    for n, item in enumerate(per):
        if n in skip[lacking]:
            continue
        timing = Dataset()
        timing.RepetitionTime, timing.FlipAngle, timing.EchoTrainLength = 2000, 15, 4
        item.MRTimingAndRelatedParametersSequence = DicomSequence([timing])
        modifier = Dataset()
        modifier.InversionTimes = [900]
        item.MRModifierSequence = DicomSequence([modifier])
    ds.save_as(path)
    ref = _ref(dcm2niix, path.parent, tmp_path / "out")
    mine = _mine(path.parent, tmp_path / "v.nii")
    for key in ("RepetitionTime", "FlipAngle", "InversionTime", "EchoTrainLength"):
        assert key in ref
        assert mine.get(key) == pytest.approx(ref[key]), key
