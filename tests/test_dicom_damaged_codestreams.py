"""Compressed frames cut short or corrupted: a typed error naming file and frame, never a partly
filled image (BAD_INPUTS.md: "a decoder error raises a LazyvolError naming file and frame")."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import UID

import lazyvol as lv
from lazyvol.dicom.codestream import SIZED_SYNTAXES, ends_codestream
from lazyvol.dicom.decoding import decoding_plugin
from lazyvol.testing import write_dicom_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _imagecodecs(name: str) -> Callable[[np.ndarray], bytes]:
    def encode(values: np.ndarray) -> bytes:
        codecs = pytest.importorskip("imagecodecs")
        if name == "jpeg8":
            return codecs.jpeg8_encode(values, level=90)
        return getattr(codecs, f"{name}_encode")(values)

    return encode


#: Transfer syntax -> how a uint8 frame is encoded in it (None: pydicom's own encoder).
ENCODERS: dict[str, Callable[[np.ndarray], bytes] | None] = {
    "1.2.840.10008.1.2.4.50": _imagecodecs("jpeg8"),  # JPEG baseline (lossy)
    "1.2.840.10008.1.2.4.57": _imagecodecs("ljpeg"),  # JPEG lossless
    "1.2.840.10008.1.2.4.80": None,  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": None,  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90": None,  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.201": _imagecodecs("htj2k"),  # HTJ2K lossless
    "1.2.840.10008.1.2.5": None,  # RLE
}


def _series(folder: Path, syntax: str) -> list[str]:
    """Three single-frame files of ``syntax``."""
    encode = ENCODERS[syntax]
    if encode is None:
        return write_dicom_series(folder, (40, 32, 3), dtype="uint8", compress=syntax).files
    return encoded(write_dicom_series(folder, (40, 32, 3), dtype="uint8").files, syntax, encode)


def encoded(files: list[str], syntax: str, encode: Callable[[np.ndarray], bytes]) -> list[str]:
    """``files`` rewritten with each frame ``encode``d, as one fragment, under ``syntax``."""
    for f in files:
        ds = pydicom.dcmread(f)
        ds.PixelData = encapsulate([encode(ds.pixel_array)])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = UID(syntax)
        ds.save_as(f, enforce_file_format=True)
    return files


def _last_fragment(data: bytes) -> tuple[int, int]:
    """(offset, length) of the value of the last item of a file's encapsulated Pixel Data."""
    pos = data.rindex(b"\xe0\x7f\x10\x00") + 12  # explicit VR OB: tag, VR, 2 reserved, length
    last = (pos, 0)
    while data[pos : pos + 4] == b"\xfe\xff\x00\xe0":
        length = struct.unpack("<L", data[pos + 4 : pos + 8])[0]
        last = (pos + 8, length)
        pos += 8 + length
    return last


def _cut_last_fragment(path: str, cut: int) -> None:
    """Cut ``cut`` bytes off the end of the file's last fragment, its item length following."""
    data = Path(path).read_bytes()
    start, length = _last_fragment(data)
    head = data[: start - 4] + struct.pack("<L", length - cut)
    Path(path).write_bytes(head + data[start : start + length - cut] + data[start + length :])


def _intact(files: list[str]) -> list[np.ndarray]:
    return [pydicom.dcmread(f).pixel_array.T for f in files]


def _check_damaged_frame(
    folder: Path, victim: str, frame: int, truth: list[np.ndarray], **options: bool
) -> None:
    """Opening ``folder`` or reading its frame ``frame`` raises a FormatError naming ``victim``
    (and, when read, the frame); the other frames read as pydicom reads the intact files."""
    try:
        vol = lv.open(folder, scale=False, **options)
    except lv.FormatError as exc:  # found at open: fine
        assert victim in str(exc)
        return
    with pytest.raises(lv.FormatError) as exc:
        vol.compute()
    assert victim in str(exc.value) and f"frame {frame}" in str(exc.value)
    for k, want in enumerate(truth):
        if k != frame:
            np.testing.assert_array_equal(vol[:, :, k : k + 1].compute()[:, :, 0], want)


@pytest.mark.parametrize("syntax", list(ENCODERS), ids=lambda s: UID(s).name[:28])
@pytest.mark.parametrize("cut", [2, 24])
def test_a_codestream_cut_short_is_refused_not_decoded_partly(tmp_path, syntax, cut):
    """A frame whose codestream lost its last bytes (its item length consistent): libjpeg
    (pylibjpeg) decoded JPEG and JPEG-LS streams cut short into partly made-up images, no error."""
    files = _series(tmp_path / "s", syntax)
    truth = _intact(files)
    intact = lv.open(tmp_path / "s", scale=False).compute()
    np.testing.assert_array_equal(intact, np.stack(truth, -1))
    _cut_last_fragment(files[1], cut)
    _check_damaged_frame(tmp_path / "s", files[1], 1, truth)


