"""Real scanner DICOM against dcm2niix's reference conversions (``../shared/dicom-real``).

Every reference NIfTI under ``<root>/*/Ref`` is matched with the lazyvol volume of the same
SeriesNumber (from the reference's JSON sidecar; image type and echo number break ties) and compared
in world space: ``T = inv(ref.affine) @ vol.affine`` must be a signed permutation with an integer
translation (the grids' corners within 1e-3 mm), then lazyvol's array is mapped onto the reference
grid through ``T`` and the values compared (exactly for integer data).

The data folder is ``../shared/dicom-real`` relative to the repository root, or
``$LAZYVOL_REAL_DICOM``; without it every test here is skipped with that reason.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lazyvol as lv

REAL = Path(
    os.environ.get("LAZYVOL_REAL_DICOM", Path(__file__).parents[2] / "shared" / "dicom-real")
)
CORNER_TOL_MM = 1e-3


def _references() -> list[Path]:
    if not REAL.is_dir():
        return []
    return sorted(REAL.glob("*/Ref/*.nii")) + sorted(REAL.glob("*/Ref/*.nii.gz"))


def _sidecar(ref: Path) -> dict[str, Any]:
    name = ref.name.removesuffix(".gz").removesuffix(".nii") + ".json"
    p = ref.with_name(name)
    return json.loads(p.read_text()) if p.exists() else {}


def _param(ref: Path) -> Any:
    return pytest.param(ref, id=f"{ref.parents[1].name}/{ref.name}")


@lru_cache(maxsize=8)
def _scan(collection: str) -> lv.ScanReport:
    return lv.scan(REAL / collection / "In", use_index=False)


def world_corners(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """World coordinates of the 8 corner voxel centres of a 3D grid (rows of x, y, z)."""
    idx = np.array(
        [
            [i, j, k, 1.0]
            for i in (0, shape[0] - 1)
            for j in (0, shape[1] - 1)
            for k in (0, shape[2] - 1)
        ]
    )
    return (idx @ np.asarray(affine, float).T)[:, :3]


def grid_transform(
    vol_affine: np.ndarray, ref_affine: np.ndarray, vol_shape: tuple[int, ...]
) -> np.ndarray:
    """``T = inv(ref) @ vol`` checked to be a signed permutation with integer translation.

    Returns the rounded T (4x4 integers). Raises AssertionError with the reason otherwise; the
    check is on the corners' world coordinates (within ``CORNER_TOL_MM``).
    """
    t = np.linalg.inv(np.asarray(ref_affine, float)) @ np.asarray(vol_affine, float)
    r = np.rint(t)
    perm = r[:3, :3]
    assert np.all(np.abs(perm).sum(axis=0) == 1) and np.all(np.abs(perm).sum(axis=1) == 1), (
        f"T is not a signed permutation:\n{np.round(t, 4)}"
    )
    ours = world_corners(vol_affine, vol_shape)
    idx = np.array(
        [
            [i, j, k, 1.0]
            for i in (0, vol_shape[0] - 1)
            for j in (0, vol_shape[1] - 1)
            for k in (0, vol_shape[2] - 1)
        ]
    )
    theirs = (idx @ r.T) @ np.asarray(ref_affine, float).T
    err = np.max(np.linalg.norm(ours - theirs[:, :3], axis=1))
    assert err <= CORNER_TOL_MM, f"corners differ by {err:.6f} mm (T =\n{np.round(t, 5)})"
    return r


def to_reference_grid(data: np.ndarray, t: np.ndarray, ref_shape: tuple[int, ...]) -> np.ndarray:
    """Lazyvol's array mapped onto the reference grid through the signed permutation ``t``."""
    perm = t[:3, :3]
    axes = [int(np.flatnonzero(perm[a])[0]) for a in range(3)]  # ref axis a <- vol axis axes[a]
    out = np.transpose(data, (*axes, *range(3, data.ndim)))
    for a in range(3):
        if perm[a, axes[a]] < 0:
            out = np.flip(out, axis=a)
    # translation: ref index = sign * vol index + offset; with flips, the grids must coincide
    assert out.shape[:3] == tuple(ref_shape[:3]), (
        f"grid {out.shape[:3]} vs reference {ref_shape[:3]}"
    )
    return out


