"""Numbers in an enhanced file's functional groups (parsed by pydicom, which converts DS / IS
with Python's ``float`` / ``int``) written with a digit separator ('1_0': 10 to Python, 1 to
dcm2niix's ``atof``, no number in DICOM's grammar) are refused naming the attribute, never read
as Python reads them (a RescaleSlope '1_0' scaled frame 1 by 10 without a word)."""

from __future__ import annotations

import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.header import read_header
from lazyvol.errors import LazyvolError
from lazyvol.testing import write_enhanced_dicom

CASES = [
    # (functional group sequence, attribute, item index in the value, written text)
    ("PixelValueTransformationSequence", "RescaleSlope", None, "1_0"),
    ("PixelValueTransformationSequence", "RescaleIntercept", None, "-1_024"),
    ("PlanePositionSequence", "ImagePositionPatient", 2, "3_0"),
    ("PixelMeasuresSequence", "PixelSpacing", 0, "0_7"),
]


def _groups_with(ds: pydicom.Dataset, sequence: str) -> pydicom.Dataset:
    """The item of frame 1's functional groups holding ``sequence`` (per-frame, else shared)."""
    frame = ds.PerFrameFunctionalGroupsSequence[1]
    if sequence in frame:
        return frame[sequence][0]
    return ds.SharedFunctionalGroupsSequence[0][sequence][0]


@pytest.mark.parametrize(("sequence", "keyword", "at", "text"), CASES)
def test_a_digit_separator_in_a_functional_group_number_is_refused(
    tmp_path, sequence, keyword, at, text
):
    truth = write_enhanced_dicom(tmp_path / "e" / "e.dcm", (8, 8, 4), slope=[1.0] * 4)
    ds = pydicom.dcmread(truth.files[0])
    item = _groups_with(ds, sequence)
    elem = item[keyword]
    if at is None:
        elem._value = text
    else:  # (one value of a multi-valued DS: the whole text rewritten)
        values = [str(v) for v in elem.value]
        values[at] = text
        elem._value = "\\".join(values)
    ds.save_as(truth.files[0])
    with open(truth.files[0], "rb") as f:
        assert text.encode() in f.read()  # (written as such: the case is what it says)
    with pytest.raises(LazyvolError) as err:
        lv.open(tmp_path / "e").data.compute()
    assert keyword in str(err.value)


def test_a_slice_thickness_with_a_digit_separator_is_noted_not_read_as_python_reads_it(tmp_path):
    """SliceThickness (not used where positions place the slices) '2_5' is no thickness of 25 mm:
    the frame states none, and its record says why."""
    truth = write_enhanced_dicom(tmp_path / "e.dcm", (8, 8, 4))
    ds = pydicom.dcmread(truth.files[0])
    _groups_with(ds, "PixelMeasuresSequence")["SliceThickness"]._value = "2_5"
    ds.save_as(truth.files[0])
    frames = read_header(truth.files[0])
    assert isinstance(frames, list)
    assert frames[1].slice_thickness is None
    assert any("SliceThickness" in n and "2_5" in n for n in frames[1].bad_attributes or [])


def test_an_nm_detector_position_with_a_digit_separator_is_refused(tmp_path):
    """An NM reconstruction's first-slice position lies in DetectorInformationSequence (parsed by
    pydicom): '3_0' there is no z of 30 mm (it opened placed 60 mm off), the file is refused
    naming it."""
    from lazyvol.testing import write_nm_tomo

    truth = write_nm_tomo(tmp_path / "nm" / "nm.dcm", (8, 6, 5))
    ds = pydicom.dcmread(truth.files[0])
    item = ds.DetectorInformationSequence[0]
    x, y, _ = (str(v) for v in item.ImagePositionPatient)
    item["ImagePositionPatient"]._value = f"{x}\\{y}\\3_0"
    ds.save_as(truth.files[0])
    with pytest.raises(LazyvolError, match=r"ImagePositionPatient in DetectorInformationSequence"):
        lv.open(tmp_path / "nm")


def test_a_uih_grid_tile_position_with_a_digit_separator_is_refused(tmp_path):
    """A UIH GRID tile's position lies in the private MR VFrame Sequence (0065,1051) (parsed by
    pydicom): '1_0' there is refused naming the item, never read as 10."""
    from lazyvol.testing import write_uih_grid_series

    write_uih_grid_series(tmp_path / "g", (8, 6, 4))
    path = sorted((tmp_path / "g").iterdir())[0]
    ds = pydicom.dcmread(path)
    tile = ds[0x0065, 0x1051].value[1]
    x, y, _ = (str(v) for v in tile.ImagePositionPatient)
    tile["ImagePositionPatient"]._value = f"{x}\\{y}\\1_0"
    ds.save_as(path)
    with pytest.raises(LazyvolError, match=r"item 2 of MR VFrame Sequence .* ImagePositionPatient"):
        lv.open(tmp_path / "g")
