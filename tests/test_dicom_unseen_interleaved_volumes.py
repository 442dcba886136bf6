"""Volumes of one series (told apart by TemporalPositionIdentifier (0020,0100), or by their
diffusion b-value and direction) that share no slice position, interleaved along the normal (a
volume moved by half a slice): lazyvol stacked their images as the slices of one 3D volume of
twice the slices at half the spacing, volumes interleaved along k, without a word (dcm2niix
refuses the time points: "Unable to equalize slice distances"; it stacks the diffusion volumes as
one, b-values alternating between slices). Now each is a volume of its own, at its own positions.

Reference: the synthetic truth of :func:`lazyvol.testing.write_dicom_4d_series` (stored values
and affine; the moved time point's affine moved as its files were).
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (8, 6, 5)


def _write(folder, numbering: str = "volume", moved: float = 0.5):
    """Two time points; the second's files moved ``moved`` slices along the normal."""
    truth = write_dicom_4d_series(
        folder, SHAPE, n_volumes=2, modality="MR", numbering=numbering,
        labels=("AcquisitionTime", "TemporalPositionIdentifier"),
    )  # fmt: skip
    dk = truth.affine[:3, 2]
    for path in truth.files:
        ds = pydicom.dcmread(path)
        if int(ds.TemporalPositionIdentifier) == 2:
            lps = dk * [-1, -1, 1] * moved  # (the affine is RAS; ImagePositionPatient LPS)
            ds.ImagePositionPatient = [
                f"{v:.6f}" for v in np.array(ds.ImagePositionPatient, float) + lps
            ]
            ds.save_as(path)
    return truth


@pytest.mark.parametrize("numbering", ["volume", "position"])
@pytest.mark.parametrize("moved", [0.5, -0.5, 1.5])
def test_time_points_at_positions_of_their_own_are_volumes_of_their_own(tmp_path, numbering, moved):
    truth = _write(tmp_path / "in", numbering, moved)
    report = lv.scan(tmp_path / "in", use_index=False)
    assert sorted(i.shape for i in report) == [SHAPE, SHAPE], [i.shape for i in report]
    found = {}
    for info in report:
        assert any("TemporalPositionIdentifier (0020,0100)" in r for r in info.reasons)
        vol = lv.open(tmp_path / "in", series=info.id, use_index=False)
        data = np.asarray(vol.compute())
        t = next(t for t in range(2) if np.array_equal(data, truth.stored[..., t]))
        found[t] = vol
    assert sorted(found) == [0, 1]
    np.testing.assert_allclose(found[0].affine, truth.affine, atol=1e-4)
    shifted = truth.affine.copy()
    shifted[:3, 3] += moved * truth.affine[:3, 2]
    np.testing.assert_allclose(found[1].affine, shifted, atol=1e-4)


def test_time_points_one_after_the_other_stay_one_stack_as_dcm2niix(tmp_path, dcm2niix):
    """The second time point moved by the whole stack (a moving-table station): one stack of
    both, as dcm2niix writes it."""
    truth = _write(tmp_path / "in", moved=float(SHAPE[2]))
    vol = lv.open(tmp_path / "in", use_index=False)
    np.testing.assert_array_equal(vol.compute(), np.concatenate(np.moveaxis(truth.stored, 3, 0), 2))
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)
    (ref,) = dcm2niix(tmp_path / "in", tmp_path / "ref")
    assert nib.load(ref).shape[:3] == vol.shape


def test_time_points_at_the_same_positions_stay_one_4d_volume(tmp_path):
    truth = _write(tmp_path / "in", moved=0.0)
    vol = lv.open(tmp_path / "in", use_index=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_a_temporal_label_numbering_images_does_not_split(tmp_path):
    """TemporalPositionIdentifier counting images (one position per value): no time points."""
    truth = _write(tmp_path / "in", moved=0.0)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        if int(ds.TemporalPositionIdentifier) == 2:
            os.remove(path)
            continue
        ds.TemporalPositionIdentifier = int(ds.InstanceNumber)
        ds.save_as(path)
    vol = lv.open(tmp_path / "in", use_index=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., 0])


def test_diffusion_volumes_interleaved_along_the_normal_are_volumes_of_their_own(tmp_path):
    """A b = 0 and a b = 1000 volume, the second moved half a slice (no other volume label)."""
    truth = write_dicom_4d_series(
        tmp_path / "in", SHAPE, n_volumes=2, modality="MR", labels=(),
        bvals=[0, 1000], bvecs=[[0, 0, 0], [1, 0, 0]],
    )  # fmt: skip
    for path in truth.files:
        ds = pydicom.dcmread(path)
        if float(ds.DiffusionBValue) > 0:
            lps = truth.affine[:3, 2] * [-1, -1, 1] * 0.5
            ds.ImagePositionPatient = [
                f"{v:.6f}" for v in np.array(ds.ImagePositionPatient, float) + lps
            ]
            ds.save_as(path)
    report = lv.scan(tmp_path / "in", use_index=False)
    assert sorted(i.shape for i in report) == [SHAPE, SHAPE], [i.shape for i in report]
    for info in report:
        assert any("diffusion b-value and gradient direction differs" in r for r in info.reasons)
        vol = lv.open(tmp_path / "in", series=info.id, use_index=False)
        data = np.asarray(vol.compute())
        t = next(t for t in range(2) if np.array_equal(data, truth.stored[..., t]))
        shifted = truth.affine.copy()
        shifted[:3, 3] += 0.5 * t * truth.affine[:3, 2]
        np.testing.assert_allclose(vol.affine, shifted, atol=1e-4)


def test_enhanced_volumes_interleaved_along_the_normal_are_volumes_of_their_own(tmp_path):
    """Two enhanced files of one series, one time point each (TemporalPositionIndex per frame,
    as Siemens XA writes an fMRI run), the second moved half a slice: two volumes (dcm2niix
    writes one per file), not one of their frames interleaved."""
    from lazyvol.testing import write_enhanced_dicom

    (tmp_path / "in").mkdir()
    truths, first = [], None
    for t in range(2):
        truth = write_enhanced_dicom(
            tmp_path / "in" / f"v{t}.dcm", SHAPE, spacing=(0.8, 0.7, 2.5), seed=t
        )
        ds = pydicom.dcmread(truth.files[0])
        first = first or ds
        for attr in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
            setattr(ds, attr, getattr(first, attr))
        ds.InstanceNumber = t + 1
        for item in ds.PerFrameFunctionalGroupsSequence:
            item.FrameContentSequence[0].TemporalPositionIndex = t + 1
            plane = item.PlanePositionSequence[0]
            plane.ImagePositionPatient = [
                f"{v + (1.25 * t if n == 2 else 0.0):.4f}"
                for n, v in enumerate(float(x) for x in plane.ImagePositionPatient)
            ]
        ds.save_as(truth.files[0])
        truths.append(truth)
    report = lv.scan(tmp_path / "in", use_index=False)
    assert sorted(i.shape for i in report) == [SHAPE, SHAPE], [i.shape for i in report]
    for info in report:
        assert any("TemporalPositionIndex (0020,9128)" in r for r in info.reasons), info.reasons
        vol = lv.open(tmp_path / "in", series=info.id, use_index=False)
        data = np.asarray(vol.compute())
        t = next(t for t in range(2) if np.array_equal(data, truths[t].stored))
        moved = truths[t].affine.copy()
        moved[2, 3] += 1.25 * t  # (axial: LPS z is RAS z)
        np.testing.assert_allclose(vol.affine, moved, atol=1e-4)
