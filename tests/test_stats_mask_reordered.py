"""A mask written by another tool for the same voxels in another axis order or direction (dcm2niix
flips a DICOM series' row axis; FSL and ANTs reorient) applies exactly, reindexed, where it was
refused as "not on the grid" with advice to resample (an interpolation, wrong for a mask)."""

from __future__ import annotations

import itertools
import os

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.geometry import axis_reorder
from lazyvol.testing import write_dicom_series

AFFINE = np.array([[0.8, 0, 0, -10.0], [0, 0.7, 0.1, -20.0], [0, -0.05, 2.5, 30.0], [0, 0, 0, 1.0]])


def _reoriented(data, affine, perm, flips):
    """``data`` and ``affine`` with axes flipped then permuted: the same voxels in world space."""
    out, aff = data, affine.copy()
    for ax, flip in enumerate(flips):
        if flip:
            f = np.eye(4)
            f[ax, ax], f[ax, 3] = -1.0, out.shape[ax] - 1
            out, aff = np.flip(out, ax), aff @ f
    return out.transpose(perm), aff @ np.eye(4)[:, [*perm, 3]]


@pytest.mark.parametrize(
    ("perm", "flips"),
    [(p, f) for p in itertools.permutations(range(3)) for f in itertools.product((0, 1), repeat=3)],
)
def test_a_reoriented_mask_selects_the_same_voxels(tmp_path, perm, flips):
    rng = np.random.default_rng(7)
    data = rng.normal(size=(7, 6, 5)).astype(np.float32)
    mask = rng.random((7, 6, 5)) < 0.4
    vol = lv.Volume(data, AFFINE)
    mdata, maff = _reoriented(mask.astype(np.uint8), AFFINE, perm, flips)
    got = lv.stats(vol, mask=lv.Volume(mdata, maff), bins=None, percentiles=[])
    assert got.count == int(mask.sum())
    np.testing.assert_allclose(got.mean, float(data[mask].astype(np.float64).mean()), rtol=1e-6)
    np.testing.assert_allclose(got.max, float(data[mask].max()))


def test_a_half_voxel_shift_or_another_size_is_still_refused():
    data = np.zeros((7, 6, 5), np.float32)
    mdata, maff = _reoriented(np.ones((7, 6, 5), np.uint8), AFFINE, (0, 1, 2), (1, 0, 0))
    shifted = maff.copy()
    shifted[:3, 3] += 0.5 * maff[:3, 0]
    with pytest.raises(lv.GridMismatchError):
        lv.stats(lv.Volume(data, AFFINE), mask=lv.Volume(mdata, shifted))
    with pytest.raises(lv.GridMismatchError):
        lv.stats(lv.Volume(data, AFFINE), mask=lv.Volume(mdata[:-1], maff))
    assert axis_reorder(data.shape, AFFINE, data.shape, AFFINE) is None  # (nothing to do)


def test_a_mask_made_from_dcm2niix_output_applies_to_the_dicom_series(
    tmp_path, dcm2niix, dicom_cache
):
    folder = tmp_path / "ct"
    write_dicom_series(str(folder), (12, 10, 6), orientation="oblique")
    (converted,) = dcm2niix(folder, tmp_path / "nii")
    ref = nib.load(os.fspath(converted))
    values = ref.get_fdata()
    chosen = values > np.median(values)
    mask_path = tmp_path / "mask.nii"
    nib.save(nib.Nifti1Image(chosen.astype(np.uint8), ref.affine), mask_path)
    vol = lv.open(str(folder))
    assert not np.allclose(vol.affine, ref.affine)  # (dcm2niix flips the row axis)
    got = lv.stats(vol, mask=lv.open(str(mask_path)), bins=None, percentiles=[])
    assert got.count == int(chosen.sum())
    np.testing.assert_allclose(got.mean, values[chosen].mean(), rtol=1e-9)
