"""GE epi_pepolar series (the ABCD prototype; dcm2niix's dcm_qa_polar): the volumes of reversed
phase-encoding polarity are stored with their rows in reverse order; dcm2niix reads them the
other way round, reverses their polarity and, when a series holds both polarities, writes them
apart (SeriesNumber + 1000).

The series are made as dcm_qa_polar's files are (PulseSequenceName (0019,109C)
"research/ABCD/epi_pepolar", UserData12 (0019,10B3) the mode: 0 forward, 1 reversed, 2 reversed
then forward, 3 forward then reversed; TemporalPositionIdentifier (0020,0100) the volume), from
lazyvol.testing's synthetic 4D series and from a real GE fMRI series of ../shared/dicom-real.
They are compared with synthetic truth (the stored rows reversed for the odd volumes of mode 2,
the even ones of mode 3, all of mode 1) and with dcm2niix's output in world space.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.errors import UnsupportedError
from lazyvol.testing import write_dicom_4d_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

REAL = Path(
    os.environ.get("LAZYVOL_REAL_DICOM", Path(__file__).parents[2] / "shared" / "dicom-real")
)
GE_FMRI = REAL / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0004"
#: Volumes whose rows are stored reversed, by mode (t = 0 is TemporalPositionIdentifier 1).
REVERSED = {0: set(), 1: {0, 1, 2, 3}, 2: {0, 2}, 3: {1, 3}}


def _make_pepolar(ds: Any, mode: int | None, volume: int | None) -> None:
    """``ds`` as an epi_pepolar image of ``mode`` (None: left as it is) and TemporalPosition."""
    acqu = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    if mode is not None:
        acqu.add_new(0x9C, "LO", "research/ABCD/epi_pepolar")
        acqu.add_new(0xB3, "DS", f"{mode:.6f}")
    if 0x0043107C in ds:  # dcm2niix takes a file with a delay after slice group for epiRT
        del ds[0x0043107C]
    if volume is not None:
        ds.TemporalPositionIdentifier = volume


def _synthetic(folder: Path, mode: int | None, *, positions: bool = True) -> Any:
    """A GE EPI series of 4 volumes (16 x 12 x 5), polarity REVERSE_LINEAR (Unflipped)."""
    labels = ("TemporalPositionIdentifier",) if positions else ()
    truth = write_dicom_4d_series(folder, (16, 12, 5), 4, labels=labels, vendor="GE")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.ScanningSequence = ["EP", "GR"]
        ds.MRAcquisitionType = "2D"
        ds.InPlanePhaseEncodingDirection = "COL"
        ds.add_new(0x00189034, "CS", "REVERSE_LINEAR")
        _make_pepolar(ds, mode, None)
        ds.save_as(f)
    return truth


def _volumes(src: Path) -> dict[bool, lv.Volume]:
    """The series' volumes by whether their rows were read reversed."""
    out = {}
    for info in lv.scan(src, use_index=False):
        assert not info.error, info.error
        out[bool(info.meta.get("ge_pepolar", {}).get("rows_reversed"))] = lv.open(
            src, series=info.id, scale=False
        )
    return out


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_reversed_volumes_read_with_their_rows_reversed(tmp_path: Path, mode: int) -> None:
    truth = _synthetic(tmp_path / "s", mode)
    vols = _volumes(tmp_path / "s")
    rev = sorted(REVERSED[mode])
    fwd = sorted(set(range(4)) - REVERSED[mode])
    assert sorted(vols) == sorted({*([True] if rev else []), *([False] if fwd else [])})
    for flipped, ts in ((True, rev), (False, fwd)):
        if not ts:
            continue
        vol = vols[flipped]
        expected = truth.stored[..., ts]
        if flipped:
            expected = expected[:, ::-1]
        np.testing.assert_array_equal(np.asarray(vol.compute()).reshape(expected.shape), expected)
        np.testing.assert_allclose(vol.affine, truth.affine)  # both on the header's grid
        # a sliced read (steps, a part of the rows) takes the same rows
        part = np.asarray(vol[2:9:3, 1:11:4].compute()).reshape(3, 3, 5, len(ts))
        np.testing.assert_array_equal(part, expected[2:9:3, 1:11:4])
    bids = {flipped: v.meta["bids"] for flipped, v in vols.items()}
    if fwd:
        assert bids[False]["PhaseEncodingDirection"] == "j"
        assert bids[False]["PhaseEncodingPolarityGE"] == "Unflipped"
    if rev:
        assert bids[True]["PhaseEncodingDirection"] == "j-"
        assert bids[True]["PhaseEncodingPolarityGE"] == "Flipped"
    if rev and fwd:
        reasons = " ".join(lv.scan(tmp_path / "s", use_index=False)[0].reasons)
        assert "epi_pepolar" in reasons and "(0019,10B3)" in reasons


