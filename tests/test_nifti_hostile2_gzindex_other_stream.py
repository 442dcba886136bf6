"""A saved seek index made for another gzip stream with the same path, size, times and inode (a
file rewritten in place within its file system's timestamp granularity, a cache directory copied
from another machine) is never used: the index's name holds a sample of the stream's bytes taken
at open, so another stream's index is not found, and the file reads as gzip reads it, with no
failed read through the wrong windows, nor a warning."""

from __future__ import annotations

import gzip
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import gzaccess
from lazyvol.nifti import build_gzip_index, clear_gzip_handles


def _gzip(body: bytes, name: bytes) -> bytes:
    """One gzip member of ``body`` whose header carries the file name ``name`` (FNAME)."""
    co = zlib.compressobj(1, zlib.DEFLATED, -15)
    deflated = co.compress(body) + co.flush()
    head = b"\x1f\x8b\x08\x08" + bytes(4) + b"\x00\xff" + name + b"\x00"
    return head + deflated + struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)


def _same_size_pair(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """Two .nii.gz of one size and shape, their contents different from the 8th plane on (two
    planes swapped), the shorter stream's FNAME filling the difference."""
    a = np.random.default_rng(4).normal(1000, 30, size=(128, 128, 64)).astype(np.int16)
    b = a.copy()
    b[:, :, [8, 50]] = a[:, :, [50, 8]]
    streams = []
    for arr in (a, b):
        plain = tmp_path / "plain.nii"
        nib.save(nib.Nifti1Image(arr, np.eye(4)), plain)
        streams.append(_gzip(plain.read_bytes(), b"x"))
    short = min((0, 1), key=lambda i: len(streams[i]))
    body = gzip.decompress(streams[short])
    streams[short] = _gzip(body, b"x" * (1 + abs(len(streams[0]) - len(streams[1]))))
    assert len(streams[0]) == len(streams[1]) and streams[0] != streams[1]
    pa, pb = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    pa.write_bytes(streams[0])
    pb.write_bytes(streams[1])
    assert gzip.decompress(streams[1])[352:] == b.tobytes(order="F")
    return pa, pb, b


@pytest.mark.parametrize("engine", ["", "indexed_gzip"])
def test_another_streams_index_under_the_same_identity_is_not_used(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    if engine:
        monkeypatch.setenv("LAZYVOL_GZIP_ENGINE", engine)
    pa, pb, b = _same_size_pair(tmp_path)
    theirs = build_gzip_index(pa)
    vol = lv.open(pb)
    end = int(vol.meta["vox_offset"]) + b.nbytes
    src = gzaccess.GzSource.of(str(pb), end)
    # Where the index of any stream with b's path, size, times and inode would be found: a's
    # index planted there is the index of a stream that had b's identity before a rewrite.
    same_identity = gzaccess.GzSource(src.path, src.size, src.mtime_ns, src.ino, src.ctime_ns, end)
    planted = gzaccess.index_path(same_identity)
    shutil.copy(theirs, planted)
    clear_gzip_handles()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no failed read through the wrong index
        np.testing.assert_array_equal(vol[:, :, 40:41].compute(), b[:, :, 40:41])
        np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(pb).dataobj))
    assert gzaccess.index_path(src).is_file()  # b's own index, beside the one planted
    assert gzaccess.index_path(src) != planted
    clear_gzip_handles()
    np.testing.assert_array_equal(lv.open(pb)[:, :, 5:6].compute(), b[:, :, 5:6])
