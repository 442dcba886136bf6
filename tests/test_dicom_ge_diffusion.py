"""GE diffusion directions, against dcm2niix on real GE EPI headers.

GE writes each volume's gradient in the image frame ((0019,10BB/BC/BD)). lazyvol turned it into
patient coordinates as ``g0 row - g1 col + g2 normal``, which agreed with dcm2niix only on
synthetic files lacking PatientPosition and InPlanePhaseEncodingDirection (where dcm2niix does not
reorient at all); on real GE headers dcm2niix's rule (from dicm2nii, validated on GE data) gives
``-g0 row - g1 col + g2 normal``: lazyvol's directions were mirrored. The real headers come from
``../shared/dicom-real`` (skipped without it); the reference is dcm2niix's .bvec, mapped to the
patient frame through its own affine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.sidecar import world_gradients
from test_dicom_realdata import REAL

GE = REAL / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0004"
DIRS = np.random.default_rng(3).normal(size=(4, 3))
DIRS /= np.linalg.norm(DIRS, axis=1, keepdims=True)


def _rotation(deg_x: float, deg_y: float) -> np.ndarray:
    ax, ay = np.deg2rad([deg_x, deg_y])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    return ry @ rx


def _ge_dwi(folder: Path, rot: np.ndarray, phase: str | None, descending: bool) -> None:
    """The real GE EPI's first 5 volumes (15 slices each) as a DWI: b = 0, then 4 directions."""
    files = sorted(GE.glob("*.dcm"))
    dss = sorted((pydicom.dcmread(f) for f in files), key=lambda d: int(d.InstanceNumber))[:75]
    pos = np.array([[float(x) for x in d.ImagePositionPatient] for d in dss])
    centre = pos.mean(axis=0)
    folder.mkdir()
    for n, ds in enumerate(dss):
        vol, k = divmod(n, 15)
        iop = np.array([float(x) for x in ds.ImageOrientationPatient])
        ds.ImageOrientationPatient = [f"{x:.8f}" for x in np.r_[rot @ iop[:3], rot @ iop[3:]]]
        p = pos[vol * 15 + (14 - k if descending else k)]
        ds.ImagePositionPatient = [f"{x:.6f}" for x in centre + rot @ (p - centre)]
        if phase is None:
            del ds.InPlanePhaseEncodingDirection
        else:
            ds.InPlanePhaseEncodingDirection = phase
        b = 0 if vol == 0 else 1000
        ds[0x0043, 0x1039].value = [b + 1_000_000_000, *list(ds[0x0043, 0x1039].value)[1:]]
        block = ds.private_block(0x0019, "GEMS_ACQU_01")
        for element, value in zip((0xBB, 0xBC, 0xBD), DIRS[vol - 1] if b else np.zeros(3)):
            block.add_new(element, "DS", f"{value:.6f}")
        ds.save_as(folder / f"IM{n:05d}.dcm", enforce_file_format=False)


def _dcm2niix_lps(src: Path, out: Path) -> np.ndarray:
    exe = shutil.which("dcm2niix")
    if exe is None:
        pytest.skip("dcm2niix binary not installed (pip install dcm2niix)")
    out.mkdir()
    subprocess.run(
        [exe, "-b", "n", "-z", "n", "-f", "v", "-o", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (nii,) = out.glob("*.nii")
    return world_gradients(np.loadtxt(nii.with_suffix(".bvec")), nib.load(nii).affine)


@pytest.mark.skipif(not GE.is_dir(), reason=f"real GE EPI not found at {GE} (../shared absent)")
@pytest.mark.parametrize(
    ("rot", "phase", "descending"),
    [
        ((0, 0), "COL", False),
        ((20, 10), "COL", False),  # oblique
        ((0, 0), "COL", True),  # slices stored in descending order
        ((20, 10), "COL", True),
        ((0, 0), "ROW", False),
        ((20, 10), "ROW", True),
    ],
)
def test_ge_directions_are_dcm2niixs(tmp_path, rot, phase, descending):
    _ge_dwi(tmp_path / "s", _rotation(*rot), phase, descending)
    vol = lv.open(tmp_path / "s")
    ours = np.asarray(vol.meta["diffusion"]["gradients_lps"])
    ref = _dcm2niix_lps(tmp_path / "s", tmp_path / "out")
    assert vol.meta["diffusion"]["bvals"] == [0.0, 1000.0, 1000.0, 1000.0, 1000.0]
    np.testing.assert_allclose(ours[1:], ref[1:], atol=2e-3)  # dcm2niix writes 4 decimals


@pytest.mark.skipif(not GE.is_dir(), reason=f"real GE EPI not found at {GE} (../shared absent)")
@pytest.mark.parametrize("phase", ["COL", "ROW"])
@pytest.mark.parametrize(
    "rot", [(0, 90), (90, 0), (80, 15)], ids=["sagittal", "coronal", "oblique"]
)
def test_ge_directions_outside_axial_slices_are_dcm2niixs(tmp_path, rot, phase):
    """dcm2niix's GE rule flips by the slice plane (coronal: the phase component; sagittal: the
    whole vector); lazyvol applied the axial rule to every plane. Its note now says which plane's
    rule it followed (dcm2niix: "Limited validation for non-Axial DTI")."""
    _ge_dwi(tmp_path / "s", _rotation(*rot), phase, False)
    vol = lv.open(tmp_path / "s")
    plane = "sagittal" if rot == (0, 90) else "coronal"
    assert any(f"of a {plane} series" in w for w in vol.meta["warnings"])
    ours = np.asarray(vol.meta["diffusion"]["gradients_lps"])
    ref = _dcm2niix_lps(tmp_path / "s", tmp_path / "out")
    np.testing.assert_allclose(ours[1:], ref[1:], atol=2e-3)  # dcm2niix writes 4 decimals


@pytest.mark.skipif(not GE.is_dir(), reason=f"real GE EPI not found at {GE} (../shared absent)")
def test_ge_directions_without_a_phase_direction_warn(tmp_path):
    _ge_dwi(tmp_path / "s", np.eye(3), None, False)
    vol = lv.open(tmp_path / "s")
    assert any(
        "InPlanePhaseEncodingDirection (0018,1312) is missing" in w for w in vol.meta["warnings"]
    )
    g = np.asarray(vol.meta["diffusion"]["gradients_lps"])
    np.testing.assert_allclose(g[1:], DIRS * [-1, -1, 1], atol=1e-5)  # as column phase encoding
