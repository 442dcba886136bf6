"""Notebook helpers: ``vol.plot()`` (three orthogonal slices, mm axes) and ``vol._repr_html_()``.

The plot test places a bright cube at a known world position and finds it in each drawn image
through the image's mm extent; the same scene stored in another voxel order must draw the same.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from dask.callbacks import Callback

import lazyvol as lv

pytest.importorskip("matplotlib")
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CUBE = (30.0, 20.0, 10.0)


def _scene(aff, shape):
    ii, jj, kk = np.meshgrid(*map(np.arange, shape), indexing="ij")
    w = nib.affines.apply_affine(aff, np.stack([ii, jj, kk], -1))
    x = 50 * np.exp(-(w**2).sum(-1) / 2000).astype("float32")
    inside = np.all(np.abs(w - np.asarray(CUBE)) < 3.1, axis=-1)
    x[inside] = 500
    return x


def _peak_world(ax):
    im = ax.images[0]
    arr = np.asarray(im.get_array())
    r, c = np.unravel_index(np.argmax(arr), arr.shape)
    h0, h1, v0, v1 = im.get_extent()
    return (
        h0 + (c + 0.5) * (h1 - h0) / arr.shape[1],
        v0 + (r + 0.5) * (v1 - v0) / arr.shape[0],
    )


LPS = np.array([[-2.0, 0, 0, 60], [0, -2.0, 0, 70], [0, 0, 2.5, -40], [0, 0, 0, 1]])
# the same kind of grid stored sagittally: voxel axes (A->P, S->I, R->L)
SAG = np.array([[0, 0, -2.0, 60], [-2.0, 0, 0, 70], [0, -2.5, 0, 40], [0, 0, 0, 1]])


@pytest.mark.parametrize("aff,shape", [(LPS, (64, 72, 40)), (SAG, (72, 40, 64))])
@pytest.mark.parametrize("convention", ["radiological", "neurological"])
def test_plot_puts_structures_at_their_mm_position(tmp_path, aff, shape, convention):
    path = tmp_path / "scene.nii.gz"
    nib.save(nib.Nifti1Image(_scene(aff, shape), aff), path)
    vol = lv.open(path)
    fig = vol.plot(CUBE, convention=convention)
    axial, coronal, sagittal = fig.axes[:3]
    np.testing.assert_allclose(_peak_world(axial), (CUBE[0], CUBE[1]), atol=2.6)
    np.testing.assert_allclose(_peak_world(coronal), (CUBE[0], CUBE[2]), atol=2.6)
    np.testing.assert_allclose(_peak_world(sagittal), (CUBE[1], CUBE[2]), atol=2.6)
    assert axial.xaxis_inverted() == (convention == "radiological")
    assert coronal.xaxis_inverted() == (convention == "radiological")
    assert not sagittal.xaxis_inverted()
    assert convention in fig._suptitle.get_text()
    assert "mm" in axial.get_xlabel()
    plt.close(fig)


def test_plot_labels_the_affines_own_unit(tmp_path):
    # a NIfTI in microns keeps its affine in microns (as nibabel gives it): the axes say so
    img = nib.Nifti1Image(np.zeros((6, 6, 6), "float32"), np.diag([0.5, 0.5, 0.5, 1.0]))
    img.header.set_xyzt_units("micron")
    nib.save(img, tmp_path / "um.nii")
    fig = lv.open(tmp_path / "um.nii").plot()
    assert img.header.get_xyzt_units()[0] == "micron"
    for ax in fig.axes[:3]:
        assert "(micron)" in ax.get_xlabel() and "(micron)" in ax.get_ylabel()
        assert "mm" not in ax.get_xlabel() + ax.get_ylabel() + ax.get_title()
    assert "micron, RAS" in fig._suptitle.get_text()
    plt.close(fig)


def test_plot_default_centre_4d_and_errors(tmp_path):
    x = np.random.default_rng(0).random((10, 12, 8, 3)).astype("float32")
    nib.save(nib.Nifti1Image(x, np.eye(4)), tmp_path / "f.nii")
    vol = lv.open(tmp_path / "f.nii")
    fig = vol.plot(t=2)
    axial = fig.axes[0]
    # centre voxel (4.5 -> 4/5 rounding) of volume 2, i along x, j along y
    k = int(np.rint(3.5))
    np.testing.assert_allclose(np.asarray(axial.images[0].get_array()), x[:, :, k, 2].T)
    plt.close(fig)
    with pytest.raises(ValueError):
        vol.plot(convention="left")
    with pytest.raises(IndexError):
        vol.plot(t=3)


class _Tasks(Callback):
    n = 0

    def _posttask(self, *args):
        type(self).n += 1


def test_repr_html_reads_nothing(tmp_path):
    x = np.zeros((10, 12, 8), "int16")
    nib.save(nib.Nifti1Image(x, np.diag([2.0, 2.0, 3.0, 1.0])), tmp_path / "a.nii")
    vol = lv.open(tmp_path / "a.nii")
    vol.meta["bids"] = {"RepetitionTime": 2.0, "Manufacturer": "<Acme>"}
    with _Tasks():
        out = vol._repr_html_()
    assert _Tasks.n == 0
    assert "10 &times; 12 &times; 8" in out and "int16" in out and "RAS" in out
    assert "RepetitionTime" in out and "&lt;Acme&gt;" in out and "<Acme>" not in out
