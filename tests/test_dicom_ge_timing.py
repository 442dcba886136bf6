"""GE SliceTiming from the protocol data block (0025,101B), as dcm2niix derives it.

The expected times are written out from GE's documented orders, independently of lazyvol's code:
sequential acquires the slices in InstanceNumber order, TR / n apart; interleaved acquires every
other slice (1, 3, 5 ...) then the rest (2, 4, 6 ...); a multiband (HyperBand) factor m excites
slices r, r + n/m ... together. The real GE series of ../shared/dicom-real are compared with
dcm2niix's sidecars in test_dicom_realdata.py.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

TR_MS = 2000.0


def _protocol_block(entries: dict[str, str]) -> bytes:
    text = "".join(f'{k} "{v}"\n' for k, v in entries.items()).encode("latin-1")
    packed = gzip.compress(text)
    return struct.pack("<I", len(text)) + packed


def _ge_series(
    tmp_path, nk, *, order, mb=0, delay="0", sequence=("EP", "GR"), rtia=None, descending=False
):
    truth = write_dicom_4d_series(
        tmp_path / "s", (8, 8, nk), 2, labels=(), vendor="GE", shuffle_names=False
    )
    block = _protocol_block({"SLICEORDER": str(order), "NOSLC": str(nk), "DELACQ": delay})
    files = [pydicom.dcmread(f) for f in truth.files]
    for ds, f in zip(files, truth.files, strict=True):
        ds.RepetitionTime = TR_MS
        ds.MRAcquisitionType = "2D"
        ds.ScanningSequence = list(sequence)
        ds.SoftwareVersions = ["27", "LX", "MR Software release:DV27.0_R03_1831.b"]
        ds.private_block(0x0025, "GEMS_SERS_01", create=True).add_new(0x1B, "OB", block)
        ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0xB6, "LO", [str(mb), "0"])
        if rtia is not None:
            ds.private_block(0x0021, "GEMS_RELA_01", create=True).add_new(0x5E, "DS", rtia)
        if descending:  # GE numbers the slice it acquires first 1: the top one here
            t, r = divmod(int(ds.InstanceNumber) - 1, nk)
            ds.InstanceNumber = t * nk + (nk - 1 - r) + 1
        ds.save_as(f)
    return lv.open(tmp_path / "s")


def _expected(vol, nk, times_by_rank):
    """Each slice k's time from its InstanceNumber's rank in the first volume (pydicom)."""
    numbers = [int(vol.dicom_header(k, 0).InstanceNumber) for k in range(nk)]
    ranks = {n: r for r, n in enumerate(sorted(numbers))}
    return [times_by_rank[ranks[n]] for n in numbers]


def _interleaved(n, step):
    """Times of acquisition ranks 0..n-1: ranks 0, 2, 4 ... first, then 1, 3, 5 ..."""
    order = list(range(0, n, 2)) + list(range(1, n, 2))
    out = [0.0] * n
    for slot, rank in enumerate(order):
        out[rank] = slot * step
    return out


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("nk", [6, 7])
def test_interleaved(tmp_path, nk, descending):
    vol = _ge_series(tmp_path, nk, order=1, descending=descending)
    want = _expected(vol, nk, _interleaved(nk, TR_MS / 1000 / nk))
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


def test_sequential(tmp_path):
    vol = _ge_series(tmp_path, 5, order=0, descending=True)
    want = _expected(vol, 5, [r * 0.4 for r in range(5)])
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


def test_multiband_slices_share_their_excitation_time(tmp_path):
    """HyperBand 2, 6 slices: 3 excitations (ranks r and r + 3), interleaved 0, 2, 1."""
    vol = _ge_series(tmp_path, 6, order=1, mb=2)
    per_excitation = _interleaved(3, TR_MS / 1000 / 3)
    want = _expected(vol, 6, [per_excitation[r % 3] for r in range(6)])
    np.testing.assert_allclose(vol.meta["bids"]["SliceTiming"], want, atol=1e-5)


@pytest.mark.parametrize(
    "change",
    [
        {"delay": "500"},  # a delay between volumes: the times are not TR / n apart
        {"sequence": ("EP", "SE")},  # spin-echo EPI (diffusion) uses another pattern
        {"rtia": "1234.5"},  # per-slice RTIA timer values: newer releases' own times
    ],
    ids=["group-delay", "spin-echo", "rtia-timer"],
)
def test_no_slice_timing_where_the_protocol_does_not_define_it(tmp_path, change):
    vol = _ge_series(tmp_path, 6, order=1, **change)
    assert "SliceTiming" not in vol.meta["bids"]
    assert vol.meta["bids"]["Manufacturer"] == "GE"
