"""The lazyvol engine takes xarray's decoder keywords (as every xarray engine does) and refuses a
keyword lazyvol does not take with a typed error; ``lazyvol_cache`` is lazyvol's cache (xarray
keeps ``cache=`` for itself)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

xr = pytest.importorskip("xarray")

DECODERS = [
    {"decode_times": False},
    {"decode_timedelta": False},
    {"use_cftime": False},
    {"concat_characters": False},
    {"decode_coords": "all"},
    {"mask_and_scale": True},
]


@pytest.fixture
def scaled(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A NIfTI time series with scl_slope 2, scl_inter 1: its stored and scaled values (nibabel)."""
    stored = np.arange(4 * 3 * 2 * 3, dtype=np.int16).reshape(4, 3, 2, 3)
    img = nib.Nifti1Image(stored, np.diag([2.0, 2, 2, 1]))
    img.header.set_slope_inter(2.0, 1.0)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.0
    path = tmp_path / "run.nii"
    nib.save(img, path)
    back = nib.load(path)
    return path, np.asarray(back.dataobj.get_unscaled()), back.get_fdata()


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: next(iter(d)))
def test_decoders_are_accepted(scaled, decoder) -> None:
    path, _, values = scaled
    ds = xr.open_dataset(path, engine="lazyvol", **decoder)
    np.testing.assert_array_equal(ds.image.values, values)
    np.testing.assert_array_equal(ds.time.values, [0.0, 2.0, 4.0])  # seconds, as pixdim[4]


@pytest.mark.parametrize("kw", [{"mask_and_scale": False}, {"decode_cf": False}])
def test_undecoded_gives_the_stored_values(scaled, kw) -> None:
    path, stored, _ = scaled
    ds = xr.open_dataset(path, engine="lazyvol", **kw)
    assert ds.image.dtype == stored.dtype
    np.testing.assert_array_equal(ds.image.values, stored)


@pytest.mark.parametrize("kw", [{"mask_and_scale": False}, {"decode_cf": False}])
def test_undecoded_values_keep_their_scaling_for_a_writer(scaled, tmp_path, kw) -> None:
    """Stored values come with their scale_factor / add_offset, as other engines leave them: a
    dataset written to Zarr decodes to the true values again (without them, a store of stored
    values read back as if they were values: max 71 for 143)."""
    path, _, values = scaled
    ds = xr.open_dataset(path, engine="lazyvol", **kw)
    assert (ds.image.attrs["scale_factor"], ds.image.attrs["add_offset"]) == (2.0, 1.0)
    store = tmp_path / "back.zarr"
    ds.drop_vars([c for c in ds.coords if c not in ds.dims]).to_zarr(store, consolidated=False)
    back = xr.open_zarr(store, consolidated=False)
    np.testing.assert_allclose(back.image.values, values)
    # a store lazyvol wrote holds the true values: no scaling to undo, none to state (h85: the
    # source's scl_slope in its meta was stated, and applied twice after a round trip)
    ours = lv.open(path).to_zarr(tmp_path / "ours.zarr")
    ds = xr.open_dataset(ours, engine="lazyvol", **kw)
    assert "scale_factor" not in ds.image.attrs and "add_offset" not in ds.image.attrs
    np.testing.assert_allclose(ds.image.values, values)


def test_undecoded_dicom_values_of_slices_with_their_own_rescales_are_refused(tmp_path) -> None:
    """DICOM slices each with its own RescaleSlope have no one scale_factor: refused, naming
    scale=False; one rescale for all gives its pair."""
    per_slice = write_dicom_series(tmp_path / "p", (6, 5, 3), slope=[1.0, 2.0, 3.0], intercept=0.0)
    with pytest.raises(lv.OptionError, match="own RescaleSlope"):
        xr.open_dataset(Path(per_slice.files[0]).parent, engine="lazyvol", mask_and_scale=False)
    one = write_dicom_series(tmp_path / "o", (6, 5, 3), slope=2.0, intercept=-5.0)
    ds = xr.open_dataset(Path(one.files[0]).parent, engine="lazyvol", mask_and_scale=False)
    assert (ds.image.attrs["scale_factor"], ds.image.attrs["add_offset"]) == (2.0, -5.0)
    decoded = ds.image.values * 2.0 - 5.0
    np.testing.assert_allclose(decoded, lv.open(Path(one.files[0]).parent).compute())


def test_scaled_and_undecoded_conflict(scaled) -> None:
    with pytest.raises(lv.OptionError, match="mask_and_scale"):
        xr.open_dataset(scaled[0], engine="lazyvol", scale=True, mask_and_scale=False)


def test_unknown_keywords_are_typed_errors(scaled, tmp_path) -> None:
    dicom = tmp_path / "ct"
    write_dicom_series(dicom, (4, 3, 2))
    store = lv.open(scaled[0]).to_zarr(tmp_path / "s.zarr")
    for source in (scaled[0], dicom, store):
        with pytest.raises(lv.UnknownOptionError, match="bogus") as caught:
            xr.open_dataset(source, engine="lazyvol", bogus=1)
        assert isinstance(caught.value, TypeError)
        assert str(Path(source).name) in str(caught.value)


def test_lazyvol_cache_reaches_lazyvol(scaled, _isolated_cache) -> None:
    path, _, values = scaled
    xr.open_dataset(path, engine="lazyvol", cache=True).image.load()  # xarray's own caching
    assert not (_isolated_cache / "zarr").exists()
    ds = xr.open_dataset(path, engine="lazyvol", lazyvol_cache=True)
    np.testing.assert_array_equal(ds.image.values, values)
    assert any((_isolated_cache / "zarr").rglob("zarr.json"))
