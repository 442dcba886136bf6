"""Element lengths that lie, by class: the Pixel Data element's own length running past the end of
the file, on every native encoding (explicit and implicit VR little endian, big endian; single-
and multi-frame). The reference is pydicom's reader on the same bytes.

A length past the end is a damaged length field or a cut file; lazyvol refuses it naming the
file, the element, the length and what the file holds, never as an image "holding" the bytes the
length claims (the excess check's message: a 40 kB file said to hold 4 GiB too many). A length
one byte past the end (an odd length's pad byte left out) is read, as pydicom reads it.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_rescale

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

#: Native files of each encoding pydicom ships (one frame each).
SHIPPED = ("MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "CT_small.dcm")


def _pixel_length_at(path: Path) -> tuple[int, str]:
    """Where the Pixel Data element's 4-byte length is, and its byte order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, defer_size=16)
    raw = ds._dict[0x7FE00010]  # a raw element: read lazily, not converted
    big = ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.2"
    return raw.value_tell - 4, ">I" if big else "<I"


def _with_pixel_length(src: Path, dst: Path, length, cut=0) -> Path:
    """A copy of ``src`` whose Pixel Data length is ``length(true length, bytes from the value to
    the end of the file)``, ``cut`` bytes (or ``cut(true length, those bytes)``) cut off its
    end."""
    at, fmt = _pixel_length_at(src)
    data = bytearray(src.read_bytes())
    (true,) = struct.unpack_from(fmt, data, at)
    rest = len(data) - at - 4
    struct.pack_into(fmt, data, at, length(true, rest) & 0xFFFFFFFF)
    if callable(cut):
        cut = cut(true, rest)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(data[: len(data) - cut]))
    return dst


def _sources(tmp_path: Path, enhanced: bool = False) -> list[Path]:
    """pydicom's native files and single-frame files made in each encoding; with ``enhanced``,
    enhanced multi-frame files too (their frames located through functional groups)."""
    files = [Path(get_testdata_file(n)) for n in SHIPPED]
    for syntax in ("explicit", "implicit", "big"):
        truth = write_dicom_series(tmp_path / f"made-{syntax}", shape=(8, 6, 2), syntax=syntax)
        files.append(Path(sorted(truth.files)[0]))
    if enhanced:
        for n_volumes in (1, 2):
            path = tmp_path / f"enhanced-{n_volumes}" / "mf.dcm"
            path.parent.mkdir()
            write_enhanced_dicom(path, shape=(8, 6, 3), n_volumes=n_volumes)
            files.append(path)
    return files


