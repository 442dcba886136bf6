"""Siemens mosaics stating no SpacingBetweenSlices whose protocol's slice positions cannot place
the tiles: lazyvol stacks them SliceThickness apart, as dcm2niix does, and its note says why the
protocol's positions were not used (it said nothing when they were uneven or repeated, and the
reader could not tell an uneven acquisition from a protocol that merely was not read).

Reference: the synthetic series' true geometry (:func:`lazyvol.testing.write_mosaic_series`) and
the protocol text written into the files.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (8, 6, 7)


def _protocol(truth, moved: dict[int, float]) -> bytes:
    """ASCCONV text listing the true slice centres (LPS), slice ``k`` moved ``moved[k]`` mm
    along the slice normal."""
    ni, nj, nk = SHAPE
    normal = truth.affine[:3, 2] / np.linalg.norm(truth.affine[:3, 2])
    lines = [b"### ASCCONV BEGIN ###", f"sSliceArray.lSize\t = {nk}".encode()]
    for k in range(nk):
        ras = (
            truth.affine @ [(ni - 1) / 2, (nj - 1) / 2, k, 1] + np.r_[moved.get(k, 0.0) * normal, 0]
        )
        lps = np.array([-ras[0], -ras[1], ras[2]])
        for axis, v in zip(("dSag", "dCor", "dTra"), lps, strict=True):
            lines.append(f"sSliceArray.asSlice[{k}].sPosition.{axis}\t = {v:.8f}".encode())
    return b"\n".join([*lines, b"### ASCCONV END ###", b""])


@pytest.mark.parametrize(
    ("moved", "said"),
    [
        ({4: 1.5, 5: 1.5, 6: 1.5}, "are not evenly spaced (steps of 3.5 to 5 mm"),
        ({3: -3.5}, "put two slices at one place"),
    ],
    ids=["gap-between-slice-groups", "repeated-position"],
)
def test_mosaic_protocol_positions_not_used_say_why(tmp_path, moved, said):
    truth = write_mosaic_series(
        tmp_path / "m", SHAPE, spacing=(2.0, 2.5, 3.5), orientation="oblique", volumes=2
    )
    text = _protocol(truth, moved)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.SpacingBetweenSlices
        ds.SliceThickness = "3"
        ds.add_new(0x00291020, "OB", text + b"\0" * (len(text) % 2))
        ds.save_as(f)
    vol = lv.open(tmp_path / "m", use_index=False)
    assert vol.meta["slice_spacing_source"] == "SliceThickness"
    np.testing.assert_allclose(np.linalg.norm(vol.affine[:3, 2]), 3.0, atol=1e-6)
    np.testing.assert_allclose(vol.affine[:3, 3], truth.affine[:3, 3], atol=1e-4)  # slice 0
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    (note,) = [w for w in vol.meta["warnings"] if "the mosaic's slices" in w]
    assert "SliceThickness (3 mm) apart" in note, note
    assert said in note and "were not used" in note, note
