"""The Siemens XA sidecar keys of files without a CSA header (PATModeText (0021,1009),
RealDwellTime (0021,1142), the active coil elements (0021,114F), CoilString) and the keys of the
standard enhanced attributes (MTState, PartialFourierDirection, AcquisitionDuration, ...) of
every vendor, compared with the installed dcm2niix key by key on synthetic classic (one file per
slice) and enhanced files, and with the attributes as pydicom reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom
from test_dicom_mosaic import sidecar_pair

SDS, SDI = "SIEMENS MR SDS 01", "SIEMENS MR SDI 02"
KEYS = (
    "MultibandAccelerationFactor",
    "ParallelReductionFactorInPlane",
    "DwellTime",
    "ReceiveCoilActiveElements",
    "CoilString",
    "PartialFourier",
    "DerivedVendorReportedEchoSpacing",
    "MTState",
    "PartialFourierDirection",
    "AcquisitionDuration",
    "ParallelAcquisitionTechnique",
    "PhaseEncodingSteps",
    "FrequencyEncodingSteps",
    "TotalReadoutTime",
    "Manufacturer",
)
#: The standard enhanced attributes: (functional group sequence, keyword, value).
ENHANCED = (
    ("MRImagingModifierSequence", "MagnetizationTransfer", "OFF_RESONANCE"),
    ("MRModifierSequence", "PartialFourierDirection", "PHASE"),
    ("MRModifierSequence", "ParallelAcquisitionTechnique", "GRAPPA"),
    ("MRReceiveCoilSequence", "ReceiveCoilName", "HeadNeck_64"),
    ("MRTimingAndRelatedParametersSequence", "EchoTrainLength", 56),
    ("MRFOVGeometrySequence", "MRAcquisitionFrequencyEncodingSteps", 60),
    ("MRFOVGeometrySequence", "MRAcquisitionPhaseEncodingStepsInPlane", 64),
)


def _blocks(ds: Dataset, sds: dict, sdi: dict, block: int = 0x10) -> None:
    """XA's private blocks: "SIEMENS MR SDS 01" at ``block`` (0x10 where XA writes it), "SIEMENS
    MR SDI 02" after it; elements by their low byte: (VR, value)."""
    for creator, at, elements in ((SDS, block, sds), (SDI, block + 1, sdi)):
        if elements:
            ds.add_new((0x0021, at), "LO", creator)
            for low, (vr, value) in elements.items():
                ds.add_new((0x0021, at << 8 | low), vr, value)


def _classic(out: Path, sds: dict, sdi: dict, top: dict, block: int = 0x10) -> Path:
    """An XA classic series, one file per slice (slices acquired one after another)."""
    times = [{"AcquisitionTime": f"1200{k:02d}.000000"} for k in range(4)]
    truth = write_dicom_series(out, (16, 16, 4), modality="MR", per_slice=times)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.Manufacturer, ds.SoftwareVersions = "SIEMENS", "syngo MR XA30"
        ds.InPlanePhaseEncodingDirection = "COL"
        for key, value in top.items():
            if isinstance(key, tuple):
                ds.add_new(key, *value)
            else:
                setattr(ds, key, value)
        _blocks(ds, sds, sdi, block)
        ds.save_as(path)
    return out


def _enhanced(out: Path, sds: dict, sdi: dict, manufacturer: str = "SIEMENS") -> Path:
    """An enhanced MR file: the standard attributes in its shared functional group, XA's blocks
    in the group's private sequences (0021,10FE) / (0021,11FE), AcquisitionDuration on top."""
    path = Path(write_enhanced_dicom(out / "e.dcm", (16, 16, 4), modality="MR").files[0])
    ds = pydicom.dcmread(path)
    ds.Manufacturer = manufacturer
    ds.SoftwareVersions = "syngo MR XA30" if manufacturer == "SIEMENS" else "5.1"
    ds.MRAcquisitionType, ds.AcquisitionDuration = "2D", 27.890123
    shared = ds.SharedFunctionalGroupsSequence[0]
    for seq, keyword, value in (
        *ENHANCED,
        ("MRFOVGeometrySequence", "InPlanePhaseEncodingDirection", "COL"),
    ):
        if seq not in shared:
            setattr(shared, seq, Sequence([Dataset()]))
        setattr(shared[seq].value[0], keyword, value)
    for creator, low, elements in ((SDS, 0x10, sds), (SDI, 0x11, sdi)):
        if elements:
            item = Dataset()
            _blocks(item, *((elements, {}) if creator == SDS else ({}, elements)), 0x10)
            shared.add_new((0x0021, low), "LO", creator)
            shared.add_new((0x0021, low << 8 | 0xFE), "SQ", Sequence([item]))
    ds.save_as(path, enforce_file_format=True)
    return out


_TOP = {
    "ReceiveCoilName": "HeadNeck_64",
    "EchoTrainLength": 48,
    "AcquisitionMatrix": [0, 64, 64, 0],
    "MRAcquisitionType": "2D",
    "ScanningSequence": "EP",
    (0x0019, 0x0010): ("LO", "SIEMENS MR HEADER"),
    (0x0019, 0x1028): ("FD", 28.935),
}


