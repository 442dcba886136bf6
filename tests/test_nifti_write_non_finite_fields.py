"""A NIfTI source's carried float fields that hold NaN or an infinity (intent_p1..3, cal_min,
cal_max, slice_duration, toffset) are written back as read, as ``nib.save`` of the loaded image
writes them; they were written as 0 without a word (an intent's NaN parameter became a
statistic's 0 degrees of freedom). Also through a lazyvol Zarr store (strict-JSON metadata)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv

CASES = [
    ("intent_p1", np.nan),
    ("intent_p2", np.inf),
    ("intent_p3", -np.inf),
    ("cal_min", np.nan),
    ("cal_max", np.inf),
    ("slice_duration", np.nan),
    ("toffset", -np.inf),
]


def _source(tmp_path: Path, field: str, value: float) -> Path:
    img = nib.Nifti1Image(np.arange(48, dtype=np.int16).reshape(2, 3, 4, 2), np.eye(4))
    hdr = img.header
    hdr[field] = value
    hdr["intent_code"] = 3  # t-test: p1 its degrees of freedom
    hdr.set_dim_info(slice=2)
    hdr["slice_code"], hdr["slice_end"] = 1, 3
    path = tmp_path / "src.nii"
    nib.save(img, path)
    return path


def _same(got: float, want: float) -> bool:
    return bool(np.isnan(want) and np.isnan(got)) or got == want


@pytest.mark.parametrize(("field", "value"), CASES)
@pytest.mark.parametrize("via", ["direct", "zarr"])
def test_non_finite_carried_fields_are_written_as_read(
    tmp_path: Path, field: str, value: float, via: str
) -> None:
    src = _source(tmp_path, field, value)
    ref = tmp_path / "nib.nii"
    nib.save(nib.load(src), ref)
    want = float(nib.load(ref).header[field])
    assert not np.isfinite(want)
    vol = lv.open(src)
    if via == "zarr":
        vol.to_zarr(tmp_path / "s.zarr")
        vol = lv.open(tmp_path / "s.zarr")
    out = tmp_path / "lv.nii"
    vol.to_nifti(out)
    got = float(nib.load(out).header[field])
    assert _same(got, want), (field, got, want)
    assert _same(float(vol.to_nibabel().header[field]), want)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("via", ["direct", "zarr"])
def test_a_non_finite_step_past_the_4th_axis_is_written_as_read(
    tmp_path: Path, value: float, via: str
) -> None:
    """A 6-axis image whose 5th axis' step (pixdim[5]) is NaN or infinite: every step past the
    4th axis was written as 1, the finite pixdim[6] too; nib.save keeps both."""
    img = nib.Nifti1Image(
        np.arange(2 * 3 * 4 * 2 * 3 * 2, dtype=np.int16).reshape(2, 3, 4, 2, 3, 2), np.eye(4)
    )
    img.header["pixdim"][5:7] = [value, 2.5]
    src = tmp_path / "src.nii"
    nib.save(img, src)
    ref = tmp_path / "nib.nii"
    nib.save(nib.load(src), ref)
    want = nib.load(ref).header["pixdim"][5:7]
    vol = lv.open(src)
    if via == "zarr":
        with pytest.warns(RuntimeWarning, match="6-axis volume is written without OME-Zarr"):
            vol.to_zarr(tmp_path / "s.zarr")
        vol = lv.open(tmp_path / "s.zarr")
    out = tmp_path / "lv.nii"
    vol.to_nifti(out)
    got = nib.load(out).header["pixdim"][5:7]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(vol.to_nibabel().header["pixdim"][5:7], want)
