"""A stack's slant judged as rounding within sqrt(3) x the rounding as a distance.

When the positions show a coarse rounding ``q``, a slant of the stack (its last slice's offset
from the first off the slice normal) within ``sqrt(3) q`` was taken for that rounding and the
step projected onto the normal. Rounding moves each coordinate of the two positions by up to
``q / 2``, so what it explains is an offset along the normal but for up to ``q`` in each
coordinate; 0.13 mm in x and 0.1 mm in z (0.16 mm as a distance) off a 0.1 mm rounding is no
rounding, and the projected step placed slices up to 0.146 mm (1.5 q) from their
ImagePositionPatient. Now judged per coordinate (``slice_grid.along_within_rounding``): the
stack keeps its stated step, every slice within the rounding of its position.

Reference: the positions written into the synthetic series.
"""

from __future__ import annotations

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.slice_grid import along_within_rounding
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

NORMAL = np.array([0.6, 0.0, 0.8])


def test_per_coordinate():
    assert along_within_rounding([6.0, 0.0, 8.0], NORMAL, 0.1)
    assert along_within_rounding([6.1, 0.1, 8.0], NORMAL, 0.1)  # (x, y: one step each)
    assert not along_within_rounding([6.2, 0.0, 8.0], NORMAL, 0.1)  # (0.16 mm off the line)
    assert not along_within_rounding([0.0, 0.2, 10.0], [0.0, 0.0, 1.0], 0.1)


def test_a_slant_past_the_rounding_is_kept(tmp_path):
    pos = np.array([[x, 0.0, z] for x, z in zip((0, 1.6, 3.1, 4.7, 6.2), (0, 2, 4, 6, 8))])
    write_dicom_series(
        tmp_path / "s", (4, 4, 5), modality="MR", positions=pos,
        orientation=[0, 1, 0, -0.8, 0, 0.6], spacing=(1, 1, 2.5),
    )  # fmt: skip
    vol = lv.open(tmp_path / "s", use_index=False)
    k = np.c_[np.zeros((5, 2)), np.arange(5), np.ones(5)]
    placed = (vol.affine @ k.T).T[:, :3] * [-1, -1, 1]
    assert np.abs(placed - pos).max() <= 0.05 + 1e-6  # (was 0.146 mm, slice 3)
