"""A coordinate written as whole numbers beside coordinates showing decimals.

``slice_grid.position_quantum`` read a column of integral values (x = 0, 0, 0, 1, 1, 1) as a
rounding to whole millimetres even when the same writer showed a decimal in another coordinate
(z = 2.5, 13.4): a writer keeps one precision for all three coordinates, so those x values are
whole numbers to a tenth. The 1 mm taken as the positions' rounding let a slice 0.9 mm off its
2.5 mm grid pass as rounding (the stack opened at a fitted 2.68 mm spacing, slices up to 0.72 mm
from their ImagePositionPatient, without a word; dcm2niix: 'Interslice distance varies'), and
slices 1 mm apart in x pass as one unsheared stack placing three slices 1 mm from their stated
position.

Reference: the positions written into the synthetic series (and dcm2niix's warning).
"""

from __future__ import annotations

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.slice_grid import position_quantum
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _pos(x, z):
    return np.array([[a, 0.0, b] for a, b in zip(x, z, strict=True)], float)


@pytest.mark.parametrize(
    ("pos", "q"),
    [
        (_pos([0, 0, 0, 1, 1, 1], [0, 2.5, 5, 7.5, 10, 13.4]), 0.1),
        (_pos([0, 0, 0, 3, 3, 3], [0, 2.5, 5, 7.5, 10, 12.5]), 0.1),
        (np.array([[0, -20.25, z] for z in (0, 2, 5, 7, 10, 13)], float), 1.0),  # (chance: no)
        (_pos([0, 0, 0, 3, 3, 3], [0, 2, 5, 7, 10, 13]), 1.0),  # (no decimal anywhere)
    ],
)
def test_an_integral_column_is_as_fine_as_the_writer_shows(pos, q):
    assert position_quantum(pos) == pytest.approx(q)


def test_a_slice_off_its_grid_is_not_taken_for_whole_millimetre_rounding(tmp_path):
    pos = _pos([0, 0, 0, 1, 1, 1], [0, 2.5, 5, 7.5, 10, 13.4])
    write_dicom_series(tmp_path / "s", (4, 4, 6), modality="MR", positions=pos)
    with pytest.raises(lv.SeriesError, match=r"irregular slice spacing.*IM00005\.dcm"):
        lv.open(tmp_path / "s", use_index=False)


def test_slices_moved_a_millimetre_in_plane_are_not_one_stack(tmp_path):
    pos = _pos([0, 0, 0, 1, 1, 1], [0, 2.5, 5, 7.5, 10, 12.5])
    write_dicom_series(tmp_path / "s", (4, 4, 6), modality="MR", positions=pos)
    with pytest.raises(lv.SeriesError, match=r"IM0000[23]\.dcm .* off the line"):
        lv.open(tmp_path / "s", use_index=False)


def test_a_stack_rounded_to_one_decimal_with_an_integral_column_opens(tmp_path):
    """x stepping by whole tenths that happen to be integral (0, 1, 2 ...: a 1 mm in-plane step
    per slice, a gantry tilt) beside z with decimals: one sheared stack, as written."""
    pos = _pos(np.arange(6.0), 30.25 + 2.5 * np.arange(6))
    write_dicom_series(tmp_path / "s", (4, 4, 6), modality="CT", positions=pos)
    vol = lv.open(tmp_path / "s", use_index=False)
    k = np.c_[np.zeros((6, 2)), np.arange(6), np.ones(6)]
    placed = (vol.affine @ k.T).T[:, :3] * [-1, -1, 1]
    np.testing.assert_allclose(placed, pos, atol=1e-6)
