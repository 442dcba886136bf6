"""Bounded read-ahead of a first pass over a ``.nii.gz`` (:mod:`lazyvol._readahead`): a slow
consumer holds a few blocks, not the volume; the wait releases, gives up on a stall, and never
blocks the calling thread."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import _blockpool, _readahead
from lazyvol.nifti import clear_gzip_handles
from lazyvol.testing import write_phantom_nifti


class SlowTarget:
    """A ``da.store`` target slower than the inflate (as a compressing writer is)."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.out = np.zeros(shape, dtype=dtype)

    def __setitem__(self, key: Any, value: np.ndarray) -> None:
        time.sleep(0.03)
        self.out[key] = value


def _store_first_pass(
    path: Path, monkeypatch: pytest.MonkeyPatch, bound: int | None
) -> tuple[np.ndarray, int]:
    """Store a first pass (no saved index) into a slow target on two threads; the stored array
    and the most block maps alive at once (counted by the block pool, independently of the
    read-ahead's own bookkeeping)."""
    if bound is not None:
        monkeypatch.setattr(_readahead, "READ_AHEAD_BLOCKS", bound)
    made: list[int] = []
    new_map = _blockpool._new_map
    monkeypatch.setattr(_blockpool, "_new_map", lambda n: made.append(n) or new_map(n))
    _blockpool.clear()
    clear_gzip_handles()
    with dask.config.set(scheduler="threads", num_workers=2):
        vol = lv.open(path, chunks=(128, 128, 32))  # 16 blocks of 1 MiB (pooled block maps)
        graph = dict(vol.data.__dask_graph__())
        assert any("read-order" in str(k[0]) for k in graph if isinstance(k, tuple))  # chained
        target = SlowTarget(vol.shape, vol.dtype)
        da.store(vol.data, target, lock=False)
    return target.out, len(made)


def test_slow_consumer_holds_few_blocks(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_phantom_nifti(tmp_path / "s.nii.gz", (128, 128, 512))
    ref = np.asanyarray(nib.load(path).dataobj)
    out, live = _store_first_pass(path, monkeypatch, None)
    np.testing.assert_array_equal(out, ref)
    assert live <= 4  # 2 held for the two workers, one being read, one not yet handed back
    # Control: with no bound, the chain runs ahead of the slow consumer.
    shutil.rmtree(gzip_cache)  # the first store saved the seek index: make it a first pass again
    out, unbounded = _store_first_pass(path, monkeypatch, 1000)
    np.testing.assert_array_equal(out, ref)
    assert unbounded > live + 2, (unbounded, live)


def _held(n: int) -> list[np.ndarray]:
    blocks = [np.zeros(4) for _ in range(n)]
    for b in blocks:
        _readahead.after_read("t", b)
    return blocks


def _in_thread(fn: Any) -> float:
    """Seconds ``fn`` took in a worker thread (the calling thread never waits)."""
    took: list[float] = []

    def run() -> None:
        t = time.monotonic()
        fn()
        took.append(time.monotonic() - t)

    th = threading.Thread(target=run)
    th.start()
    th.join(10)
    assert took, "before_read did not return"
    return took[0]


def test_read_waits_until_a_block_is_released() -> None:
    _readahead.before_read("t", restart=True, limit=2)  # (main thread: returns at once)
    blocks = _held(2)
    releaser = threading.Timer(0.2, blocks.pop)  # one block dropped after 0.2 s
    releaser.start()
    took = _in_thread(lambda: _readahead.before_read("t", limit=2, stall_s=5.0))
    releaser.join()
    assert 0.15 <= took < 2.0, took
    assert not _readahead._stream("t").unbounded


def test_a_stalled_wait_gives_up_for_the_rest_of_the_pass() -> None:
    _readahead.before_read("t", restart=True)
    blocks = _held(3)  # never released while waiting
    took = _in_thread(lambda: _readahead.before_read("t", limit=2, stall_s=0.2))
    assert 0.15 <= took < 2.0, took
    assert _readahead._stream("t").unbounded
    assert _in_thread(lambda: _readahead.before_read("t", limit=2, stall_s=5.0)) < 0.1
    # a new pass of the stream counts afresh and waits again
    _readahead.before_read("t", restart=True)
    blocks += _held(2)
    assert not _readahead._stream("t").unbounded
    assert _in_thread(lambda: _readahead.before_read("t", limit=2, stall_s=0.2)) >= 0.15
    del blocks


def test_calling_thread_never_waits() -> None:
    """dask's synchronous scheduler runs tasks in the calling thread: nothing else could release
    a block, so waiting there could only stall."""
    _readahead.before_read("t", restart=True)
    blocks = _held(5)
    t = time.monotonic()
    _readahead.before_read("t", limit=2, stall_s=5.0)
    assert time.monotonic() - t < 0.1
    del blocks


def test_bound_follows_the_workers() -> None:
    with dask.config.set(num_workers=6):
        assert _readahead.read_ahead_blocks() == 6
    with dask.config.set(num_workers=1):
        assert _readahead.read_ahead_blocks() == _readahead.READ_AHEAD_BLOCKS


def test_corrupt_stream_fails_through_the_chained_reads(tmp_path: Path, gzip_cache: Path) -> None:
    """Deflate data corrupted mid-file (its length intact, so ``open`` cannot tell) fails the
    pass with the typed error naming the file, through the chained, bounded reads; the next pass
    over a good file is not held back by the failed one's count. (A file cut short is refused
    at open, see test_gzip_access.)"""
    import gzip

    raw = Path(write_phantom_nifti(tmp_path / "c.nii", (64, 64, 96))).read_bytes()
    z = bytearray(gzip.compress(raw, mtime=0))
    mid = len(z) // 2
    z[mid : mid + 64] = np.random.default_rng(0).bytes(64)
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(bytes(z))
    with dask.config.set(scheduler="threads", num_workers=2):
        vol = lv.open(bad, chunks=(64, 64, 8))
        graph = dict(vol.data.__dask_graph__())
        assert any("read-order" in str(k[0]) for k in graph if isinstance(k, tuple))  # chained
        with pytest.raises(lv.FormatError, match=r"bad\.nii\.gz"):
            _slow_store(vol)
        good = write_phantom_nifti(tmp_path / "g.nii.gz", (64, 64, 96))
        again = lv.open(good, chunks=(64, 64, 8))
        np.testing.assert_array_equal(_slow_store(again), np.asanyarray(nib.load(good).dataobj))


def _slow_store(vol: lv.Volume) -> np.ndarray:
    target = SlowTarget(vol.shape, vol.dtype)
    da.store(vol.data, target, lock=False)
    return target.out