def compare_with_reference(vol: lv.Volume, ref_path: str | os.PathLike[str]) -> None:
    """Assert that ``vol`` equals dcm2niix's NIfTI ``ref_path`` in geometry, shape and values."""
    import nibabel as nib

    ref = nib.load(os.fspath(ref_path))
    rshape = tuple(int(n) for n in ref.shape)
    vshape = tuple(int(n) for n in vol.shape)
    # dcm2niix drops trailing singleton axes; lazyvol keeps 3D for one volume
    assert vshape[3:] == rshape[3:] or (vshape[3:] in ((), (1,)) and rshape[3:] in ((), (1,))), (
        f"4th axis: lazyvol {vshape} vs reference {rshape}"
    )
    t = grid_transform(vol.affine, ref.affine, vshape[:3])
    ours = to_reference_grid(np.asarray(vol.compute()), t, rshape)
    theirs = np.asarray(ref.dataobj)
    slope, inter = ref.dataobj.slope, ref.dataobj.inter
    if np.issubdtype(ours.dtype, np.integer) and slope == 1 and inter == 0:
        np.testing.assert_array_equal(ours.reshape(theirs.shape), theirs)
    else:
        np.testing.assert_allclose(
            ours.reshape(theirs.shape).astype(np.float64), ref.get_fdata(), rtol=1e-5, atol=1e-5
        )


def _candidates(report: lv.ScanReport, side: dict[str, Any]) -> list[Any]:
    number = side.get("SeriesNumber")
    cands = [i for i in report if i.number == number and not i.error]
    if len(cands) > 1 and "SeriesDescription" in side:
        # two scanners' series can share a SeriesNumber in one collection (dcm_qa_nih)
        same = [i for i in cands if i.description == side["SeriesDescription"]]
        cands = same or cands
    if len(cands) > 1 and "EchoNumber" in side:
        echo = side["EchoNumber"]
        by_echo = [i for i in cands if echo in (i.meta.get("echo_numbers") or [echo])]
        cands = by_echo or cands
    if len(cands) > 1:
        kinds = {str(x).upper() for x in side.get("ImageType", [])}
        for word in ("PHASE", "MAGNITUDE", "REAL", "IMAGINARY"):
            if word in kinds:
                same = [i for i in cands if i.meta.get("image_component", "").upper() == word]
                cands = same or cands
    return cands


REFS = _references()


@pytest.mark.skipif(
    not REAL.is_dir(), reason=f"real DICOM data not found at {REAL} (set LAZYVOL_REAL_DICOM)"
)
@pytest.mark.parametrize("ref", [_param(r) for r in REFS] or [pytest.param(None, id="no-data")])
def test_matches_dcm2niix_reference(ref: Path | None) -> None:
    assert ref is not None
    collection = ref.parents[1].name
    side = _sidecar(ref)
    report = _scan(collection)
    number = side.get("SeriesNumber")
    errors = [i.error for i in report if i.number == number and i.error]
    cands = _candidates(report, side)
    assert cands, f"no lazyvol volume with SeriesNumber {number}; errors: {errors}"
    assert len(cands) == 1, (
        f"{len(cands)} volumes match SeriesNumber {number}: {[c.summary() for c in cands]}"
    )
    vol = lv.open(REAL / collection / "In", series=cands[0].id, use_index=False)
    compare_with_reference(vol, ref)


def test_reference_grid_helpers_catch_a_wrong_grid() -> None:
    """The comparison helper itself: a shifted or rotated grid is caught (synthetic, no data)."""
    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    aff[:3, 3] = [-10, 5, 7]
    flip = aff.copy()
    flip[0, 0] = -2.0
    flip[0, 3] = -10 + 2.0 * 3  # same grid, i axis reversed (4 voxels)
    t = grid_transform(flip, aff, (4, 5, 6))
    data = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    mapped = to_reference_grid(data, t, (4, 5, 6))
    np.testing.assert_array_equal(mapped, data[::-1])
    shifted = aff.copy()
    shifted[0, 3] += 0.01
    with pytest.raises(AssertionError, match="corners differ"):
        grid_transform(shifted, aff, (4, 5, 6))
    rot = aff.copy()
    rot[:3, :3] = aff[:3, :3] @ np.array([[0.96, -0.28, 0], [0.28, 0.96, 0], [0, 0, 1]])
    with pytest.raises(AssertionError):
        grid_transform(rot, aff, (4, 5, 6))


@pytest.mark.skipif(
    not (REAL / "dcm_qa_nih" / "In" / "20180918GE").is_dir(),
    reason=f"real GE data not found under {REAL}",
)
def test_synthetic_ge_layout_matches_the_real_ge_series(tmp_path: Path) -> None:
    """lazyvol.testing's GE-like 4D layout (volumes told apart only by InstanceNumber) is what the
    real GE fMRI exports are: same ordering rule, same attributes present/absent."""
    import pydicom

    from lazyvol.testing import write_dicom_4d_series

    real = REAL / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0004"
    vol = lv.open(real, use_index=False)
    assert vol.meta["axis4_rule"] == "InstanceNumber (0020,0013) rank"
    truth = write_dicom_4d_series(tmp_path / "s", (8, 8, 3), 3, labels=(), vendor="GE")
    synth = lv.open(tmp_path / "s")
    assert synth.meta["axis4_rule"] == vol.meta["axis4_rule"]
    ds_real = pydicom.dcmread(next(real.glob("*.dcm")), stop_before_pixels=True)
    ds_syn = pydicom.dcmread(truth.files[0], stop_before_pixels=True)
    for kw in ("TemporalPositionIdentifier", "TriggerTime", "DiffusionBValue"):
        assert (kw in ds_real) == (kw in ds_syn), kw


