"""An NM reconstruction's SliceVector (0054,0080) written as text (VR IS, as an export may write
it) that is not whole numbers in DICOM's grammar.

'0_2' (Python's int: 2) placed the first frame at slice 2 and the second at slice 1: frames
silently reordered; '1.5' and even '1.0' skipped the file as "unreadable functional groups
(ValueError: invalid literal for int() ...)". '0_2' and '1.5' now skip it with a reason naming
SliceVector; '1.0' is 1.

Reference: the synthetic reconstruction (:func:`lazyvol.testing.write_nm_tomo`).
"""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataelem import DataElement

import lazyvol as lv
from lazyvol.testing import write_nm_tomo

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _nm(tmp_path, values):
    write_nm_tomo(tmp_path / "nm.dcm", (8, 8, 4))
    ds = pydicom.dcmread(tmp_path / "nm.dcm")
    ds.add(DataElement(0x00540080, "IS", "\\".join(values)))
    ds.save_as(tmp_path / "nm.dcm")
    return tmp_path


@pytest.mark.parametrize("first", ["0_2", "1.5"])
def test_slice_vector_text_no_whole_number_is_refused(tmp_path, first):
    folder = _nm(tmp_path, [first, "1", "3", "4"])
    with pytest.raises(lv.LazyvolError, match=r"SliceVector \(0054,0080\) = .* whole numbers"):
        lv.open(folder, use_index=False)


def test_slice_vector_text_of_whole_numbers_opens(tmp_path):
    truth_folder = _nm(tmp_path, ["1.0", "2", "3", "4"])
    assert lv.open(truth_folder, use_index=False).shape == (8, 8, 4)
