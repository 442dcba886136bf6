"""A FIFO (socket, device) taking the name of a slice file in a DICOM folder: the scan skipped it
(never opened: it blocks) and said so only in its skipped list; the volume beside it, missing
that end slice without a gap to see, said nothing. Its warnings now name it, as they name empty,
hidden and linked files named like its own."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def test_a_fifo_named_like_a_slice_is_named_beside_the_volume(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 5))
    last = truth.files[-1]
    os.unlink(last)
    os.mkfifo(last)  # (the end slice's name: no gap in the positions left)
    os.mkfifo(tmp_path / "s" / "control.pipe")  # (named like no slice: not noted)
    read = [pydicom.dcmread(f) for f in truth.files[:-1]]
    with pytest.warns(RuntimeWarning, match="FIFO, socket or device file"):
        vol = lv.open(tmp_path / "s")
    assert vol.shape == (16, 12, len(read))
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., : len(read)])
    (note,) = [w for w in vol.meta["warnings"] if "FIFO" in w]
    assert last in note and "control.pipe" not in note and "replace them" in note
    (info,) = lv.scan(tmp_path / "s")
    assert any(last in w for w in info.warnings)


def test_a_fifo_in_place_of_a_middle_slice_is_named_in_the_gap_refusal(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 5))
    middle = truth.files[2]
    os.unlink(middle)
    os.mkfifo(middle)
    with pytest.raises(lv.SeriesError, match=r"slice\(s\) missing") as exc:
        lv.open(tmp_path / "s")
    assert middle in str(exc.value) and "FIFO" in str(exc.value)
