"""A slice whose ImagePositionPatient is damaged far off its stack, on the stack's grid.

z = 1e5 mm after eight slices 2.5 mm apart lies on their grid (40,000 steps on), so the stack
was refused as slices missing with the advice to pass allow_gaps=True, which then opened a
volume of 40,001 slices, 40,000 of them filled. Fewer than half of the grid's slots holding a
slice (the rule the spacing's own grid follows) is no gap but, likelier, a damaged position:
the refusal names the slice beyond the largest step and does not advise filling; allow_gaps
fills no grid of more than 100 times the slices held (a list of that many slots before a slice
is read: 1e9 mm would be 4e8).

Reference: the positions written into the synthetic series.
"""

from __future__ import annotations

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


@pytest.mark.parametrize(("far", "named"), [(1e5, 8), (-1e5, 0), (2e5, 8)])
def test_a_far_off_slice_is_named_not_filled_up_to(tmp_path, far, named):
    z = sorted([2.5 * k for k in range(8)] + [far])
    truth = write_dicom_series(
        tmp_path / "s", (4, 4, 9), modality="MR", positions=np.array([[0, 0, v] for v in z])
    )
    for kw in ({}, {"allow_gaps": True}):
        with pytest.raises(lv.SeriesError, match="damaged in") as exc:
            lv.open(tmp_path / "s", use_index=False, **kw)
        text = str(exc.value)
        assert f"damaged in {truth.files[named]} (1 slice(s)" in text
        assert "allow_gaps=True" not in text


def test_a_grid_less_than_half_full_is_not_advised_filled_but_fills_when_asked(tmp_path):
    """Six slices 2 mm apart then one 40 mm on (26 slots for 7 slices): named as likely
    damaged; allow_gaps=True still fills it."""
    z = [2.0 * k for k in range(6)] + [50.0]
    truth = write_dicom_series(
        tmp_path / "s", (4, 4, 7), modality="MR", positions=np.array([[0, 0, v] for v in z])
    )
    with pytest.raises(lv.SeriesError, match="damaged in") as exc:
        lv.open(tmp_path / "s", use_index=False)
    assert truth.files[6] in str(exc.value) and "missing. Pass allow_gaps" not in str(exc.value)
    vol = lv.open(tmp_path / "s", use_index=False, allow_gaps=True)
    assert vol.shape == (4, 4, 26) and vol.meta["filled_slices"] == list(range(6, 25))


@pytest.mark.parametrize(("step", "far"), [(0.5, 2e5), (2.5, 1e9)])
def test_a_far_off_slice_does_not_make_slices_one_position(tmp_path, step, far):
    """Positions within 1e-5 of their extent were one position (a repeat): a damaged slice
    1e9 mm off made every other slice one position (8 images 'x8'), 2e5 mm off merged slices
    0.5 mm apart into 'positions repeat' naming healthy files. The extent that tolerance scales
    with is at most 10 m (0.1 mm): the slices stay slices and the far one is named."""
    z = [step * k for k in range(8)] + [far]
    truth = write_dicom_series(
        tmp_path / "s", (4, 4, 9), modality="MR", positions=np.array([[0, 0, v] for v in z])
    )
    with pytest.raises(lv.SeriesError, match="irregular slice spacing") as exc:
        lv.open(tmp_path / "s", use_index=False)
    assert f"damaged in {truth.files[8]} (1 slice(s)" in str(exc.value)
