"""An SPM ``.mat`` sidecar whose matrix is not real numbers: refused naming it, never cut to its
real parts (numpy's float64 cast of a complex matrix keeps the real parts with only a
ComplexWarning, which gave an affine no file stated)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import lazyvol as lv

nib = pytest.importorskip("nibabel")
scipy_io = pytest.importorskip("scipy.io")

SPM = np.array([[-2.0, 0, 0, 10], [0, 3.0, 0, -5], [0, 0, 4.0, 7], [0, 0, 0, 1]])


def _pair_with_mat(tmp_path: Path, matrix: np.ndarray, key: str = "mat") -> Path:
    data = np.arange(5 * 4 * 3, dtype=np.int16).reshape(5, 4, 3)
    img = nib.AnalyzeImage(data, None)
    img.header.set_zooms((2.0, 3.0, 4.0))
    path = tmp_path / "x.hdr"
    nib.save(img, path)
    buf = io.BytesIO()
    scipy_io.savemat(buf, {key: matrix})
    (tmp_path / "x.mat").write_bytes(buf.getvalue())
    return path


def _complex(imag_at: tuple[int, int], value: complex) -> np.ndarray:
    out = SPM.astype(np.complex128)
    out[imag_at] += value
    return out


@pytest.mark.parametrize(
    "matrix",
    [
        _complex((0, 3), 4j),  # in the translation
        _complex((1, 1), 1e-3j),  # in a voxel axis
        _complex((3, 3), 1j),  # in the bottom row
        _complex((2, 0), complex(0, np.nan)),  # a NaN imaginary part
        SPM + 1j,  # everywhere
    ],
    ids=["translation", "axis", "bottom-row", "nan-imag", "all"],
)
@pytest.mark.parametrize("key", ["mat", "M"])
def test_a_complex_spm_matrix_is_refused_naming_the_mat(
    tmp_path: Path, matrix: np.ndarray, key: str
) -> None:
    path = _pair_with_mat(tmp_path, matrix, key)
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(lv.FormatError, match=r"x\.mat: .*x\.hdr .*complex numbers"):
            lv.open(path)


def test_a_complex_spm_matrix_with_zero_imaginary_parts_is_its_real_matrix(
    tmp_path: Path,
) -> None:
    path = _pair_with_mat(tmp_path, SPM.astype(np.complex128))
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        vol = lv.open(path)
    ref = nib.load(path)
    np.testing.assert_array_equal(vol.affine, np.real(ref.affine))
    assert vol.affine.dtype == np.float64
    assert vol.meta["affine_source"] == "mat"
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(ref.dataobj))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_a_real_spm_matrix_of_any_number_type_gives_nibabels_affine(
    tmp_path: Path, dtype: str
) -> None:
    path = _pair_with_mat(tmp_path, SPM.astype(dtype))
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.affine, nib.load(path).affine)
