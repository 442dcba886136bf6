"""Transfer syntaxes lazyvol cannot read its pixels under, by class: native (defined-length) Pixel
Data under a compressed TransferSyntaxUID (a relabelled file: pydicom fails on it looking for the
Basic Offset Table), and a syntax no decoder reads (MPEG / HEVC video). Each refusal named the file
and the syntax but said nothing of what to do; it now does.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info
from pydicom.filewriter import write_file_meta_info

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _relabel(path: str, uid: str) -> None:
    """``path`` with its file meta saying ``uid``, its data set's bytes unchanged."""
    with open(path, "rb") as f:
        f.seek(132)
        meta = _read_file_meta_info(f)
        rest = f.read()
    meta.TransferSyntaxUID = uid
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_file_meta_info(out, meta, enforce_standard=True)
    Path(path).write_bytes(bytes(128) + b"DICM" + out.getvalue() + rest)


def _refusal(folder, kind):
    with pytest.raises(kind) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(folder)
    return str(info.value)


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"])
def test_native_pixels_under_a_compressed_syntax_say_to_fix_the_file_meta(tmp_path, syntax):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2))
    for f in truth.files:
        _relabel(f, syntax)
    with pytest.raises(ValueError):  # the reference cannot read it either
        _ = pydicom.dcmread(truth.files[0]).pixel_array
    msg = _refusal(tmp_path / "s", lv.FormatError)
    assert any(f in msg for f in truth.files), msg
    assert "is not encapsulated" in msg and "TransferSyntaxUID (0002,0010)" in msg, msg
    assert "fix its transfer syntax or re-export the file" in msg, msg


def test_a_syntax_without_a_decoder_says_how_to_convert_it(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 2), compress="1.2.840.10008.1.2.5")
    for f in truth.files:
        _relabel(f, "1.2.840.10008.1.2.4.103")  # MPEG-4 AVC/H.264 BD-compatible
    msg = _refusal(tmp_path / "s", lv.UnsupportedError)
    assert any(f in msg for f in truth.files) and "(1.2.840.10008.1.2.4.103)" in msg, msg
    assert "convert the file to an uncompressed transfer syntax" in msg, msg
