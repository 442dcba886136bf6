"""Compressed frames whose codestream holds wider samples than BitsStored (0028,0101) says: the
values a decoder returns (pydicom's) are read, never wrapped into a dtype chosen from BitsStored."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import apply_modality_lut, get_encoder
from pydicom.uid import JPEG2000Lossless, RLELossless

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_enhanced_dicom
from test_dicom_damaged_codestreams import encoded

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _imagecodecs(name: str) -> Callable[[np.ndarray], bytes]:
    def encode(values: np.ndarray) -> bytes:
        codecs = pytest.importorskip("imagecodecs")
        if name == "ljpeg" and values.dtype.kind == "i":
            pytest.skip("lossless JPEG encoders take unsigned samples")
        return getattr(codecs, f"{name}_encode")(values)

    return encode


#: Transfer syntax -> how a 16-bit frame is encoded in it at 16-bit precision (None: pydicom's
#: own encoder, at the header's BitsStored of 16).
ENCODERS: dict[str, Callable[[np.ndarray], bytes] | None] = {
    "1.2.840.10008.1.2.4.57": _imagecodecs("ljpeg"),  # JPEG lossless
    "1.2.840.10008.1.2.4.80": None,  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.90": None,  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.201": _imagecodecs("htj2k"),  # HTJ2K lossless
    "1.2.840.10008.1.2.5": None,  # RLE
}


def _relabel(files: list[str], **attrs: object) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        for keyword, value in attrs.items():
            setattr(ds, keyword, value)
        ds.save_as(f)


def _wide_series(folder: Path, syntax: str, dtype: str, **attrs: object) -> list[str]:
    """Three files of 16-bit samples over their whole range, encoded at 16-bit precision in
    ``syntax``, whose header then says BitsStored 12 (and ``attrs``)."""
    encode = ENCODERS[syntax]
    shape = (40, 32, 3)
    if encode is None:
        files = write_dicom_series(folder, shape, dtype=dtype, compress=syntax).files
    else:
        files = encoded(write_dicom_series(folder, shape, dtype=dtype).files, syntax, encode)
    _relabel(files, BitsStored=12, HighBit=11, **attrs)
    return files


def _pydicom_values(files: list[str]) -> np.ndarray:
    """(i, j, k) values pydicom gives the files (slice k: file k), after the modality LUT."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slices = [apply_modality_lut(ds.pixel_array, ds) for ds in map(pydicom.dcmread, files)]
    return np.stack([s.T for s in slices], axis=-1)


@pytest.mark.parametrize("syntax", list(ENCODERS), ids=["jpeg", "jpeg-ls", "j2k", "htj2k", "rle"])
@pytest.mark.parametrize("dtype", ["uint16", "int16"])
def test_values_beyond_bits_stored_read_as_pydicom_decodes_them(tmp_path, syntax, dtype):
    # A 16-bit codestream under BitsStored 12 and RescaleIntercept -1024: JPEG 2000, HTJ2K and
    # JPEG-LS decoders return the codestream's values (up to 65535), which the int16 chosen from
    # BitsStored's range wrapped by 65536; JPEG and RLE values have their high bits cleared, as
    # pydicom clears them. Either way, pydicom's values, voxel by voxel.
    files = _wide_series(tmp_path / "s", syntax, dtype, RescaleSlope=1, RescaleIntercept=-1024)
    want = _pydicom_values(files)
    np.testing.assert_array_equal(lv.open(tmp_path / "s").compute(), want)
    stored = np.stack([pydicom.dcmread(f).pixel_array.T for f in files], axis=-1)
    np.testing.assert_array_equal(lv.open(tmp_path / "s", scale=False).compute(), stored)


