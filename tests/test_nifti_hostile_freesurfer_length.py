"""A FreeSurfer-style long vector (dim = [3, -1, 1, 1], its length in glmin) whose glmin is not a
positive length is refused naming glmin and its value (it was refused as "dim = [3, -1, 1, 1] has
a dimension < 1", naming the one field that is as FreeSurfer writes it)."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv

LENGTH = 40000  # over 32767: nibabel writes dim[1] = -1 and the length in glmin


def _long_vector(tmp_path: Path, glmin: int, suffix: str, ndim: int = 3) -> Path:
    data = np.arange(LENGTH, dtype=np.float32).reshape(LENGTH, 1, 1)
    plain = tmp_path / "v.nii"
    with warnings.catch_warnings():  # nibabel: "Using large vector Freesurfer hack"
        warnings.simplefilter("ignore", UserWarning)
        nib.save(nib.Nifti1Image(data, np.eye(4)), plain)
    raw = bytearray(plain.read_bytes())
    assert np.frombuffer(raw[40:48], "<i2").tolist() == [3, -1, 1, 1]  # nibabel's FreeSurfer way
    raw[40:42] = np.int16(ndim).tobytes()
    raw[144:148] = np.int32(glmin).tobytes()  # glmin
    path = tmp_path / f"x{suffix}"
    path.write_bytes(gzip.compress(bytes(raw), mtime=0) if suffix.endswith(".gz") else raw)
    return path


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("glmin", [-1, -LENGTH, -(2**31)])
def test_a_negative_freesurfer_length_is_refused_naming_glmin(
    tmp_path: Path, glmin: int, suffix: str
) -> None:
    path = _long_vector(tmp_path, glmin, suffix)
    with pytest.raises(lv.FormatError, match=rf"x\.nii.*glmin = {glmin}\b.*dim\[1\] = -1"):
        lv.open(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_zero_freesurfer_length_is_refused_naming_glmin(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(lv.FormatError, match=r"x\.nii.*0 in glmin"):
        lv.open(_long_vector(tmp_path, 0, suffix))


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_the_freesurfer_length_reads_as_nibabel(tmp_path: Path, suffix: str) -> None:
    path = _long_vector(tmp_path, LENGTH, suffix)
    ref = np.asanyarray(nib.load(path).dataobj)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), ref)
    np.testing.assert_array_equal(vol[-5:].compute(), ref[-5:])


def test_a_negative_dim1_without_three_dims_is_no_freesurfer_vector(tmp_path: Path) -> None:
    # dim[0] = 1: nibabel's FreeSurfer rule needs three dims; the dim itself is what is wrong
    path = _long_vector(tmp_path, -1, ".nii", ndim=1)
    with pytest.raises(lv.FormatError, match=r"dim = \[1, -1\] has a dimension < 1") as err:
        lv.open(path)
    assert "glmin" not in str(err.value)
