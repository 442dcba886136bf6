"""A stack whose second half moved in-plane, positions written in whole millimetres there.

Slices at x = 0 mm (three) then x = 3 mm (three), 2.5 mm apart along the normal: the x values,
all integral, show a 1 mm rounding, and the slices were compared with the line through the first
and last within sqrt(3) x 1 mm as a distance: 1.2 mm off passed, and the stack opened as one
sheared volume (13.5 degrees) that places four slices up to 1.2 mm from their
ImagePositionPatient (dcm2niix writes it unsheared, and an equalized 7-slice copy). Rounding moves
each coordinate by up to its step, not 1.7 mm in one coordinate: compared per coordinate, the
slice is refused naming its file.

Reference: the positions written into the synthetic series.
"""

from __future__ import annotations

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def test_a_half_moved_in_plane_is_not_rounding(tmp_path):
    pos = np.array([[0, 0, z] for z in (0, 2.5, 5)] + [[3, 0, z] for z in (7.5, 10, 12.5)], float)
    write_dicom_series(tmp_path / "s", (8, 8, 6), modality="MR", positions=pos)
    with pytest.raises(lv.SeriesError, match=r"IM00003\.dcm .* is 1\.2 mm off the line"):
        lv.open(tmp_path / "s", use_index=False)


def test_positions_rounded_to_whole_millimetres_still_open(tmp_path):
    """An oblique stack written to whole millimetres: every coordinate within its rounding."""
    normal = np.array([0.0, 0.3, 1.0]) / np.linalg.norm([0.0, 0.3, 1.0])
    pos = np.round(np.outer(np.arange(8) * 3.1, normal) + np.array([10.2, -20.7, 5.4]))
    write_dicom_series(tmp_path / "s", (8, 8, 8), modality="MR", positions=pos)
    vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 8, 8)
