"""``lazyvol.testing.dicom_time``: the TM strings the synthetic series state, checked by pydicom."""

from __future__ import annotations

import datetime

import pytest
from pydicom.valuerep import TM

from lazyvol.testing import dicom_time


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        (0.0, datetime.time(0, 0, 0)),
        (36000.5, datetime.time(10, 0, 0, 500000)),
        (3599.9999996, datetime.time(1, 0, 0)),  # rounds up into the next minute, not "60.000000"
        (86399.25, datetime.time(23, 59, 59, 250000)),
        (86400.0 + 61.125, datetime.time(0, 1, 1, 125000)),  # past midnight: the next day's clock
        (-1.0, datetime.time(23, 59, 59)),
    ],
)
def test_dicom_time_is_the_clock_time_pydicom_reads(seconds, want):
    text = dicom_time(seconds)
    assert len(text) == 13 and text[6] == "."
    assert TM(text) == want
