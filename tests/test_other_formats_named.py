"""Files of formats nibabel reads that lazyvol does not (AFNI BRIK/HEAD) and of streamlines
(TrackVis, MRtrix) went to the DICOM reader and were refused as "no DICOM image volume found ...
not a DICOM file": the refusal now names the format and what reads it (nibabel's test files)."""

from __future__ import annotations

import os
import re

import nibabel as nib
import nibabel.brikhead
import pytest
from nibabel.testing import data_path

import lazyvol as lv


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("example4d+orig.HEAD", "AFNI BRIK/HEAD"),
        ("scaled+tlrc.BRIK", "AFNI BRIK/HEAD"),
        ("example4d+orig.BRIK.gz", "AFNI BRIK/HEAD"),
        ("complex.trk", "TrackVis streamlines"),
        ("matlab_nan.tck", "MRtrix streamlines"),
    ],
)
def test_a_file_of_another_format_is_named_as_it(name, said):
    path = os.path.join(data_path, name)
    if name.endswith((".trk", ".tck")):
        assert nib.streamlines.detect_format(path) is not None  # (what nibabel takes it for)
    else:
        assert isinstance(nib.load(path), nib.brikhead.AFNIImage)
    with pytest.raises(lv.UnsupportedError, match=rf"{re.escape(name)}: {said} \(") as exc:
        lv.open(path)
    assert "DICOM file" not in str(exc.value) and "nibabel reads" in str(exc.value)
