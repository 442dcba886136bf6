"""Numeric sidecar values as dcm2niix prints them (lazyvol.dicom.bids_numbers)."""

from __future__ import annotations

import json
import math

import pytest

import lazyvol as lv
from lazyvol.sidecar import sidecar_files
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

#: DICOM texts of more digits than a C float holds (Philips writes its float32 values with 15
#: digits), and what dcm2niix writes for them: their float32 value printed with %g.
_STATED = {
    "FlipAngle": ("7.12346549", 7.12347),  # (7.12346 from the 64-bit value)
    "PixelBandwidth": ("2604.16666667", 2604.17),
    "SliceThickness": ("2.20000004768371", 2.2),
    "MagneticFieldStrength": ("2.89362490179", 2.89363),  # (2.89362)
}
_COS, _SIN = math.cos(0.3), math.sin(0.3)  # (0.95533648912560: 0.955336 from 64 bits)
_ORIENTATION = [_COS, _SIN, 0.0, 0.0, 0.0, -1.0]


def _sidecar(vol: lv.Volume) -> dict:
    return json.loads(
        next(t for p, t in sidecar_files(vol, "/x/v.nii").items() if p.endswith(".json"))
    )


def _check(doc: dict, ref: dict | None) -> None:
    for key, (_, written) in _STATED.items():
        assert doc[key] == written, key
        if ref is not None:
            assert doc[key] == ref[key], key
    assert doc["ImageOrientationPatientDICOM"][:2] == [0.955337, 0.29552]
    if ref is not None:
        assert doc["ImageOrientationPatientDICOM"] == ref["ImageOrientationPatientDICOM"]


