"""NIfTI scl_slope / scl_inter to float32 (complex64): each value the nearest to nibabel's.

nibabel scales in float64 (``get_fdata``, and ``dataobj`` as soon as a scaling is set). lazyvol
returns float32, and computed it in float32: the product ``stored * scl_slope`` was rounded before
``scl_inter`` was added, so where the intercept cancels it (int16 * 0.3 - 1024.7 near 0) a value
was up to thousands of units in the last place off (0.1 read as 0.10003), a third of the values of
such an image not the float32 nearest nibabel's. float32 and complex64 data likewise.
"""

from __future__ import annotations

import numpy as np
import pytest

import lazyvol as lv
from lazyvol import scaling
from lazyvol.scaling import apply_scale

#: Values per wide temporary of the rounding (its pieces are what these blocks exceed).
ROUNDED_PIECE = getattr(scaling, "ROUNDED_PIECE", 2**18)


def _stored(dtype: str) -> np.ndarray:
    kind = np.dtype(dtype).kind
    if kind in "iu":
        info = np.iinfo(dtype)
        return np.arange(max(info.min, -20000), min(info.max, 20000)).astype(dtype)
    values = (np.random.default_rng(0).normal(size=20000) * 5000).astype(np.float32)
    return (values + 1j * values[::-1]).astype(dtype) if kind == "c" else values.astype(dtype)


@pytest.mark.parametrize("dtype", ["int16", "uint16", "float32", "complex64"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_scaled_values_are_the_float32_nearest_to_nibabels(tmp_path, dtype, suffix) -> None:
    import nibabel as nib

    stored = _stored(dtype).reshape(40, -1, 5, order="F")
    img = nib.Nifti1Image(stored, np.eye(4), dtype=np.dtype(dtype))
    img.header.set_slope_inter(0.3, -1024.7)
    path = tmp_path / f"s{suffix}"
    nib.save(img, path)
    theirs = np.asanyarray(nib.load(path).dataobj)  # float64 / complex128
    vol = lv.open(path)
    got = vol.compute()
    assert got.dtype == vol.dtype == ("complex64" if dtype == "complex64" else "float32")
    np.testing.assert_array_equal(got, theirs.astype(got.dtype))
    # a cut (strided, reversed) reads the same values
    np.testing.assert_array_equal(vol[::-3, 1::2].compute(), theirs[::-3, 1::2].astype(got.dtype))


@pytest.mark.parametrize("order", ["F", "C", "strided"])
def test_blocks_larger_than_a_piece_are_rounded_once_in_any_layout(order) -> None:
    n = 7 * (ROUNDED_PIECE // 2 + 3)  # 3.5 pieces
    flat = np.arange(n, dtype=np.int64) % 60001 - 30000
    stored = flat.astype(np.int16).reshape(7, -1, order="F" if order == "F" else "C")
    if order == "strided":
        stored = stored[::-1, ::2]
    got = apply_scale(stored, 0.3, -1024.7, np.dtype(np.float32))
    want = (stored.astype(np.float64) * 0.3 - 1024.7).astype(np.float32)
    np.testing.assert_array_equal(got, want)


def test_an_overflow_found_in_any_piece_counts_the_whole_block() -> None:
    stored = np.ones(2 * ROUNDED_PIECE + 5, dtype=np.float32)
    stored[::2] = 1e38
    with pytest.raises(lv.FormatError, match=f"takes {ROUNDED_PIECE + 3} finite stored values"):
        apply_scale(stored, 10.0, 0.0, np.dtype(np.float32), where="f.nii")


@pytest.mark.parametrize("cut", ["first_axis", "middle_axis", "reversed"])
def test_a_non_contiguous_block_whose_planes_exceed_a_piece_is_scaled(cut) -> None:
    # (the pieces of a strided block were whole planes of its last axis: a plane of more than
    # ROUNDED_PIECE values did not fit the wide temporary, and numpy's reshape ValueError escaped)
    big = np.arange(2 * (ROUNDED_PIECE + 7) * 6, dtype=np.int64) % 60001 - 30000
    whole = big.astype(np.int16).reshape(2 * (ROUNDED_PIECE + 7), 3, 2, order="F")
    stored = {
        "first_axis": whole[: ROUNDED_PIECE + 9],
        "middle_axis": whole[:, :2],
        "reversed": whole[::-1, ::-1],
    }[cut]
    assert not (stored.flags.c_contiguous or stored.flags.f_contiguous)
    got = apply_scale(stored, 0.3, -1024.7, np.dtype(np.float32))
    want = (stored.astype(np.float64) * 0.3 - 1024.7).astype(np.float32)
    np.testing.assert_array_equal(got, want)


def test_a_nifti_cut_into_chunks_of_large_planes_reads(tmp_path) -> None:
    import nibabel as nib

    stored = (np.arange(1100 * 600 * 2) % 5000 - 2000).astype(np.int16).reshape(1100, 600, 2)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(0.3, -1024.7)
    nib.save(img, tmp_path / "s.nii")
    theirs = np.asanyarray(nib.load(tmp_path / "s.nii").dataobj).astype(np.float32)
    vol = lv.open(tmp_path / "s.nii", chunks=(550, 600, 2))  # a block: 330000-value planes
    np.testing.assert_array_equal(vol.compute(), theirs)