@pytest.mark.parametrize(
    "pat", ["p2", "s3", "p2s3", "p2 s3", "p2.5s2", "P2S3", "p1"], ids=lambda p: p.replace(" ", "_")
)
@pytest.mark.parametrize("block", [0x10, 0x12], ids=["usual-block", "block-moved-by-pacs"])
def test_xa_classic_private_keys_match_dcm2niix(tmp_path, pat, block):
    """XA classic files without a protocol: the accelerations of PATModeText (0021,1009) (read as
    dcm2niix reads it: a factor only where the text after its letter is that one number),
    DwellTime (0021,1142), ReceiveCoilActiveElements (0021,114F), CoilString (0018,1250) and the
    PartialFourier dcm2niix estimates from the echo train equal dcm2niix's (lazyvol wrote none)."""
    sds = {0x09: ("LO", pat)}
    sdi = {0x42: ("IS", "2600"), 0x4F: ("LO", "HC1-7;NC1")}
    mine, ref = sidecar_pair(_classic(tmp_path / "in", sds, sdi, _TOP, block), tmp_path, KEYS)
    assert ref.keys() >= {"DwellTime", "ReceiveCoilActiveElements", "CoilString"}
    assert mine == ref


@pytest.mark.parametrize("pat", ["p2", "p2 s3", "s4"], ids=["p2", "p2_s3", "s4"])
def test_pat_mode_text_0051_matches_dcm2niix(tmp_path, pat):
    """PATModeText (0051,1011), read after (0021,1009), wins; both read as dcm2niix reads them
    (lazyvol took 2 from ``p2 s3`` as the in-plane factor, dcm2niix none)."""
    top = {**_TOP, (0x0051, 0x0010): ("LO", "SIEMENS MR HEADER"), (0x0051, 0x1011): ("LO", pat)}
    mine, ref = sidecar_pair(
        _classic(tmp_path / "in", {0x09: ("LO", "p3s2")}, {}, top), tmp_path, KEYS
    )
    assert mine == ref


@pytest.mark.parametrize("coil", ["HeadNeck_64", "HC1-7;NC1"], ids=["differs", "same"])
def test_xa_coil_string_beside_active_elements_matches_dcm2niix(tmp_path, coil):
    """CoilString is written only where the coil name differs from the active elements."""
    top = {**_TOP, "ReceiveCoilName": coil}
    sdi = {0x4F: ("LO", "HC1-7;NC1")}
    mine, ref = sidecar_pair(_classic(tmp_path / "in", {}, sdi, top), tmp_path, KEYS)
    assert ("CoilString" in ref) == (coil == "HeadNeck_64")
    assert mine == ref


def test_xa_enhanced_keys_match_dcm2niix(tmp_path):
    """An enhanced XA file: the standard attributes of its functional groups (MTState,
    PartialFourierDirection, ParallelAcquisitionTechnique, Frequency/PhaseEncodingSteps,
    CoilString), AcquisitionDuration, and XA's private values in the groups' private sequences
    (PATModeText in (0021,10FE), RealDwellTime and the coil elements in (0021,11FE)) equal
    dcm2niix's, PartialFourier estimated from (0018,9231)."""
    sdi = {0x42: ("IS", "3400"), 0x4F: ("LO", "HC1-6")}
    mine, ref = sidecar_pair(_enhanced(tmp_path / "in", {0x09: ("LO", "s3")}, sdi), tmp_path, KEYS)
    assert ref.keys() >= {"MTState", "AcquisitionDuration", "DwellTime", "PartialFourier"}
    assert mine == ref


@pytest.mark.parametrize("vendor", ["Philips", "GE MEDICAL SYSTEMS", "Canon", "UIH"])
def test_enhanced_standard_keys_of_every_vendor_match_dcm2niix(tmp_path, vendor):
    """The standard enhanced attributes give the same keys for every vendor (UIH: the duration as
    TotalReadoutTime), as dcm2niix."""
    mine, ref = sidecar_pair(_enhanced(tmp_path / "in", {}, {}, vendor), tmp_path, KEYS)
    assert ref.keys() >= {"MTState", "PartialFourierDirection", "FrequencyEncodingSteps"}
    assert mine == ref


def test_enhanced_values_agree_with_pydicom(tmp_path):
    """Independent of dcm2niix: the values as pydicom reads the attributes."""
    sdi = {0x42: ("IS", "3400"), 0x4F: ("LO", "HC1-6")}
    src = _enhanced(tmp_path / "in", {0x09: ("LO", "s3")}, sdi)
    ds = pydicom.dcmread(next(src.glob("*.dcm")))
    shared = ds.SharedFunctionalGroupsSequence[0]
    private = shared[0x0021, 0x11FE].value[0]
    bids = lv.open(src).meta["bids"]
    assert bids["AcquisitionDuration"] == pytest.approx(float(ds.AcquisitionDuration), rel=1e-6)
    mt = shared.MRImagingModifierSequence[0].MagnetizationTransfer
    assert bids["MTState"] is (mt == "OFF_RESONANCE")
    assert bids["PartialFourierDirection"] == shared.MRModifierSequence[0].PartialFourierDirection
    assert bids["DwellTime"] == pytest.approx(int(private[0x0021, 0x1142].value) * 1e-9)
    assert bids["ReceiveCoilActiveElements"] == private[0x0021, 0x114F].value
    assert bids["CoilString"] == shared.MRReceiveCoilSequence[0].ReceiveCoilName
    assert bids["MultibandAccelerationFactor"] == 3
    steps = shared.MRFOVGeometrySequence[0].MRAcquisitionPhaseEncodingStepsInPlane
    assert bids["PartialFourier"] == pytest.approx(56 / steps)


