"""Bad DICOM inputs: typed errors naming files and fields, never wrong data."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")
SHAPE = (32, 48, 12)


def test_truncated_pixel_data_fails_at_open(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    victim = truth.files[5]
    size = os.path.getsize(victim)
    with open(victim, "r+b") as f:
        f.truncate(size - 100)
    with pytest.raises(lv.FormatError, match="truncated") as exc:
        lv.open(tmp_path / "s")
    assert victim in str(exc.value)


def test_file_cut_inside_header_is_skipped_and_series_flagged(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    victim = truth.files[0]
    with open(victim, "r+b") as f:
        f.truncate(700)  # inside the dataset, before Rows/Columns
    report = lv.scan(tmp_path)
    assert any(p == victim for p, _ in report.skipped)
    assert len(report) == 1
    assert any("incomplete" in w for w in report[0].warnings)
    assert report[0].shape == (32, 48, 11)


def test_missing_position_errors_and_instance_order_fallback_is_flagged(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, reverse_instance_numbers=True)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f)
    with pytest.raises(lv.SeriesError, match=r"ImagePositionPatient \(0020,0032\)") as exc:
        lv.open(tmp_path / "s")
    assert "instance_order=True" in str(exc.value)
    vol = lv.open(tmp_path / "s", instance_order=True)
    assert vol.meta["relaxations"] == {"instance_order": True}
    assert "geometry_approximate" in vol.meta
    # InstanceNumber runs backwards, so instance order is the reverse slice order.
    np.testing.assert_array_equal(vol.compute(), truth.stored[:, :, ::-1])


def test_gap_reports_expected_and_found_spacing(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, spacing=(0.8, 0.7, 2.5))
    os.remove(truth.files[6])
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "expected 2.5 mm" in msg and "found 5 mm" in msg
    assert truth.files[5] in msg and truth.files[7] in msg
    assert "1 slice(s) missing" in msg


def test_non_uniform_spacing(tmp_path):
    pos = np.zeros((SHAPE[2], 3))
    pos[:, 2] = np.arange(SHAPE[2]) * 2.0
    pos[8:, 2] += 0.3
    write_dicom_series(tmp_path / "s", SHAPE, positions=pos)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing"):
        lv.open(tmp_path / "s")
    # within tolerance (1e-3 relative) is accepted
    pos2 = np.zeros((SHAPE[2], 3))
    pos2[:, 2] = np.arange(SHAPE[2]) * 2.0 + np.tile([0, 0.0005], SHAPE[2] // 2)
    write_dicom_series(tmp_path / "ok", SHAPE, positions=pos2)
    assert lv.open(tmp_path / "ok").shape == SHAPE


def test_exact_duplicate_dropped_with_warning(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    dup = str(tmp_path / "s" / "copy.dcm")
    shutil.copy(truth.files[4], dup)
    report = lv.scan(tmp_path / "s")
    assert report[0].shape == SHAPE
    assert any("duplicate" in w and dup in w for w in report[0].warnings)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), truth.stored)


def test_conflicting_duplicate_errors(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    ds = pydicom.dcmread(truth.files[4])
    arr = ds.pixel_array.copy()
    arr[0, 0] += 1
    ds.PixelData = arr.tobytes()
    dup = str(tmp_path / "s" / "changed.dcm")
    ds.save_as(dup)
    with pytest.raises(lv.SeriesError, match="different pixel data") as exc:
        lv.open(tmp_path / "s")
    assert dup in str(exc.value)


def test_same_position_without_explaining_tag_errors(tmp_path):
    write_dicom_series(tmp_path / "s", SHAPE, prefix="A", series_uid="1.2.3.44", seed=1)
    write_dicom_series(tmp_path / "s", SHAPE, prefix="B", series_uid="1.2.3.44", seed=2)
    with pytest.raises(lv.SeriesError, match="positions repeat"):
        lv.open(tmp_path / "s")


def test_repeats_explained_by_echo_become_4th_axis(tmp_path):
    uid = "1.2.3.45"
    e1 = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        prefix="A",
        series_uid=uid,
        seed=1,
        modality="MR",
        extra={"EchoTime": "10", "EchoNumbers": 1},
    )
    e2 = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        prefix="B",
        series_uid=uid,
        seed=2,
        modality="MR",
        extra={"EchoTime": "20", "EchoNumbers": 2},
        shuffle_names=True,
    )
    vol = lv.open(tmp_path / "s")
    assert vol.shape == (*SHAPE, 2)
    assert vol.meta["axis4"] == "EchoNumbers"
    assert vol.meta["axis4_values"]["EchoNumbers"] == [1, 2]
    assert vol.meta["axis4_values"]["EchoTime"] == [10.0, 20.0]
    data = vol.compute()
    np.testing.assert_array_equal(data[..., 0], e1.stored)
    np.testing.assert_array_equal(data[..., 1], e2.stored)
    np.testing.assert_allclose(vol.affine, e1.affine)


def test_acquisition_number_change_alone_does_not_split(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, per_slice=[{"AcquisitionNumber": 1 + k // 6} for k in range(12)]
    )
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), truth.stored)


def test_compressed_multiframe_colour_are_unsupported_not_wrong(tmp_path):
    for name in ("MR_small_RLE.dcm", "SC_rgb.dcm" if False else "SC_rgb_small_odd.dcm"):
        src = get_testdata_file(name)
        with pytest.raises(lv.UnsupportedError):
            lv.open(src)
    with pytest.raises(lv.UnsupportedError, match="multi-frame|colour"):
        lv.open(get_testdata_file("SC_rgb_rle_2frame.dcm"))


def test_resource_limit_before_allocation(tmp_path, monkeypatch):
    write_dicom_series(tmp_path / "s", SHAPE)
    monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", "1000")
    with pytest.raises(lv.ResourceLimitError, match="LAZYVOL_MAX_VOLUME_BYTES"):
        lv.open(tmp_path / "s")


def test_malformed_needed_attribute_named(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    ds = pydicom.dcmread(truth.files[2])
    ds["ImagePositionPatient"].value = ["1A", "2", "3"]
    with pytest.warns(UserWarning):
        ds.save_as(truth.files[2])
    with pytest.raises(lv.SeriesError, match="ImagePositionPatient") as exc:
        lv.open(tmp_path / "s")
    assert "1A" in str(exc.value)


def test_junk_files_only(tmp_path):
    (tmp_path / "a.txt").write_text("nothing here")
    with pytest.raises(lv.FormatError, match="no DICOM image volume"):
        lv.open(tmp_path)
    with pytest.raises(lv.FormatError):
        lv.open(tmp_path / "a.txt")


def test_headerless_dicom_accepted_when_plausible():
    vol = lv.open(get_testdata_file("ExplVR_LitEndNoMeta.dcm"))
    ds = pydicom.dcmread(get_testdata_file("ExplVR_LitEndNoMeta.dcm"), force=True)
    np.testing.assert_array_equal(vol.compute()[:, :, 0], ds.pixel_array.T.astype(vol.dtype))