@pytest.mark.parametrize("enhanced", [False, True])
def test_c_float_values_print_as_dcm2niix_prints_them(tmp_path, dcm2niix, enhanced):
    """dcm2niix holds FlipAngle, PixelBandwidth, SliceThickness, MagneticFieldStrength and the
    orientation as C floats and prints them with %g: lazyvol wrote the stated 64-bit value
    (7.12346549, 2604.16666667, 2.20000004768371) or its %g (0.955336 where dcm2niix writes
    0.955337), classic and enhanced files alike."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    src = tmp_path / "s"
    if enhanced:
        truth = write_enhanced_dicom(src / "e.dcm", (6, 5, 3), orientation=_ORIENTATION)
    else:
        truth = write_dicom_series(src, (6, 5, 3), orientation=_ORIENTATION)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.Manufacturer = "Philips"
        ds.MagneticFieldStrength = _STATED["MagneticFieldStrength"][0]
        if enhanced:
            shared = ds.SharedFunctionalGroupsSequence[0]
            shared.PixelMeasuresSequence[0].SliceThickness = _STATED["SliceThickness"][0]
            timing, modifier = Dataset(), Dataset()
            timing.FlipAngle = float(_STATED["FlipAngle"][0])
            modifier.PixelBandwidth = float(_STATED["PixelBandwidth"][0])
            shared.MRTimingAndRelatedParametersSequence = DicomSequence([timing])
            shared.MRImagingModifierSequence = DicomSequence([modifier])
        else:
            for key in ("FlipAngle", "PixelBandwidth", "SliceThickness"):
                setattr(ds, key, _STATED[key][0])
        ds.save_as(path)
    vol = lv.open(src)
    log = dcm2niix.run(src, tmp_path / "ref", sidecar=True)
    refs = sorted((tmp_path / "ref").glob("*.json"))
    ref = json.loads(refs[0].read_text()) if refs else None
    assert ref is not None, log
    _check(_sidecar(vol), ref)


#: Values dcm2niix writes no key for (its json_Float: none at or below 0; ImagingFrequency none
#: from 9e6 up, UIH's Hz), and ImagingFrequency's double printed with %.10g.
_NOT_WRITTEN = {
    "zero": {
        "FlipAngle": "0",
        "PixelBandwidth": "0",
        "MagneticFieldStrength": "0",
        "SliceThickness": "0",
        "SpacingBetweenSlices": "0",
        "EchoTime": "0",
        "RepetitionTime": "0",
        "InversionTime": "0",
        "ImagingFrequency": "0",
    },
    "negative": {
        "FlipAngle": "-7.5",
        "PixelBandwidth": "-2604.17",
        "MagneticFieldStrength": "-3",
        "SliceThickness": "-2.2",
        "SpacingBetweenSlices": "-1.5",
        "EchoTime": "-30",
        "RepetitionTime": "-2000",
        "InversionTime": "-5",
        "ImagingFrequency": "-123.25",
    },
    "hertz": {"ImagingFrequency": "128176031"},
}


@pytest.mark.parametrize("case", sorted(_NOT_WRITTEN))
def test_values_at_or_below_zero_are_not_written(tmp_path, dcm2niix, case):
    """dcm2niix writes no FlipAngle, PixelBandwidth, MagneticFieldStrength, SliceThickness,
    SpacingBetweenSlices, EchoTime, RepetitionTime, InversionTime or ImagingFrequency of 0 or
    below (nor an ImagingFrequency stated in Hz): lazyvol wrote 0 and negative values."""
    import pydicom

    src = tmp_path / "s"
    truth = write_dicom_series(src, (6, 5, 3))
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.Modality = "MR"
        for key, text in _NOT_WRITTEN[case].items():
            setattr(ds, key, text)
        ds.save_as(path)
    doc = _sidecar(lv.open(src))
    assert not set(_NOT_WRITTEN[case]) & set(doc), doc
    log = dcm2niix.run(src, tmp_path / "ref", sidecar=True)
    ref = json.loads(next((tmp_path / "ref").glob("*.json")).read_text())
    assert not set(_NOT_WRITTEN[case]) & set(ref), log


def test_imaging_frequency_prints_as_dcm2niix_prints_its_double(tmp_path, dcm2niix):
    """dcm2niix prints ImagingFrequency (a double) with %.10g: lazyvol wrote the stated text's
    every digit (123.25678949999 where dcm2niix writes 123.2567895)."""
    import pydicom

    src = tmp_path / "s"
    for path in write_dicom_series(src, (6, 5, 3)).files:
        ds = pydicom.dcmread(path)
        ds.ImagingFrequency = "123.25678949999"
        ds.save_as(path)
    doc = _sidecar(lv.open(src))
    assert doc["ImagingFrequency"] == 123.2567895
    dcm2niix.run(src, tmp_path / "ref", sidecar=True)
    ref = json.loads(next((tmp_path / "ref").glob("*.json")).read_text())
    assert doc["ImagingFrequency"] == ref["ImagingFrequency"]


def test_one_echo_cut_from_a_volume_prints_its_echo_time_from_float32(tmp_path, dcm2niix):
    """EchoTime of one echo of a multi-echo volume (a volume each): dcm2niix prints its C float /
    1000 with %g (8.123455 ms: 0.00812346); lazyvol printed the 64-bit value (0.00812345)."""
    import pydicom

    from lazyvol.testing import write_dicom_4d_series

    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, (6, 5, 3), n_volumes=1, echoes=2, labels=("EchoTime",), numbering="volume"
    )
    stated = {"30": "8.123455", "45": "17.34565"}
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.EchoTime = stated[str(ds.EchoTime).split(".")[0]]
        ds.save_as(path)
    # (one volume per echo, as dcm2niix writes them, h201)
    got = [_sidecar(lv.open(src, series=info.id))["EchoTime"] for info in lv.scan(src)]
    assert got == [0.00812346, 0.0173456]
    dcm2niix.run(src, tmp_path / "ref", sidecar=True)
    refs = sorted((tmp_path / "ref").glob("*_e*.json"))
    assert [json.loads(r.read_text())["EchoTime"] for r in refs] == got


@pytest.mark.parametrize("enhanced", [False, True])
def test_orientation_in_the_sidecar_is_the_stated_one(tmp_path, dcm2niix, enhanced):
    """ImageOrientationPatientDICOM is the stated orientation (as dcm2niix writes it), not the
    orthonormal one lazyvol repairs rounded cosines to for its geometry: 0.999 / 0.045 (three
    decimals) was written 0.998987 / 0.0449994."""
    import pydicom

    iop = ["0.999", "0.045", "0", "-0.045", "0.999", "0"]
    src = tmp_path / "s"
    if enhanced:
        truth = write_enhanced_dicom(src / "e.dcm", (6, 5, 3))
    else:
        truth = write_dicom_series(src, (6, 5, 3))
    for path in truth.files:
        ds = pydicom.dcmread(path)
        if enhanced:
            groups = [ds.SharedFunctionalGroupsSequence[0], *ds.PerFrameFunctionalGroupsSequence]
            for item in groups:
                if "PlaneOrientationSequence" in item:
                    item.PlaneOrientationSequence[0].ImageOrientationPatient = iop
        else:
            ds.ImageOrientationPatient = iop
        ds.save_as(path)
    doc = _sidecar(lv.open(src))
    assert doc["ImageOrientationPatientDICOM"] == [0.999, 0.045, 0, -0.045, 0.999, 0]
    dcm2niix.run(src, tmp_path / "ref", sidecar=True)
    ref = json.loads(next((tmp_path / "ref").glob("*.json")).read_text())
    assert doc["ImageOrientationPatientDICOM"] == ref["ImageOrientationPatientDICOM"]
