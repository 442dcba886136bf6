"""A file whose pixel data an interrupted copy cut short refuses its series (BAD_INPUTS: error
at scan/open, without decoding); the refusal named the file and the byte counts but no remedy
(dcm2niix converts the rest of a one-file-a-slice series, and nothing of a mosaic series). It
now says to copy the file again or move it out of the folder, and the series opens without it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series
from lazyvol.testing.mosaic import write_mosaic_series

REMEDY = "copy the file again from its source, or move it out of the folder"


def _cut(path: str, nbytes: int) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) - nbytes)


@pytest.mark.parametrize("layout", ["slices", "mosaic"])
def test_a_file_cut_short_names_the_remedy_that_works(tmp_path, layout):
    if layout == "mosaic":
        truth = write_mosaic_series(tmp_path / "s", (8, 6, 4), volumes=3)
        last = truth.files[-1]
        want = truth.stored[..., :2]
    else:
        t4 = write_dicom_4d_series(tmp_path / "s", (8, 6, 4), 3, labels=("AcquisitionTime",))
        last = max(t4.files, key=lambda f: Path(f).stat().st_mtime_ns)
        want = None
    _cut(last, 50)
    with pytest.raises(lv.FormatError) as err:
        lv.open(tmp_path / "s")
    assert last in str(err.value) and REMEDY in str(err.value)
    shutil.move(last, tmp_path / "cut.dcm")
    if want is not None:
        np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), want)
