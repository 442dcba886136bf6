"""``vol.plot(point=...)`` / ``voxel=`` that lie outside the volume (a point in a DICOM viewer's
LPS coordinates, a typo, a voxel past the shape) were drawn at the nearest edge, the views
labelled with the edge's place: the slices shown were not the ones asked for. They are refused
now, with the volume's extent; malformed ones are refused as options, not numpy's errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.errors import DataTypeError, OptionError

AFFINE = np.array([[2.0, 0, 0, -10.0], [0, 3.0, 0, 20.0], [0, 0, 4.0, -5.0], [0, 0, 0, 1]])


@pytest.fixture
def vol_and_truth(tmp_path):
    x = np.random.default_rng(1).random((6, 5, 4)).astype("float32")
    nib.save(nib.Nifti1Image(x, AFFINE), tmp_path / "v.nii")
    return lv.open(tmp_path / "v.nii"), x


def _axial(fig):
    return np.asarray(fig.axes[0].images[0].get_array())


def test_points_and_voxels_inside_show_their_slices(vol_and_truth):
    vol, x = vol_and_truth
    # world (x, y, z) -> voxel by the affine: z = -5 + 4 k
    fig = vol.plot((-10.0 + 2 * 3, 20.0 + 3 * 1, -5.0 + 4 * 2 + 1.9))  # 0.475 voxel off: k = 2
    np.testing.assert_array_equal(_axial(fig), x[:, :, 2].T)
    plt.close(fig)
    fig = vol.plot(voxel=(0, 0, -1))  # numpy's negative index: the last slice
    np.testing.assert_array_equal(_axial(fig), x[:, :, 3].T)
    plt.close(fig)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"point": (-10.0, 20.0, -5.0 + 4 * 3 + 2.1)},  # just past the last slice (k = 3.525)
        {"point": (10.0, -20.0, 0.0)},  # LPS of a point inside: x and y negated
        {"voxel": (6, 0, 0)},
        {"voxel": (0, 0, -5)},
    ],
)
def test_a_point_or_voxel_outside_is_refused_with_the_extent(vol_and_truth, kwargs):
    vol, _ = vol_and_truth
    with pytest.raises(OptionError) as exc:
        plt.close(vol.plot(**kwargs))
    msg = str(exc.value)
    if "point" in kwargs:
        # the extent from the affine's corners (voxel centres)
        assert "spans x -10.0 to 0.0, y 20.0 to 32.0, z -5.0 to 7.0" in msg, msg
    else:
        assert "shape (6, 5, 4)" in msg, msg


@pytest.mark.parametrize(
    "kwargs",
    [
        {"point": (0.0, 0.0)},
        {"point": (np.nan, 25.0, 0.0)},
        {"voxel": "abc"},
        {"voxel": (1, 2, 3, 4)},
    ],
)
def test_malformed_points_are_option_errors(vol_and_truth, kwargs):
    vol, _ = vol_and_truth
    with pytest.raises(OptionError, match="must be three finite numbers"):
        vol.plot(**kwargs)


def test_other_refusals_are_lazyvol_errors(vol_and_truth, tmp_path):
    vol, _ = vol_and_truth
    with pytest.raises(OptionError, match="convention"):
        vol.plot(convention="left")
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.complex64), np.eye(4)), tmp_path / "c.nii")
    with pytest.raises(DataTypeError):
        lv.open(tmp_path / "c.nii").plot()


def test_a_latin1_file_name_is_drawn(tmp_path):
    """A source named in Latin-1 (an old archive's ``t\\xeate.nii``: Python holds the byte as a
    lone surrogate) made ``plot()`` raise matplotlib's TypeError laying out the title; the title
    shows the byte as ``\\xea`` now."""
    import os

    name = tmp_path / os.fsdecode(b"t\xeate.nii")
    x = np.random.default_rng(2).random((5, 4, 3)).astype("float32")
    nib.save(nib.Nifti1Image(x, AFFINE), name)
    fig = lv.open(name).plot()
    fig.savefig(tmp_path / "view.png")
    assert "t\\xeate.nii" in fig._suptitle.get_text()
    np.testing.assert_array_equal(_axial(fig), x[:, :, 1].T)
    plt.close(fig)
