"""GE SliceTiming of a series that does not state its delay after slice group (0043,107C).

GE's slice times are TR / n apart only when no time is left after the slice group; (0043,107C)
states that delay. lazyvol derived the times from the protocol block whether or not the delay
was stated, taking a missing one for 0; dcm2niix gives none then ("Unable to compute slice times
for this GE dataset"), as a delay not known may not be 0 (a series whose private group 0043 an
export dropped, an older release). Now none either; a stated 0, or an element left empty (which
dcm2niix reads as stated), keeps the times.

References: dcm2niix's sidecar of the same series; the interleaved order written out in
test_dicom_ge_timing.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from test_dicom_ge_timing import TR_MS, _dcm2niix_sidecar, _interleaved, _write_ge

pytestmark = pytest.mark.usefixtures("dicom_cache")


@pytest.mark.filterwarnings("ignore:A value of type 'bytes' cannot be assigned")
@pytest.mark.parametrize("stated", ["absent", "empty", "zero"])
def test_slice_timing_needs_the_group_delay_stated_as_dcm2niix(tmp_path, stated):
    nk = 6
    src = _write_ge(tmp_path / "s", nk, order=1)
    for path in src.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        block = ds.private_block(0x0043, "GEMS_PARM_01")
        if stated == "absent":
            del ds[block.get_tag(0x7C)]
        elif stated == "empty":
            ds[block.get_tag(0x7C)].value = b""
        ds.save_as(path)
    vol = lv.open(src, use_index=False)
    mine = vol.meta["bids"].get("SliceTiming")
    side, _ = _dcm2niix_sidecar(src, tmp_path / "out")
    if stated != "absent":  # (dcm2niix: an empty value derives the times as 0 does)
        np.testing.assert_allclose(mine, _interleaved(nk, TR_MS / 1000 / nk), atol=1e-5)
        np.testing.assert_allclose(mine, side["SliceTiming"], atol=1e-4)
    else:
        assert mine is None, mine
        assert "SliceTiming" not in side
