"""A Siemens mosaic stating no SpacingBetweenSlices: dcm2niix (and lazyvol before) stacked its
slices SliceThickness apart (3 mm for slices 3.5 mm apart: the last slice 18 mm off, with a
warning). The protocol text of its CSA series header (0029,1020) holds every slice's position
(``sSliceArray.asSlice[i].sPosition.dSag/dCor/dTra``): lazyvol places the slices by it, and says
so; a protocol whose positions contradict ImagePositionPatient is not used (said too).

Reference: the synthetic series' true affine (:func:`lazyvol.testing.write_mosaic_series`).
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (8, 6, 7)
REAL = Path(
    os.environ.get("LAZYVOL_REAL_DICOM", Path(__file__).parents[2] / "shared" / "dicom-real")
)


def _protocol(truth, shift: float, reverse: bool) -> bytes:
    """ASCCONV text listing the true slice centres (LPS), moved ``shift`` mm along the normal."""
    ni, nj, nk = SHAPE
    normal = truth.affine[:3, 2] / np.linalg.norm(truth.affine[:3, 2])
    lines = [b"### ASCCONV BEGIN ###", f"sSliceArray.lSize\t = {nk}".encode()]
    order = range(nk)[::-1] if reverse else range(nk)
    for i, k in enumerate(order):
        ras = truth.affine @ [(ni - 1) / 2, (nj - 1) / 2, k, 1]
        lps = np.array([-ras[0], -ras[1], ras[2]]) + shift * normal * [-1, -1, 1]
        for axis, v in zip(("dSag", "dCor", "dTra"), lps, strict=True):
            if abs(v) > 1e-9:  # (the scanner leaves zero components out)
                lines.append(f"sSliceArray.asSlice[{i}].sPosition.{axis}\t = {v:.8f}".encode())
    return b"\n".join([*lines, b"### ASCCONV END ###", b""])


def _series(
    tmp_path, *, head_first: bool, shift: float = 0.0, reverse: bool = False, stated: str = ""
):
    truth = write_mosaic_series(
        tmp_path / "m", SHAPE, spacing=(2.0, 2.5, 3.5), orientation="oblique" if head_first else "axial",
        head_first=head_first, volumes=2,
    )  # fmt: skip
    text = _protocol(truth, shift, reverse)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        if stated:
            ds.SpacingBetweenSlices = stated  # (negative: no spacing, ignored as dcm2niix does)
        else:
            del ds.SpacingBetweenSlices
        ds.SliceThickness = "3"
        ds.add_new(0x00291020, "OB", text + b"\0" * (len(text) % 2))
        ds.save_as(f)
    return truth


@pytest.mark.parametrize(
    ("head_first", "reverse", "stated"),
    [(False, False, ""), (True, False, ""), (False, True, ""), (False, False, "-3.5")],
)
def test_mosaic_without_spacing_is_placed_by_its_protocol(tmp_path, head_first, reverse, stated):
    truth = _series(tmp_path, head_first=head_first, reverse=reverse, stated=stated)
    with pytest.warns(RuntimeWarning) if False else _nothing():
        vol = lv.open(tmp_path / "m", use_index=False)
    again = lv.open(tmp_path / "m")  # (through the scan index too)
    lv.open(tmp_path / "m")
    np.testing.assert_allclose(again.affine, truth.affine, atol=1e-4)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.meta["slice_spacing_source"] == "protocol"
    (note,) = [w for w in vol.meta["warnings"] if "the mosaic's slices" in w]
    assert "protocol" in note and "3.5 mm apart" in note and "SliceThickness (3 mm)" in note
    assert ("is missing" in note) == (not stated)


def test_a_protocol_contradicting_the_positions_is_not_used(tmp_path):
    truth = _series(tmp_path, head_first=False, shift=2.0)
    vol = lv.open(tmp_path / "m", use_index=False)
    assert vol.meta["slice_spacing_source"] == "SliceThickness"
    np.testing.assert_allclose(vol.meta["spacing"][2], 3.0)
    np.testing.assert_allclose(vol.affine[:3, 3], truth.affine[:3, 3], atol=1e-4)  # slice 0
    (note,) = [w for w in vol.meta["warnings"] if "the mosaic's slices" in w]
    assert "SliceThickness (3 mm) apart" in note and "+2 mm" in note and "not used" in note


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _corners(affine: np.ndarray, shape) -> np.ndarray:
    ijk = np.array(list(itertools.product(*[(0, n - 1) for n in shape[:3]])), dtype=float)
    return np.sort(np.round((affine[:3, :3] @ ijk.T).T + affine[:3, 3], 3), axis=0)


@pytest.mark.parametrize("name", ["ep2d_Asc_2", "ep2d_Int_HF_5", "cmrr_Int_HF_9"])
def test_real_mosaic_without_spacing_lands_on_dcm2niix_s_grid(tmp_path, name):
    """Real Prisma mosaics (SpacingBetweenSlices 3.6 mm, SliceThickness 3 mm) with the spacing
    removed: the protocol's positions give dcm2niix's grid of the intact series (its Ref/)."""
    src = REAL / "dcm_qa_mosaic" / "In" / name
    if not src.is_dir():
        pytest.skip(f"no real DICOM folder {src}")
    number, label = name.rsplit("_", 1)[1], name.rsplit("_", 1)[0]
    ref = nib.load(REAL / "dcm_qa_mosaic" / "Ref" / f"{number}_{label}.nii")
    out = tmp_path / name
    out.mkdir()
    for f in sorted(p for p in src.iterdir() if p.is_file())[:2]:
        shutil.copy(f, out / f.name)
        ds = pydicom.dcmread(out / f.name)
        del ds.SpacingBetweenSlices
        ds.save_as(out / f.name)
    vol = lv.open(out, use_index=False)
    assert vol.meta["slice_spacing_source"] == "protocol"
    assert vol.shape[:3] == ref.shape[:3]
    np.testing.assert_allclose(
        _corners(vol.affine, vol.shape), _corners(ref.affine, ref.shape), atol=2e-3
    )
