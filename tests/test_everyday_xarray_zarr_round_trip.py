"""The xarray round trip a newcomer makes: ``xr.open_dataset(p, engine="lazyvol")``, then
``ds.to_zarr(store)``, then reopening the store with the same engine. The store is xarray's, not a
lazyvol store, and was refused with "open it with zarr directly"; the refusal now says how to
reopen it (``xarray.open_zarr``) and get its affine, which this test checks does give the data and
the affine back."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import xarray as xr
import zarr

import lazyvol as lv
from lazyvol.testing import write_phantom_nifti
from lazyvol.xarray import affine_of


def test_reopening_an_xarray_store_of_the_engine_says_how(tmp_path):
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [-10.0, 20.0, -5.0]
    src = write_phantom_nifti(tmp_path / "p.nii.gz", (8, 7, 6), affine=affine)
    store = tmp_path / "ds.zarr"
    xr.open_dataset(src, engine="lazyvol").to_zarr(store, consolidated=False)
    for opener in (
        lambda: lv.open(store),
        lambda: xr.open_dataset(store, engine="lazyvol"),
    ):
        with pytest.raises(lv.FormatError) as exc:
            opener()
        message = str(exc.value)
        assert "a dataset xarray wrote (Dataset.to_zarr) from lazyvol's xarray engine" in message
        assert "xarray.open_zarr(store)" in message and "affine_of(ds.image)" in message
    # what it says works: the data and the affine, against nibabel
    back = xr.open_zarr(store, consolidated=False)
    img = nib.load(src)
    np.testing.assert_array_equal(back.image.values, np.asanyarray(img.dataobj))
    np.testing.assert_array_equal(affine_of(back.image), img.affine)


def test_another_zarr_group_names_xarray_too(tmp_path):
    zarr.open_group(tmp_path / "plain.zarr", mode="w").create_array("a", shape=(2,), dtype="u1")
    with pytest.raises(lv.FormatError) as exc:
        lv.open(tmp_path / "plain.zarr")
    message = str(exc.value)
    assert "open it with zarr directly (or xarray.open_zarr, for a dataset xarray wrote)" in message
    assert "lazyvol's xarray engine" not in message
