"""Volume order of series whose phases are told apart by TriggerTime (cardiac cine, triggered
dynamics) with InstanceNumber running position by position, and Siemens mosaics rotated between
volumes by prospective motion correction (PACE), against dcm2niix and the synthetic truth.

- Phases by TriggerTime (0018,1060), AcquisitionTime one value or one per slice, InstanceNumber
  numbering each slice's phases in trigger order (or restarting at each slice): the 4D order is
  the trigger order, as dcm2niix's. Where InstanceNumber numbers the phases against the trigger
  order, lazyvol keeps the trigger order with a warning naming both; dcm2niix follows
  InstanceNumber, so its volumes are lazyvol's in the order InstanceNumber gives.
- Mosaic files whose slice orientation differs (PACE rotates the slab with the head): one volume
  per file, as dcm2niix writes them ("Saving mosaics with non-parallel slices as 3D").

Reference: the stored values of :func:`lazyvol.testing.write_dicom_4d_series` /
:func:`lazyvol.testing.write_mosaic_series`, and dcm2niix's NIfTI mapped onto lazyvol's grid
through the two affines.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (6, 5, 4)
PHASES = 3


def _on_grid(ref: nib.Nifti1Image, affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``ref``'s values at the voxels of a grid ``affine`` of ``shape`` (i, j, k): the two grids
    must differ by a signed permutation and a whole-voxel shift."""
    t = np.linalg.inv(ref.affine) @ affine
    np.testing.assert_allclose(t[:3, :3], np.round(t[:3, :3]), atol=1e-4)
    np.testing.assert_allclose(t[:3, 3], np.round(t[:3, 3]), atol=1e-3)
    ijk = np.indices(shape[:3]).reshape(3, -1)
    at = np.rint(t[:3, :3] @ ijk + t[:3, 3:]).astype(int)
    values = np.asanyarray(ref.dataobj)
    return values[at[0], at[1], at[2]].reshape(shape[:3] + values.shape[3:])


def _cine(folder, numbering):
    """A cine series: phases by TriggerTime 40 ms apart; ``numbering(phase, slice)`` gives each
    file's InstanceNumber; AcquisitionTime one value per slice (segmented over heartbeats)."""
    truth = write_dicom_4d_series(folder, SHAPE, n_volumes=PHASES, numbering="position")
    for path in truth.files:
        ds = pydicom.dcmread(path)
        plane = ds.pixel_array.T
        phase, k = next(
            (t, k)
            for t in range(PHASES)
            for k in range(SHAPE[2])
            if np.array_equal(plane, truth.stored[:, :, k, t])
        )
        ds.TriggerTime = f"{40.0 * phase:.1f}"
        ds.AcquisitionTime = f"1200{k:02d}.000000"
        ds.InstanceNumber = numbering(phase, k)
        ds.save_as(path)
    return truth


def _order(data: np.ndarray, stored: np.ndarray) -> list[int | None]:
    """Which truth volume each volume of ``data`` is (None: none)."""
    return [
        next(
            (t for t in range(stored.shape[3]) if np.array_equal(data[..., v], stored[..., t])),
            None,
        )
        for v in range(data.shape[3])
    ]


AGREEING = {
    "slice-major": lambda phase, k: k * PHASES + phase + 1,
    "restarting-each-slice": lambda phase, k: phase + 1,
    "phase-major": lambda phase, k: phase * SHAPE[2] + k + 1,
}


@pytest.mark.parametrize("numbering", sorted(AGREEING))
def test_trigger_time_phases_are_volumes_in_trigger_order_as_dcm2niix(
    tmp_path, dcm2niix, numbering
):
    truth = _cine(tmp_path / "in", AGREEING[numbering])
    vol = lv.open(tmp_path / "in", use_index=False)
    data = np.asarray(vol.compute())
    assert data.shape == (*SHAPE, PHASES)
    assert _order(data, truth.stored) == list(range(PHASES))
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-4)
    (ref,) = dcm2niix(tmp_path / "in", tmp_path / "ref")
    np.testing.assert_array_equal(_on_grid(nib.load(ref), vol.affine, data.shape), data)


@pytest.mark.parametrize("phase_major", [False, True], ids=["slice-major", "phase-major"])
def test_instance_numbers_against_the_trigger_order_keep_the_trigger_order_with_a_warning(
    tmp_path, dcm2niix, phase_major
):
    def against(phase, k):
        back = PHASES - 1 - phase
        return back * SHAPE[2] + k + 1 if phase_major else k * PHASES + back + 1

    truth = _cine(tmp_path / "in", against)
    with pytest.warns(
        RuntimeWarning, match=r"ordered by TriggerTime \(0018,1060\); InstanceNumber"
    ):
        vol = lv.open(tmp_path / "in", use_index=False)
    data = np.asarray(vol.compute())
    assert _order(data, truth.stored) == list(range(PHASES))
    (info,) = lv.scan(tmp_path / "in", use_index=False)
    said = " ".join(info.warnings)
    assert "TriggerTime (0018,1060)" in said and "InstanceNumber (0020,0013)" in said, said
    (ref,) = dcm2niix(tmp_path / "in", tmp_path / "ref")
    theirs = _on_grid(nib.load(ref), vol.affine, data.shape)
    np.testing.assert_array_equal(theirs, data[..., ::-1])  # (InstanceNumber's order)


def test_mosaics_rotated_between_volumes_are_one_volume_each_as_dcm2niix(tmp_path, dcm2niix):
    """PACE: each volume's slab rotated 0.3 degrees more than the last about the x axis."""
    truth = write_mosaic_series(
        tmp_path / "m", (8, 6, 5), volumes=3, spacing=(2.0, 2.0, 3.0), orientation="oblique"
    )
    files = sorted(truth.files, key=lambda p: int(pydicom.dcmread(p).InstanceNumber))
    for n, path in enumerate(files):
        ds = pydicom.dcmread(path)
        iop = np.array(ds.ImageOrientationPatient, dtype=float).reshape(2, 3)
        a = np.radians(0.3 * n)
        rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (iop @ rot.T).ravel()]
        ds.save_as(path)
    report = lv.scan(tmp_path / "m", use_index=False)
    assert len(report) == 3 and all(i.shape == (8, 6, 5) for i in report), [i.shape for i in report]
    found = set()
    for info in report:
        assert any("ImageOrientationPatient (0020,0037)" in r for r in info.reasons), info.reasons
        data = np.asarray(lv.open(tmp_path / "m", series=info.id, use_index=False).compute())
        found |= {t for t in range(3) if np.array_equal(data, truth.stored[..., t])}
    assert found == {0, 1, 2}
    refs = dcm2niix(tmp_path / "m", tmp_path / "ref")
    assert sorted(nib.load(r).shape for r in refs) == [(8, 6, 5)] * 3
