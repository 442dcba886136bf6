"""Slicing affines against nibabel and against world-coordinate truth."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine

import lazyvol as lv
from lazyvol.geometry import canonical_index, orientation_codes, slice_affine, voxel_sizes

SHAPE = (10, 12, 9)


def _oblique_affine() -> np.ndarray:
    rot = nib.eulerangles.euler2mat(0.3, -0.2, 0.5)
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.9, 1.2, 2.5])
    aff[:3, 3] = [-40.0, 12.5, 77.0]
    return aff


POSITIVE = [
    (slice(None), slice(None), slice(None)),
    (slice(2, 8), slice(None), slice(3, 4)),
    (slice(1, None, 3), slice(0, 12, 2), slice(4, 9)),
    (Ellipsis, slice(5, 6)),
    (slice(0, 1), Ellipsis),
    (slice(3, 9, 2), slice(2, 11, 4), slice(0, 9, 8)),
]

NEGATIVE = [
    (slice(None, None, -1), slice(None), slice(None)),
    (slice(-3, None), slice(None, None, -2), slice(2, 7)),
    (slice(8, 1, -3), slice(-1, -6, -1), slice(None, None, -4)),
    (slice(-5, -1), Ellipsis),
]


@pytest.mark.parametrize("index", POSITIVE)
def test_slice_affine_equals_nibabel_slicer(index: tuple) -> None:
    aff = _oblique_affine()
    img = nib.Nifti1Image(np.zeros(SHAPE, dtype=np.float32), aff)
    vol = lv.Volume(np.zeros(SHAPE, dtype=np.float32), aff)
    expected = img.slicer[index].affine
    np.testing.assert_allclose(vol[index].affine, expected, rtol=0, atol=1e-12)
    assert vol[index].shape == img.slicer[index].shape


@pytest.mark.parametrize("index", POSITIVE + NEGATIVE)
def test_slice_affine_keeps_world_coordinates(index: tuple) -> None:
    """Every kept voxel sits where it sat before: the truth nibabel's slicer misses for
    negative starts/steps (nipy/nibabel#1533); for those we also compare with nibabel given the
    equivalent explicit non-negative start, where nibabel is right."""
    aff = _oblique_affine()
    full = np.arange(np.prod(SHAPE)).reshape(SHAPE)
    vol = lv.Volume(full, aff)
    sub = vol[index]
    canon = canonical_index(index, SHAPE)
    kept = full[canon]
    grid = np.indices(SHAPE).reshape(3, -1).T
    world_of = dict(zip(full.ravel().tolist(), apply_affine(aff, grid), strict=True))
    sub_grid = np.indices(kept.shape).reshape(3, -1).T
    sub_world = apply_affine(sub.affine, sub_grid)
    expected = np.array([world_of[v] for v in kept.ravel().tolist()])
    np.testing.assert_allclose(sub_world, expected, atol=1e-9)
    np.testing.assert_array_equal(sub.compute(), kept)
    explicit = tuple(slice(s.start, s.stop, s.step) for s in canon)
    img = nib.Nifti1Image(np.zeros(SHAPE, dtype=np.float32), aff)
    np.testing.assert_allclose(sub.affine, img.slicer[explicit].affine, atol=1e-12)


def test_4d_integer_index_drops_time_axis_and_slices_axis4_values() -> None:
    data = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    meta = {"axis4_values": {"echo_time": [1.0, 2.0, 3.0, 4.0, 5.0]}, "other": 7}
    vol = lv.Volume(data, np.eye(4), meta=meta)
    sub = vol[..., 1:4:2]
    assert sub.shape == (2, 3, 4, 2)
    assert sub.meta["axis4_values"]["echo_time"] == [2.0, 4.0]
    one = vol[:, :, :, 2]
    assert one.shape == (2, 3, 4)
    assert one.meta["axis4_index"] == {"echo_time": 3.0}
    np.testing.assert_array_equal(one.compute(), data[..., 2])
    assert vol.meta["axis4_values"]["echo_time"] == [1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(
    "index",
    [(3,), (slice(None), 2), (slice(None), slice(None), -1), (None,), ([1, 2],), (slice(4, 2),)],
)
def test_bad_indices_raise_indexerror(index: tuple) -> None:
    vol = lv.Volume(np.zeros(SHAPE), np.eye(4))
    with pytest.raises(IndexError):
        vol[index]


def test_voxel_sizes_and_orientation() -> None:
    aff = np.diag([-2.0, 3.0, 4.0, 1.0])
    assert voxel_sizes(aff) == (2.0, 3.0, 4.0)
    assert orientation_codes(aff) == "LAS"
    assert orientation_codes(np.diag([1.0, -1.0, -1.0, 1.0])) == "RPI"
    np.testing.assert_allclose(voxel_sizes(_oblique_affine()), [0.9, 1.2, 2.5])


def test_slice_affine_rejects_integer_on_spatial_axis() -> None:
    with pytest.raises(IndexError, match="integer"):
        slice_affine(np.eye(4), (slice(0, 2, 1), 3, slice(0, 1, 1)))
