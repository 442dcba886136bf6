"""Number text in a Python-only form: a digit separator ('1_0'). DICOM's DS and IS grammar has no
such form (pydicom's validation refuses it), but Python's float() and int() read '1_0' as 10, so a
RescaleSlope of '1_0' scaled every value by 10 without a word (dcm2niix's atof reads it as 1).
Such a value is now malformed as any other text that is no number: refused naming the file, the
attribute, its tag and the value.
"""

from __future__ import annotations

import warnings

import pydicom
import pytest
from pydicom.config import RAISE
from pydicom.valuerep import validate_value

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

CASES = [
    ("RescaleSlope", "(0028,1053)", "1_0", "'1_0' is not a number"),
    ("RescaleIntercept", "(0028,1052)", "-1_024", "'-1_024' is not a number"),
    ("PixelSpacing", "(0028,0030)", ["0_5", "0.5"], "'0_5' is not a number"),
    ("ImagePositionPatient", "(0020,0032)", ["1_0", "0", "0"], "'1_0' is not a number"),
]


@pytest.mark.parametrize(("keyword", "tag", "value", "said"), CASES, ids=[c[0] for c in CASES])
def test_a_number_with_a_digit_separator_is_refused_naming_it(tmp_path, keyword, tag, value, said):
    for text in [value] if isinstance(value, str) else value[:1]:
        with pytest.raises(ValueError):  # no DICOM DS value, by pydicom's validation
            validate_value("DS", text, RAISE)
    truth = write_dicom_series(tmp_path / "s", (4, 3, 2))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds[keyword]._value = value
        ds.save_as(f)
    with pytest.raises(lv.LazyvolError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(tmp_path / "s")
    msg = str(info.value)
    assert any(f in msg for f in truth.files), msg
    assert f"{keyword} {tag}" in msg and said in msg, msg
