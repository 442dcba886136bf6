"""Affines whose voxel sizes float64 holds but whose squares it does not (1e300 mm, 1e-170 mm).

Voxel sizes were column norms computed as ``sqrt(sum(x**2))``: a 1e300 mm axis came out inf (the
repr, ``info``, the OME ``scale`` written as JSON ``Infinity``), its orientation lost (the axis had
no direction in the OME axes), and numpy's overflow RuntimeWarnings escaped from to_zarr, repr and
to_xarray (an error under ``-W error``).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import lazyvol as lv
from lazyvol import geometry
from lazyvol.geometry import voxel_sizes

EXTREME = {
    "huge": (np.diag([1e300, 2.0, 3.0, 1.0]), (1e300, 2.0, 3.0)),
    "tiny": (np.diag([1e-170, 2.0, 3.0, 1.0]), (1e-170, 2.0, 3.0)),
    "mixed": (np.diag([1e160, 1e-160, 1.0, 1.0]), (1e160, 1e-160, 1.0)),
}


@pytest.mark.parametrize("name", sorted(EXTREME))
def test_voxel_sizes_are_the_column_lengths(name) -> None:
    affine, sizes = EXTREME[name]
    rot = np.eye(4)
    rot[:3, :3] = [[0.6, -0.8, 0], [0.8, 0.6, 0], [0, 0, 1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(voxel_sizes(affine), sizes, rtol=1e-15)
        np.testing.assert_allclose(voxel_sizes(rot @ affine), sizes, rtol=1e-15)
        assert "inf" not in repr(lv.Volume(np.zeros((2, 3, 4)), affine))


def test_column_lengths_keep_non_finite_columns() -> None:
    m = np.array([[np.inf, np.nan, 0.0], [1.0, 1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = geometry.column_lengths(m)
    assert got[0] == np.inf and np.isnan(got[1]) and got[2] == 0.0


@pytest.mark.parametrize("name", sorted(EXTREME))
def test_to_zarr_writes_the_voxel_sizes_and_orientations(tmp_path, name) -> None:
    affine, sizes = EXTREME[name]
    vol = lv.Volume(np.arange(24, dtype=np.int16).reshape(2, 3, 4), affine)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = vol.to_zarr(tmp_path / "v.zarr")
        vol.to_xarray()
    with open(f"{store}/zarr.json", encoding="utf-8") as f:
        ome = json.load(f)["attributes"]["ome"]["multiscales"][0]
    scale = ome["datasets"][0]["coordinateTransformations"][0]["scale"]
    np.testing.assert_allclose(scale, sizes[::-1], rtol=1e-15)
    values = [ax["orientation"]["value"] for ax in ome["axes"]]
    assert values == ["inferior-to-superior", "posterior-to-anterior", "left-to-right"]
    np.testing.assert_array_equal(lv.open(store).affine, affine)


def test_ordinary_voxel_sizes_are_nibabels_to_the_bit() -> None:
    """An oblique affine's voxel sizes are nibabel's ``voxel_sizes`` (``sqrt(sum(x**2))``) to the
    last bit: scaling every column by its largest entry first (needed only past 2**+-500) moved
    three in four oblique columns' lengths by one unit in the last place, so the OME scale,
    repr and info differed from nibabel's and from what they were before."""
    import nibabel as nib

    rng = np.random.default_rng(7)
    for _ in range(200):
        affine = np.eye(4)
        q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        affine[:3, :3] = q * rng.uniform(0.1, 5.0, 3)
        expected = nib.affines.voxel_sizes(affine)
        assert np.array_equal(geometry.column_lengths(affine[:3, :3]), expected)
        assert np.array_equal(np.asarray(voxel_sizes(affine), dtype=np.float64), expected)
