"""The refusals of a series with one odd file name that file.

A slice whose ImagePositionPatient was damaged (written far from the others) left a gap the
refusal named by its two neighbours, and a second irregular step it only counted ("2 irregular
steps in all"): the damaged file was named nowhere. A slice of other Rows was split off as
"6x8 (1 file)" without its name. Both name the file now.

Reference: the synthetic series (:func:`lazyvol.testing.write_dicom_series`) and the file changed.
"""

from __future__ import annotations

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _series(tmp_path, change):
    write_dicom_series(tmp_path / "s", (8, 8, 6))
    odd = sorted((tmp_path / "s").iterdir())[3]
    ds = pydicom.dcmread(odd)
    change(ds)
    ds.save_as(odd)
    return odd


def test_a_damaged_middle_position_names_its_file(tmp_path):
    def far(ds):
        ds.ImagePositionPatient = [*list(ds.ImagePositionPatient)[:2], 500.0]

    odd = _series(tmp_path, far)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing") as info:
        lv.open(tmp_path / "s", use_index=False)
    assert str(odd) in str(info.value)
    assert "2 irregular steps in all; also" in str(info.value)


def test_a_single_file_of_other_rows_is_named(tmp_path):
    def rows(ds):
        ds.PixelData = ds.pixel_array[:6].tobytes()
        ds.Rows = 6

    odd = _series(tmp_path, rows)
    with pytest.raises(lv.MultipleSeriesError) as info:
        lv.open(tmp_path / "s", use_index=False)
    assert f"6x8 (1 file: {odd})" in str(info.value)
    assert "8x8 (5 files)" in str(info.value)
