"""Frames that NumberOfFrames under-states, by class: a compressed multi-frame file whose
NumberOfFrames (0028,0008) is missing or 1 (RLE, JPEG-LS, JPEG 2000; enhanced or plain). Read as
one frame, its fragments went to the decoder together, which decodes the first codestream and
ignores the rest: 1 of 5 frames returned without a word (with instance_order=True, which the
geometry refusal suggests). lazyvol refuses it at open naming the file, the attribute and the
fix; a true single frame split over several fragments (PS3.5 A.4) is still read, as pydicom
reads it.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

import lazyvol as lv
from lazyvol.dicom.codestream import frame_problem
from lazyvol.testing import write_enhanced_dicom

SYNTAXES = {
    "RLE": "1.2.840.10008.1.2.5",
    "JPEG-LS": "1.2.840.10008.1.2.4.80",
    "JPEG 2000": "1.2.840.10008.1.2.4.90",
}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _enhanced(tmp_path: Path, syntax: str) -> Path:
    # (JPEG 2000's encoder needs an image of some size: 64 x 64)
    truth = write_enhanced_dicom(
        tmp_path / "src" / "enh.dcm", shape=(64, 64, 4), dtype="uint16", compress=syntax
    )
    return Path(truth.files[0])


def _open(path: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lv.open(path, **kw)


@pytest.mark.parametrize("frames", [None, 1], ids=["NumberOfFrames missing", "NumberOfFrames 1"])
@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
@pytest.mark.parametrize("geometry", ["enhanced", "top level"])
def test_frames_beyond_number_of_frames_are_refused_at_open(tmp_path, syntax, frames, geometry):
    ds = pydicom.dcmread(_enhanced(tmp_path, syntax))
    if frames is None:
        del ds.NumberOfFrames
    else:
        ds.NumberOfFrames = frames
    if geometry == "top level":  # (a plain image, placed without functional groups)
        del ds.PerFrameFunctionalGroupsSequence
        ds.ImagePositionPatient = [0, 0, 0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [1, 1]
    path = tmp_path / "case" / "enh.dcm"
    path.parent.mkdir()
    ds.save_as(path)
    for kw in ({}, {"instance_order": True}):
        with pytest.raises(lv.FormatError) as info:
            _open(path, **kw)  # at open: no compute
        msg = str(info.value)
        assert str(path) in msg and "NumberOfFrames (0028,0008)" in msg, msg
        assert "more than one frame" in msg and "fix NumberOfFrames" in msg, msg


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
@pytest.mark.parametrize("pieces", [2, 3])
def test_one_frame_over_several_fragments_is_read_as_pydicom_reads_it(tmp_path, syntax, pieces):
    if syntax == SYNTAXES["RLE"]:
        pytest.skip("an RLE frame is one fragment (PS3.5 A.4.2)")
    src = pydicom.dcmread(_enhanced(tmp_path, syntax))
    frame = next(generate_frames(src.PixelData, number_of_frames=4))
    ds = pydicom.dcmread(_enhanced(tmp_path, syntax))
    del ds.PerFrameFunctionalGroupsSequence
    del ds.NumberOfFrames
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    step = -(-len(frame) // pieces) + 1 & ~1
    # one frame, split at even byte counts into `pieces` fragments
    items = b"".join(
        struct.pack("<HHI", 0xFFFE, 0xE000, len(part) + len(part) % 2)
        + part
        + b"\0" * (len(part) % 2)
        for part in (frame[i : i + step] for i in range(0, len(frame), step))
    )
    ds.PixelData = (
        struct.pack("<HHI", 0xFFFE, 0xE000, 0) + items + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    )
    path = tmp_path / "case" / "one.dcm"
    path.parent.mkdir()
    ds.save_as(path)
    got = np.asarray(_open(path).data.compute())
    ref = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(got[:, :, 0].T, ref)


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
def test_the_pixel_read_refuses_frames_it_was_given_together(tmp_path, syntax):
    """The read's own check (a file changed since the scan, or frames located by a table that
    puts two codestreams in one frame): the one-frame value of two frames is refused."""
    src = pydicom.dcmread(_enhanced(tmp_path, syntax))
    frames = list(generate_frames(src.PixelData, number_of_frames=4))
    # (two fragments after an empty table: pydicom's one-frame value of two frames)
    two = encapsulate([frames[0], frames[1]], fragments_per_frame=1, has_bot=False)
    problem = frame_problem(syntax, two, 64, 64, 16, 1)
    assert problem is not None and "more than one frame" in problem
    one = encapsulate([frames[0]], fragments_per_frame=1, has_bot=False)
    assert frame_problem(syntax, one, 64, 64, 16, 1) is None


@pytest.mark.parametrize("bits_stored", [None, 0], ids=["BitsStored missing", "BitsStored 0"])
@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
def test_header_checks_apply_to_the_frames_of_a_compressed_enhanced_file(
    tmp_path, syntax, bits_stored
):
    """The header checks after the compressed-data ones (BitsStored, colour, bits allocated)
    were skipped for the located frames of a compressed enhanced file: a BitsStored missing or
    0 passed open and failed inside compute with the decoder's words; now refused at open as a
    single-frame file is."""
    ds = pydicom.dcmread(_enhanced(tmp_path, syntax))
    if bits_stored is None:
        del ds.BitsStored
    else:
        ds.BitsStored = bits_stored
    path = tmp_path / "case" / "enh.dcm"
    path.parent.mkdir()
    ds.save_as(path)
    with pytest.raises(lv.FormatError) as info:
        _open(path)  # at open: no compute
    msg = str(info.value)
    assert str(path) in msg and "BitsStored (0028,0101)" in msg and "dcmodify" in msg, msg
