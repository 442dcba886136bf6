"""ImageOrientationPatient (0020,0037): when two files' orientations are one (as dcm2niix decides,
allowing values written coarsely their rounding), which one a volume's affine uses (never one
chosen by the files' names), and when a value off orthonormal is rounding (normalised) or skew
(refused)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.checks import normalised_iop, orientation_step
from lazyvol.testing import write_dicom_series

SHAPE = (6, 5, 4)
SPACING = (0.9, 0.8, 2.5)
UID = "1.2.826.0.1.3680043.8.498.77"


def _turned(deg: float) -> list[float]:
    """The axial orientation turned ``deg`` degrees in-plane (full precision)."""
    a = np.deg2rad(deg)
    return [np.cos(a), np.sin(a), 0.0, -np.sin(a), np.cos(a), 0.0]


def _two_prescriptions(folder: Path, names: tuple[str, str], iops, counts=(4, 4)):
    """``counts`` axial slices then more slices (above them) in another orientation, all of one
    SeriesInstanceUID, their files named with the prefixes ``names``; each part's truth."""
    parts = []
    for n, (prefix, iop, nk) in enumerate(zip(names, iops, counts)):
        z = 30.0 + n * counts[0] * SPACING[2]
        truth = write_dicom_series(
            folder, (*SHAPE[:2], nk), series_uid=UID, prefix=prefix, orientation=iop,
            spacing=SPACING, origin=(-2.0, -3.0, z), seed=n,
        )  # fmt: skip
        parts.append(truth)
    return parts


def _write_iop(files, iop: list[str]) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        ds.ImageOrientationPatient = iop
        ds.save_as(f)


def _canonical(data, affine):
    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data), affine))
    return np.asarray(img.dataobj), img.affine


@pytest.mark.parametrize("deg, volumes", [(0.005, 1), (0.01, 2), (0.05, 2)])
def test_slices_turned_a_little_split_as_dcm2niix_splits_them(tmp_path, dcm2niix, deg, volumes):
    # dcm2niix's isSameFloatGE: every cosine within 1e-4 (0.01 degrees turns one by 1.7e-4)
    parts = _two_prescriptions(tmp_path / "s", ("A", "B"), ("axial", _turned(deg)))
    infos = lv.scan(tmp_path / "s")
    assert len(infos) == volumes
    written = map(nib.load, dcm2niix(tmp_path / "s", tmp_path / "out"))
    theirs = [_canonical(np.asanyarray(img.dataobj), img.affine) for img in written]
    assert len(theirs) == volumes
    for info in infos:
        vol = lv.open(tmp_path / "s", series=info.id)
        mine = _canonical(vol.compute(), vol.affine)
        same = [t for t in theirs if t[0].shape == mine[0].shape and np.array_equal(t[0], mine[0])]
        assert len(same) == 1
        np.testing.assert_allclose(mine[1], same[0][1], atol=1e-3)
    if volumes == 2:  # each volume where its own files place it
        for part in parts:
            info = next(i for i in infos if set(i.files) == set(part.files))
            vol = lv.open(tmp_path / "s", series=info.id)
            np.testing.assert_allclose(vol.affine, part.affine, atol=1e-9)


@pytest.mark.parametrize("counts", [(5, 3), (4, 4), (3, 5)])
def test_the_affine_of_orientations_within_tolerance_does_not_depend_on_file_names(
    tmp_path, counts
):
    # GE exports write one orientation a little differently in some files: one volume, whose
    # affine uses the orientation most files state (the lowest of a tie), whatever their names
    iops = ("axial", _turned(0.005))
    affines = []
    for names in (("A", "B"), ("B", "A")):
        folder = tmp_path / "".join(names)
        parts = _two_prescriptions(folder, names, iops, counts)
        vol = lv.open(folder)
        assert vol.shape == (*SHAPE[:2], sum(counts))
        affines.append(vol.affine)
    np.testing.assert_array_equal(affines[0], affines[1])
    if counts[0] != counts[1]:
        usual = parts[int(counts[1] > counts[0])]
        np.testing.assert_allclose(affines[0][:3, :2], usual.affine[:3, :2], atol=1e-12)


@pytest.mark.parametrize("steps, volumes", [(0, 1), (1, 2), (2, 2)])
def test_orientations_written_coarsely_are_compared_as_dcm2niix_compares_them(
    tmp_path, dcm2niix, steps, volumes
):
    # Written to 3 decimals, values one step apart are two orientations, as dcm2niix splits them
    # (its 1e-4 per cosine); a tolerance widened by the decimals seen also merged stacks turned by
    # degrees whose exact short values (0.8/0.6) looked coarse.
    parts = _two_prescriptions(tmp_path / "s", ("A", "B"), ("axial", "axial"))
    for part, sin in zip(parts, (0.100, 0.100 + steps * 0.001)):
        _write_iop(part.files, ["0.995", f"{sin:.3f}", "0", f"{-sin:.3f}", "0.995", "0"])
    infos = lv.scan(tmp_path / "s")
    assert len(infos) == volumes
    assert all(info.error is None for info in infos)
    assert len(dcm2niix(tmp_path / "s", tmp_path / "ref")) == volumes