#: (name, new length from the true one and the bytes to the end, bytes cut off the end)
LIES = (
    ("huge", lambda n, rest: 0xFFFFFFF0, 0),
    ("two past the end", lambda n, rest: rest + 2, 0),
    ("a frame past the end", lambda n, rest: rest + n, 0),
    ("huge, file cut in the pixels", lambda n, rest: 0xFFFFFFF0, 7),
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("lie", LIES, ids=[lie[0] for lie in LIES])
def test_a_pixel_length_past_the_end_is_refused_naming_it(tmp_path, lie):
    _name, length, cut = lie
    for k, src in enumerate(_sources(tmp_path, enhanced=True)):
        path = _with_pixel_length(src, tmp_path / f"case{k}" / src.name, length, cut)
        with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lv.open(path).data.compute()
        msg = str(info.value)
        assert str(path) in msg, msg
        assert "Pixel Data (7FE0,0010)" in msg and "past the end of the file" in msg, msg
        at, fmt = _pixel_length_at(path)
        (stated,) = struct.unpack_from(fmt, path.read_bytes(), at)
        assert str(stated) in msg, msg
        assert "copy the file again" in msg, msg
        # (never the excess check's claim that the element holds the stated bytes)
        assert f"holds {stated} bytes" not in msg, msg


def test_one_byte_past_the_end_is_read_as_pydicom_reads_it(tmp_path):
    read = 0
    for k, src in enumerate(_sources(tmp_path)):
        at, fmt = _pixel_length_at(src)
        (true,) = struct.unpack_from(fmt, src.read_bytes(), at)
        if at + 4 + true != src.stat().st_size:
            continue  # (elements after the pixels: the longer length takes them in)
        read += 1
        path = _with_pixel_length(src, tmp_path / f"case{k}" / src.name, lambda n, rest: rest + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.asarray(lv.open(path).data.compute())
            ds = pydicom.dcmread(path)
            ref = apply_rescale(ds.pixel_array, ds)
        np.testing.assert_array_equal(got[:, :, 0].T, ref)
    assert read >= 3


def test_a_file_cut_short_with_its_length_intact_is_named_truncated(tmp_path):
    """The length the image needs, the file cut inside the pixels: a truncated file, so named
    (not a damaged length)."""
    for k, src in enumerate(_sources(tmp_path, enhanced=True)):
        path = _with_pixel_length(
            src, tmp_path / f"case{k}" / src.name, lambda n, rest: n, lambda n, rest: rest - n + 9
        )
        with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lv.open(path)
        msg = str(info.value)
        assert str(path) in msg and "truncated" in msg, msg
        assert "past the end of the file" not in msg, msg


def _elements_before_pixels(
    data: bytes, implicit: bool, little: bool
) -> list[tuple[int, int, int]]:
    """``(tag, offset of its length field, that field's size: 2 or 4)`` of each top-level data
    set element before Pixel Data."""
    import io

    from pydicom.filereader import data_element_generator

    fp = io.BytesIO(data)
    fp.seek(132)
    pydicom.filereader._read_file_meta_info(fp)
    out = []
    for raw in data_element_generator(fp, implicit, little, defer_size=None):
        if raw.tag == 0x7FE00010:
            break
        long = implicit or raw.VR in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OF", "OD", "OL")
        out.append((int(raw.tag), raw.value_tell - (4 if long else 2), 4 if long else 2))
    return out


ENCODINGS = {
    "MR_small.dcm": (False, True),
    "MR_small_implicit.dcm": (True, True),
    "MR_small_bigendian.dcm": (False, False),
}


@pytest.mark.parametrize("name", ENCODINGS)
def test_a_header_length_that_lies_is_named_damage_not_truncation(tmp_path, name):
    """An element before Pixel Data whose length is one too long (odd) or runs past the end of
    the file throws the header parse off: the image attributes are not found. The file is whole
    (its Pixel Data is there, further on), so a refusal must not call it truncated (whose fix,
    copying it again, does not help a file damaged at its source) without saying it is not."""
    src = Path(get_testdata_file(name))
    data = src.read_bytes()
    implicit, little = ENCODINGS[name]
    e = "<" if little else ">"
    named = 0
    for k, (tag, at, size) in enumerate(_elements_before_pixels(data, implicit, little)):
        fmt = f"{e}{'L' if size == 4 else 'H'}"
        (true,) = struct.unpack_from(fmt, data, at)
        for lie in (true + 1, (1 << (8 * size)) - 16):
            bad = bytearray(data)
            struct.pack_into(fmt, bad, at, lie)
            path = tmp_path / f"{k}-{lie}" / name
            path.parent.mkdir()
            path.write_bytes(bytes(bad))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    lv.open(path).data.compute()
            except lv.LazyvolError as exc:
                msg = str(exc)
                assert name in msg, msg
                if "truncated" in msg:
                    assert "not cut short" in msg, f"({tag:08X} length {lie}) {msg}"
                    named += 1
    assert named > 20  # (the class is exercised: headers thrown off, refused as damaged)


@pytest.mark.parametrize("name", ENCODINGS)
def test_a_header_cut_short_is_still_named_truncated(tmp_path, name):
    src = Path(get_testdata_file(name))
    data = src.read_bytes()
    implicit, little = ENCODINGS[name]
    for k, (_tag, at, _size) in enumerate(_elements_before_pixels(data, implicit, little)):
        if k % 3:
            continue  # (every third element boundary: the class, quickly)
        path = tmp_path / str(k) / name
        path.parent.mkdir()
        path.write_bytes(data[: at - 4])
        with pytest.raises(lv.LazyvolError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lv.open(path)
        assert "not cut short" not in str(info.value), str(info.value)


def test_a_slice_damaged_by_an_undefined_length_is_named_by_the_series_refusal(tmp_path):
    """An implicit VR slice whose element (not a sequence) has an undefined length is skipped as
    damaged; its SeriesInstanceUID, past the damage, was not read, so its series was not flagged
    incomplete and the gap refusal named its neighbours only, never the damaged file in the
    folder. Every such element of the slice, in turn."""
    truth = write_dicom_series(tmp_path / "src", shape=(8, 6, 4), syntax="implicit")
    victim = Path(sorted(truth.files)[1])
    data = victim.read_bytes()
    checked = 0
    for k, (tag, at, _size) in enumerate(_elements_before_pixels(data, True, True)):
        if tag >> 16 in (0x0002, 0x0020) or pydicom.datadict.dictionary_VR(tag) == "SQ":
            continue  # (the file meta; group 0020 holds the UID itself; the synthetic slice
            # holds no private element, whose VR the dictionary does not know)
        folder = tmp_path / str(k)
        folder.mkdir()
        for f in truth.files:
            (folder / Path(f).name).write_bytes(Path(f).read_bytes())
        bad = bytearray(data)
        struct.pack_into("<L", bad, at, 0xFFFFFFFF)
        (folder / victim.name).write_bytes(bytes(bad))
        with pytest.raises(lv.LazyvolError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lv.open(folder)
        assert victim.name in str(info.value), str(info.value)
        checked += 1
    assert checked >= 8