def test_a_wide_codestream_among_native_signed_files_reads_as_pydicom(tmp_path):
    # No rescale: 16-bit JPEG 2000 files under BitsStored 12 (unsigned) among native signed
    # 12-bit files of one series, slices interleaved. The common dtype of the two BitsStored
    # ranges, int16, wrapped the JPEG 2000 values.
    folder = tmp_path / "s"
    j2k = write_dicom_series(folder, (40, 32, 3), dtype="uint16", compress=JPEG2000Lossless)
    native = write_dicom_series(
        folder,
        (40, 32, 3),
        dtype="int16",
        bits_stored=12,
        origin=(-12.5, -20.0, 31.25),  # halfway between the JPEG 2000 slices
        series_uid=j2k.series_uid,
        prefix="N",
        seed=5,
    )
    _relabel(j2k.files, BitsStored=12, HighBit=11)
    files = [f for pair in zip(j2k.files, native.files, strict=True) for f in pair]
    want = _pydicom_values(files)
    assert want.max() > 4095 and want.min() < 0
    np.testing.assert_array_equal(lv.open(folder).compute(), want)


def _enhanced_with_a_wide_frame(path: Path) -> np.ndarray:
    """An enhanced JPEG 2000 file (BitsStored 12, RescaleIntercept -1024) whose frames are 12-bit
    codestreams but frame 3's, a 16-bit one; its stored values as pydicom decodes them."""
    write_enhanced_dicom(
        path, (64, 48, 4), dtype="uint16", intercept=-1024, compress=JPEG2000Lossless
    )
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array  # (frames, rows, columns)
    layout = dict(
        rows=48, columns=64, samples_per_pixel=1, photometric_interpretation="MONOCHROME2"
    )
    layout.update(bits_allocated=16, pixel_representation=0, number_of_frames=1)
    encoder = get_encoder(JPEG2000Lossless)
    frames = [encoder.encode(f & 0x0FFF, bits_stored=12, **layout) for f in stored]
    frames[2] = list(generate_frames(ds.PixelData, number_of_frames=4))[2]
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds.BitsStored, ds.HighBit = 12, 11
    ds.save_as(path)
    return pydicom.dcmread(path).pixel_array


def test_a_later_frame_wider_than_the_first_chooses_the_dtype_at_open(tmp_path):
    # Every frame's codestream head is read at open (it was the first frame's only: its 12-bit
    # codestream chose int16 for values - 1024, and a later 16-bit frame was refused when read,
    # its values not fitting): the widest frame's precision chooses the dtype, and every frame
    # reads as pydicom decodes it, never wrapped by 65536.
    path = tmp_path / "e.dcm"
    stored = _enhanced_with_a_wide_frame(path)
    assert stored[2].max() > 4095 >= stored[[0, 1, 3]].max()
    vol = lv.open(path)
    assert vol.dtype == np.int32
    want = np.moveaxis(stored, 0, -1).transpose(1, 0, 2)
    np.testing.assert_array_equal(vol.compute(), want.astype(np.int32) - 1024)
    np.testing.assert_array_equal(lv.open(path, scale=False).compute(), want)
    got = lv.open(path, dtype="float32").compute()
    np.testing.assert_array_equal(got, want.astype(np.float32) - 1024)


def _rle(values: np.ndarray) -> bytes:
    """One RLE frame of ``values`` (PS3.5 G.3): a segment a byte plane, most significant first,
    each coded as PackBits literal runs."""
    raw = values.astype(values.dtype.newbyteorder(">")).tobytes()
    size = values.dtype.itemsize
    segments = []
    for plane in (raw[b::size] for b in range(size)):
        runs = [
            bytes([len(plane[i : i + 128]) - 1]) + plane[i : i + 128]
            for i in range(0, len(plane), 128)
        ]
        segments.append(b"".join(runs) + b"\x00" * (len(b"".join(runs)) % 2))
    offsets = np.cumsum([64] + [len(s) for s in segments[:-1]]).tolist()
    header = np.array([size] + offsets + [0] * (15 - size), dtype="<u4").tobytes()
    return header + b"".join(segments)


