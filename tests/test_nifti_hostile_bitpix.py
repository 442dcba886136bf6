"""A NIfTI header whose ``bitpix`` is not the voxel size of its ``datatype`` contradicts itself:
a damaged ``datatype`` (int16 data labelled uint8) read the file as another type without a word
whenever the file was long enough. The data are still read as ``datatype`` says (as nibabel and
niftilib read them), with a warning naming both fields and ``meta["bitpix_mismatch"]``."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv

SHAPE = (6, 5, 4)


def _with_fields(tmp_path: Path, code: int, bitpix: int, suffix: str, nifti2: bool) -> Path:
    data = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
    klass = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    plain = tmp_path / "src.nii"
    nib.save(klass(data, np.eye(4)), plain)
    raw = bytearray(plain.read_bytes())
    at = 12 if nifti2 else 70  # datatype, then bitpix: int16 each
    raw[at : at + 2] = np.int16(code).tobytes()
    raw[at + 2 : at + 4] = np.int16(bitpix).tobytes()
    path = tmp_path / f"x{suffix}"
    path.write_bytes(gzip.compress(bytes(raw), mtime=0) if suffix.endswith(".gz") else raw)
    return path


@pytest.mark.parametrize("nifti2", [False, True])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(
    ("code", "bitpix", "bits"), [(2, 16, 8), (256, 16, 8), (4, 8, 16), (4, 32, 16), (512, 64, 16)]
)
def test_bitpix_disagreeing_with_datatype_is_warned_and_recorded(
    tmp_path: Path, code: int, bitpix: int, bits: int, suffix: str, nifti2: bool
) -> None:
    path = _with_fields(tmp_path, code, bitpix, suffix, nifti2)
    with pytest.warns(RuntimeWarning, match=rf"x\.nii.*bitpix = {bitpix} .*datatype.*{bits} bits"):
        vol = lv.open(path)
    assert vol.meta["bitpix_mismatch"] == {"bitpix": bitpix, "datatype_bits": bits}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.asanyarray(nib.load(path).dataobj)
    np.testing.assert_array_equal(vol.compute(), ref)  # read as datatype says, as nibabel


@pytest.mark.parametrize("nifti2", [False, True])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(("code", "bitpix"), [(16, 16), (64, 16), (8, 16), (1792, 16)])
def test_a_file_too_short_for_a_datatype_bitpix_disagrees_with_says_so(
    tmp_path: Path, code: int, bitpix: int, suffix: str, nifti2: bool
) -> None:
    # int16 data whose datatype now says a wider type: "truncated", and bitpix points at why
    path = _with_fields(tmp_path, code, bitpix, suffix, nifti2)
    with pytest.raises(lv.FormatError, match=r"x\.nii.*truncated.*bitpix = 16 .*datatype damaged"):
        lv.open(path)


@pytest.mark.parametrize("bitpix", [16, 0])
def test_bitpix_agreeing_or_unset_is_silent(tmp_path: Path, bitpix: int) -> None:
    path = _with_fields(tmp_path, 4, bitpix, ".nii", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vol = lv.open(path)
    assert "bitpix_mismatch" not in vol.meta
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(path).dataobj))
