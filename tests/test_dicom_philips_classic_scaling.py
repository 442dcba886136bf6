"""Philips images stored one per file whose RescaleSlope / RescaleIntercept / scale slope
(2005,100E) vary between volumes (or slices), against the venv's dcm2niix.

lazyvol's note said dcm2niix writes display values for such a volume, as lazyvol does. It does
so for an enhanced file's frames, but not for images one per file: there it stores each image's
display values (stored * RS + RI) as 32-bit floats and writes the first image's floating-point
scaling in the NIfTI header (scl_slope 1 / SS, scl_inter RI / (RS * SS)), so a reader applying
the header (nibabel, FSL) gets neither display nor floating-point values. lazyvol gives the
display values by default and each image's floating-point ones with ``philips_scaling="fp"``; its
note now says what dcm2niix writes, with a warning (the two differ).

The truth is numpy's display and floating-point values of the written stored values and scalings;
dcm2niix's file is read with nibabel (unscaled array and header scaling apart).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

NK, NT = 3, 3


def _scaling(case: str, t: int, k: int) -> tuple[float, float, float]:
    if case == "between_volumes":
        return 2.0 + 0.5 * t, -5.0 - 10.0 * t, 0.04 * (t + 1)
    return 1.5 + 0.25 * k + 0.5 * t, -3.0 * k - 1.0, 0.01 * (k + 1)


@pytest.mark.parametrize("case", ["between_volumes", "between_slices"])
def test_varying_philips_scalings_one_file_each_as_dcm2niix_writes_them(tmp_path, dcm2niix, case):
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, (6, 5, NK), NT, labels=("TemporalPositionIdentifier",), modality="MR",
        dtype="uint16", extra={"Manufacturer": "Philips Medical Systems"},
    )  # fmt: skip
    display = np.empty(truth.stored.shape)
    fp = np.empty(truth.stored.shape)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        t = int(ds.TemporalPositionIdentifier) - 1
        ipp = np.array([float(x) for x in ds.ImagePositionPatient])
        k = int(np.argmin(np.linalg.norm(truth.positions - ipp, axis=1)))
        rs, ri, ss = _scaling(case, t, k)
        ds.RescaleSlope, ds.RescaleIntercept = f"{rs:g}", f"{ri:g}"
        ds.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
        ds.add_new(0x2005100E, "FL", ss)
        ds.save_as(f)
        stored = truth.stored[:, :, k, t].astype(np.float64)
        display[:, :, k, t] = stored * rs + ri
        fp[:, :, k, t] = (stored * rs + ri) / (rs * np.float32(ss))

    (ref,) = dcm2niix(src, tmp_path / "out")
    img = nib.load(ref)
    raw = np.asarray(img.dataobj.get_unscaled(), dtype=np.float64)[:, ::-1]  # (rows flipped)
    np.testing.assert_allclose(raw, display, rtol=1e-6)  # the display values, as floats
    rs, ri, ss = _scaling(case, 0, 0)  # (the first image's floating-point scaling)
    assert img.dataobj.slope == pytest.approx(1 / np.float32(ss), rel=1e-5)
    assert img.dataobj.inter == pytest.approx(ri / (rs * np.float32(ss)), rel=1e-5)

    vol = lv.open(src)
    np.testing.assert_allclose(vol.compute(), display, rtol=1e-6)
    note = vol.meta["philips_scaling"]
    assert "first image's floating-point scaling" in note and "scl_slope 1 / SS" in note, note
    assert "neither display nor floating-point" in note
    assert any("first image's floating-point scaling" in w for w in vol.meta["warnings"])
    fp_vol = lv.open(src, philips_scaling="fp")
    np.testing.assert_allclose(fp_vol.compute(), fp, rtol=1e-5)
    assert "first image's floating-point scaling" in fp_vol.meta["philips_scaling"]
