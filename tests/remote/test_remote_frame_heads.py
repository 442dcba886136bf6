"""A remote compressed multi-frame file: its later frames' codestream heads are checked when each is
read (before it is decoded), not at scan time, where each check cost a ranged request of its own
(64 frames: 99 GETs and 3x the object's bytes, against 36 GETs and the object once). A damaged
later frame is still refused, typed and named, before anything is decoded."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

import lazyvol as lv
from lazyvol.testing import write_enhanced_dicom
from test_dicom_hostile3_frame_heads import _jpeg_enhanced, _swap_sof

pytestmark = pytest.mark.usefixtures("dicom_cache")


def test_a_remote_multiframe_scan_reads_the_object_about_once(tmp_path, http_server):
    truth = write_enhanced_dicom(tmp_path / "mf.dcm", (64, 64, 48), compress=RLELossless)
    data = Path(truth.files[0]).read_bytes()
    url = http_server.put("s/mf.dcm", data)
    http_server.reset_counts()
    report = lv.scan(url, use_index=False)
    assert len(report) == 1 and report[0].shape == (64, 64, 48)
    window = 64 * 1024  # (the scan reads the items in windows of at least this)
    gets = [r for r in http_server.requests if r[0] == "GET"]
    assert http_server.bytes_served <= len(data) + 4 * window, (http_server.bytes_served, len(data))
    assert len(gets) <= len(data) // window + 4, len(gets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(url, use_index=False, scale=False).compute()
    np.testing.assert_array_equal(got, truth.stored)


def test_a_damaged_later_remote_frame_is_refused_when_read(tmp_path, http_server):
    pytest.importorskip("imagecodecs")
    path = tmp_path / "e.dcm"
    _jpeg_enhanced(path, (8, 6, 4), _swap_sof)
    url = http_server.put("s/e.dcm", path.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol = lv.open(url, use_index=False, scale=False)
        with pytest.raises(lv.FormatError, match="8 rows x 6 columns but Rows"):
            vol.compute()
        sound = vol[:, :, 0:2].compute()  # the frames before it read as pydicom decodes them
    want = pydicom.dcmread(path).pixel_array
    assert want.shape[0] == 4
    np.testing.assert_array_equal(sound.shape, (8, 6, 2))
