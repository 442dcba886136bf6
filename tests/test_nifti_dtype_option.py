"""``dtype=`` that cannot hold a NIfTI image's values is refused at open, naming the fix.

RGB/RGBA data with ``dtype='float32'`` failed inside the read with numpy's bare TypeError
("Cannot cast array data from dtype([('R', 'u1'), ...]) to dtype('float32')"); complex data with
``dtype='float32'`` silently kept the real part only (numpy's ComplexWarning escaping), where
nibabel's ``get_fdata`` refuses complex data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lazyvol as lv


def _rgb(channels: str) -> np.ndarray:
    data = np.zeros((4, 5, 3), dtype=[(c, "u1") for c in channels])
    for n, c in enumerate(channels):
        data[c] = n + 1
    return data


@pytest.mark.parametrize(
    ("data", "suffix", "hint"),
    [
        (_rgb("RGB"), ".nii", r"channels \(R, G, B\).*vol\.data\['R'\]"),
        (_rgb("RGBA"), ".nii.gz", r"channels \(R, G, B, A\)"),
        (_rgb("RGB"), ".hdr", r"channels \(R, G, B\)"),  # an Analyze pair
        ((np.arange(60) * (1 + 2j)).astype("c8").reshape(4, 5, 3), ".nii", r"imaginary.*abs"),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "int16", "float64"])
def test_a_dtype_that_drops_part_of_each_value_is_refused_at_open(
    tmp_path, data, suffix, hint, dtype
) -> None:
    import nibabel as nib

    klass = nib.AnalyzeImage if suffix == ".hdr" else nib.Nifti1Image
    path = tmp_path / f"x{suffix}"
    nib.save(klass(data, np.eye(4)), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy ComplexWarning on the way
        with pytest.raises(lv.DataTypeError, match=rf"x{suffix}: dtype='{dtype}'.*{hint}"):
            lv.open(path, dtype=dtype)
    # what the data holds is still there without dtype=
    assert lv.open(path).dtype == data.dtype


def test_a_complex_dtype_for_complex_data_is_taken(tmp_path) -> None:
    import nibabel as nib

    data = (np.arange(60) * (1 + 2j)).astype("c8").reshape(4, 5, 3)
    path = tmp_path / "c.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    got = lv.open(path, dtype="complex128").compute()
    assert got.dtype == np.complex128
    np.testing.assert_array_equal(got, data)


def test_a_real_dtype_for_a_complex_zarr_store_is_refused_at_open(tmp_path) -> None:
    """The same rule for a lazyvol store: its complex values read as their real part."""
    data = (np.arange(60) * (1 + 2j)).astype("c8").reshape(4, 5, 3)
    store = lv.Volume(data, np.eye(4)).to_zarr(tmp_path / "c.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(lv.DataTypeError, match=r"c\.zarr: dtype='float32'.*imaginary"):
            lv.open(store, dtype="float32")
    np.testing.assert_array_equal(lv.open(store, dtype="complex128").compute(), data)
