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