def test_a_twelve_bit_jpeg_extended_file_cut_short_is_refused(tmp_path):
    """pydicom's 12-bit JPEG Extended file (which Pillow cannot decode: libjpeg does, and accepted
    it cut short)."""
    (tmp_path / "s").mkdir()
    victim = str(tmp_path / "s" / "x.dcm")
    shutil.copy(get_testdata_file("JPGExtended.dcm"), victim)
    truth = _intact([victim])
    vol = lv.open(victim, scale=False, instance_order=True)  # (it has no geometry)
    np.testing.assert_array_equal(vol.compute()[:, :, 0], truth[0])
    _cut_last_fragment(victim, 24)
    _check_damaged_frame(tmp_path / "s", victim, 0, truth, instance_order=True)


def test_an_enhanced_file_frame_without_its_end_marker_is_refused(tmp_path):
    """The middle frame of an enhanced JPEG-LS file ends in zeros (a cut frame filled up): that
    frame is refused when read; the others read as pydicom reads them."""
    path = tmp_path / "s" / "e.dcm"
    path.parent.mkdir()
    write_enhanced_dicom(path, shape=(40, 32, 3), compress="1.2.840.10008.1.2.4.80")
    truth = list(pydicom.dcmread(path).pixel_array.transpose(0, 2, 1))
    data = bytearray(path.read_bytes())
    pos = data.rindex(b"\xe0\x7f\x10\x00") + 12
    items = []
    while data[pos : pos + 4] == b"\xfe\xff\x00\xe0":
        length = struct.unpack("<L", data[pos + 4 : pos + 8])[0]
        items.append((pos + 8, length))
        pos += 8 + length
    assert len(items) == 4  # the offset table, then one fragment a frame
    start, length = items[2]
    data[start + length - 24 : start + length] = bytes(24)
    path.write_bytes(bytes(data))
    _check_damaged_frame(tmp_path / "s", str(path), 1, truth)


