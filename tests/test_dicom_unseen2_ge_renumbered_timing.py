"""GE SliceTiming of a series whose InstanceNumbers are not monotonic along the stack (an export
or PACS that renumbered the files).

GE numbers the slices from the end it acquires first, so the times ran from the end
InstanceNumber 1 lies at; numbers running neither way along the stack gave no SliceTiming,
where dcm2niix gives the scanner's times (its verbose log lists GE slices by their raw data run
number (0019,10A2), which counts from the first scan location). The first and last scan locations GE
states, (0019,1018)-(0019,101B), place the same end: the times now run from it.

References: dcm2niix's sidecar of the renumbered real GE series (../shared/dicom-real, skipped
when absent) and of the series as the scanner wrote it (its ``Ref/`` sidecar), mapped through
the affines; the synthetic series' acquisition ranks, from their positions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from test_dicom_ge_timing import TR_MS, _dcm2niix_sidecar, _interleaved, _write_ge

pytestmark = pytest.mark.usefixtures("dicom_cache")

REAL = Path(
    os.environ.get("LAZYVOL_REAL_DICOM", Path(__file__).parents[2] / "shared" / "dicom-real")
)
GE = REAL / "dcm_qa_nih" / "In" / "20180918GE"

#: New InstanceNumber rank of each slice (by its original rank along the acquisition) in a
#: volume of 15: first and last swapped; the interleaved order; every slice moved by half.
RENUMBERINGS = {
    "ends-swapped": [14, *range(1, 14), 0],
    "interleaved": [*range(0, 15, 2), *range(1, 15, 2)],
    "rotated": [(r + 7) % 15 for r in range(15)],
}


def _renumber(src: Path, dst: Path, ranks: list[int]) -> None:
    """Copy the GE series ``src``, each volume's slices renumbered by ``ranks`` (the original
    rank r within its volume becomes ranks[r])."""
    dst.mkdir()
    nk = len(ranks)
    for path in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        t, r = divmod(int(ds.InstanceNumber) - 1, nk)
        ds.InstanceNumber = t * nk + ranks[r] + 1
        ds.save_as(dst / path.name)


@pytest.mark.skipif(not GE.is_dir(), reason=f"real GE DICOM not found at {GE} (LAZYVOL_REAL_DICOM)")
@pytest.mark.parametrize("renumbering", sorted(RENUMBERINGS))
@pytest.mark.parametrize(
    "series", ["mr_0005", "mr_0006"], ids=["sequential-I-S", "interleaved-S-I"]
)
def test_renumbered_real_ge_series_keep_the_scanners_slice_times(tmp_path, series, renumbering):
    _renumber(GE / series, tmp_path / "in", RENUMBERINGS[renumbering])
    vol = lv.open(tmp_path / "in", use_index=False)
    mine = vol.meta["bids"].get("SliceTiming")
    assert mine is not None
    number = int(series[-1])
    ref_dir = REAL / "dcm_qa_nih" / "Ref"
    scanner = json.loads((ref_dir / f"DCM2NIIX_regression_test_{number}.json").read_text())
    t = np.linalg.inv(nib.load(ref_dir / f"DCM2NIIX_regression_test_{number}.nii").affine)
    t = t @ vol.affine
    assert abs(round(t[2, 2])) == 1
    theirs = scanner["SliceTiming"][::-1] if t[2, 2] < 0 else scanner["SliceTiming"]
    np.testing.assert_allclose(mine, theirs, atol=1e-4)
    side, affine = _dcm2niix_sidecar(tmp_path / "in", tmp_path / "out")
    t = np.linalg.inv(affine) @ vol.affine
    np.testing.assert_allclose(mine[::-1] if t[2, 2] < 0 else mine, side["SliceTiming"], atol=1e-4)


def _located(folder: Path, nk: int, first: tuple[str, float], last: tuple[str, float]) -> None:
    """State GE's first and last scan locations in every file of ``folder``."""
    for path in folder.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        block.add_new(0x18, "LO", first[0])
        block.add_new(0x19, "DS", f"{first[1]:.4f}")
        block.add_new(0x1A, "LO", last[0])
        block.add_new(0x1B, "DS", f"{last[1]:.4f}")
        ds.save_as(path)


