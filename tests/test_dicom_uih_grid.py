"""UIH GRID images (one volume's slices as tiles of one image, dcm2niix's UIH/README.md): unpacked
with each slice at its (0065,1051) position, compared with the synthetic truth and with dcm2niix
(run here on the same files); every file marked as a GRID that cannot be unpacked is refused,
naming the file and the attribute, never read as one slice."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.header import read_header
from lazyvol.errors import FormatError
from lazyvol.testing import write_dicom_4d_series, write_uih_grid_series
from test_dicom_mosaic import on_reference_grid, run_dcm2niix


def _truth_array(truth) -> np.ndarray:
    return truth.stored if truth.stored.ndim == 4 else truth.stored[..., None]


@pytest.mark.parametrize(
    ("orientation", "head_first", "n"),
    [
        ("axial", False, 7),
        ("axial", True, 12),  # 12 slices: 3 rows of 4 tiles (not a square grid)
        ("sagittal", True, 7),
        ("coronal", False, 5),
        ("oblique", True, 10),
    ],
)
def test_grid_unpacked_as_the_truth_and_dcm2niix(tmp_path, orientation, head_first, n):
    truth = write_uih_grid_series(
        tmp_path / "in", (8, 6, n), volumes=2, orientation=orientation, head_first=head_first
    )
    vol = lv.open(tmp_path / "in")
    assert vol.shape == (8, 6, n, 2)  # (it was (cols x rows of the whole image, 1, 2))
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(vol.compute()), _truth_array(truth))
    assert vol.meta["mosaic"]["layout"] == "UIH GRID"
    ref = nib.load(run_dcm2niix(tmp_path / "in", tmp_path / "ref"))
    np.testing.assert_array_equal(on_reference_grid(vol, ref), np.asarray(ref.dataobj))


def test_grid_slice_timing_from_the_items_as_dcm2niix(tmp_path):
    truth = write_uih_grid_series(tmp_path / "in", (8, 6, 7), volumes=2)
    vol = lv.open(tmp_path / "in")
    expected = [t / 1000.0 for t in truth.slice_times_ms]  # tile k = slice k (F>>H)
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], expected, atol=1e-5)
    run_dcm2niix(tmp_path / "in", tmp_path / "ref")
    ref_side = json.loads((tmp_path / "ref" / "ref.json").read_text())
    # (dcm2niix keeps a TM value HHMMSS.FFFFFF in single precision: a few ms off)
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], ref_side["SliceTiming"], atol=5e-3)


def test_grid_without_vframe_is_unpacked_by_manufacturer_and_count(tmp_path):
    # dcm2niix goes by Manufacturer UIH and (0065,1050) alone
    truth = write_uih_grid_series(tmp_path / "in", (8, 6, 7), vframe=False)
    vol = lv.open(tmp_path / "in")
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth.stored)


def test_grid_implicit_vr_and_both_header_readers(tmp_path):
    truth = write_uih_grid_series(tmp_path / "in", (8, 6, 7), syntax="implicit", head_first=True)
    fast = read_header(truth.files[0])
    slow = read_header(truth.files[0], walker=False)
    assert isinstance(fast, list) and len(fast) == 7
    assert [r.to_list() for r in fast] == [r.to_list() for r in slow]
    vol = lv.open(tmp_path / "in")
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)


def test_grid_undefined_length_sequence(tmp_path):
    truth = write_uih_grid_series(tmp_path / "in", (8, 6, 7), head_first=True)
    ds = pydicom.dcmread(truth.files[0])
    ds[0x00651051].is_undefined_length = True
    for item in ds[0x00651051].value:
        item.is_undefined_length_sequence_item = True
    ds.save_as(truth.files[0])
    vol = lv.open(tmp_path / "in")
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth.stored)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"count": None}, "(0065,1050) is missing"),
        ({"count": "7.5"}, "(0065,1050) = '7.5' is not a whole number"),
        ({"positions": False}, "(0065,1051) is missing"),
        ({"count": 6}, "(0065,1051) has 7 items but MR Number Of Slice In Volume (0065,1050)"),
        ({"count": 30}, "does not divide"),
        ({"ipp": "corner"}, "is not the first slice's position"),
    ],
)
def test_grid_that_cannot_be_unpacked_is_refused(tmp_path, kwargs, named):
    truth = write_uih_grid_series(tmp_path / "in", (8, 6, 7), volumes=2, **kwargs)
    with pytest.raises(FormatError) as err:
        lv.open(tmp_path / "in")
    msg = str(err.value)
    assert named in msg
    assert "UIH GRID" in msg and "not read a mosaic as one slice" in msg
    assert any(f in msg for f in truth.files)


def test_count_of_another_vendor_is_not_a_grid(tmp_path):
    # (0065,1050) is UIH's private element: without VFRAME or Manufacturer UIH it means nothing
    truth = write_uih_grid_series(tmp_path / "in", (8, 6, 7), vframe=False)
    ds = pydicom.dcmread(truth.files[0])
    ds.Manufacturer = "ACME"
    ds.save_as(truth.files[0])
    recs = read_header(truth.files[0])
    assert not isinstance(recs, list) and recs.mosaic is None and recs.rows == 18


def test_grid_through_the_saved_scan_index(tmp_path):
    from lazyvol.dicom import scan_index

    truth = write_uih_grid_series(tmp_path, (8, 6, 7), volumes=2, head_first=True)
    fresh = sorted(str(r.to_list()) for f in truth.files for r in read_header(f))
    for _ in range(2):  # parsed, then from the saved index
        scanned = scan_index.scan_files(str(tmp_path), use_index=True)
        assert sorted(str(r.to_list()) for r in scanned.records) == fresh
    first = lv.open(tmp_path)
    reopened = lv.open(tmp_path)  # from the saved scan report
    np.testing.assert_array_equal(reopened.compute(), truth.stored)
    assert reopened.meta["bids"] == first.meta["bids"]


def _ped_in_reference_axes(ours: str, mine: nib.Nifti1Image, ref: nib.Nifti1Image) -> str:
    """A PhaseEncodingDirection of ``mine``'s voxel axes in ``ref``'s (same world directions)."""
    t = np.linalg.inv(ref.affine[:3, :3]) @ mine.affine[:3, :3]
    col = np.round(t / np.abs(t).max(axis=0, keepdims=True)).astype(int)[:, "ijk".index(ours[0])]
    axis = int(np.flatnonzero(col)[0])
    sign = (-1 if ours.endswith("-") else 1) * int(col[axis])
    return "ijk"[axis] + ("-" if sign < 0 else "")


@pytest.mark.parametrize("layout", ["grid", "slices"])
@pytest.mark.parametrize("phase", ["COL", "ROW"])
@pytest.mark.parametrize("value", ["0", "1"])
def test_uih_phase_encoding_polarity_is_dcm2niixs(tmp_path, layout, phase, value):
    """UIH's polarity (0065,1058) was not read: lazyvol wrote PhaseEncodingAxis only, where
    dcm2niix writes PhaseEncodingDirection with its sign (1 negative, 0 positive)."""
    if layout == "grid":
        truth = write_uih_grid_series(tmp_path / "in", (8, 6, 5), volumes=2, head_first=True)
        files = truth.files
    else:
        files = write_dicom_4d_series(
            tmp_path / "in", (8, 6, 3), 2, labels=("AcquisitionTime",), modality="MR",
            extra={"Manufacturer": "UIH", "PatientPosition": "HFS"},
        ).files  # fmt: skip
    for p in files:
        ds = pydicom.dcmread(p)
        ds.InPlanePhaseEncodingDirection = phase
        ds.add_new(0x00650010, "LO", "Image Private Header")
        ds.add_new(0x00651058, "IS", value)
        ds.save_as(p)
    vol = lv.open(tmp_path / "in")
    assert "PhaseEncodingAxis" not in vol.meta["bids"]
    vol.to_nifti(tmp_path / "v.nii")
    ours = json.loads((tmp_path / "v.json").read_text())["PhaseEncodingDirection"]
    ref_path = run_dcm2niix(tmp_path / "in", tmp_path / "ref")
    theirs = json.loads(ref_path.with_suffix(".json").read_text())["PhaseEncodingDirection"]
    assert _ped_in_reference_axes(ours, nib.load(tmp_path / "v.nii"), nib.load(ref_path)) == theirs


def test_uih_polarity_means_nothing_in_another_vendors_file(tmp_path):
    truth = write_uih_grid_series(tmp_path / "in", (8, 6, 5), vframe=True)
    ds = pydicom.dcmread(truth.files[0])
    ds.Manufacturer = "ACME"
    ds.InPlanePhaseEncodingDirection = "COL"
    ds.add_new(0x00651058, "IS", "1")
    ds.save_as(truth.files[0])
    bids = lv.open(tmp_path / "in").meta["bids"]
    assert bids.get("PhaseEncodingAxis") == "j" and "PhaseEncodingDirection" not in bids


def test_a_gap_inside_a_grid_names_its_tiles(tmp_path):
    """A GRID whose (0065,1051) positions skip a slice is refused, but the message named the same
    file twice ("between F and F") and said to remove the odd files, which cannot help."""
    truth = write_uih_grid_series(tmp_path / "in", (8, 6, 5), volumes=2)
    for p in truth.files:
        ds = pydicom.dcmread(p)
        items = ds[0x00651051].value
        step = np.subtract(
            [float(x) for x in items[1].ImagePositionPatient],
            [float(x) for x in items[0].ImagePositionPatient],
        )
        for item in items[3:]:  # slices 4 and 5 one slice further: slice 4's place is empty
            item.ImagePositionPatient = [
                f"{float(x) + d:.4f}" for x, d in zip(item.ImagePositionPatient, step)
            ]
        ds.save_as(p)
    with pytest.raises(lv.SeriesError) as err:
        lv.open(tmp_path / "in")
    msg = str(err.value)
    first = sorted(truth.files)[0]
    assert f"between tile 3 of {first} and tile 4 of {first}" in msg, msg
    assert "remove the odd files" not in msg and "(0065,1051)" in msg
