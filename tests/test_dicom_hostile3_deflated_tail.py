"""A Deflated Explicit VR Little Endian file cut more than 64 KiB past its pixels: the scan inflated
the data set through the pixel element and 64 KiB on (the elements after the pixels it walks), and
stopped there, so a stream cut further on went unseen and the file was read, while pydicom refuses
it ('incomplete or truncated stream'). Now the rest of the stream is inflated (on a copy of zlib's
state, nothing kept) and must reach its end: such a file is skipped as truncated.
"""

from __future__ import annotations

import os
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian

import lazyvol as lv
from lazyvol.testing import write_dicom_series

#: DataSetTrailingPadding (FFFC,FFFC) OB of 300 kB that deflate cannot shrink.
_NOISE = np.random.default_rng(5).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
PADDING = b"\xfc\xff\xfc\xffOB\0\0" + len(_NOISE).to_bytes(4, "little") + _NOISE


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _deflate(path: str, cut_past_pixels: int | None) -> None:
    """Rewrite ``path`` (explicit VR LE, pixels last) deflated with :data:`PADDING` after its
    pixels, its stream cut where ``cut_past_pixels`` inflated bytes past the pixels remain (None:
    whole)."""
    with open(path, "rb") as f:
        f.seek(132)
        meta = _read_file_meta_info(f)
        data = f.read()
    pixels_end = len(data)
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_file_meta_info(out, meta, enforce_standard=True)
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = z.compress(data + PADDING) + z.flush()
    if cut_past_pixels is not None:
        cut = len(stream) - (len(PADDING) - cut_past_pixels)  # (stored blocks: about 1:1)
        inflate = zlib.decompressobj(-15)
        got = inflate.decompress(stream[:cut])
        assert not inflate.eof and len(got) > pixels_end + 65536 + 1000
        stream = stream[:cut]
    Path(path).write_bytes(bytes(128) + b"DICM" + out.getvalue() + stream)


@pytest.mark.parametrize("cut", [100_000, 250_000])
def test_a_deflated_file_cut_far_past_its_pixels_is_skipped_as_truncated(tmp_path, cut):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 2), seed=2)
    for f in truth.files:
        _deflate(f, cut)
    with pytest.raises(Exception, match="incomplete or truncated"):  # the reference refuses it
        pydicom.dcmread(truth.files[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = lv.scan(tmp_path / "s")
    assert list(report) == []
    assert sorted(s[0] for s in report.skipped) == sorted(map(os.fspath, truth.files))
    for _, reason, *_ in report.skipped:
        assert reason.startswith("truncated: its Deflated data set ends without its end"), reason
        assert "past its pixel element: what followed the pixels is lost" in reason, reason


def test_a_whole_deflated_file_with_a_long_tail_reads_as_pydicom(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 2), seed=2)
    for f in truth.files:
        _deflate(f, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(tmp_path / "s").compute()
    for k, f in enumerate(truth.files):
        np.testing.assert_array_equal(got[:, :, k].T, pydicom.dcmread(f).pixel_array)
