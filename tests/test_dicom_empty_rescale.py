"""An empty RescaleSlope / RescaleIntercept (present with no value) is malformed, not absent.

One file of a series (or one frame of an enhanced file) whose RescaleSlope was empty was read as
1 while the others applied 2, its own RescaleIntercept still applied: that image silently scaled
unlike the rest (pydicom's apply_modality_lut raises TypeError on it; dcm2niix reads 0 and writes
a constant image). It is refused naming the file and the attribute, as a RescaleSlope 'x.77' is.
"""

from __future__ import annotations

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom


@pytest.mark.parametrize(
    ("keyword", "tag"), [("RescaleSlope", "1053"), ("RescaleIntercept", "1052")]
)
def test_an_empty_rescale_in_one_file_of_a_series_is_refused(tmp_path, keyword, tag):
    truth = write_dicom_series(tmp_path / "s", (6, 6, 4), slope=2.0, intercept=-5.0)
    victim = sorted(truth.files)[2]
    ds = pydicom.dcmread(victim)
    setattr(ds, keyword, None)
    ds.save_as(victim)
    with pytest.raises(lv.FormatError, match=rf"IM00002\.dcm.*{keyword} \(0028,{tag}\) is empty"):
        lv.open(tmp_path / "s")


def _per_frame_only(path, keyword):
    ds = pydicom.dcmread(path)
    frames = ds.PerFrameFunctionalGroupsSequence
    assert "PixelValueTransformationSequence" in frames[2]
    setattr(frames[2].PixelValueTransformationSequence[0], keyword, None)
    ds.save_as(path)


@pytest.mark.parametrize("keyword", ["RescaleSlope", "RescaleIntercept"])
def test_an_empty_rescale_in_a_frame_of_an_enhanced_file_is_refused(tmp_path, keyword):
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (8, 8, 4), slope=[2.0, 2.0, 2.0, 2.0], intercept=-5.0)
    _per_frame_only(path, keyword)
    with pytest.raises(lv.FormatError, match=rf"e\.dcm.*{keyword} \(0028,105.\)=''"):
        lv.open(path)


def test_an_empty_frame_rescale_takes_the_shared_groups_value(tmp_path):
    # A frame's empty value with a value in the shared group: the shared one, as before.
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (8, 8, 4), slope=[2.0, 2.0, 2.0, 2.0], intercept=-5.0)
    expected = lv.open(path).compute()
    ds = pydicom.dcmread(path)
    shared = ds.SharedFunctionalGroupsSequence[0]
    shared.PixelValueTransformationSequence = pydicom.Sequence([pydicom.Dataset()])
    shared.PixelValueTransformationSequence[0].RescaleSlope = "2"
    ds.PerFrameFunctionalGroupsSequence[2].PixelValueTransformationSequence[0].RescaleSlope = None
    ds.save_as(path)
    assert (lv.open(path).compute() == expected).all()


@pytest.mark.parametrize(
    ("empty", "slope", "intercept"),
    [
        (("RescaleSlope", "RescaleIntercept"), 1.0, 0.0),  # dcm2niix, SimpleITK: 1 / 0
        (("RescaleIntercept",), 2.0, 0.0),  # dcm2niix, SimpleITK: 2 / 0
        (("RescaleSlope",), 1.0, -5.0),  # SimpleITK: 1 / -5
    ],
)
def test_a_rescale_empty_in_every_file_is_read_as_absent(tmp_path, empty, slope, intercept):
    # A zero-length element means what its absence does where the attribute is optional (PS3.5
    # 7.4.5; classic MR has no Modality LUT module): an MR series whose every file writes an
    # empty RescaleSlope / RescaleIntercept was refused as corrupt. Empty in every file, nothing
    # scales one image unlike another; it reads as absent.
    truth = write_dicom_series(tmp_path / "s", (6, 6, 4), modality="MR", slope=2.0, intercept=-5.0)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        for keyword in empty:
            setattr(ds, keyword, None)
        ds.save_as(path)
    got = lv.open(tmp_path / "s").compute()
    assert (got == truth.stored * slope + intercept).all()
