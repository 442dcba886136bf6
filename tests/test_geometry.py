"""Slicing affines against nibabel and against world-coordinate truth."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine

import lazyvol as lv
from lazyvol.geometry import (
    canonical_index,
    orientation_codes,
    slice_affine,
    voxel_sizes,
)
from lazyvol.slice_grid import position_quantum

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
    (slice(-10, None, -1), slice(None), slice(-9, None, -1)),  # the first voxel only (numpy)
    (slice(-10, None, -1), slice(-12, None, -1), slice(None)),
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
    "t", [np.array(2), np.array(-1), np.int64(2), np.uint8(3), np.array(1, dtype=np.uint16)]
)
def test_numpy_integers_index_as_integers(t: object) -> None:
    """A 0-d integer array (what np.argmax and array arithmetic give) indexes numpy and nibabel's
    dataobj as an integer; lazyvol refused it as fancy indexing."""
    data = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    vol = lv.Volume(data, np.eye(4), meta={"axis4_values": {"echo_time": [1, 2, 3, 4, 5]}})
    sub = vol[..., t]
    np.testing.assert_array_equal(sub.compute(), data[..., t])
    assert sub.meta["axis4_index"] == {"echo_time": [1, 2, 3, 4, 5][int(t)]}  # type: ignore[call-overload]
    np.testing.assert_array_equal(vol[np.array(1) : np.int64(2)].compute(), data[1:2])


@pytest.mark.parametrize(
    "t", [np.array(True), np.True_, np.array(2.0), np.float64(2.0), np.array([2])]
)
def test_numpy_non_integers_are_refused(t: object) -> None:
    """numpy takes a 0-d bool array as a mask (a new axis) and refuses floats: not an integer."""
    vol = lv.Volume(np.zeros((*SHAPE, 4)), np.eye(4))
    with pytest.raises(IndexError, match="only integers, slices"):
        vol[..., t]


@pytest.mark.parametrize(
    "index",
    [(3,), (slice(None), 2), (slice(None), slice(None), -1), (None,), ([1, 2],), (slice(4, 2),)],
)
def test_bad_indices_raise_indexerror(index: tuple) -> None:
    vol = lv.Volume(np.zeros(SHAPE), np.eye(4))
    with pytest.raises(IndexError):
        vol[index]


@pytest.mark.parametrize(
    "index",
    [
        (slice(-30, None, -1),),  # a negative step starting before the front: numpy's empty
        (slice(None), slice(-20, 1, -2)),
        (Ellipsis, slice(-10, None, -1)),
        (Ellipsis, slice(3, 3)),  # the 4th axis
        (Ellipsis, slice(1, 4, -1)),
    ],
)
def test_empty_selections_are_refused_as_empty_on_every_axis(index: tuple) -> None:
    """A negative step whose start lies before the front selects nothing in numpy; lazyvol read
    it as starting at the last element: the whole axis reversed, with the origin one voxel
    outside the volume (data and affine 6 voxels apart). The 4th axis's empty slices raised a
    bare 'range object index out of range'."""
    full = np.arange(int(np.prod((*SHAPE, 4)))).reshape((*SHAPE, 4))
    assert full[index].size == 0
    with pytest.raises(IndexError, match=r"empty slice on axis \d"):
        lv.Volume(full, _oblique_affine())[index]


def test_voxel_sizes_and_orientation() -> None:
    aff = np.diag([-2.0, 3.0, 4.0, 1.0])
    assert voxel_sizes(aff) == (2.0, 3.0, 4.0)
    assert orientation_codes(aff) == "LAS"
    assert orientation_codes(np.diag([1.0, -1.0, -1.0, 1.0])) == "RPI"
    np.testing.assert_allclose(voxel_sizes(_oblique_affine()), [0.9, 1.2, 2.5])


def test_slice_affine_rejects_integer_on_spatial_axis() -> None:
    with pytest.raises(IndexError, match="integer"):
        slice_affine(np.eye(4), (slice(0, 2, 1), 3, slice(0, 1, 1)))


# -- grid comparison ----------------------------------------------------------------------------


def test_same_grid_shapes_and_3d_broadcast() -> None:
    from lazyvol.geometry import grid_difference, same_grid

    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    assert same_grid((10, 12, 14), aff, (10, 12, 14), aff)
    assert grid_difference((10, 12, 14), aff, (10, 12, 13), aff) == "shape"
    # A 3D grid over a 4D series only when asked.
    assert not same_grid((10, 12, 14, 5), aff, (10, 12, 14), aff)
    assert same_grid((10, 12, 14, 5), aff, (10, 12, 14), aff, broadcast_3d=True)
    assert not same_grid((10, 12, 14), aff, (10, 12, 14, 5), aff, broadcast_3d=True)
    # No affine on either side (plain arrays): the shape decides.
    assert same_grid((3, 4, 5), None, (3, 4, 5), aff)


def test_same_grid_affine_tolerance_is_a_fraction_of_the_smallest_voxel() -> None:
    from lazyvol.geometry import grid_difference, same_grid

    aff = nib.affines.from_matvec(np.diag([0.5, 2.0, 3.0]), [10.0, -20.0, 5.0])
    nudged = aff.copy()
    nudged[0, 3] += 0.0004  # 0.0008 voxel of the smallest size (0.5 mm): same grid
    assert same_grid((4, 4, 4), aff, (4, 4, 4), nudged)
    nudged[0, 3] += 0.0002  # 0.0012 voxel: not the same grid
    assert grid_difference((4, 4, 4), aff, (4, 4, 4), nudged) == "affine"
    flipped = aff @ np.diag([-1.0, 1.0, 1.0, 1.0])
    assert not same_grid((4, 4, 4), aff, (4, 4, 4), flipped)


def test_check_same_grid_message_and_no_global_print_state() -> None:
    from lazyvol.geometry import check_same_grid

    before = np.get_printoptions()
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    other = np.diag([1.0, 1.0, 1.0000001234, 1.0])
    other[0, 3] = 1e-9
    check_same_grid((2, 3, 4), aff, (2, 3, 4), aff + 1e-9)  # within tolerance: no error
    with pytest.raises(lv.GridMismatchError) as ei:
        check_same_grid(
            (2, 3, 4), aff, (2, 3, 5), other, source="t1.nii", mask_source="mask.nii.gz"
        )
    msg = str(ei.value)
    assert "mask mask.nii.gz is not on the grid of volume t1.nii (shape differs)" in msg
    assert "(2, 3, 4)" in msg and "(2, 3, 5)" in msg and "resample_to_img" in msg
    # Six digits, tiny values suppressed, whatever numpy's global options are.
    assert "1.0000001234" not in msg and "e-0" not in msg and "e+0" not in msg
    assert "\n" not in msg  # one line, as every lazyvol message (numpy prints over four)
    assert "[[1., 0., 0., 0.], [0., 1., 0., 0.]" in msg
    assert np.get_printoptions() == before
    with pytest.raises(lv.GridMismatchError, match=r"<array>.*\(affine differs\)"):
        check_same_grid((2, 3, 4), aff, (2, 3, 4), np.diag([1.0, 1.0, 1.5, 1.0]))


@pytest.mark.parametrize(
    ("strings", "step"),
    [
        (["12.35", "-20.1", "30", "150.25"], 0.01),  # fixed two decimals, trailing zeros dropped
        (["-123.457", "12.3457", "1.23457"], 0.001),  # six significant digits (GE)
        (["-95.287536621094", "12.5"], 1e-12),  # full precision
        # integral values: as coarse as their largest common step (they showed none, 0.0)
        (["30", "-125", "0"], 5.0),
        (["0", "1", "2", "4", "5"], 1.0),
        # halves, not one decimal (a 2.7 mm stack written to halves: 12.5, 15, 18, 20.5 ...)
        (["12.5", "15", "18", "20.5", "23", "26", "28.5", "31.5"], 0.5),
        # an exact 2.5 mm grid with one slice moved 0.5 mm: one decimal (the grid's halves are
        # no evidence of a rounding to halves); but one step of 3 mm in it, the values on one
        # progression of 2.5 mm and then on the next for good, is as much a 2.6 mm stack written
        # to halves (12.5, 15.1, 17.7, 20.3 ...): halves
        (["0", "2.5", "5", "7.5", "10.5", "12.5", "15", "17.5"], 0.1),
        (["12.5", "15", "18", "20.5", "23", "25.5"], 0.5),
        (["12.5", "15", "17.5", "20", "22.5", "25"], 0.1),  # (an exact grid: nothing rounded)
    ],
)
def test_position_quantum_reads_how_coarsely_numbers_were_written(strings, step):
    assert position_quantum([float(x) for x in strings]) == pytest.approx(step)


def test_position_quantum_leaves_out_coordinates_that_never_change():
    """An axial stack written with two decimals: x and y are the same in every position (their
    rounding cannot make steps uneven), and x = -120.5 (its trailing zero dropped) made the
    estimate 0.1; only z, which changes, counts."""
    pos = np.array([[-120.5, 30.2, 13.33 + 2.5 * k] for k in range(12)])
    assert position_quantum(np.round(pos, 2)) == pytest.approx(0.01)
    assert position_quantum(np.array([[1.0, 2.0, 3.0]] * 4)) == 0.0


def test_anisotropic_affine_is_not_singular(tmp_path):
    """Very different voxel sizes are valid geometry (nibabel opens them); only a zero-length
    axis, parallel axes or a voxel volume that underflows are singular."""
    from lazyvol.geometry import affine_problem

    aff = np.diag([1.0, 2.0, 1e38, 1.0])
    aff[:3, 3] = [-5, 7, 9]
    p = tmp_path / "aniso.nii"
    nib.save(nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), aff), p)
    vol = lv.open(p)
    np.testing.assert_allclose(vol.affine, nib.load(p).affine)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(p).dataobj))
    assert affine_problem(np.diag([1e-30, 1.0, 1.0, 1.0])) is None
    assert "zero length" in (affine_problem(np.diag([0.0, 1.0, 1.0, 1.0])) or "")
    parallel = np.eye(4)
    parallel[:3, 1] = [1e-20, 0, 0]  # tiny, but along the first axis
    assert "parallel" in (affine_problem(parallel) or "")
    assert "smallest float64" in (affine_problem(np.diag([1e-200, 1e-200, 1.0, 1.0])) or "")
    # the refusal shows the affine on one line, every entry (tiny ones not rounded away)
    from lazyvol.geometry import check_affine

    with pytest.raises(lv.FormatError, match="zero length") as exc:
        check_affine(np.diag([0.0, 1e-20, 1.0, 1.0]), "x.nii", "sform")
    assert "\n" not in str(exc.value) and "1.e-20" in str(exc.value)


def test_write_references_failure_is_a_write_error(tmp_path) -> None:
    """Writing references where no file can go (a folder, a missing folder) is a typed
    WriteError naming the path, and leaves nothing behind (it was a bare OSError)."""
    from lazyvol.refs import write_references
    from lazyvol.testing import write_phantom_nifti

    refs = lv.references(write_phantom_nifti(tmp_path / "p.nii", (4, 4, 3)))
    (tmp_path / "folder").mkdir()
    for target in (tmp_path / "folder", tmp_path / "missing" / "r.json"):
        with pytest.raises(lv.WriteError, match="writing the references failed"):
            write_references(refs, target)
    assert list((tmp_path / "folder").iterdir()) == []
    assert not (tmp_path / "missing").exists()
    # overwrite=False never replaces a file that is there when the result is published
    there = tmp_path / "there.json"
    there.write_text("mine")
    with pytest.raises(lv.WriteError, match="exists; pass overwrite=True"):
        write_references(refs, there, overwrite=False)
    assert there.read_text() == "mine"
    write_references(refs, there)
    assert there.read_text().startswith("{")


def test_orientations_match_within_tolerance_and_never_on_nan() -> None:
    from lazyvol.geometry import orientations_match

    a = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert orientations_match(a, [1.0, 0.0009, 0.0, 0.0, 1.0, -0.0009])
    assert not orientations_match(a, [1.0, 0.0011, 0.0, 0.0, 1.0, 0.0])
    assert orientations_match(np.array(a), tuple(a), tol=0.0)  # any sequences of numbers
    nan = [float("nan"), *a[1:]]
    assert not orientations_match(nan, nan)  # as numpy: NaN <= tol is False
    assert not orientations_match(a, a[:5])


def test_median_is_numpys():
    """slice_grid._median (the slice spacing of every DICOM series) equals np.median exactly."""
    from lazyvol.slice_grid import _median

    rng = np.random.default_rng(0)
    for n in range(1, 40):
        for scale in (1e-3, 1.0, 1e6):
            x = rng.normal(0, scale, n)
            assert _median(x) == float(np.median(x))
    assert np.isnan(_median(np.array([1.0, np.nan, 2.0])))
