"""Geometry attributes written with more values than the standard's count (a third PixelSpacing
value, a trailing backslash, a fourth ImagePositionPatient or seventh ImageOrientationPatient
value): read by their leading values, as dcm2niix and SimpleITK read them, and said. They were
refused (PixelSpacing as a corrupt header, the others as missing geometry with the advice to stack
by InstanceNumber), where both tools make the volume.

Truth is the synthetic series and, where installed, dcm2niix's NIfTI of the same files.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.errors import LazyvolError
from lazyvol.testing import write_dicom_series, write_enhanced_dicom
from test_dicom_mosaic import on_reference_grid

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (12, 10, 6)
SPACING = (
    0.8,
    0.7,
    2.5,
)  # (unequal in-plane spacings: a swapped or wrong one shows in world space)

#: keyword -> (text written, meta key of the note)
_CASES = {
    "PixelSpacing 3 values": ("PixelSpacing", "{1}\\{0}\\2.5", "pixel_spacing_source"),
    "PixelSpacing trailing backslash": ("PixelSpacing", "{1}\\{0}\\", "pixel_spacing_source"),
    "ImagePositionPatient 4 values": (
        "ImagePositionPatient",
        "{x}\\{y}\\{z}\\0",
        "position_source",
    ),
    "ImageOrientationPatient 7 values": (
        "ImageOrientationPatient",
        "{iop}\\0",
        "orientation_source",
    ),
}


def _rewrite(path: Path, keyword: str, template: str) -> None:
    """Write ``keyword`` of ``path`` as the raw DS text ``template`` (filled from the file)."""
    ds = pydicom.dcmread(path)
    x, y, z = (str(v) for v in ds.ImagePositionPatient)
    di, dj = SPACING[0], SPACING[1]
    iop = "\\".join(str(v) for v in ds.ImageOrientationPatient)
    text = template.format(di, dj, x=x, y=y, z=z, iop=iop)
    tag = pydicom.datadict.tag_for_keyword(keyword)
    del ds[tag]
    ds.add_new(tag, "DS", text)
    ds.save_as(path)


@pytest.mark.parametrize("case", list(_CASES))
def test_extra_values_are_left_as_dcm2niix_leaves_them(tmp_path, dcm2niix, case):
    keyword, template, meta_key = _CASES[case]
    src = tmp_path / "in"
    truth = write_dicom_series(src, SHAPE, spacing=SPACING, orientation="oblique", modality="CT")
    for f in truth.files:
        _rewrite(Path(f), keyword, template)
    vol = lv.open(src)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    note = vol.meta[meta_key]
    assert keyword in note and "first" in note and note in vol.meta["warnings"], note
    (info,) = lv.scan(src)
    assert note in info.warnings
    dcm2niix.run(src, tmp_path / "ref")
    (ref,) = [nib.load(p) for p in sorted((tmp_path / "ref").glob("*.nii"))]
    got = on_reference_grid(vol, ref)  # asserts the grids coincide in world space
    np.testing.assert_array_equal(got, np.asarray(ref.dataobj))


def test_an_extra_value_that_is_text_is_still_refused(tmp_path):
    """Extra values that are not numbers may mean the attribute is not what it says: refused,
    naming it, as before."""
    src = tmp_path / "in"
    truth = write_dicom_series(src, SHAPE, spacing=SPACING)
    for f in truth.files:
        _rewrite(Path(f), "PixelSpacing", "{1}\\{0}\\7.777")  # (pydicom writes no text as DS)
        data = Path(f).read_bytes()
        Path(f).write_bytes(data.replace(b"7.777", b"abcde"))
    with pytest.raises(LazyvolError, match=r"PixelSpacing \(0028,0030\)"):
        lv.open(src).compute()


@pytest.mark.parametrize("where", ["shared group", "per-frame position"])
def test_enhanced_frames_with_extra_values_are_read_by_the_leading_ones(tmp_path, where):
    path = tmp_path / "in" / "a.dcm"
    truth = write_enhanced_dicom(path, SHAPE, spacing=SPACING, orientation="oblique")
    ds = pydicom.dcmread(path)
    if where == "shared group":
        measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        measures.PixelSpacing = [*measures.PixelSpacing, 2.5]
        meta_key = "pixel_spacing_source"
    else:
        for item in ds.PerFrameFunctionalGroupsSequence:
            plane = item.PlanePositionSequence[0]
            plane.ImagePositionPatient = [*plane.ImagePositionPatient, 0.0]
        meta_key = "position_source"
    ds.save_as(path)
    vol = lv.open(path)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert "first" in vol.meta[meta_key]