@pytest.mark.parametrize(
    ("dtype", "bits", "planes"),
    [("uint16", 32, 4), ("uint32", 16, 2)],
    ids=["16-bit-frames-under-32", "32-bit-frames-under-16"],
)
def test_rle_segments_other_than_bits_allocated_says_are_refused_at_open(
    tmp_path, dtype, bits, planes
):
    # RLE frames of 2 segments (16-bit) under BitsAllocated 32, or of 4 under 16: opened, then
    # refused inside compute with pylibjpeg's words about SamplesPerPixel (which is 1).
    files = write_dicom_series(tmp_path / "s", (40, 32, 3), dtype=dtype).files
    for f in files:
        ds = pydicom.dcmread(f)
        ds.PixelData = encapsulate([_rle(ds.pixel_array)])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = RLELossless
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
        ds.save_as(f, enforce_file_format=True)
    segments = 6 - planes  # the other of 2 and 4
    ds = pydicom.dcmread(files[0])
    with pytest.raises(Exception, match=rf"\({segments} vs. {planes} segments\)"):
        ds.pixel_array_options(decoding_plugin="pydicom")  # pydicom's own RLE decoder
        _ = ds.pixel_array
    with pytest.raises(
        lv.FormatError,
        match=rf"RLE data hold {segments} segment\(s\) .* SamplesPerPixel \(0028,0002\) x "
        rf"BitsAllocated \(0028,0100\) / 8 = 1 x {planes} = {planes}",
    ) as exc:
        lv.open(tmp_path / "s")
    assert any(f in str(exc.value) for f in files)


def test_a_later_rle_frame_of_other_segments_is_refused_at_open(tmp_path):
    # Every frame's head is read at open (it was the first frame's only): a later frame of one
    # segment (8-bit) among 16-bit ones is refused at open, naming the frame and the counts.
    path = tmp_path / "e.dcm"
    write_enhanced_dicom(path, (48, 40, 4), dtype="uint16", compress=RLELossless)
    ds = pydicom.dcmread(path)
    frames = list(generate_frames(ds.PixelData, number_of_frames=4))
    layout = dict(
        rows=40, columns=48, samples_per_pixel=1, photometric_interpretation="MONOCHROME2"
    )
    layout.update(bits_allocated=8, bits_stored=8, pixel_representation=0, number_of_frames=1)
    eight = np.arange(40 * 48, dtype=np.uint8).reshape(40, 48)
    frames[2] = get_encoder(RLELossless).encode(eight, **layout)
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds.save_as(path)
    with pytest.raises(lv.FormatError, match=r"\(frame 3 of 4\): the RLE data hold 1 segment"):
        lv.open(path)


@pytest.mark.parametrize(
    ("syntax", "options"),
    [
        ("1.2.840.10008.1.2.4.70", {"lossless": True, "predictor": 1}),  # JPEG lossless SV1
        ("1.2.840.10008.1.2.4.57", {"lossless": True, "predictor": 6}),  # JPEG lossless
        ("1.2.840.10008.1.2.4.50", {"level": 95}),  # baseline (lossy: against its own decode)
    ],
    ids=["sv1", "lossless", "baseline"],
)
@pytest.mark.parametrize("dtype", ["uint16", "int16"])
def test_eight_bit_jpeg_samples_in_sixteen_bits_allocated(tmp_path, syntax, options, dtype):
    """JPEG lossless allows samples of 8-bit precision in 16 bits allocated (BitsStored 8).
    pydicom's JPEG decoders return them one byte each and then fail to shape them as 16-bit
    samples, which made every read of such a series a 'damaged frame' FormatError inside compute;
    they read as their decoded values, widened to the stored dtype (signed: sign-extended from
    BitsStored's 8 bits, as pydicom reads native data)."""
    codecs = pytest.importorskip("imagecodecs")
    truth = write_dicom_series(tmp_path / "s", (24, 20, 3), dtype=dtype, bits_stored=8)

    def encode(values: np.ndarray) -> bytes:
        return bytes(codecs.jpeg8_encode(values.astype(np.uint8), **options))  # the 8 bits

    files = encoded(truth.files, syntax, encode)
    vol = lv.open(tmp_path / "s")
    got = vol.compute()
    assert got.dtype == np.dtype(dtype) == vol.dtype
    # each file as pydicom decodes its 8-bit samples (one byte a sample), in the stored dtype
    want = []
    for path in sorted(files, key=lambda f: int(pydicom.dcmread(f).InstanceNumber)):
        plane = pydicom.pixels.pixel_array(path, bits_allocated=8).astype(dtype)
        want.append(plane.T)
    np.testing.assert_array_equal(got, np.stack(want, axis=-1))
    if "lossless" in options:
        np.testing.assert_array_equal(got, truth.stored)
    np.testing.assert_array_equal(vol[3:9, :, 1:2].compute(), got[3:9, :, 1:2])