def test_exact_short_cosines_turned_apart_are_two_orientations(tmp_path, dcm2niix):
    """[1,0,0, 0,0.8,0.6] (exact) beside a stack turned 2.9 degrees continuing its positions: one
    volume (every slice given the first orientation, a far corner 3 mm off) when 0.8/0.6 were
    taken for values written to 1 decimal and allowed 0.1 of rounding; dcm2niix writes two."""
    parts = _two_prescriptions(tmp_path / "s", ("A", "B"), ("axial", "axial"))
    turned = np.deg2rad(np.degrees(np.arctan2(0.6, 0.8)) + 2.9)
    _write_iop(parts[0].files, ["1", "0", "0", "0", "0.8", "0.6"])
    _write_iop(
        parts[1].files, ["1", "0", "0", "0", f"{np.cos(turned):.10f}", f"{np.sin(turned):.10f}"]
    )
    written = dcm2niix(tmp_path / "s", tmp_path / "ref")
    # (the positions go straight up: both stacks are sheared, and dcm2niix adds a _Tilt_ file each)
    assert len(lv.scan(tmp_path / "s")) == 2 == len([p for p in written if "_Tilt" not in p.name])


def test_orientation_step_reads_the_written_decimals():
    assert orientation_step([1, 0, 0, 0, 1, 0]) == 0.0
    assert orientation_step([0.995, 0.1, 0, -0.1, 0.995, 0]) == pytest.approx(1e-3)
    assert orientation_step([0.99999994, 0, 0, 0, 1, 0]) == pytest.approx(1e-8)
    assert orientation_step(_turned(10.0)) == 0.0  # full precision
    # a zero written in float notation (a real Siemens file: 2.07e-013) is whole, not 1 decimal
    assert orientation_step([1, -2.07e-13, 0, 2.07e-13, 1, 0]) == 0.0


def test_a_tilt_is_flagged_with_zeros_written_in_float_notation(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (6, 5, 8), tilt_deg=0.5)
    _write_iop(truth.files, ["1", "-2.07e-013", "0", "2.07e-013", "1", "0"])
    vol = lv.open(tmp_path / "s")
    assert vol.meta["gantry_tilt_deg"] == pytest.approx(0.5, abs=1e-3)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-9)


def _rotations(n: int, seed: int = 5) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 3, 3))
    return np.stack([np.linalg.qr(m)[0] for m in q])


@pytest.mark.parametrize("decimals", range(2, 9))
def test_orientations_rounded_to_their_decimals_are_normalised(decimals):
    step = 10.0**-decimals
    for rot in _rotations(200):
        truth = np.r_[rot[:, 0], rot[:, 1]]
        written = np.round(truth, decimals)
        fixed, why = normalised_iop(written)
        assert fixed is not None, (written.tolist(), why)
        # the repair is as close to the true pair as the rounding allows
        np.testing.assert_allclose(fixed, truth, atol=max(1e-4, 2 * step))


@pytest.mark.parametrize(
    "iop",
    [
        [f"{x:.10f}" for x in (1, 0, 0, np.sin(np.deg2rad(0.5)), np.cos(np.deg2rad(0.5)), 0)],
        [f"{x:.10f}" for x in (1, 0, 0, np.sin(np.deg2rad(0.02)), np.cos(np.deg2rad(0.02)), 0)],
        # exact short values look like 1 decimal: never allowed 0.1 of rounding (an 84.3 degree
        # pair was normalised, both directions moved by ~3 degrees)
        ["1", "0", "0", "0.1", "0.8", "0.6"],
        ["1", "0", "0", "0.0123", "0.9999", "0"],  # 4 decimals: rounding is 1.7e-4 at most
        ["1.0002", "0", "0", "0", "1", "0"],
    ],
)
def test_skew_beyond_the_written_rounding_is_refused(tmp_path, iop):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    _write_iop(truth.files, iop)
    with pytest.raises(lv.FormatError, match=r"ImageOrientationPatient \(0020,0037\)") as err:
        lv.open(tmp_path / "s")
    msg = str(err.value)
    assert str(tmp_path / "s" / "IM0000") in msg
    assert "correct ImageOrientationPatient in the file" in msg