def test_not_pepolar_when_epirt_or_without_the_name(tmp_path: Path) -> None:
    """No PulseSequenceName epi_pepolar, or a delay after slice group (0043,107C) (dcm2niix
    then reads the file as epiRT): the volumes are read as stored."""
    truth = _synthetic(tmp_path / "a", None)
    (vol,) = _volumes(tmp_path / "a").values()
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    truth = _synthetic(tmp_path / "b", 1)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x7C, "FL", 0.0)
        assert 0x0043107C in ds
        ds.save_as(f)
    (vol,) = _volumes(tmp_path / "b").values()
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert "ge_pepolar" not in vol.meta


def test_both_polarities_without_temporal_positions_warn(tmp_path: Path) -> None:
    """Mode 2 without TemporalPositionIdentifier: nothing tells the reversed volumes apart;
    they are read as stored (as dcm2niix), and the volume says so."""
    truth = _synthetic(tmp_path / "s", 2, positions=False)
    (vol,) = _volumes(tmp_path / "s").values()
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert any("TemporalPositionIdentifier (0020,0100)" in w for w in vol.meta["warnings"])


def test_reversed_volume_is_not_referenced(tmp_path: Path) -> None:
    """A reference reads stored bytes in order: a reversed volume is refused, naming why."""
    _synthetic(tmp_path / "s", 1)
    with pytest.raises(UnsupportedError, match=r"reverse order.*\(0019,10B3\)"):
        lv.references(tmp_path / "s")


def _pairs(lazy: Path, out: Path, dcm2niix: Any) -> list[tuple[lv.Volume, Path]]:
    """Each lazyvol volume of ``lazy`` with dcm2niix's file of it (reversed: series + 1000)."""
    dcm2niix.run(lazy, out, name="%s", sidecar=True, check=True)
    found = []
    for info in lv.scan(lazy, use_index=False):
        pepolar = info.meta.get("ge_pepolar", {"mode": None})
        both = pepolar["mode"] in (2, 3) and pepolar["rows_reversed"]
        number = info.number + (1000 if both else 0)
        found.append((lv.open(lazy, series=info.id), out / f"{number}.nii"))
    return found


def _check_against_dcm2niix(src: Path, tmp_path: Path, dcm2niix: Any) -> int:
    from test_dicom_ge_phase import _in_axes
    from test_dicom_realdata import compare_with_reference

    pairs = _pairs(src, tmp_path / "out", dcm2niix)
    assert len(pairs) == len(list((tmp_path / "out").glob("*.nii")))
    for vol, ref in pairs:
        compare_with_reference(vol, ref)
        side = json.loads(ref.with_suffix(".json").read_text())
        ped = _in_axes(side["PhaseEncodingDirection"], nib.load(ref).affine, vol.affine)
        assert vol.meta["bids"]["PhaseEncodingDirection"] == ped
        assert vol.meta["bids"]["PhaseEncodingPolarityGE"] == side["PhaseEncodingPolarityGE"]
    return len(pairs)


@pytest.mark.parametrize("mode", [1, 2, 3])
def test_synthetic_pepolar_matches_dcm2niix(tmp_path: Path, dcm2niix: Any, mode: int) -> None:
    _synthetic(tmp_path / "s", mode)
    assert _check_against_dcm2niix(tmp_path / "s", tmp_path, dcm2niix) == (1 if mode == 1 else 2)


@pytest.mark.skipif(not GE_FMRI.is_dir(), reason=f"real GE data not found at {GE_FMRI}")
def test_real_ge_series_made_pepolar_matches_dcm2niix(tmp_path: Path, dcm2niix: Any) -> None:
    """dcm_qa_nih's GE fMRI (15 slices, 10 volumes, InstanceNumber volume by volume) as an
    epi_pepolar series of mode 2: five reversed volumes, five forward, as dcm2niix writes them."""
    src = tmp_path / "s"
    src.mkdir()
    for f in sorted(GE_FMRI.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        _make_pepolar(ds, 2, (int(ds.InstanceNumber) - 1) // 15 + 1)
        ds.save_as(src / f.name)
    assert _check_against_dcm2niix(src, tmp_path, dcm2niix) == 2
