"""``xr.open_mfdataset`` over several NIfTI files with the lazyvol engine (docs/xarray.md):
stacked along a new dimension with ``combine="nested"``, the values are nibabel's; with
``join="exact"`` files on other grids are refused rather than aligned by their ``x`` index into
a NaN-padded union (xarray's default ``join="outer"`` did that)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

xr = pytest.importorskip("xarray")


def _runs(tmp_path, shifts):
    paths = []
    for n, shift in enumerate(shifts):
        data = np.random.default_rng(n).integers(-500, 500, (6, 5, 4)).astype(np.int16)
        affine = np.diag([2.0, 2.0, 3.0, 1.0])
        affine[0, 3] = shift
        path = str(tmp_path / f"run{n}.nii")
        nib.save(nib.Nifti1Image(data, affine), path)
        paths.append(path)
    return paths


def test_nested_stack_equals_nibabel(tmp_path):
    paths = _runs(tmp_path, [0.0, 0.0, 0.0])
    stack = xr.open_mfdataset(
        paths, engine="lazyvol", combine="nested", concat_dim="run", join="exact"
    )
    assert stack.image.dims == ("run", "i", "j", "k")
    expected = np.stack([np.asarray(nib.load(p).dataobj) for p in paths])
    got = stack.image.values
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, expected)


def test_files_on_other_grids_are_refused_with_join_exact(tmp_path):
    paths = _runs(tmp_path, [0.0, 5.0])
    with pytest.raises(ValueError, match="join='exact'"):
        xr.open_mfdataset(paths, engine="lazyvol", combine="nested", concat_dim="run", join="exact")
