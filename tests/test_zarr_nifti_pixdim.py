"""A NIfTI-Zarr store (niizarr) of a NIfTI whose sform scales differently from its pixdim (a
qform in scanner space and an sform aligned to a template, as registration tools write them):
niizarr writes ``pixdim`` as the OME scale, and lazyvol compared the OME scale with the sform's
column lengths only, judged the header foreign, warned, and gave the OME scaled-voxel affine
(diag(2, 2, 2): neither the sform nor the qform). The NIfTI-Zarr spec makes the header the
authority and its pixdim the OME scale; niizarr's own reader and nibabel give the sform. A header
agrees with the store when its pixdim or its affine's voxel sizes are the OME scale."""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv

niizarr = pytest.importorskip("niizarr")

SFORM = np.array(
    [[0.9, 0.1, 0.0, -5.0], [-0.1, 0.9, 0.2, 3.0], [0.0, -0.2, 2.5, 7.0], [0.0, 0.0, 0.0, 1.0]]
)


def _converted(tmp_path: Path, img: nib.Nifti1Image) -> tuple[str, str]:
    src, dst = str(tmp_path / "a.nii"), str(tmp_path / "a.nii.zarr")
    nib.save(img, src)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (niizarr's own warnings)
        niizarr.nii2zarr(nib.load(src), dst, nb_levels=1)
    return src, dst


@pytest.mark.parametrize("qform", [np.diag([2.0, 2.0, 2.0, 1.0]), np.diag([-1.0, 3.0, 0.5, 1.0])])
def test_a_sform_scaling_otherwise_than_pixdim_gives_the_sform(
    tmp_path: Path, qform: np.ndarray
) -> None:
    data = np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8)
    img = nib.Nifti1Image(data, SFORM)
    img.set_qform(qform, code=1)  # (sets pixdim to the qform's voxel sizes)
    img.set_sform(SFORM, code=2)
    src, dst = _converted(tmp_path, img)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (the header agrees with the store: no warning)
        vol = lv.open(dst)
    want = nib.load(src).affine
    np.testing.assert_allclose(vol.affine, want, atol=1e-6)
    np.testing.assert_allclose(
        vol.affine, niizarr.zarr2nii(dst).header.get_best_affine(), atol=1e-6
    )
    np.testing.assert_allclose(vol.affine, lv.open(src).affine, atol=1e-6)
    assert vol.meta["affine_source"] == "nifti-sform"
    np.testing.assert_array_equal(vol.compute(), data)
