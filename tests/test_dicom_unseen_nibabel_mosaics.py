"""nibabel's Siemens mosaic test files ``0.dcm`` and ``1.dcm`` (nibabel/nicom/tests/data): lazyvol
refuses them, and is right to.

Each is a 256x256 image said to hold 48 slices (NumberOfImagesInMosaic), a 7x7 grid, which does
not divide 256: the files were resized from a scanner's mosaic (nibabel ships them for their
headers; its own ``get_data`` fails to reshape them). dcm2niix (v1.0.20260724) converts them
without a warning, cutting every tile row after the first across the tiles' borders (it starts
tile row ``r`` at ``r * 256 * 256 / 7`` pixels); and it stacks the two files as two volumes of
one series although ``1.dcm`` lies 3 mm further along the slice normal than ``0.dcm`` (its
output takes ``0.dcm``'s geometry for both). lazyvol refuses each file naming the grid, rather
than return made-up tiles (read with the tiles cut at ``Rows // 7``, the pair is still refused:
mosaic files of one series that do not hold the same slice positions, test_dicom_unseen_mosaic_moved,
where dcm2niix returns a volume moved 3 mm).

Reference: pydicom's reading of the files (Rows, Columns, ImagePositionPatient).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv

pytestmark = pytest.mark.usefixtures("dicom_cache")

DATA = Path(nib.__file__).parent / "nicom" / "tests" / "data"


def _copy(tmp_path: Path, *names: str) -> Path:
    if not all((DATA / n).is_file() for n in names):
        pytest.skip(f"nibabel's test DICOM files {names} not found under {DATA}")
    out = tmp_path / "in"
    out.mkdir()
    for n in names:
        shutil.copy(DATA / n, out / n)
    return out


@pytest.mark.parametrize("name", ["0.dcm", "1.dcm"])
def test_a_resized_mosaic_is_refused_naming_its_grid(tmp_path, name):
    src = _copy(tmp_path, name)
    ds = pydicom.dcmread(src / name, stop_before_pixels=True)
    assert (ds.Rows, ds.Columns) == (256, 256) and 256 % 7  # (the premise, read by pydicom)
    with pytest.raises(lv.FormatError) as e:
        lv.open(src / name)
    text = str(e.value)
    assert name in text and "NumberOfImagesInMosaic = 48" in text, text
    assert "7x7 tiles" in text and "256x256 mosaic" in text, text


def test_the_pair_at_two_positions_is_not_stacked(tmp_path):
    src = _copy(tmp_path, "0.dcm", "1.dcm")
    first, second = (pydicom.dcmread(src / n, stop_before_pixels=True) for n in ("0.dcm", "1.dcm"))
    moved = np.subtract(second.ImagePositionPatient, first.ImagePositionPatient)
    assert np.linalg.norm(moved) > 1  # (the premise: 1.dcm lies 3 mm from 0.dcm)
    with pytest.raises(lv.LazyvolError) as e:
        lv.open(src)
    assert "0.dcm" in str(e.value)
