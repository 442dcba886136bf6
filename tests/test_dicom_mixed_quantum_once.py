"""The stacking computed the positions' mixed-writer rounding (slice_grid.mixed_writer_quantum)
twice per series, over the same positions (once to bin repeats, once for the slice step); it is
computed once and passed to both. The volume is unchanged (pydicom's pixels, the 4D truth)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import lazyvol as lv
from lazyvol import slice_grid
from lazyvol.testing import write_dicom_4d_series, write_dicom_series


@pytest.mark.parametrize("four_d", [False, True])
def test_the_mixed_writer_rounding_is_computed_once_per_stacking(tmp_path, monkeypatch, four_d):
    if four_d:
        truth = write_dicom_4d_series(tmp_path / "s", (8, 6, 4), 3)
    else:
        truth = write_dicom_series(tmp_path / "s", (8, 6, 5))
    real = slice_grid.mixed_writer_quantum
    calls: list[str] = []

    def counted(positions):
        calls.append(sys._getframe(1).f_code.co_filename)
        return real(positions)

    monkeypatch.setattr(slice_grid, "mixed_writer_quantum", counted)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert sum(f.endswith("stacking.py") for f in calls) == 1
