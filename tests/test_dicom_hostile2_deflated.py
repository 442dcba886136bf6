"""A Deflated Explicit VR Little Endian file cut after its pixel data: its pixels inflate whole,
but its deflate stream has no end, and what followed the pixels (an attribute stated there, a
RescaleSlope, which the scan refuses as out of order when it sees it) is lost. pydicom refuses
such a file ('incomplete or truncated stream'); lazyvol skipped nothing and read the image, with
slope 1 where the file stated 2. Now it is skipped as truncated, naming the file.
"""

from __future__ import annotations

import os
import warnings
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian

import lazyvol as lv
from lazyvol.testing import write_dicom_series

#: RescaleSlope (0028,1053) DS "2.0 ", written after the pixel element (out of order).
SLOPE_AFTER = b"\x28\x00\x53\x10DS\x04\x002.0 "
#: DataSetTrailingPadding (FFFC,FFFC) OB of 64 zeros.
PADDING_AFTER = b"\xfc\xff\xfc\xffOB\0\0" + (64).to_bytes(4, "little") + bytes(64)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _deflate_cut_after_pixels(path: str, tail: bytes) -> None:
    """Rewrite ``path`` (explicit VR LE, pixels last) deflated with ``tail`` after its pixels,
    its stream cut at the last byte whose loss keeps the pixel data whole but not ``tail``'s
    end nor the stream's end (checked by inflating the cut stream here)."""
    with open(path, "rb") as f:
        f.seek(132)
        meta = _read_file_meta_info(f)
        data = f.read()
    pixels_end = len(data)
    data += tail
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_file_meta_info(out, meta, enforce_standard=True)
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = z.compress(data) + z.flush()
    for cut in range(len(stream) - 1, 0, -1):
        inflate = zlib.decompressobj(-15)
        got = inflate.decompress(stream[:cut])
        assert not inflate.eof
        if pixels_end <= len(got) and (len(got) < len(data) or not tail):
            break
    else:
        pytest.fail("no cut keeps the pixels whole")
    Path(path).write_bytes(bytes(128) + b"DICM" + out.getvalue() + stream[:cut])


@pytest.mark.parametrize(
    "tail", [SLOPE_AFTER, PADDING_AFTER, b""], ids=["slope", "padding", "none"]
)
def test_a_deflated_file_cut_after_its_pixels_is_skipped_as_truncated(tmp_path, tail):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 3), seed=2)
    for f in truth.files:
        _deflate_cut_after_pixels(f, tail)
    with pytest.raises(Exception, match="incomplete or truncated"):  # the reference refuses it
        _ = pydicom.dcmread(truth.files[0]).pixel_array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = lv.scan(tmp_path / "s")
        assert list(report) == []
        assert sorted(s[0] for s in report.skipped) == sorted(map(os.fspath, truth.files))
        for _, reason, *_ in report.skipped:
            assert reason.startswith("truncated: its Deflated data set ends without its end"), (
                reason
            )
            assert "what followed the pixels is lost" in reason and "copy it again" in reason
        with pytest.raises(lv.FormatError, match="truncated: its Deflated data set"):
            lv.open(tmp_path / "s")


def test_one_deflated_slice_cut_after_its_pixels_flags_its_series_incomplete(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 3), seed=2)
    for f in truth.files[:2]:
        ds = pydicom.dcmread(f)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(f, enforce_file_format=True)
    _deflate_cut_after_pixels(truth.files[2], b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = lv.scan(tmp_path / "s")
    assert [s[0] for s in report.skipped] == [os.fspath(truth.files[2])]
    assert "series incomplete" in " ".join(report[0].warnings)
