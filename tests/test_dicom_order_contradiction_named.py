"""A 4D series ordered by AcquisitionNumber that both AcquisitionTime and InstanceNumber order
otherwise: the warning named InstanceNumber alone, so a reader checking the times believed them
to agree with the order used. It names both now (the order is kept; dcm2niix keeps the
InstanceNumber order, which the warning says).

Reference: the synthetic series' acquisition order (:func:`lazyvol.testing.write_dicom_4d_series`).
"""

from __future__ import annotations

import warnings

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def test_acquisition_number_against_time_and_instance_number_names_both(tmp_path):
    truth = write_dicom_4d_series(
        tmp_path / "s", (8, 8, 3), 3, labels=("AcquisitionTime", "AcquisitionNumber")
    )
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.AcquisitionNumber = 4 - int(ds.AcquisitionNumber)  # (reversed: 3, 2, 1)
        ds.save_as(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = lv.open(tmp_path / "s", use_index=False)
    (text,) = [str(w.message) for w in caught if "volumes ordered by" in str(w.message)]
    assert "ordered by AcquisitionNumber (0020,0012)" in text
    assert "InstanceNumber (0020,0013) orders them otherwise" in text
    assert "AcquisitionTime (0008,0032) ranks them otherwise" in text
    assert vol.shape == (8, 8, 3, 3)
