"""A cache entry of a NIfTI whose scaling float32 cannot resolve, made under the float32 rule of
lazyvol before 2aff79e (its values merged: 1e9 for every value), is not served now that the
scaling reads in float64: an entry whose dtype is not the source's is rebuilt (cache.py)."""

from __future__ import annotations

import nibabel as nib
import numpy as np

import lazyvol as lv
import lazyvol.nifti


def test_a_float32_entry_of_a_float64_scaling_is_not_served(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    img = nib.Nifti1Image(np.arange(256, dtype="u1").reshape(4, 8, 8), np.eye(4))
    img.header.set_slope_inter(0.001, 1e9)
    nib.save(img, tmp_path / "a.nii")
    ref = nib.load(tmp_path / "a.nii").get_fdata()
    with monkeypatch.context() as m:  # (the float32 rule an older lazyvol made its entry with)
        m.setattr(lazyvol.nifti, "scaled_dtype", lambda stored, pairs: np.dtype(np.float32))
        old = lv.open(tmp_path / "a.nii", cache=True)
        assert old.dtype == np.float32 and len(np.unique(old.compute())) < 256
    vol = lv.open(tmp_path / "a.nii", cache=True)
    got = np.asarray(vol.compute())
    assert vol.dtype == np.float64 and len(np.unique(got)) == 256
    np.testing.assert_array_equal(got, ref)
    again = lv.open(tmp_path / "a.nii", cache=True)  # (the float64 entry, served)
    np.testing.assert_array_equal(np.asarray(again.compute()), ref)
