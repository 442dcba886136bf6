"""An enhanced file's frames are scaled by their own PixelValueTransformationSequence: a top-level
RescaleSlope / RescaleIntercept that is not a number (or not finite) is never read, so it is no
reason to refuse the file (it was refused as a malformed rescale). Where no frame states its own,
the top-level value is the one read and a damaged one is still refused."""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_enhanced_dicom

DAMAGED = [("nan", "0"), ("1", "inf"), ("-inf", "nan"), ("", "x")]


def _write(path, top_slope, top_inter, per_frame=True):
    truth = write_enhanced_dicom(path, shape=(8, 6, 3), slope=2.0, intercept=-3.0)
    ds = pydicom.dcmread(path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        if not per_frame:
            del item.PixelValueTransformationSequence
    # (written raw: pydicom refuses to set such values as DS)
    ds.add_new(0x00281053, "DS", None)
    ds.add_new(0x00281052, "DS", None)
    ds[0x00281053]._value = top_slope
    ds[0x00281052]._value = top_inter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path)
    return truth


@pytest.mark.parametrize(("top_slope", "top_inter"), DAMAGED)
def test_unused_damaged_top_level_rescale_is_not_a_refusal(tmp_path, top_slope, top_inter):
    path = tmp_path / "mf.dcm"
    truth = _write(path, top_slope, top_inter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(path).compute()
    want = truth.stored.astype(np.float64) * 2.0 - 3.0
    np.testing.assert_array_equal(np.asarray(got, dtype=np.float64), want)


@pytest.mark.parametrize(("top_slope", "top_inter"), DAMAGED[:3])
def test_a_damaged_top_level_rescale_the_frames_use_is_refused(tmp_path, top_slope, top_inter):
    path = tmp_path / "mf.dcm"
    _write(path, top_slope, top_inter, per_frame=False)
    with pytest.raises(lv.LazyvolError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(path).compute()
    assert "(0028,105" in str(info.value) and str(path) in str(info.value)
