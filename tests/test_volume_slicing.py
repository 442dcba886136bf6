"""Volume slicing and the direct (no-graph) reads against numpy and nibabel."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv


@pytest.fixture
def nifti(tmp_path):
    """A small float32 NIfTI of known values: (path, values)."""
    values = np.arange(4 * 5 * 6, dtype="float32").reshape(4, 5, 6)
    path = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(values, np.eye(4)), path)
    return str(path), values


def test_assignment_into_data_is_seen_by_compute_and_writers(nifti, tmp_path):
    """``vol.data[...] = x`` (dask's in-place assignment) changes what every path reads: the
    direct read, a cut, ``np.asarray`` and ``to_nifti`` used to read the file's values again."""
    path, values = nifti
    vol = lv.open(path)
    vol.data[0, 0, 0] = -7.0
    want = values.copy()
    want[0, 0, 0] = -7.0
    np.testing.assert_array_equal(vol.data.compute(), want)
    np.testing.assert_array_equal(vol.compute(), want)
    np.testing.assert_array_equal(np.asarray(vol), want)
    np.testing.assert_array_equal(vol[0:2, 0:2, 0:1].compute(), want[0:2, 0:2, 0:1])
    out = tmp_path / "out.nii"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol.to_nifti(out)
    np.testing.assert_array_equal(nib.load(out).get_fdata(), want)
