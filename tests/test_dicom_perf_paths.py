"""Correctness of the DICOM fast paths (slab reads, header walker) against pydicom, voxel by voxel."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (20, 24, 12)


def pydicom_volume(files: list[str], dtype: str = "float64", scale: bool = True) -> np.ndarray:
    """(i, j, k) volume from pydicom's pixel_array (its own unused-bit and byte-order handling)."""
    planes = []
    for f in files:
        ds = pydicom.dcmread(f)
        a = ds.pixel_array.astype(np.float64)
        if scale:
            a = a * float(getattr(ds, "RescaleSlope", 1)) + float(
                getattr(ds, "RescaleIntercept", 0)
            )
        planes.append(a.T)
    return np.stack(planes, axis=-1).astype(dtype)


VARIANTS = [
    dict(dtype="int16", bits_stored=12, intercept=-1024.0, dirty_high_bits=True),
    dict(dtype="int16", bits_stored=16, intercept=-1024.0),
    dict(dtype="uint16", bits_stored=12, dirty_high_bits=True, syntax="big"),
    dict(dtype="int16", bits_stored=10, dirty_high_bits=True, syntax="implicit", slope=2.0),
    dict(dtype="uint8", syntax="big"),
    dict(dtype="int8", bits_stored=6, dirty_high_bits=True),
    dict(dtype="int32", bits_stored=20, dirty_high_bits=True, slope=0.25, intercept=3.5),
    dict(dtype="uint16", slope=[1.0] * 6 + [0.5] * 6, intercept=[0.0] * 3 + [7.0] * 9),
]


@pytest.mark.parametrize(
    "kw", VARIANTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items())[:60]
)
@pytest.mark.parametrize("chunks", [(20, 24, 5), (7, 24, 12), (20, 9, 4)])
def test_slab_reads_match_pydicom(tmp_path, kw, chunks):
    truth = write_dicom_series(tmp_path / "s", SHAPE, seed=5, **kw)
    vol = lv.open(tmp_path / "s", chunks=chunks)
    ref = pydicom_volume(truth.files)
    got = vol.data.compute()
    assert got.dtype == vol.dtype
    np.testing.assert_array_equal(got.astype(np.float64), ref)
    raw = lv.open(tmp_path / "s", chunks=chunks, scale=False).data.compute()
    np.testing.assert_array_equal(raw, pydicom_volume(truth.files, scale=False))
    # Strided and partial selections go through the same slab reader.
    np.testing.assert_array_equal(
        vol[3:17:2, ::-3, 1:11:3].compute().astype(np.float64), ref[3:17:2, ::-3, 1:11:3]
    )


def test_int16_output_stays_int16_when_range_allows(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, dtype="int16", bits_stored=12, intercept=-1024.0
    )
    vol = lv.open(tmp_path / "s")
    assert vol.dtype == np.int16
    np.testing.assert_array_equal(vol.data.compute(), pydicom_volume(truth.files, "int16"))


def test_forced_dtype_and_gap_fill(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, dtype="int16", bits_stored=12, intercept=-1024.0
    )
    ref = pydicom_volume(truth.files)
    vol = lv.open(tmp_path / "s", dtype="float32", chunks=(20, 24, 5))
    np.testing.assert_array_equal(vol.data.compute(), ref.astype(np.float32))
    os.remove(truth.files[6])
    vol = lv.open(tmp_path / "s", allow_gaps=True, fill=-2000, chunks=(20, 24, 5))
    got = vol.data.compute()
    np.testing.assert_array_equal(got[..., 6], -2000)
    keep = [k for k in range(12) if k != 6]
    np.testing.assert_array_equal(got[..., keep], ref[..., keep])


def test_truncated_file_names_file(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="int16")
    vol = lv.open(tmp_path / "s", chunks=(20, 24, 4))
    # Same size, so open-time checks pass; then truncate behind the scan's back.
    with open(truth.files[5], "r+b") as f:
        f.truncate(os.path.getsize(truth.files[5]) - 10)
    with pytest.raises(lv.FormatError, match="truncated"):
        vol.data.compute()
