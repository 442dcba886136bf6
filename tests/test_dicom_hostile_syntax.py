"""A transfer syntax UID that lies about the encoding, by class: a JPEG-LS codestream labelled
JPEG (baseline, extended, lossless) and a JPEG one labelled JPEG-LS. The decoder is chosen by the
syntax, so such a frame decoded or failed depending on the plugins installed (libjpeg takes both
kinds; CharLS, which lazyvol prefers for JPEG-LS, and Pillow one each): a JPEG file labelled
JPEG-LS failed only when read, inside compute. lazyvol refuses both at open, naming the file, the
attribute and the fix; the syntaxes that say what the frames are still read, as pydicom reads
them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_rescale

import lazyvol as lv

JPEG_LS = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")
JPEG = (
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
)
#: (pydicom file, syntaxes that lie about it, syntaxes that tell its kind)
CASES = (
    ("MR_small_jpeg_ls_lossless.dcm", JPEG, JPEG_LS),
    ("JPGExtended.dcm", JPEG_LS, ("1.2.840.10008.1.2.4.51",)),
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _relabelled(tmp_path: Path, name: str, syntax: str) -> Path:
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.file_meta.TransferSyntaxUID = syntax
    path = tmp_path / syntax / name
    path.parent.mkdir(parents=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _open(path: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lv.open(path, **kw)


@pytest.mark.parametrize(
    ("name", "syntax"),
    [(name, syntax) for name, lies, _ in CASES for syntax in lies],
)
def test_a_syntax_naming_the_other_jpeg_kind_is_refused_at_open(tmp_path, name, syntax):
    path = _relabelled(tmp_path, name, syntax)
    with pytest.raises(lv.FormatError) as info:
        _open(path)  # at open: no compute
    msg = str(info.value)
    assert str(path) in msg and "TransferSyntaxUID (0002,0010)" in msg and syntax in msg, msg
    assert "fix the transfer syntax" in msg, msg


@pytest.mark.parametrize(
    ("name", "syntax"),
    [(name, syntax) for name, _, truths in CASES for syntax in truths],
)
def test_a_syntax_naming_the_frames_kind_is_read_as_pydicom_reads_it(tmp_path, name, syntax):
    path = _relabelled(tmp_path, name, syntax)
    got = np.asarray(_open(path, instance_order=True).data.compute())  # (JPGExtended: no IPP)
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(got[:, :, 0].T, apply_rescale(ds.pixel_array, ds))


@pytest.mark.parametrize("syntax", JPEG + JPEG_LS)
def test_a_jpeg_head_without_markers_is_left_to_the_decoder(syntax):
    """A frame starting with SOI then no marker (damaged): the open-time check cannot say what
    it holds and leaves it to the decoder's error, without raising one of its own."""
    from lazyvol.dicom.codestream import codestream_disagreement

    frame = b"\xff\xd8" + bytes(range(1, 60))
    assert codestream_disagreement(syntax, frame, 64, 64, 16, 1) is None
