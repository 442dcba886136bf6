"""GE and Canon image-frame diffusion directions of coronal, sagittal and oblique slices, against
dcm2niix.

GE's (0019,10BB-10BD) and Canon's ImageComments ``b=...(x,y,z)`` directions are in the image's
frequency / phase / slice frame. dcm2niix's ``geCorrectBvecs`` (from dicm2nii, validated by GE on
every plane: dcm2niix issues 737, 863, 970) flips them by the slice plane it finds from the slice
normal: a coronal series' phase component is negated, a sagittal series' whole vector. lazyvol
applied the axial rule to every plane (and warned that dcm2niix differs): its coronal directions
were mirrored in the phase axis, its sagittal ones antipodal, so its .bvec was not dcm2niix's.

The references: dcm2niix's .bvec, mapped to the patient frame through its own affine; and the
rule written out with numpy from the source (the plane by the normal's largest component, a tie
to the later axis, one slice per volume read as axial).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series
from test_dicom_vendor_diffusion import _reference, _rewrite, _written_lps

DIRS = np.random.default_rng(5).normal(size=(3, 3))
DIRS /= np.linalg.norm(DIRS, axis=1, keepdims=True)
_S = 1 / np.sqrt(2)


def _rotated(row, col, deg_x: float, deg_y: float) -> list[float]:
    ax, ay = np.deg2rad([deg_x, deg_y])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rot = ry @ rx
    return [*(rot @ np.asarray(row, float)), *(rot @ np.asarray(col, float))]


#: ImageOrientationPatient of each case, and the plane dcm2niix reads it as.
ORIENTATIONS = {
    "axial": ([1, 0, 0, 0, 1, 0], "axial"),
    "coronal": ([1, 0, 0, 0, 0, -1], "coronal"),
    "sagittal": ([0, 1, 0, 0, 0, -1], "sagittal"),
    "oblique_coronal": (_rotated([1, 0, 0], [0, 0, -1], 15, 10), "coronal"),
    "oblique_sagittal": (_rotated([0, 1, 0], [0, 0, -1], 15, 10), "sagittal"),
    "oblique_axial": (_rotated([1, 0, 0], [0, 1, 0], 20, 30), "axial"),
    "sagittal_coronal_tie": ([-_S, _S, 0, 0, 0, -1], "coronal"),
}


def _series(folder: Path, vendor: str, iop, phase: str, nk: int = 3, dk: float = 2.5):
    """A DWI (b = 0, then three directions) with GE's private directions or Canon's comments."""
    extra = {"PatientPosition": "HFS", "InPlanePhaseEncodingDirection": phase}
    if vendor == "CANON":
        extra["Manufacturer"] = "CANON_MEC"
    truth = write_dicom_4d_series(
        folder, (8, 6, nk), labels=(), bvals=[0, 1000, 1000, 1000],
        bvecs=[(0.0, 0.0, 0.0), *map(tuple, DIRS)], modality="MR", orientation=iop,
        spacing=(1.0, 1.0, dk), extra=extra, vendor="GE" if vendor == "GE" else "standard",
    )  # fmt: skip

    def edit(ds) -> None:
        ds.InPlanePhaseEncodingDirection = phase  # (the GE writer sets COL)
        if vendor != "CANON":
            return
        b = float(ds.DiffusionBValue)
        if b == 0:  # (Canon's b = 0 image: neither attribute)
            del ds.DiffusionBValue, ds.DiffusionGradientOrientation
            return
        g = [float(x) for x in ds.DiffusionGradientOrientation]
        del ds.DiffusionGradientOrientation
        ds.ImageComments = f"b={b:g}({g[0]:.3f},{g[1]:.3f},{g[2]:.3f})"

    _rewrite(truth, edit)
    return truth


def _rule_lps(folder: Path, vendor: str, phase: str, plane: str) -> np.ndarray:
    """dcm2niix's rule in numpy: the written direction (Canon's with x and y swapped) flipped by
    the plane (coronal: the phase component; sagittal: all), then by the phase direction."""
    ds = pydicom.dcmread(next(folder.iterdir()))
    iop = np.array([float(x) for x in ds.ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    g = np.round(DIRS, 3) if vendor == "CANON" else np.round(DIRS, 6)
    if vendor == "CANON":
        g = g[:, [1, 0, 2]]
    g = g * {"axial": [1, 1, 1], "coronal": [1, -1, 1], "sagittal": [-1, -1, -1]}[plane]
    if phase == "ROW":
        lps = np.outer(-g[:, 1], row) + np.outer(g[:, 0], col) + np.outer(g[:, 2], normal)
    else:
        lps = np.outer(-g[:, 0], row) - np.outer(g[:, 1], col) + np.outer(g[:, 2], normal)
    return lps / np.linalg.norm(lps, axis=1, keepdims=True)


def _check(vol: lv.Volume, dcm2niix, folder: Path, tmp_path: Path, rule: np.ndarray) -> None:
    """Same directions as the rule and as dcm2niix's .bvec, in the table and in lazyvol's own
    .bvec (all in the patient frame)."""
    ours = np.asarray(vol.meta["diffusion"]["gradients_lps"])
    np.testing.assert_allclose(ours[1:], rule, atol=1e-5)
    written = _written_lps(vol, tmp_path / "v.nii")
    ref_bvals, ref_lps = _reference(dcm2niix, folder, tmp_path / "out")
    assert ref_lps is not None
    np.testing.assert_allclose(vol.meta["diffusion"]["bvals"], ref_bvals)
    ref_unit = ref_lps[1:] / np.linalg.norm(ref_lps[1:], axis=1, keepdims=True)
    np.testing.assert_allclose(ours[1:], ref_unit, atol=2e-3)  # (dcm2niix: 4 decimals)
    np.testing.assert_allclose(written[1:], ref_unit, atol=2e-3)


@pytest.mark.parametrize("vendor", ["GE", "CANON"])
@pytest.mark.parametrize("phase", ["COL", "ROW"])
@pytest.mark.parametrize("case", sorted(ORIENTATIONS))
def test_image_frame_directions_by_slice_plane_are_dcm2niixs(
    tmp_path, dcm2niix, vendor, phase, case
):
    iop, plane = ORIENTATIONS[case]
    _series(tmp_path / "s", vendor, iop, phase)
    vol = lv.open(tmp_path / "s")
    _check(vol, dcm2niix, tmp_path / "s", tmp_path, _rule_lps(tmp_path / "s", vendor, phase, plane))
    noted = [w for w in vol.meta.get("warnings", []) if f"of a {plane} series" in w]
    assert bool(noted) == (plane != "axial")


@pytest.mark.parametrize("dk", [2.5, -2.5], ids=["ascending", "descending"])
@pytest.mark.parametrize("case", ["coronal", "sagittal"])
def test_slice_order_does_not_change_the_plane_rule(tmp_path, dcm2niix, case, dk):
    iop, plane = ORIENTATIONS[case]
    _series(tmp_path / "s", "GE", iop, "COL", dk=dk)
    vol = lv.open(tmp_path / "s")
    _check(vol, dcm2niix, tmp_path / "s", tmp_path, _rule_lps(tmp_path / "s", "GE", "COL", plane))


@pytest.mark.parametrize("case", ["coronal", "sagittal"])
def test_one_slice_per_volume_is_read_with_the_axial_rule(tmp_path, dcm2niix, case):
    """dcm2niix finds no slice direction for one slice ("Impossible GE slice orientation") and
    falls back to its axial rule, whatever the plane."""
    iop, _ = ORIENTATIONS[case]
    _series(tmp_path / "s", "GE", iop, "COL", nk=1)
    vol = lv.open(tmp_path / "s")
    _check(vol, dcm2niix, tmp_path / "s", tmp_path, _rule_lps(tmp_path / "s", "GE", "COL", "axial"))
