"""A vendor's private b-value written as text that is no number, beside a gradient direction.

A Siemens DWI whose private b-value (0019,100C) is 'abc' or '1_000' (which Python reads 1000)
beside its direction (0019,100E): the b-value was taken for unstated, as text at a private tag
another creator may own is, and the series opened as a plain 4D in AcquisitionTime order with no
diffusion table, without a word (dcm2niix's atoi reads 0: b = 0 images with directions). With a
direction stated the element is the b-value: the image is refused as malformed, naming it.

References: the synthetic DWI's b-values and directions; dcm2niix's .bval (measured: 0 0 0).
"""

from __future__ import annotations

import pytest

import lazyvol as lv
from test_dicom_digit_separator_numbers import _siemens_dwi

pytestmark = [
    pytest.mark.usefixtures("dicom_cache"),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]


@pytest.mark.parametrize("text", ["abc", "1_000"])
def test_a_private_b_value_no_number_beside_a_direction_is_malformed(tmp_path, text):
    with pytest.raises(lv.LazyvolError, match=rf"\(0019,100C\)='{text}' is no number beside"):
        lv.open(_siemens_dwi(tmp_path, text), use_index=False)


def test_a_b_value_no_number_without_a_direction_is_still_tolerated(tmp_path):
    """Text at (0019,100C) of an image stating no direction (another creator's element, a
    b = 0 image): no value, as before; the series opens."""
    import pydicom

    folder = _siemens_dwi(tmp_path, "abc")
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        del ds[0x0019100E]
        ds.save_as(f)
    vol = lv.open(folder, use_index=False)
    assert vol.shape == (8, 8, 3, 3)