def _scrambled(folder: Path, nk: int) -> list[float]:
    """Renumber each volume's slices (1 at the middle of the stack); the S coordinates (mm) of
    the slices by their original rank (the acquisition's, from InstanceNumber 1)."""
    ranks = [(r + nk // 2) % nk for r in range(nk)]
    places = {}
    for path in folder.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        t, r = divmod(int(ds.InstanceNumber) - 1, nk)
        places[r] = float(ds.ImagePositionPatient[2])  # (axial: the slice centre's S too)
        ds.InstanceNumber = t * nk + ranks[r] + 1
        ds.save_as(path)
    return [places[r] for r in range(nk)]


def _ge_locations(places: list[float]) -> tuple[tuple[str, float], tuple[str, float]]:
    """GE's first and last scan locations of a stack acquired from ``places[0]``."""
    return (
        ("S" if places[0] >= 0 else "I", places[0]),
        ("S" if places[-1] >= 0 else "I", places[-1]),
    )


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("order", [0, 1], ids=["sequential", "interleaved"])
def test_scan_locations_place_the_first_slice_of_a_renumbered_series(tmp_path, order, descending):
    nk = 7
    src = _write_ge(tmp_path / "s", nk, order=order, descending=descending)
    places = _scrambled(src, nk)
    _located(src, nk, *_ge_locations(places))
    vol = lv.open(src, use_index=False)
    step = TR_MS / 1000 / nk
    by_rank = _interleaved(nk, step) if order else [r * step for r in range(nk)]
    # slice k's time: its acquisition rank's, the rank from where it lies (pydicom)
    at = [float(vol.dicom_header(k, 0).ImagePositionPatient[2]) for k in range(nk)]
    want = [by_rank[min(range(nk), key=lambda r: abs(places[r] - z))] for z in at]
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


def test_a_series_without_instance_numbers_has_no_slice_timing_as_dcm2niix(tmp_path):
    nk = 6
    src = _write_ge(tmp_path / "s", nk, order=1)
    places = _scrambled(src, nk)
    _located(src, nk, *_ge_locations(places))
    for path in src.glob("*.dcm"):
        if path.name.startswith("V001"):  # (one volume: nothing else would order two)
            path.unlink()
            continue
        ds = pydicom.dcmread(path)
        del ds.InstanceNumber
        ds.save_as(path)
    vol = lv.open(src, use_index=False)
    assert "SliceTiming" not in vol.meta["bids"]
    side, _ = _dcm2niix_sidecar(src, tmp_path / "out")
    assert "SliceTiming" not in side


@pytest.mark.parametrize(
    "locations",
    [
        None,  # none stated
        "middle",  # the first location at the middle of the stack
        "both-at-one-end",  # first and last at the same end
        "wrong-side",  # a side letter its value contradicts (S with a negative value)
        "other-axis",  # locations along R-L for an axial stack
    ],
)
def test_no_slice_timing_where_the_scan_locations_do_not_place_the_stack(tmp_path, locations):
    nk = 7
    src = _write_ge(tmp_path / "s", nk, order=1)
    places = _scrambled(src, nk)
    first, last = _ge_locations(places)
    if locations == "middle":
        first = ("S" if places[3] >= 0 else "I", places[3])
    elif locations == "both-at-one-end":
        last = first
    elif locations == "wrong-side":
        assert abs(first[1]) > 1.0  # (a location of 0 takes either side)
        first = ("S" if first[0] == "I" else "I", first[1])
    elif locations == "other-axis":
        first, last = ("R", abs(first[1])), ("R", abs(last[1]))
    if locations is not None:
        _located(src, nk, first, last)
    vol = lv.open(src, use_index=False)
    assert "SliceTiming" not in vol.meta["bids"], vol.meta["bids"].get("SliceTiming")
