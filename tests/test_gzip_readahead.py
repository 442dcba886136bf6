"""Sequential reads through a saved gzip seek index inflate each stretch of the stream once.

indexed_gzip inflates every read from the seek point before it (it keeps no inflate state between
calls): a loop over slabs of a ``.nii.gz`` with a saved index inflated each stretch ~3 times, a
loop over single slices more. The handles read ahead to the next seek point once reads follow one
another (:mod:`lazyvol.gzahead`). These tests measure what indexed_gzip is asked to inflate (from
its own seek points) and compare every byte with zlib's and every voxel with nibabel's.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import indexed_gzip as igzip
import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import gzaccess
from lazyvol.gzaccess import GzSource, index_path
from lazyvol.nifti import build_gzip_index, clear_gzip_handles

SHAPE = (128, 128, 384)  # int16: 12 MiB, three 4 MiB seek-point spacings


@pytest.fixture
def indexed(tmp_path: Path, gzip_cache: Path) -> tuple[Path, bytes, np.ndarray]:
    """A .nii.gz whose deflate blocks are of realistic size (smooth values plus noise), its seek
    index saved, the whole uncompressed stream, and its voxels."""
    rng = np.random.default_rng(7)
    ramp = np.add.outer(np.add.outer(np.arange(128), np.arange(128)), np.arange(384))
    data = (ramp * 3 + rng.integers(0, 40, SHAPE)).astype(np.int16)
    path = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    build_gzip_index(path)
    clear_gzip_handles()
    return path, gzip.decompress(path.read_bytes()), data


def _points(path: Path) -> list[int]:
    """The uncompressed offsets of the saved index's seek points, as indexed_gzip reads them."""
    with igzip.IndexedGzipFile(str(path)) as f:
        src = GzSource.of(str(path), 0)
        f.import_index(str(index_path(src)))
        return sorted(p for p, _ in f.seek_points())