def test_a_frame_the_chosen_decoder_rejects_is_not_decoded_by_another(tmp_path):
    """A JPEG-LS frame with one corrupted byte: CharLS (pyjpegls) rejects it, libjpeg (pylibjpeg)
    decodes it into wrong values without an error. pydicom's decoder falls back from one plugin to
    the next; lazyvol does not: the frame is refused."""
    decoder = get_decoder("1.2.840.10008.1.2.4.80")
    if "pyjpegls" not in decoder.available_plugins:
        pytest.skip("pyjpegls not installed")
    victim = str(tmp_path / "x.dcm")
    shutil.copy(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), victim)
    truth = pydicom.dcmread(victim).pixel_array
    data = bytearray(Path(victim).read_bytes())
    start, length = _last_fragment(bytes(data))
    data[start + length // 2] ^= 0xFF
    Path(victim).write_bytes(bytes(data))
    if "pylibjpeg" in decoder.available_plugins:  # the reference: the fallback's image is wrong
        assert not np.array_equal(pixel_array(victim, decoding_plugin="pylibjpeg"), truth)
    with pytest.raises(RuntimeError, match=r"pyjpegls: .*JPEG-LS"):  # CharLS names the damage
        pixel_array(victim, decoding_plugin="pyjpegls")
    vol = lv.open(victim, scale=False)
    with pytest.raises(lv.FormatError, match="pyjpegls rejects") as exc:
        vol.compute()
    assert victim in str(exc.value) and "frame 0" in str(exc.value)


@pytest.mark.parametrize(
    ("syntax", "available", "bits", "chosen"),
    [
        ("1.2.840.10008.1.2.4.80", ("pyjpegls", "pylibjpeg"), 16, "pyjpegls"),
        ("1.2.840.10008.1.2.4.80", ("pylibjpeg",), 16, "pylibjpeg"),
        ("1.2.840.10008.1.2.4.50", ("pillow", "pylibjpeg"), 8, "pylibjpeg"),
        ("1.2.840.10008.1.2.4.51", ("gdcm", "pillow", "pylibjpeg"), 12, "pylibjpeg"),
        ("1.2.840.10008.1.2.4.51", ("gdcm", "pillow"), 8, "gdcm"),
        ("1.2.840.10008.1.2.4.51", ("pillow",), 12, ""),
        ("1.2.840.10008.1.2.4.90", ("pillow", "pylibjpeg"), 16, "pylibjpeg"),
        ("1.2.840.10008.1.2.5", ("pydicom", "pylibjpeg"), 16, "pylibjpeg"),
        ("1.2.840.10008.1.2.4.201", ("other", "pylibjpeg"), 16, "pylibjpeg"),
        ("1.2.840.10008.1.2.4.80", ("other", "zeta"), 16, "other"),
    ],
)
def test_the_decoding_plugin_is_chosen_as_pydicom_orders_them(syntax, available, bits, chosen):
    """pydicom 3's order (GDCM, pylibjpeg, Pillow), CharLS first for JPEG-LS, Pillow and GDCM
    never for JPEG Extended of other than 8 bits (their plugins refuse it); a plugin pydicom does
    not list comes after those it does, by name."""
    assert decoding_plugin(syntax, available, bits) == chosen


def _trail_frames(path: Path, trailer: bytes, cut: int = 0) -> None:
    """Each frame of the file at ``path`` less its last ``cut`` bytes, then ``trailer``, in
    one fragment a frame, with a Basic Offset Table when there are several."""
    ds = pydicom.dcmread(path)
    count = int(getattr(ds, "NumberOfFrames", 1) or 1)
    frames = [
        f[: len(f) - cut] + trailer for f in generate_frames(ds.PixelData, number_of_frames=count)
    ]
    ds.PixelData = encapsulate(frames, has_bot=count > 1)
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path)


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
@pytest.mark.parametrize(
    "trailer", [bytes(16), b"\xff" * 11 + b"\x00", b"\r\n"], ids=["zeros", "ff-fill", "crlf"]
)
def test_padding_after_the_end_marker_is_no_damage(tmp_path, name, trailer):
    """pydicom's files with more padding after their codestream's EOI/EOC than pydicom's 10-byte
    window for finding frame ends among fragments: decoders stop at the marker, pydicom reads
    them as the originals; a frame cut short and then padded still has no end marker."""
    victim = tmp_path / "s" / name
    victim.parent.mkdir()
    shutil.copy(get_testdata_file(name), victim)
    truth = pydicom.dcmread(victim).pixel_array.T
    _trail_frames(victim, trailer)
    np.testing.assert_array_equal(pydicom.dcmread(victim).pixel_array.T, truth)
    np.testing.assert_array_equal(lv.open(victim, scale=False).compute()[:, :, 0], truth)
    shutil.copy(get_testdata_file(name), victim)
    _trail_frames(victim, trailer, cut=24)
    _check_damaged_frame(tmp_path / "s", str(victim), 0, [truth])


def test_an_enhanced_file_with_padding_after_each_frame_reads_whole(tmp_path):
    """An enhanced JPEG-LS file with a Basic Offset Table (frames located without any marker
    search), 12 bytes of zeros after each frame's EOI: read as pydicom reads it."""
    path = tmp_path / "s" / "e.dcm"
    path.parent.mkdir()
    write_enhanced_dicom(path, shape=(16, 12, 5), compress="1.2.840.10008.1.2.4.80")
    _trail_frames(path, bytes(12))
    truth = pydicom.dcmread(path).pixel_array.transpose(2, 1, 0)  # (frames, rows, columns)
    np.testing.assert_array_equal(lv.open(path, scale=False).compute(), truth)


def test_every_pydicom_frame_ends_its_codestream_and_none_cut_short_does():
    """Every frame of the JPEG, JPEG-LS, JPEG 2000 and HTJ2K test files pydicom ships (as its
    generate_frames splits them) ends its codestream; cut 1 to 32 bytes short of its end marker,
    none does (no FFD9 followed by padding inside coded data)."""
    frames = []
    for path in sorted((Path(pydicom.__file__).parent / "data" / "test_files").rglob("*.dcm")):
        try:
            ds = pydicom.dcmread(path)
            syntax = str(ds.file_meta.TransferSyntaxUID)
        except Exception:  # pydicom's deliberately broken files
            continue
        if syntax in SIZED_SYNTAXES and "PixelData" in ds:
            count = int(getattr(ds, "NumberOfFrames", 1) or 1)
            frames += [(path, f) for f in generate_frames(ds.PixelData, number_of_frames=count)]
    assert len(frames) > 20
    for path, frame in frames:
        assert ends_codestream(frame), path
        end = len(frame.rstrip(b"\x00\xff"))
        assert not any(ends_codestream(frame[: end - cut]) for cut in range(1, 33)), path