@pytest.mark.parametrize(
    ("sds", "sdi", "top", "absent"),
    [
        ({}, {0x42: ("DS", "1e400")}, {}, "DwellTime"),  # (an untyped OverflowError at open)
        ({0x09: ("LO", "p-2")}, {}, {}, "ParallelReductionFactorInPlane"),  # (read as 2)
        ({}, {}, {(0x0051, 0x100F): ("LO", "")}, ""),  # (an empty coil text hid the coil name)
    ],
    ids=["dwell-inf", "pat-negative", "coil-text-empty"],
)
def test_junk_private_values_as_dcm2niix(tmp_path, sds, sdi, top, absent):
    """Junk in values the sidecar alone uses (h56): never an error, no value where dcm2niix's
    reading gives none, and the same keys as dcm2niix otherwise."""
    top = {**_TOP, (0x0051, 0x0010): ("LO", "SIEMENS MR HEADER"), **top}
    mine, ref = sidecar_pair(_classic(tmp_path / "in", sds, sdi, top), tmp_path, KEYS)
    if absent:
        assert absent not in mine
    mine.pop("DwellTime", None), ref.pop("DwellTime", None)  # (dcm2niix: 1e-09 from inf)
    assert mine == ref


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_acquisition_duration_is_not_written(tmp_path, value):
    """An AcquisitionDuration (0018,9073) of NaN or infinity was written as NaN / Infinity: the
    sidecar was no valid JSON (h56); dcm2niix writes none."""
    src = _enhanced(tmp_path / "in", {}, {}, "Philips")
    path = src / "e.dcm"
    ds = pydicom.dcmread(path)
    ds.AcquisitionDuration = value
    ds.save_as(path, enforce_file_format=True)
    lv.open(src).to_nifti(tmp_path / "lz.nii")
    text = (tmp_path / "lz.json").read_text()

    def refuse(name: str) -> None:
        raise ValueError(name)

    doc = json.loads(text, parse_constant=refuse)
    assert "AcquisitionDuration" not in doc


def test_no_partial_fourier_estimate_for_a_turbo_spin_echo(tmp_path):
    """Without a protocol dcm2niix estimates PartialFourier as EchoTrainLength / phase lines; for
    a turbo spin echo (15 echoes, 64 lines) that is no partial Fourier (h56): none, where an EPI
    with the same numbers gets dcm2niix's estimate."""
    for sequence in ("SE", "EP"):
        top = {**_TOP, "ScanningSequence": sequence, "EchoTrainLength": 15}
        mine, ref = sidecar_pair(
            _classic(tmp_path / sequence, {}, {}, top), tmp_path / f"o{sequence}", KEYS
        )
        assert ref["PartialFourier"] == pytest.approx(15 / 64, rel=1e-5)
        assert mine.get("PartialFourier") == (ref["PartialFourier"] if sequence == "EP" else None)


@pytest.mark.parametrize("positive", ["0", "1"])
def test_xa_enhanced_private_text_ends_at_its_first_nul(tmp_path, monkeypatch, positive):
    """XA's private text values in an enhanced file's groups end at their first NUL, as dcm2niix
    reads them and as lazyvol reads a classic file's (6d6e5ea): 'HC1-6<NUL>junk' was written
    whole as ReceiveCoilActiveElements, RealDwellTime '3400<NUL>junk' and a polarity
    '1<NUL>junk' were no value, PATModeText 'p2<NUL>s3' a multiband factor 3."""
    monkeypatch.setattr(pydicom.config.settings, "writing_validation_mode", 0)  # (NUL in text)
    sdi = {0x42: ("LO", "3400\x00junk"), 0x4F: ("LO", "HC1-6\x00junk")}
    sdi[0x1C] = ("LO", positive + "\x00junk")
    sds = {0x09: ("LO", "p2\x00s3")}
    mine, ref = sidecar_pair(_enhanced(tmp_path / "in", sds, sdi), tmp_path, KEYS)
    assert ref["ReceiveCoilActiveElements"] == "HC1-6" and ref["DwellTime"] == 3.4e-06
    assert mine == ref
    clean = {0x42: ("IS", "3400"), 0x4F: ("LO", "HC1-6"), 0x1C: ("IS", positive)}
    plain = lv.open(_enhanced(tmp_path / "clean", {0x09: ("LO", "p2")}, clean)).meta["bids"]
    ours = lv.open(tmp_path / "in").meta["bids"]
    assert ours["PhaseEncodingDirection"] == plain["PhaseEncodingDirection"]