class _Inflated:
    """Counts what indexed_gzip inflates for the reads it is asked: from the seek point at or
    before each read's start to its end."""

    def __init__(self, points: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
        self.points = points
        self.bytes = 0
        self.calls = 0
        real = gzaccess.read_from

        def counting(raw, offset: int, view: memoryview) -> int:
            got = real(raw, offset, view)
            self.calls += 1
            self.bytes += offset - max(p for p in self.points if p <= offset) + got
            return got

        monkeypatch.setattr(gzaccess, "read_from", counting)


def _read(path: Path, offset: int, n: int) -> bytes:
    """``n`` bytes at ``offset`` (fewer at the end of the image data, which a reader never reads
    past: a read through the index that comes back short drops the index)."""
    end = SHAPE[0] * SHAPE[1] * SHAPE[2] * 2 + 352
    buf = bytearray(max(0, min(n, end - offset)))
    got = gzaccess.read(GzSource.of(str(path), end), offset, memoryview(buf))
    assert got == len(buf)
    return bytes(buf)


@pytest.mark.parametrize("step", [2**16, 2**20 - 352, 3 * 2**20])
def test_a_sequential_pass_inflates_the_stream_once(indexed, monkeypatch, step: int) -> None:
    path, stream, _ = indexed
    points = _points(path)
    assert len(points) >= 3, "the index has points inside the stream"
    inflated = _Inflated(points, monkeypatch)
    got = b"".join(_read(path, at, step) for at in range(0, len(stream), step))
    assert got == stream
    # Without read-ahead: each read inflates from the point before it (about 3x the stream for
    # 1 MiB reads with points ~4 MiB apart, ~30x for 64 KiB reads).
    assert inflated.bytes < 1.1 * len(stream) + step
    assert inflated.calls <= len(points) + len(stream) // (2**20) + 2


def test_reads_in_any_order_give_zlibs_bytes(indexed) -> None:
    """Sequential runs, forward gaps, jumps back, reads across the bytes kept ahead and up to the
    end of the stream, reads larger than a spacing: the bytes zlib inflates."""
    path, stream, _ = indexed
    rng = np.random.default_rng(3)
    at = 0
    for _ in range(300):
        kind = rng.integers(0, 5)
        if kind == 0:  # anywhere
            at = int(rng.integers(0, len(stream)))
        elif kind == 1:  # a little further on
            at = min(len(stream), at + int(rng.integers(0, 2**18)))
        elif kind == 2:  # back
            at = max(0, at - int(rng.integers(1, 2**20)))
        n = int(rng.choice([1, 100, 2**12, 2**16, 2**20, 5 * 2**20]))
        assert _read(path, at, n) == stream[at : at + n], (at, n)
        at += n
    tail = len(stream) - 1000
    assert _read(path, tail, 5000) == stream[tail:]
    assert index_path(GzSource.of(str(path), 0)).exists(), "the index was used throughout"


def test_a_slice_by_slice_loop_reads_nibabels_voxels_inflating_once(indexed, monkeypatch) -> None:
    path, stream, data = indexed
    inflated = _Inflated(_points(path), monkeypatch)
    vol = lv.open(path)
    for k in range(SHAPE[2]):
        np.testing.assert_array_equal(vol[:, :, k : k + 1].compute(), data[:, :, k : k + 1])
    # a jump back, then a random slice, are still right
    np.testing.assert_array_equal(vol[:, :, 5:6].compute(), data[:, :, 5:6])
    np.testing.assert_array_equal(vol[:, :, 200:203].compute(), data[:, :, 200:203])
    assert inflated.bytes < 1.2 * len(stream)


def test_the_first_pass_handle_reads_ahead_once_the_index_is_saved(
    tmp_path, gzip_cache, monkeypatch
) -> None:
    """With indexed_gzip as the engine, the handle that made the first pass (and saved the index)
    serves the reads that follow in the same process: it reads ahead too."""
    monkeypatch.setenv(gzaccess.ENGINE_ENV, "indexed_gzip")
    clear_gzip_handles()
    rng = np.random.default_rng(2)
    ramp = np.add.outer(np.add.outer(np.arange(128), np.arange(128)), np.arange(384))
    data = (ramp * 3 + rng.integers(0, 40, SHAPE)).astype(np.int16)
    path = tmp_path / "p.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), data)  # the first pass: the index is saved
    inflated = _Inflated(_points(path), monkeypatch)
    for k in range(SHAPE[2]):
        np.testing.assert_array_equal(vol[:, :, k : k + 1].compute(), data[:, :, k : k + 1])
    assert inflated.bytes < 1.2 * data.nbytes


def test_reads_far_apart_are_not_read_ahead(indexed, monkeypatch) -> None:
    """Every 100th slice (3.1 MiB apart, points ~4 MiB apart): the bytes read ahead would not be
    used by the next read; each read is inflated as asked, as without read-ahead."""
    path, _, data = indexed
    points = _points(path)
    inflated = _Inflated(points, monkeypatch)
    vol = lv.open(path)
    plane = SHAPE[0] * SHAPE[1] * 2
    want = 0
    for k in range(0, SHAPE[2], 100):
        np.testing.assert_array_equal(vol[:, :, k : k + 1].compute(), data[:, :, k : k + 1])
        at = 352 + k * plane
        want += at - max(p for p in points if p <= at) + plane
    assert inflated.bytes == want


def test_a_one_point_stream_keeps_no_more_than_it_holds(tmp_path, gzip_cache) -> None:
    """A small file's index has one seek point: it is read ahead to its end, in a buffer no
    larger than the stream (each such handle kept 32 MiB)."""
    data = np.arange(48 * 48 * 40, dtype=np.int16).reshape(48, 48, 40)
    path = tmp_path / "s.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    build_gzip_index(path)
    clear_gzip_handles()
    vol = lv.open(path)
    for k in range(40):
        np.testing.assert_array_equal(vol[:, :, k : k + 1].compute(), data[:, :, k : k + 1])
    src = GzSource.of(str(path), data.nbytes + 352)
    handles = gzaccess._POOL.entry(src).idle
    assert handles and all(h.ahead is not None for h in handles)
    assert max(len(h.ahead.buf or b"") for h in handles) <= data.nbytes + 352
