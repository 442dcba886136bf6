"""GE SliceTiming and the delay after slice group (0043,107C): not stated, or above 0 (sparse fMRI).

(0043,107C) states the time GE leaves after the slice group. lazyvol derived the times from the
protocol block whether or not the delay was stated, taking a missing one for 0; dcm2niix gives
none then ("Unable to compute slice times for this GE dataset") unless the protocol's imaging
options (IOPT) name fMRI or multiphase ("FMRI", "MPh"), as a delay not known may not be 0 (a
series whose private group 0043 an export dropped, an older release). Now the same rule; a
stated 0, or an element left empty (which dcm2niix reads as stated), keeps the times.

A delay stated above 0 (a sparse fMRI acquisition: the slices, then a pause) gave no SliceTiming
either, where dcm2niix gives the slices' times within the stated TR, TR / n apart, the delay after
them (and TR + delay as RepetitionTime, as lazyvol already did). Now those times.

A single GE volume (a one-volume EPI, a reverse phase-encoding reference) had a SliceTiming from
the protocol block; dcm2niix gives none to a single volume (the first volume of a real GE run
shows it). Now none either. A series not stating MRAcquisitionType (0018,0023) had none, where
dcm2niix (and lazyvol's rule for other vendors) keeps the times; now it keeps them.

References: dcm2niix's sidecar of the same series; the interleaved order written out in
test_dicom_ge_timing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from test_dicom_ge_timing import (
    TR_MS,
    _dcm2niix_sidecar,
    _interleaved,
    _protocol_block,
    _write_ge,
)

pytestmark = pytest.mark.usefixtures("dicom_cache")


@pytest.mark.filterwarnings("ignore:A value of type 'bytes' cannot be assigned")
@pytest.mark.parametrize("options", [None, "EPI", "EPI, FMRI", "MPh, EDR", "fmri"])
@pytest.mark.parametrize("stated", ["absent", "empty", "zero"])
def test_slice_timing_needs_the_group_delay_stated_as_dcm2niix(tmp_path, stated, options):
    nk = 6
    src = _write_ge(tmp_path / "s", nk, order=1)
    entries = {"SLICEORDER": "1", "NOSLC": str(nk), "DELACQ": "0"}
    protocol = _protocol_block({**entries, "IOPT": options} if options else entries)
    for path in src.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds[ds.private_block(0x0025, "GEMS_SERS_01").get_tag(0x1B)].value = protocol
        block = ds.private_block(0x0043, "GEMS_PARM_01")
        if stated == "absent":
            del ds[block.get_tag(0x7C)]
        elif stated == "empty":
            ds[block.get_tag(0x7C)].value = b""
        ds.save_as(path)
    vol = lv.open(src, use_index=False)
    mine = vol.meta["bids"].get("SliceTiming")
    side, _ = _dcm2niix_sidecar(src, tmp_path / "out")
    timed = options is not None and ("FMRI" in options or "MPh" in options)
    if stated != "absent" or timed:  # (dcm2niix: an empty value is as 0; FMRI / MPh take 0)
        np.testing.assert_allclose(mine, _interleaved(nk, TR_MS / 1000 / nk), atol=1e-5)
        np.testing.assert_allclose(mine, side["SliceTiming"], atol=1e-4)
    else:
        assert mine is None, mine
        assert "SliceTiming" not in side


@pytest.mark.parametrize(("mb", "order"), [(0, 1), (0, 0), (2, 1), (3, 1)])
@pytest.mark.parametrize("group_delay", [0.5, 1.25])
def test_a_delay_after_the_slice_group_follows_the_slices_as_dcm2niix(
    tmp_path, group_delay, mb, order
):
    """A sparse acquisition: the slices fill the stated TR, TR / n apart, the delay after them;
    lazyvol gave no SliceTiming (dcm2niix: (TR + delay - delay) / n apart)."""
    nk = 12
    src = _write_ge(tmp_path / "s", nk, order=order, mb=mb, group_delay=group_delay)
    vol = lv.open(src, use_index=False)
    bids = vol.meta["bids"]
    assert bids["RepetitionTime"] == pytest.approx(TR_MS / 1000 + group_delay)
    side, affine = _dcm2niix_sidecar(src, tmp_path / "out")
    t = np.linalg.inv(affine) @ vol.affine
    mine = bids["SliceTiming"]
    np.testing.assert_allclose(mine[::-1] if t[2, 2] < 0 else mine, side["SliceTiming"], atol=1e-4)
    assert max(mine) < TR_MS / 1000  # (within the stated TR: the delay follows)
    if mb == 0:
        step = TR_MS / 1000 / nk
        want = _interleaved(nk, step) if order else [k * step for k in range(nk)]
        np.testing.assert_allclose(mine, want, atol=1e-5)


GE_5 = (
    Path(os.environ.get("LAZYVOL_REAL_DICOM", Path(__file__).parents[2] / "shared" / "dicom-real"))
    / "dcm_qa_nih"
    / "In"
    / "20180918GE"
    / "mr_0005"
)


def test_a_single_synthetic_ge_volume_has_no_slice_timing_as_dcm2niix(tmp_path):
    src = _write_ge(tmp_path / "s", 6, order=1)
    for path in src.glob("V001_*.dcm"):
        path.unlink()
    vol = lv.open(src, use_index=False)
    assert vol.ndim == 3 and "SliceTiming" not in vol.meta["bids"]
    side, _ = _dcm2niix_sidecar(src, tmp_path / "out")
    assert "SliceTiming" not in side


@pytest.mark.skipif(not GE_5.is_dir(), reason=f"real GE DICOM not found at {GE_5}")
def test_the_first_volume_of_a_real_ge_run_has_no_slice_timing_as_dcm2niix(tmp_path):
    (tmp_path / "in").mkdir()
    for path in sorted(GE_5.glob("*.dcm")):
        if int(pydicom.dcmread(path, stop_before_pixels=True).InstanceNumber) <= 15:
            shutil.copy(path, tmp_path / "in")
    vol = lv.open(tmp_path / "in", use_index=False)
    assert vol.shape == (64, 64, 15) and "SliceTiming" not in vol.meta["bids"]
    side, _ = _dcm2niix_sidecar(tmp_path / "in", tmp_path / "out")
    assert "SliceTiming" not in side


@pytest.mark.parametrize("acquisition", ["absent", "2D", "3D"])
def test_a_series_not_stating_its_acquisition_type_keeps_its_times_as_dcm2niix(
    tmp_path, acquisition
):
    src = _write_ge(tmp_path / "s", 6, order=1)
    for path in src.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        if acquisition == "absent":
            del ds.MRAcquisitionType
        else:
            ds.MRAcquisitionType = acquisition
        ds.save_as(path)
    mine = lv.open(src, use_index=False).meta["bids"].get("SliceTiming")
    side, _ = _dcm2niix_sidecar(src, tmp_path / "out")
    if acquisition == "3D":
        assert mine is None and "SliceTiming" not in side
    else:
        np.testing.assert_allclose(mine, _interleaved(6, TR_MS / 1000 / 6), atol=1e-5)
        np.testing.assert_allclose(mine, side["SliceTiming"], atol=1e-4)


@pytest.mark.skipif(not GE_5.is_dir(), reason=f"real GE DICOM not found at {GE_5}")
def test_a_real_fmri_run_without_the_group_delay_keeps_its_times_as_dcm2niix(tmp_path):
    """The NIH run states IOPT "EPI, FMRI": dcm2niix derives its times without (0043,107C)."""
    (tmp_path / "in").mkdir()
    for path in sorted(GE_5.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        if int(ds.InstanceNumber) <= 30:
            del ds[0x0043107C]
            ds.save_as(tmp_path / "in" / path.name)
    vol = lv.open(tmp_path / "in", use_index=False)
    side, affine = _dcm2niix_sidecar(tmp_path / "in", tmp_path / "out")
    t = np.linalg.inv(affine) @ vol.affine
    mine = vol.meta["bids"]["SliceTiming"]
    np.testing.assert_allclose(mine[::-1] if t[2, 2] < 0 else mine, side["SliceTiming"], atol=1e-4)
