"""Bounded read-ahead of a first pass over a ``.nii.gz`` (:mod:`lazyvol._readahead`), for
lazyvol's writers: a slow writer holds a few blocks, not the volume; the wait releases, gives up
after a total wait, never blocks the calling thread; any other graph reads unbounded."""

from __future__ import annotations

import os
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
from lazyvol import _blockpool, _readahead, chunking, scheduling
from lazyvol.chunking import rechunk_source
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
        x = rechunk_source(vol.data, vol.data.chunks, read_ahead=True)  # as the writers do
        graph = dict(x.__dask_graph__())
        assert any("read-order" in str(k[0]) for k in graph if isinstance(k, tuple))  # chained
        target = SlowTarget(vol.shape, vol.dtype)
        da.store(x, target, lock=False)
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


def test_a_wait_gives_up_after_its_total_time_even_while_blocks_come_and_go() -> None:
    """Consumers that release a block only as another is read (the count never drops below the
    bound) do not keep a read waiting: its wait is capped in all, then the pass reads unbounded."""
    _readahead.before_read("t", restart=True)
    blocks = _held(3)
    stop = threading.Event()

    def churn() -> None:  # 3 held, one released (2: still at the bound), another read: 3
        while not stop.wait(0.02):
            blocks.pop(0)
            time.sleep(0.005)
            blocks.extend(_held(1))

    th = threading.Thread(target=churn)
    th.start()
    try:
        took = _in_thread(lambda: _readahead.before_read("t", limit=2, stall_s=0.3))
    finally:
        stop.set()
        th.join()
    assert 0.25 <= took < 2.0, took
    assert _readahead._stream("t").unbounded


def test_a_view_of_a_block_keeps_it_held() -> None:
    """A consumer's view of a block holds the block's memory; numpy points that view at the array
    owning the data, not at the array the read returned, so that owner is what is counted."""
    _readahead.before_read("t", restart=True)
    owner = np.zeros(16)
    block = owner.reshape(4, 4)  # as a read returns its pooled 1-D buffer, reshaped
    _readahead.after_read("t", block)
    view = block[:, :2]
    del block, owner
    assert _readahead._stream("t").held() == 1
    del view
    assert _readahead._stream("t").held() == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_fresh_read_ahead_state() -> None:
    """A fork while another thread holds the module's lock must not leave the child's lock held."""
    held = _held(1)
    _readahead._lock.acquire()  # as if a thread were inside _stream() at the fork
    try:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                if _readahead._streams:
                    code = 3
                else:
                    _readahead.after_read("child", np.zeros(2))  # takes the lock
            except BaseException:
                code = 4
            os._exit(code)
    finally:
        _readahead._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    del held


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
        with pytest.raises(lv.FormatError, match=r"bad\.nii\.gz"):
            _slow_store(vol)
        good = write_phantom_nifti(tmp_path / "g.nii.gz", (64, 64, 96))
        again = lv.open(good, chunks=(64, 64, 8))
        np.testing.assert_array_equal(_slow_store(again), np.asanyarray(nib.load(good).dataobj))


def _slow_store(vol: lv.Volume) -> np.ndarray:
    x = rechunk_source(vol.data, vol.data.chunks, read_ahead=True)
    graph = dict(x.__dask_graph__())
    assert any("read-order" in str(k[0]) for k in graph if isinstance(k, tuple))  # chained
    target = SlowTarget(vol.shape, vol.dtype)
    da.store(x, target, lock=False)
    return target.out


