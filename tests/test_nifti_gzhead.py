"""A NIfTI/Analyze file whose compression its name does not say (lazyvol.nifti_gzhead).

- a pair's ``.img`` holding a gzip (bzip2, xz) stream under a plain ``.img`` name: its compressed
  bytes were read as voxels (silently, when the stream is as long as the data: incompressible
  values, gzip level 0, bzip2), or refused as "truncated";
- ``x.nii.bz2`` / ``.nii.xz`` / ``.nii.zst`` (nibabel reads ``.bz2`` and ``.zst``): "no DICOM
  image volume found"; a bzip2/xz ``.nii`` or ``.hdr``: "too short for a NIfTI/Analyze header";
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv

_COMPRESS = {
    "gzip0": lambda raw: gzip.compress(raw, compresslevel=0, mtime=0),
    "gzip": lambda raw: gzip.compress(raw, mtime=0),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zlib": zlib.compress,
}


def _noise_pair(folder: Path, cls: type = nib.Nifti1Pair) -> np.ndarray:
    truth = np.random.default_rng(0).normal(size=(16, 16, 8)).astype(np.float32)
    nib.save(cls(truth, np.eye(4)), folder / "a.img")
    return truth


@pytest.mark.parametrize("cls", [nib.Nifti1Pair, nib.AnalyzeImage])
@pytest.mark.parametrize("how", sorted(_COMPRESS))
@pytest.mark.parametrize("opened", ["a.hdr", "a.img"])
def test_a_compressed_img_under_a_plain_name_is_never_read_as_voxels(
    tmp_path: Path, cls: type, how: str, opened: str
) -> None:
    _noise_pair(tmp_path, cls)
    img = tmp_path / "a.img"
    img.write_bytes(_COMPRESS[how](img.read_bytes()))
    kind = {"gzip0": "gzip"}.get(how, how)
    with pytest.raises(lv.FormatError) as err:
        lv.open(tmp_path / opened).compute()
    msg = str(err.value)
    assert f"{img} (data of {tmp_path / 'a.hdr'})" in msg and f"{kind}-compressed" in msg
    assert "truncated" not in msg
    if kind == "gzip":
        assert "a.hdr.gz and a.img.gz" in msg  # the advice works:
        (tmp_path / "a.img.gz").write_bytes(img.read_bytes())
        (tmp_path / "a.hdr.gz").write_bytes(gzip.compress((tmp_path / "a.hdr").read_bytes()))
        got = lv.open(tmp_path / "a.hdr.gz").compute()
        np.testing.assert_array_equal(got, np.asanyarray(nib.load(tmp_path / "a.hdr.gz").dataobj))
    else:
        assert isinstance(err.value, lv.UnsupportedError)


def test_voxel_values_that_start_like_a_gzip_stream_still_read(tmp_path: Path) -> None:
    values = np.arange(2 * 3 * 4, dtype="<u2")
    # The first bytes of the .img: 1f 8b 08 00 (gzip's magic, deflate, no flags), not a stream.
    values[:2] = 0x8B1F, 0x0008
    truth = values.reshape(2, 3, 4, order="F")
    nib.save(nib.Nifti1Pair(truth, np.eye(4)), tmp_path / "v.img")
    assert (tmp_path / "v.img").read_bytes()[:4] == b"\x1f\x8b\x08\x00"
    np.testing.assert_array_equal(lv.open(tmp_path / "v.hdr").compute(), truth)


@pytest.mark.parametrize(
    ("name", "how", "kind"),
    [
        ("x.nii.bz2", "bzip2", "bzip2"),
        ("x.nii.xz", "xz", "xz"),
        ("x.nii", "bzip2", "bzip2"),
        ("x.NII", "xz", "xz"),
        ("x.hdr.bz2", "bzip2", "bzip2"),
        ("x.nii", "zlib", "zlib"),
    ],
)
def test_a_nifti_compressed_otherwise_than_gzip_says_so(
    tmp_path: Path, name: str, how: str, kind: str
) -> None:
    img = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4))
    plain = tmp_path / "plain.nii"
    nib.save(img, plain)
    path = tmp_path / name
    path.write_bytes(_COMPRESS[how](plain.read_bytes()))
    with pytest.raises(lv.UnsupportedError) as err:
        lv.open(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: the file is {kind}-compressed") and "DICOM" not in msg


def test_a_zstd_nii_is_named_by_its_name(tmp_path: Path) -> None:
    path = tmp_path / "x.nii.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(600))  # a zstd frame's magic
    with pytest.raises(lv.UnsupportedError, match=r"zstd-compressed.*unzstd"):
        lv.open(path)


def test_two_bytes_that_look_like_zlib_are_not_called_a_zlib_stream(tmp_path: Path) -> None:
    path = tmp_path / "x.nii"
    path.write_bytes(b"\x78\x9c" + bytes(range(256)) * 3)  # zlib's header, then no deflate data
    with pytest.raises(lv.FormatError) as err:
        lv.open(path)
    assert "compressed" not in str(err.value) and "sizeof_hdr" in str(err.value)


@pytest.mark.parametrize(
    ("kind", "first"),
    [  # a small image's bytes: a stream's magic, then bytes that decode until they run out
        ("gzip", [31, 139, 8, 0, 207, 58, 53, 108, 12, 163, 58, 103, 61, 245, 63, 7]),
        ("zlib", [120, 156, 154, 248, 253, 146, 64, 231, 178, 254, 157, 134, 143, 188, 26, 173]),
        ("bzip2", list(b"BZh1")),  # one voxel (int32 825907778): all of bzip2's stream header
    ],
)
def test_a_small_img_whose_voxels_start_like_a_stream_still_reads(
    tmp_path: Path, kind: str, first: list[int]
) -> None:
    # Valid uncompressed data: the old check took a stream start that decodes without error
    # for as long as the file lasts for a compressed file, and refused it.
    raw = np.array(first, np.uint8)
    truth = raw.reshape(2, 2, 4, order="F") if raw.size == 16 else raw.view("<i4").reshape(1, 1, 1)
    nib.save(nib.Nifti1Pair(truth, np.eye(4)), tmp_path / "s.img")
    assert (tmp_path / "s.img").read_bytes() == raw.tobytes()
    expected = np.asanyarray(nib.load(tmp_path / "s.hdr").dataobj)
    np.testing.assert_array_equal(lv.open(tmp_path / "s.hdr").compute(), expected)


@pytest.mark.parametrize("how", sorted(set(_COMPRESS) - {"gzip0"}))  # (level 0: not small)
def test_a_small_compressed_img_of_many_voxels_is_refused(tmp_path: Path, how: str) -> None:
    # The whole (small) file is read; its stream inflates past the bytes decoded to tell.
    nib.save(nib.Nifti1Pair(np.zeros((64, 64, 32), np.uint8), np.eye(4)), tmp_path / "z.img")
    img = tmp_path / "z.img"
    img.write_bytes(_COMPRESS[how](img.read_bytes()))
    assert img.stat().st_size < 2**16
    with pytest.raises(lv.FormatError, match="-compressed"):
        lv.open(tmp_path / "z.hdr")


@pytest.mark.parametrize(
    "first",
    [[376], [-29921, 8, 0, 0, 0]],  # bytes 78 01 (zlib's header); 1f 8b 08 00 ... (gzip's)
)
def test_constant_voxels_after_a_stream_header_still_read(tmp_path: Path, first: list[int]) -> None:
    # A background of -1878 (bytes aa f8) decodes as deflate literals for as long as it lasts:
    # the first 64 KiB of a large .img "inflated", and the valid voxels were refused.
    values = np.full(64 * 64 * 16, -1878, dtype="<i2")
    values[: len(first)] = first
    truth = values.reshape(64, 64, 16, order="F")  # (the .img's first bytes: ``first``)
    nib.save(nib.Nifti1Pair(truth, np.eye(4)), tmp_path / "c.img")
    assert (tmp_path / "c.img").stat().st_size > 2**16
    np.testing.assert_array_equal(lv.open(tmp_path / "c.hdr").compute(), truth)


@pytest.mark.parametrize("how", sorted(_COMPRESS))
def test_a_large_incompressible_img_stream_is_decoded_to_its_end_and_refused(
    tmp_path: Path, how: str
) -> None:
    # Noise: the stream is about as long as the voxels (gzip -0, bzip2: longer), so its bytes
    # could be voxels; the whole stream is decoded (it ends, its checksum holds): refused.
    noise = np.random.default_rng(1).integers(0, 2**32, (64, 64, 16), dtype=np.uint32)
    nib.save(nib.Nifti1Pair(noise, np.eye(4)), tmp_path / "n.img")
    img = tmp_path / "n.img"
    img.write_bytes(_COMPRESS[how](img.read_bytes()))
    assert img.stat().st_size >= noise.nbytes > 2**16
    with pytest.raises(lv.FormatError, match="-compressed"):
        lv.open(tmp_path / "n.hdr")


@pytest.mark.parametrize("how", ["gzip", "bzip2"])
def test_an_img_of_exactly_the_datas_size_is_voxels_as_nibabel_reads_it(
    tmp_path: Path, how: str
) -> None:
    # Every writer makes a .img of exactly vox_offset + the data's bytes, and a compressed stream
    # of the data a header describes is shorter or longer than them: at exactly that size the
    # bytes are the voxels, whatever they start with (not sniffed: the sniff's heuristics cannot
    # refuse a valid file, and a pair's open reads nothing of its .img). Here even a whole,
    # valid stream whose length is the data's: read as nibabel reads it.
    stream = _COMPRESS[how](np.random.default_rng(2).bytes(4096))
    raw = np.frombuffer(stream, np.uint8)
    nib.save(nib.Nifti1Pair(raw.reshape(-1, 1, 1), np.eye(4)), tmp_path / "e.img")
    assert (tmp_path / "e.img").read_bytes() == stream
    expected = np.asanyarray(nib.load(tmp_path / "e.hdr").dataobj)
    np.testing.assert_array_equal(lv.open(tmp_path / "e.hdr").compute(), expected)


@pytest.mark.parametrize(("where", "value"), [(0, 0x00), (1, 0x0B), (0, 0x1E)])
def test_a_nii_gz_with_damaged_magic_is_not_called_uncompressed(
    tmp_path: Path, where: int, value: int
) -> None:
    # A .nii.gz whose gzip magic bytes were overwritten (a bad transfer, a disk error) was
    # "not compressed, not gzip; rename it without .gz": a rename gives a file that is not
    # NIfTI either. Neither gzip nor an uncompressed header: the message says it is damaged.
    img = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4))
    raw = bytearray(gzip.compress(img.to_bytes(), mtime=0))
    raw[where] = value
    path = tmp_path / "d.nii.gz"
    path.write_bytes(bytes(raw))
    with pytest.raises(lv.FormatError) as err:
        lv.open(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: named .gz but its first bytes")
    assert "gzip stream whose first bytes are damaged" in msg
    assert "rename it without .gz" not in msg


def test_an_uncompressed_nii_named_gz_is_still_told_to_drop_the_gz(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4))
    path = tmp_path / "u.nii.gz"
    path.write_bytes(img.to_bytes())
    with pytest.raises(lv.FormatError, match=r"not compressed, not gzip; rename it without \.gz"):
        lv.open(path)
    junk = tmp_path / "j.nii.gz"
    junk.write_bytes(b"hello, this is not an image at all" * 20)
    with pytest.raises(lv.FormatError, match=r"damaged or not a NIfTI image"):
        lv.open(junk)
