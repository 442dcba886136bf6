"""Diffusion values taken from the attributes that state them, against dcm2niix and the synthetic
truth.

- GE from software 27 on writes the standard DiffusionBValue (0018,9087) on its weighted images,
  but the direction only in its private (0019,10BB-10BD); Philips and Siemens classic files can
  do the same with theirs. lazyvol took the standard b-value and never looked at the private
  direction: every weighted volume had a zero vector and was flagged derived. A private b-value
  with the standard direction (0018,9089) lost the direction the same way.

dcm2niix's .bval / .bvec are the reference, its b-vectors mapped to the patient frame through its
own affine; the synthetic truth is the written b-values and directions (GE's image
frame turned into LPS with numpy from ImageOrientationPatient).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series
from test_dicom_vendor_diffusion import _reference, _rewrite, _written_lps

SHAPE = (8, 6, 3)
_PRIVATE_B = {"GE": (0x0043, 0x1039), "PHILIPS": (0x2001, 0x1003), "SIEMENS": (0x0019, 0x100C)}
_PRIVATE_G = {
    "GE": [(0x0019, 0x10BB), (0x0019, 0x10BC), (0x0019, 0x10BD)],
    "PHILIPS": [(0x2005, 0x10B0), (0x2005, 0x10B1), (0x2005, 0x10B2)],
    "SIEMENS": [(0x0019, 0x100E)],
}


def _directions(n: int, seed: int = 1) -> np.ndarray:
    g = np.random.default_rng(seed).normal(size=(n, 3))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _private_b(ds, vendor: str) -> float:
    v = ds[_PRIVATE_B[vendor]].value
    return float(v[0]) if vendor == "GE" else float(v)


def _private_g(ds, vendor: str) -> list[float]:
    if vendor == "SIEMENS":
        return [float(x) for x in ds[_PRIVATE_G[vendor][0]].value]
    return [float(ds[t].value) for t in _PRIVATE_G[vendor]]


def _image_frame_lps(folder: Path, g: np.ndarray) -> np.ndarray:
    """GE's image-frame directions (column phase encoding) in LPS: -g0 row - g1 col + g2 normal,
    normalised (dcm2niix's geCorrectBvecs, from dicm2nii)."""
    ds = pydicom.dcmread(next(folder.iterdir()))
    iop = np.array([float(x) for x in ds.ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    lps = np.outer(-g[:, 0], row) - np.outer(g[:, 1], col) + np.outer(g[:, 2], np.cross(row, col))
    norm = np.linalg.norm(lps, axis=1, keepdims=True)
    return np.where(norm > 0, lps / np.where(norm > 0, norm, 1), 0)


def _check_against_dcm2niix(vol: lv.Volume, dcm2niix, folder: Path, tmp_path: Path) -> None:
    """Same b-values as dcm2niix's .bval, same directions as its .bvec (normalised) in LPS, in
    the table and in lazyvol's own .bvec."""
    diff = vol.meta["diffusion"]
    ref_bvals, ref_lps = _reference(dcm2niix, folder, tmp_path / "out")
    np.testing.assert_allclose(diff["bvals"], ref_bvals)
    norm = np.linalg.norm(ref_lps, axis=1, keepdims=True)
    ref_unit = np.where(norm > 0, ref_lps / np.where(norm > 0, norm, 1), 0)
    np.testing.assert_allclose(diff["gradients_lps"], ref_unit, atol=1e-4)
    np.testing.assert_allclose(_written_lps(vol, tmp_path / "v.nii"), ref_unit, atol=1e-4)


@pytest.mark.parametrize("vendor", ["GE", "PHILIPS", "SIEMENS"])
@pytest.mark.parametrize("layout", ["standard_b", "standard_b_only", "standard_direction"])
@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_b_value_and_direction_each_come_from_the_attributes_that_state_them(
    tmp_path, dcm2niix, vendor, layout, orientation
):
    """standard_b: (0018,9087) beside the private b-value (GE: on weighted images only, as GE 27
    writes it); standard_b_only: without the private b-value; standard_direction: (0018,9089) for
    the private one."""
    bvals = [0.0, 1000.0, 1000.0, 2000.0, 3000.0]
    g = _directions(5)
    g[0] = 0
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=bvals, bvecs=g.round(6).tolist(), vendor=vendor,
        orientation=orientation, spacing=(2.0, 2.0, 2.5),
    )  # fmt: skip

    def edit(ds) -> None:
        b = _private_b(ds, vendor)
        if layout == "standard_direction":
            ds.DiffusionGradientOrientation = _private_g(ds, vendor)
            for tag in _PRIVATE_G[vendor]:
                del ds[tag]
        elif b > 0 or vendor != "GE":
            ds.DiffusionBValue = b
            if layout == "standard_b_only":
                del ds[_PRIVATE_B[vendor]]

    _rewrite(truth, edit)
    vol = lv.open(src)
    diff = vol.meta["diffusion"]
    assert diff["bvals"] == bvals
    assert "derived_volumes" not in diff
    assert not any("derived" in w for w in vol.meta.get("warnings", []))
    # truth: the written directions, GE's private ones in its image frame
    if vendor == "GE" and layout != "standard_direction":
        expected = _image_frame_lps(src, g.round(6))
    else:
        expected = g.round(6)
    np.testing.assert_allclose(diff["gradients_lps"], expected, atol=1e-5)
    _check_against_dcm2niix(vol, dcm2niix, src, tmp_path)


@pytest.mark.parametrize("vendor", ["PHILIPS", "SIEMENS"])
def test_a_private_b_value_differing_from_the_standard_one_is_dcm2niixs(tmp_path, dcm2niix, vendor):
    """Both stated and the standard direction absent: the private b-value, as dcm2niix reads it."""
    bvals = [0.0, 1000.0, 2000.0]
    g = _directions(3)
    g[0] = 0
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, SHAPE, labels=(), bvals=bvals, bvecs=g.tolist(), vendor=vendor
    )
    _rewrite(truth, lambda ds: setattr(ds, "DiffusionBValue", _private_b(ds, vendor) / 2))
    vol = lv.open(src)
    assert vol.meta["diffusion"]["bvals"] == bvals
    _check_against_dcm2niix(vol, dcm2niix, src, tmp_path)