@pytest.mark.skipif(
    not (REAL / "dcm_qa_nih" / "In").is_dir(), reason=f"real DICOM data not found under {REAL}"
)
@pytest.mark.parametrize(
    ("series", "ref"),
    [
        ("20180918GE/mr_0004", "DCM2NIIX_regression_test_4.nii"),  # one file per slice, 4D
        ("20180918Si/mr_0003", "EPI_PE=AP_3.nii"),  # Siemens mosaics, one file per volume
    ],
    ids=["ge-slices", "siemens-mosaic"],
)
def test_a_real_series_partly_recompressed_still_matches_dcm2niix(
    tmp_path: Path, series: str, ref: str
) -> None:
    """A real series with some files RLE-compressed and some JPEG-LS (an archive that
    recompressed part of a series): each file decodes by its own transfer syntax, and the 4D
    volume still equals dcm2niix's conversion of the original files."""
    import shutil

    import pydicom
    from pydicom.pixels import get_encoder
    from pydicom.uid import JPEGLSLossless, RLELossless

    syntaxes = [s for s in (RLELossless, JPEGLSLossless) if get_encoder(s).is_available]
    folder = tmp_path / "series"
    shutil.copytree(REAL / "dcm_qa_nih" / "In" / series, folder)
    files = sorted(folder.glob("*.dcm"))
    for n, f in enumerate(files):
        if n % 3 < len(syntaxes):
            ds = pydicom.dcmread(f)
            ds.compress(syntaxes[n % 3])
            ds.save_as(f)
    vol = lv.open(folder, use_index=False)
    assert len(vol.meta["transfer_syntaxes"]) == min(len(files), len(syntaxes) + 1)
    compare_with_reference(vol, REAL / "dcm_qa_nih" / "Ref" / ref)


@pytest.mark.skipif(
    not REAL.is_dir(), reason=f"real DICOM data not found at {REAL} (set LAZYVOL_REAL_DICOM)"
)
@pytest.mark.parametrize("ref", [_param(r) for r in REFS] or [pytest.param(None, id="no-data")])
def test_nifti_header_acquisition_fields_match_dcm2niix(ref: Path | None, tmp_path: Path) -> None:
    """dim_info as dcm2niix writes it; slice_code where dcm2niix writes one (it writes none for
    head-first interleaved series, which lazyvol codes too); and wherever lazyvol writes a code,
    nibabel's reading of it gives lazyvol's own SliceTiming back."""
    import json

    import nibabel as nib

    assert ref is not None
    collection = ref.parents[1].name
    (info,) = _candidates(_scan(collection), _sidecar(ref))
    vol = lv.open(REAL / collection / "In", series=info.id)
    mine = nib.load(vol.to_nifti(tmp_path / "v.nii")).header
    theirs = nib.load(ref).header
    assert mine.get_dim_info() == theirs.get_dim_info()
    if int(theirs["slice_code"]):
        assert int(mine["slice_code"]) == int(theirs["slice_code"])
    if int(mine["slice_code"]):
        timing = json.loads((tmp_path / "v.json").read_text())["SliceTiming"]
        step = float(mine["slice_duration"])
        got = np.asarray(mine.get_slice_times())
        np.testing.assert_allclose(got, np.subtract(timing, min(timing)), atol=0.1 * step)


@pytest.mark.skipif(
    not REAL.is_dir(), reason=f"real DICOM data not found at {REAL} (set LAZYVOL_REAL_DICOM)"
)
@pytest.mark.parametrize("ref", [_param(r) for r in REFS] or [pytest.param(None, id="no-data")])
def test_slice_timing_matches_dcm2niix(ref: Path | None, tmp_path: Path) -> None:
    """The sidecar's SliceTiming equals dcm2niix's, slice for slice (its slice axis mapped onto
    ours through the two affines): Siemens' from the CSA times, GE's computed from the protocol
    block as dcm2niix does (lazyvol gave none for GE)."""
    import json

    import nibabel as nib

    assert ref is not None
    side = _sidecar(ref)
    if "SliceTiming" not in side:
        pytest.skip(f"dcm2niix wrote no SliceTiming for {ref.name}")
    collection = ref.parents[1].name
    (info,) = _candidates(_scan(collection), side)
    vol = lv.open(REAL / collection / "In", series=info.id)
    vol.to_nifti(tmp_path / "v.nii")
    mine = json.loads((tmp_path / "v.json").read_text())["SliceTiming"]
    t = np.linalg.inv(nib.load(ref).affine) @ vol.affine
    assert abs(round(t[2, 2])) == 1, f"slice axes differ: {t.round(3).tolist()}"
    if t[2, 2] < 0:
        mine = mine[::-1]
    np.testing.assert_allclose(mine, side["SliceTiming"], atol=1e-4)
