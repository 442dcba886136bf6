"""Slices of a series partly rewritten to whole millimetres taken for repeats of one position.

A series whose positions are written to full precision in some files and coarsely in others (an
anonymiser, a re-export: ``slice_grid.mixed_writer_quantum``) had repeats of one position
allowed to differ along the normal by sqrt(3) x that rounding: 1.7 mm for whole millimetres,
so slices 1.5 mm (1.6 mm) apart became 'positions repeat' (or 4th-axis volumes by
InstanceNumber), refused for a reason the headers do not give. A fine and a coarse copy of one
position differ by up to half the rounding in each coordinate: along the normal by half of it
times the normal's components (0.5 mm here). The slices stay slices, and the stack is refused
for what it is: spacing its rounding cannot be told from (naming the first coarse file).

Reference: the positions written into the synthetic series.
"""

from __future__ import annotations

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


@pytest.mark.parametrize("step", [1.5, 1.6])
def test_slices_are_not_repeats_of_a_rounded_position(tmp_path, step):
    z = 10.1234567 + step * np.arange(8)
    pos = np.c_[np.full(8, -12.1234567), np.full(8, -20.7654321), z]
    pos[4:] = np.round(pos[4:])  # (the last four rewritten to whole millimetres)
    truth = write_dicom_series(tmp_path / "s", (4, 4, 8), modality="MR", positions=pos)
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s", use_index=False)
    text = str(exc.value)
    assert "positions repeat" not in text and "4th-axis" not in text
    assert text.startswith("irregular slice spacing") and truth.files[4] in text
