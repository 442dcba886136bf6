"""Slices missing from a stack on a regular grid: the grid's step is found whatever share of the
steps span gaps (the median of the steps is not the step when half of them or more do, nor a step
at all for an even number of steps), so the missing slices are reported as missing and filled
with ``allow_gaps=True``; truly uneven spacing is still refused, quoting steps that occur. Checked
against synthetic truth and dcm2niix's equalised conversion."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import slice_grid
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


@pytest.mark.parametrize(
    "kept",
    [
        [0, 1, 2, 3, 5, 7, 9],  # six steps, three across gaps: the median was 7.5 mm
        [0, 1, 3],  # two steps: the median was their mean
        [0, 3, 4, 5, 9, 11],
        [0, 1, 2, 3, 6, 8, 10],  # the median (1.5) is no step; the base step is the commonest
    ],
)
def test_a_grid_with_missing_slices_has_its_own_step(kept):
    """Positions on an exact 5 mm grid (plus a little float noise): the spacing is 5 mm and the
    slots are the grid indices the positions were made from."""
    rng = np.random.default_rng(len(kept))
    p = -17.6875 + 5.0 * np.array(kept, dtype=float) + rng.uniform(-4e-5, 4e-5, len(kept))
    spacing, bad = slice_grid.regular_grid_errors(p)
    assert spacing == pytest.approx(5.0, abs=1e-4)
    steps = np.diff(kept)
    assert [i for i, _ in bad] == [i for i, n in enumerate(steps) if n > 1]
    slots = slice_grid.grid_slots(p, spacing, slice_grid.spacing_tolerance(spacing))
    assert slots is not None and slots.tolist() == [k - kept[0] for k in kept]


@pytest.mark.parametrize(
    "steps",
    [
        [2.0, 2.0, 3.0, 3.0],
        [2.0, 2.0, 2.0, 2.3, 2.0, 2.0],
        [5.0, 7.0, 5.0, 7.0, 5.0, 7.0],
        # an extra slice half-way between two of a 5 mm stack: not a 2.5 mm grid, 9 missing
        [5.0, 5.0, 2.5, 2.5, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
        # a 10 mm stack and one slice 5 mm past its end (or a 5 mm grid missing 3 of 8: the
        # small step is the rare one, so it is not taken for the grid's)
        [10.0, 10.0, 10.0, 5.0],
    ],
)
def test_uneven_spacing_is_still_refused_quoting_a_step_that_occurs(steps):
    """No step of which every step is a whole multiple: refused, against a spacing that is one of
    the steps (the median of 2, 2, 3, 3 is 2.5 mm, which occurs nowhere)."""
    p = np.concatenate([[0.0], np.cumsum(steps)])
    spacing, bad = slice_grid.regular_grid_errors(p)
    assert bad
    assert any(spacing == pytest.approx(s) for s in steps)
    assert all(abs(steps[i] - spacing) > 1e-3 for i, _ in bad)
    assert slice_grid.grid_slots(p, spacing, slice_grid.spacing_tolerance(spacing)) is None


def test_missing_slices_of_a_5mm_grid_are_filled_not_refused_as_uneven(tmp_path, dcm2niix):
    """Slices 4, 6 and 8 of ten on a 5 mm grid lost: refused as uneven ("expected 7.5 mm ...
    never averages spacing") even with allow_gaps=True. Now refused as three missing slices, and
    filled at their grid places with allow_gaps=True: the affine and the kept slices are the
    full series' (synthetic truth), and the grid and kept slices are dcm2niix's equalised volume's
    (its ``_Eq``; dcm2niix interpolates the missing slices where lazyvol fills them)."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 10), spacing=(0.8, 0.7, 5.0))
    missing = [4, 6, 8]
    for k in missing:
        os.remove(truth.files[k])
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "expected 5 mm" in msg and "found 10 mm" in msg and "3 slice(s) missing" in msg
    assert "7.5" not in msg and "never averages" not in msg
    vol = lv.open(tmp_path / "s", allow_gaps=True)
    assert vol.shape == (8, 6, 10)
    assert vol.meta["filled_slices"] == missing
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    got = vol.compute()
    kept = [k for k in range(10) if k not in missing]
    np.testing.assert_array_equal(got[..., kept], truth.stored[..., kept])
    assert (got[..., missing] == 0).all()
    files = dcm2niix(tmp_path / "s", tmp_path / "out")
    (eq,) = [f for f in files if "_Eq" in f.name]
    img = nib.load(eq)
    ornt = nib.orientations
    to_ours = ornt.ornt_transform(ornt.io_orientation(img.affine), ornt.io_orientation(vol.affine))
    theirs = ornt.apply_orientation(np.asarray(img.dataobj), to_ours)
    their_affine = img.affine @ ornt.inv_ornt_aff(to_ours, img.shape)
    np.testing.assert_allclose(their_affine, vol.affine, atol=1e-3)
    assert theirs.shape == got.shape
    np.testing.assert_array_equal(theirs[..., kept], got[..., kept])


def test_a_near_duplicate_slice_does_not_make_a_fine_grid_of_missing_slices():
    """A slice 0.01 mm from another in a 2 mm stack lies on a 0.01 mm grid with hundreds of empty
    slots: uneven spacing, not hundreds of slices missing (allow_gaps would fill them all)."""
    p = np.array([0.0, 0.01, 2.01, 4.01, 6.01])
    spacing, bad = slice_grid.regular_grid_errors(p)
    assert bad
    assert spacing == pytest.approx(2.0)