class _Waits:
    """Records the read-ahead waits of the chained reads (chunking's ``before_read``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.streams: list[str] = []
        real = chunking.before_read

        def spy(key: str, *a: Any, **k: Any) -> None:
            self.streams.append(key)
            real(key, *a, **k)

        monkeypatch.setattr(chunking, "before_read", spy)


def test_a_users_graph_reads_unbounded(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer may need one block of each of many first-pass streams at once (a group mean
    over files), or several blocks of one (a rechunk): an ordinary graph never waits on the
    read-ahead, whatever it does, and its values are nibabel's."""
    waits = _Waits(monkeypatch)
    paths = [write_phantom_nifti(tmp_path / f"g{i}.nii.gz", (32, 32, 64), seed=i) for i in range(4)]
    ref = np.mean([np.asanyarray(nib.load(p).dataobj) for p in paths], axis=0)
    with dask.config.set(scheduler="threads", num_workers=2):
        vols = [lv.open(p, chunks=(32, 32, 8)) for p in paths]
        assert any(
            "read-order" in str(k[0])
            for k in dict(vols[0].data.__dask_graph__())
            if isinstance(k, tuple)
        )
        got = da.stack([v.data for v in vols]).mean(axis=0).compute()
        np.testing.assert_allclose(got, ref)
        clear_gzip_handles()
        shutil.rmtree(gzip_cache)
        one = lv.open(paths[0], chunks=(32, 32, 8))
        np.testing.assert_array_equal(
            one.data.rechunk((32, 32, 64)).compute(), np.asanyarray(nib.load(paths[0]).dataobj)
        )
    assert waits.streams == []  # chained reads, none of them bounded


def test_to_zarr_bounds_its_first_pass_under_a_name_of_its_own(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``to_zarr`` (one block stored at a time per worker) opts in, each write under its own
    count; not with a dask.distributed client (blocks held in other processes)."""
    path = write_phantom_nifti(tmp_path / "w.nii.gz", (64, 64, 64))
    ref = np.asanyarray(nib.load(path).dataobj)
    waits = _Waits(monkeypatch)
    with dask.config.set(scheduler="threads", num_workers=2):
        for n in range(2):
            clear_gzip_handles()
            shutil.rmtree(gzip_cache, ignore_errors=True)
            lv.open(path).to_zarr(tmp_path / f"w{n}.zarr")
            np.testing.assert_array_equal(np.asarray(lv.open(tmp_path / f"w{n}.zarr").data), ref)
    bounded = {s for s in waits.streams if s}
    assert len(bounded) == 2 and all("-ra-" in s for s in bounded), bounded
    clear_gzip_handles()
    shutil.rmtree(gzip_cache)  # a first pass again
    vol = lv.open(path, chunks=(64, 64, 16))
    assert "-ra-" in rechunk_source(vol.data, (64, 64, 8), read_ahead=True).name
    monkeypatch.setattr(scheduling, "current_client", lambda: object())
    assert "-ra-" not in rechunk_source(vol.data, (64, 64, 8), read_ahead=True).name
    assert rechunk_source(vol.data, vol.data.chunks, read_ahead=True) is vol.data


def test_an_executor_given_to_dask_counts_its_own_workers(tmp_path: Path, gzip_cache: Path) -> None:
    """An executor of one thread (``pool=`` or ``scheduler=``) runs one task at a time: the first
    pass reads unchained (a chained, bounded read would wait on itself); a bigger executor sets the
    read-ahead bound by its own size, not the machine's cores."""
    from concurrent.futures import ThreadPoolExecutor

    path = write_phantom_nifti(tmp_path / "e.nii.gz", (32, 32, 64))
    ref = np.asanyarray(nib.load(path).dataobj)
    with ThreadPoolExecutor(1) as one, ThreadPoolExecutor(5) as five:
        for cfg in ({"scheduler": "threads", "pool": one}, {"scheduler": one}):
            with dask.config.set(cfg):
                assert chunking.runs_one_task_at_a_time()
                vol = lv.open(path, chunks=(32, 32, 8))
                graph = dict(vol.data.__dask_graph__())
                assert not any("read-order" in str(k[0]) for k in graph if isinstance(k, tuple))
                lv_out = tmp_path / f"e{len(str(cfg))}.zarr"
                vol.to_zarr(lv_out)
                np.testing.assert_array_equal(np.asarray(lv.open(lv_out).data), ref)
                clear_gzip_handles()
                shutil.rmtree(gzip_cache, ignore_errors=True)
        for cfg in ({"scheduler": "threads", "pool": five}, {"scheduler": five}):
            with dask.config.set(cfg):
                assert not chunking.runs_one_task_at_a_time()
                assert _readahead.read_ahead_blocks() == 5
