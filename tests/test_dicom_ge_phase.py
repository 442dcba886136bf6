"""GE phase encoding in the sidecar: PhaseEncodingPolarityGE, PhaseEncodingDirection,
EffectiveEchoSpacing, TotalReadoutTime, ReconMatrixPE, against dcm2niix's sidecars.

The user data block (0043,102A) is built here from its documented layout (header offset at byte
24, version float there, fields 0x4C further from version 25.002; EPI bit 0x800 at +0x3A,
polarity bit 0x4 at +0x30, view order at +0x394 / +0x308), not from lazyvol's reader. dcm2niix
flips the row axis of its output, so its ``j`` is compared in lazyvol's axes through the two
affines. The real GE series of ../shared/dicom-real are compared with dcm2niix's references.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series
from test_dicom_realdata import REAL

pytestmark = pytest.mark.usefixtures("dicom_cache")

KEYS = (
    "PhaseEncodingPolarityGE",
    "PhaseEncodingDirection",
    "PhaseEncodingAxis",
    "EffectiveEchoSpacing",
    "TotalReadoutTime",
    "ReconMatrixPE",
)


def _user_data(
    version: float = 26.002,
    *,
    flipped: bool = False,
    bottom_up: bool = False,
    epi: bool = True,
    length: int = 7336,
    offset: int = 3232,
) -> bytes:
    block = bytearray(length)
    struct.pack_into("<H", block, 24, offset)
    struct.pack_into("<f", block, offset, version)
    base, view = (offset + 0x4C, 0x308) if version >= 25.002 else (offset, 0x394)
    struct.pack_into("<H", block, base + 0x3A, 0x840 if epi else 0x040)
    struct.pack_into("<H", block, base + 0x30, 0x5 if flipped else 0x1)
    if base + view + 2 <= length:
        struct.pack_into("<H", block, base + view, 2 if bottom_up else 0)
    return bytes(block)


def _write_ge(
    folder: Path,
    *,
    shape: tuple[int, int, int] = (64, 64, 3),
    pe: str | None = "COL",
    user_data: bytes | None = None,
    spacing_us: int | None = 388,
    asset: tuple[float, float] | None = (1, 1),
    partial_fourier: bool = True,
    matrix: tuple[int, int, int, int] | None = (64, 0, 0, 64),
    reordering: str | None = None,
    in_plane_factor: float | None = None,
    acquisition: str = "2D",
    echo_train: int = 1,
) -> Path:
    """A GE EPI series (one file per slice) with the phase-encoding elements asked for."""
    truth = write_dicom_series(folder, shape, modality="MR")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        ds.MRAcquisitionType = acquisition
        ds.ScanningSequence = ["EP", "GR"]
        ds.ScanOptions = ["EPI_GEMS", "PFF"] if partial_fourier else ["EPI_GEMS"]
        if pe is not None:
            ds.InPlanePhaseEncodingDirection = pe
        ds.EchoTrainLength = echo_train
        if matrix is not None:
            ds.AcquisitionMatrix = list(matrix)
        if reordering is not None:
            ds.add_new(0x00189034, "CS", reordering)
        if in_plane_factor is not None:
            ds.add_new(0x00189069, "FD", in_plane_factor)
        parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
        parm.add_new(0x2A, "OB", _user_data() if user_data is None else user_data)
        if spacing_us is not None:
            parm.add_new(0x2C, "SS", spacing_us)
        if asset is not None:
            parm.add_new(0x83, "DS", [str(a) for a in asset])
        ds.save_as(f)
    return folder


def _in_axes(ped: str, from_affine: np.ndarray, to_affine: np.ndarray) -> str:
    """A PhaseEncodingDirection of the grid of ``from_affine`` in the voxel axes of ``to_affine``."""
    t = np.linalg.inv(to_affine) @ from_affine
    col = t[:3, "ijk".index(ped[0])]
    axis = int(np.abs(col).argmax())
    sign = (-1 if ped.endswith("-") else 1) * int(np.sign(col[axis]))
    return "ijk"[axis] + ("-" if sign < 0 else "")


def _compare(mine: dict[str, Any], mine_affine, ref: dict[str, Any], ref_affine) -> None:
    ref = {k: ref[k] for k in KEYS if k in ref}
    if "PhaseEncodingDirection" in ref:
        ref["PhaseEncodingDirection"] = _in_axes(
            ref["PhaseEncodingDirection"], ref_affine, mine_affine
        )
    assert {k: mine[k] for k in KEYS if k in mine} == ref


def _both(tmp_path: Path, dcm2niix, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    src = _write_ge(tmp_path / "s", **kw)
    vol = lv.open(src)
    vol.to_nifti(tmp_path / "v.nii")
    mine = json.loads((tmp_path / "v.json").read_text())
    dcm2niix.run(src, tmp_path / "out", sidecar=True, check=True)
    (nii,) = sorted((tmp_path / "out").glob("*.nii"))
    ref = json.loads(nii.with_suffix(".json").read_text())
    _compare(mine, vol.affine, ref, nib.load(nii).affine)
    return mine, ref


@pytest.mark.parametrize(
    ("case", "polarity"),
    [
        ({}, "Unflipped"),
        ({"user_data": _user_data(flipped=True)}, "Flipped"),
        ({"user_data": _user_data(bottom_up=True)}, "Flipped"),  # the view order inverts it
        ({"user_data": _user_data(flipped=True, bottom_up=True)}, "Unflipped"),
        ({"user_data": _user_data(24.0, flipped=True)}, "Flipped"),  # fields at the old offsets
        ({"user_data": _user_data(24.0, bottom_up=True)}, "Flipped"),
        ({"user_data": _user_data(epi=False)}, None),  # not EPI: no polarity
        ({"user_data": _user_data(length=900, offset=0)}, None),  # too short to hold the fields
        ({"reordering": "LINEAR"}, "Flipped"),  # (0018,9034) comes first
        ({"reordering": "REVERSE_LINEAR", "user_data": _user_data(flipped=True)}, "Unflipped"),
        ({"reordering": "CENTRIC", "user_data": _user_data(flipped=True)}, "Flipped"),
        ({"pe": "ROW", "user_data": _user_data(flipped=True)}, "Flipped"),
        ({"acquisition": "3D", "user_data": _user_data(flipped=True)}, "Flipped"),  # no PED in 3D
        ({"acquisition": "3D", "echo_train": 8}, "Unflipped"),  # ... but for 3D EPI
    ],
)
def test_ge_phase_encoding_polarity_as_dcm2niix(tmp_path, dcm2niix, case, polarity):
    mine, _ = _both(tmp_path, dcm2niix, **case)
    assert mine.get("PhaseEncodingPolarityGE") == polarity


@pytest.mark.parametrize(
    ("case", "factor"),
    [
        # factor = (ceil(lines / round / acceleration) * round - 1) / (lines - 1), by hand
        ({}, 1.0),
        ({"asset": (0.5, 1)}, 31 / 63),
        ({"asset": (0.5, 1), "partial_fourier": False}, 31 / 63),
        ({"asset": (0.6667, 1)}, 43 / 63),
        ({"matrix": (64, 0, 0, 36), "asset": (0.5, 1)}, 19 / 35),
        ({"matrix": (64, 0, 0, 36), "asset": (0.5, 1), "partial_fourier": False}, 17 / 35),
        ({"matrix": (64, 0, 0, 48), "asset": (0.5, 1)}, 23 / 47),
        ({"asset": None, "in_plane_factor": 2.0}, 31 / 63),
        ({"shape": (64, 48, 3), "matrix": (64, 0, 0, 48)}, 1.0),
        ({"shape": (64, 48, 3), "pe": "ROW", "matrix": (0, 64, 48, 0)}, 1.0),
        ({"matrix": None, "asset": (0.5, 1)}, 1.0),
        ({"asset": None}, None),  # no acceleration stated: dcm2niix gives no spacing
        ({"asset": (0, 1)}, None),
        ({"spacing_us": None}, None),
    ],
)
def test_ge_echo_spacing_and_readout_time_as_dcm2niix(tmp_path, dcm2niix, case, factor):
    mine, _ = _both(tmp_path, dcm2niix, **case)
    if factor is None:
        assert "EffectiveEchoSpacing" not in mine and "TotalReadoutTime" not in mine
        return
    ees = 388e-6 * factor
    recon = mine["ReconMatrixPE"]
    assert recon == (case.get("shape", (64, 64))[0 if case.get("pe") == "ROW" else 1])
    assert mine["EffectiveEchoSpacing"] == pytest.approx(ees, rel=1e-5)
    assert mine["TotalReadoutTime"] == pytest.approx(ees * (recon - 1), rel=1e-5)


@pytest.mark.parametrize(
    ("asset", "in_plane", "accel", "factor"),
    [
        # factor = (ceil(64 / 4 / acceleration) * 4 - 1) / 63 (partial Fourier), by hand
        ((1, 1), 2.0, 2, 31 / 63),  # ARC 2, ASSET off: (0018,9069) states the acceleration
        ((0.5, 1), 4.0, 4, 15 / 63),  # (0018,9069) above ASSET's
        ((2, 1), 1.5, 1.5, 43 / 63),
        ((0.5, 1), 1.5, 2, 31 / 63),  # ASSET's above (0018,9069)'s
        ((0.5, 1), 1.0, 2, 31 / 63),
        ((2, 1), 1.0, None, 127 / 63),  # (0018,9069) of 1 states nothing: ASSET's 1 / 2 stays
    ],
)
def test_ge_in_plane_factor_above_the_asset_one_wins_as_dcm2niix(
    tmp_path, dcm2niix, asset, in_plane, accel, factor
):
    """A GE file stating both ASSET R factors (0043,1083) and ParallelReductionFactorInPlane
    (0018,9069): lazyvol took ASSET's whatever (0018,9069) said, so an ARC-accelerated EPI with
    ASSET 1 got ParallelReductionFactorInPlane 1 and an EffectiveEchoSpacing / TotalReadoutTime
    twice dcm2niix's (the readout time topup and fieldmap correction use). Now the larger of the
    two, (0018,9069) only above 1, as dcm2niix."""
    mine, ref = _both(tmp_path, dcm2niix, asset=asset, in_plane_factor=in_plane)
    assert mine.get("ParallelReductionFactorInPlane") == accel
    assert mine.get("ParallelReductionFactorInPlane") == ref.get("ParallelReductionFactorInPlane")
    assert mine["EffectiveEchoSpacing"] == pytest.approx(388e-6 * factor, rel=1e-5)
    assert mine["TotalReadoutTime"] == pytest.approx(388e-6 * factor * 63, rel=1e-5)


@pytest.mark.parametrize(
    ("shape", "matrix", "recon"),
    [
        ((64, 64, 3), (64, 0, 0, 64), 64),  # square: its size, whatever the direction
        ((64, 48, 3), (64, 0, 0, 48), 48),  # not square: AcquisitionMatrixPE
        ((48, 64, 3), (0, 64, 36, 0), 36),
    ],
)
def test_echo_spacing_without_a_phase_encoding_direction_as_dcm2niix(
    tmp_path, dcm2niix, shape, matrix, recon
):
    """Without InPlanePhaseEncodingDirection (0018,1312) (an anonymiser or converter dropped it)
    dcm2niix still writes ReconMatrixPE (the size of a square image, else AcquisitionMatrixPE),
    EffectiveEchoSpacing and TotalReadoutTime (no direction); lazyvol wrote none of them (h171)."""
    mine, _ = _both(tmp_path, dcm2niix, pe=None, shape=shape, matrix=matrix)
    assert mine["ReconMatrixPE"] == recon
    assert mine["EffectiveEchoSpacing"] == pytest.approx(388e-6, rel=1e-5)
    assert mine["TotalReadoutTime"] == pytest.approx(388e-6 * (recon - 1), rel=1e-5)
    assert "PhaseEncodingDirection" not in mine and "PhaseEncodingAxis" not in mine


@pytest.mark.parametrize(
    "block",
    [
        _user_data(24.0, length=916, offset=0),  # the view order would lie past the block
        _user_data(length=2000, offset=1500),  # the header offset points past the fields
        b"\x00" * 40,
        bytes(range(256)) * 8,
    ],
)
def test_ge_user_data_is_read_within_its_own_bytes(tmp_path, block):
    """A block too short for the fields its header points at states no polarity (dcm2niix reads
    on past the element: the bytes after it decide)."""
    vol = lv.open(_write_ge(tmp_path / "s", user_data=block))
    bids = vol.meta["bids"]
    assert "PhaseEncodingPolarityGE" not in bids and "PhaseEncodingDirection" not in bids
    assert bids["PhaseEncodingAxis"] == "j"


GE_REFS = sorted((REAL / "dcm_qa_nih" / "Ref").glob("DCM2NIIX_regression_test_*.json"))


@pytest.mark.skipif(not GE_REFS, reason=f"real GE data not found under {REAL}")
@pytest.mark.parametrize("ref", GE_REFS, ids=lambda p: p.stem)
def test_real_ge_epi_phase_encoding_matches_dcm2niix(ref: Path, tmp_path: Path) -> None:
    number = int(ref.stem.rsplit("_", 1)[1])
    vol = lv.open(REAL / "dcm_qa_nih" / "In" / "20180918GE" / f"mr_{number:04d}")
    vol.to_nifti(tmp_path / "v.nii")
    mine = json.loads((tmp_path / "v.json").read_text())
    side = json.loads(ref.read_text())
    _compare(mine, vol.affine, side, nib.load(ref.with_suffix(".nii")).affine)
    assert mine["PhaseEncodingPolarityGE"] == side["PhaseEncodingPolarityGE"] == "Unflipped"