@pytest.mark.parametrize(
    "syntax", ["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"], ids=["jpeg-ls", "j2k"]
)
@pytest.mark.parametrize("dtype", ["uint16", "int16"])
def test_references_of_a_codestream_wider_than_bits_stored(tmp_path, syntax, dtype):
    # A 16-bit codestream under BitsStored 12 (common: encoders write the precision of
    # BitsAllocated): the reading widens the dtype's range (DicomPlan.decoded_bits), which the
    # references took for a layout no chunk can address ("e.g. Siemens mosaic tiles") and
    # refused. A Zarr reader decodes the codestream's values, as pydicom and lazyvol do.
    zarr = pytest.importorskip("zarr")
    fsspec = pytest.importorskip("fsspec")
    pytest.importorskip("imagecodecs")
    files = _wide_series(tmp_path / "s", syntax, dtype, RescaleSlope=1, RescaleIntercept=-1024)
    refs = lv.references(tmp_path / "s")
    mapper = fsspec.filesystem("reference", fo=refs).get_mapper("")
    image = zarr.open_group(mapper, mode="r", zarr_format=2)["image"]
    attrs = dict(image.attrs)
    got = np.asarray(image[...]).astype(np.float64) * attrs["scale_factor"] + attrs["add_offset"]
    np.testing.assert_array_equal(got.transpose(2, 1, 0), _pydicom_values(files))


@pytest.mark.parametrize(
    ("dtype", "bits_stored", "precision", "relabel"),
    [
        ("uint16", 8, 8, {"BitsStored": 12, "HighBit": 11}),  # 8-bit samples, BitsStored 12
        ("int16", 8, 8, {"BitsStored": 12, "HighBit": 11, "PixelRepresentation": 1}),
        ("uint32", 12, 12, {}),  # 12-bit samples in 32 bits allocated
        ("int32", 12, 12, {}),  # (two's complement in BitsStored's 12 bits)
        ("int32", 16, 16, {}),
        ("uint32", 8, 8, {}),
    ],
    ids=[
        "8-of-12-in-16",
        "8-of-12-in-16-signed",
        "12-in-32",
        "12-in-32-signed",
        "16-in-32",
        "8-in-32",
    ],
)
def test_jpeg_samples_narrower_than_bits_allocated(
    tmp_path, dtype, bits_stored, precision, relabel
):
    """The siblings of 8-bit JPEG samples under BitsStored 8 in 16 bits allocated: 8-bit samples
    under a BitsStored of 12, 12- or 16-bit ones in 32 bits allocated. pydicom's JPEG decoders
    return a sample in one byte (precision up to 8) or two, and fail to shape them as the wider
    samples BitsAllocated says; every read was a 'damaged frame' FormatError in compute. They read
    as the codestream's samples (lossless: the values written), in BitsStored's two's complement
    for signed data."""
    codecs = pytest.importorskip("imagecodecs")
    truth = write_dicom_series(tmp_path / "s", (24, 20, 3), dtype=dtype, bits_stored=bits_stored)
    mask = (1 << precision) - 1
    sample = np.uint8 if precision <= 8 else np.uint16

    def encode(values: np.ndarray) -> bytes:
        samples = (values.astype(np.int64) & mask).astype(sample)
        return bytes(
            codecs.jpeg8_encode(samples, lossless=True, predictor=1, bitspersample=precision)
        )

    files = encoded(truth.files, "1.2.840.10008.1.2.4.70", encode)
    if relabel:
        _relabel(files, **relabel)
    vol = lv.open(tmp_path / "s")
    got = vol.compute()
    assert got.dtype == np.dtype(dtype) == vol.dtype
    # the samples written, as values of BitsStored's bits (two's complement when signed)
    want = truth.stored.astype(np.int64) & mask
    bits = int(relabel.get("BitsStored", bits_stored))
    if dtype.startswith("int"):
        want = np.where(want >= 1 << (bits - 1), want - (1 << bits), want)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(vol[3:9, :, 1:2].compute(), got[3:9, :, 1:2])
