"""Block buffers (lazyvol._blockpool): a dropped block's memory map is reused by the next block of
the same size, the pool stays within its byte cap, and views keep a block alive."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

from lazyvol import _blockpool


@pytest.fixture(autouse=True)
def _empty_pool():
    _blockpool.clear()
    yield
    _blockpool.clear()


def test_small_blocks_are_plain_arrays():
    a = _blockpool.block_array(100, np.dtype("<i2"))
    assert a.flags.owndata and a.shape == (100,)


def test_a_dropped_block_is_reused_with_its_pages():
    n = _blockpool.MIN_POOLED_BYTES // 2
    a = _blockpool.block_array(n, np.dtype("<i2"))
    a[:] = 7
    address = a.__array_interface__["data"][0]
    del a
    gc.collect()
    assert _blockpool.pooled_bytes() == n * 2
    b = _blockpool.block_array(n, np.dtype("<i2"))
    assert b.__array_interface__["data"][0] == address  # same map, pages already in place
    assert _blockpool.pooled_bytes() == 0
    b[:] = np.arange(n, dtype=np.int16)  # writable, and really the caller's
    np.testing.assert_array_equal(b[:5], [0, 1, 2, 3, 4])


def test_a_view_keeps_the_block_out_of_the_pool():
    n = _blockpool.MIN_POOLED_BYTES
    a = _blockpool.block_array(n, np.dtype("u1"))
    a[:] = 3
    view = a.reshape(-1, 2)[:, 0]
    del a
    gc.collect()
    assert _blockpool.pooled_bytes() == 0
    c = _blockpool.block_array(n, np.dtype("u1"))  # a new map: the view's data stays intact
    c[:] = 9
    assert int(view.max()) == 3
    del view
    gc.collect()
    assert _blockpool.pooled_bytes() == n


def test_pool_is_bounded(monkeypatch):
    monkeypatch.setattr(_blockpool, "POOL_BYTES", 3 * 2**20)
    blocks = [_blockpool.block_array(2**20, np.dtype("u1")) for _ in range(5)]
    del blocks
    gc.collect()
    assert _blockpool.pooled_bytes() == 3 * 2**20


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_neither_shares_the_parents_blocks_nor_its_pool():
    """Block maps are private (copy-on-write): a forked child (dask's or a user's process pool)
    writing into a block, or into a block taken from the pool it inherited, never changes the
    parent's bytes."""
    n = _blockpool.MIN_POOLED_BYTES
    live = _blockpool.block_array(n, np.dtype("u1"))
    live[:] = 1
    dropped = _blockpool.block_array(n, np.dtype("u1"))
    dropped[:] = 2
    del dropped
    gc.collect()
    assert _blockpool.pooled_bytes() == n
    pid = os.fork()
    if pid == 0:  # child: write everywhere it can, report what its pool held
        code = 0
        try:
            live[:] = 9
            if _blockpool.pooled_bytes() != 0:
                code = 3
            other = _blockpool.block_array(n, np.dtype("u1"))
            other[:] = 9
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert int(live.min()) == int(live.max()) == 1
    reused = _blockpool.block_array(n, np.dtype("u1"))  # the parent's pooled map, untouched
    assert int(reused.min()) == int(reused.max()) == 2


def test_a_finalizer_run_by_the_garbage_collector_inside_the_pool_does_not_deadlock(monkeypatch):
    """A block array freed by a garbage collection that starts while the pool's lock is held (an
    allocation inside the pool's own bookkeeping) hands its map back without waiting on that lock."""
    n = _blockpool.MIN_POOLED_BYTES
    cycle: list = []
    block = _blockpool.block_array(n, np.dtype("u1"))
    cycle.append(cycle)
    cycle.append(block)  # only the collector frees it
    del block

    class Collecting(dict):
        def setdefault(self, key, default=None):  # runs with the pool's lock held
            gc.collect()
            return super().setdefault(key, default)

    monkeypatch.setattr(_blockpool, "_free", Collecting())
    del cycle
    trigger = _blockpool.block_array(n, np.dtype("u1"))
    del trigger  # its finalizer sorts under the lock; the collection there frees the cycle
    assert _blockpool.pooled_bytes() == 2 * n


def test_a_full_pool_makes_room_for_the_newest_size(monkeypatch):
    monkeypatch.setattr(_blockpool, "POOL_BYTES", 4 * 2**20)
    small = [_blockpool.block_array(2**20, np.dtype("u1")) for _ in range(4)]
    del small
    gc.collect()
    assert _blockpool.pooled_bytes() == 4 * 2**20
    big = _blockpool.block_array(2 * 2**20, np.dtype("u1"))
    del big
    gc.collect()
    # two old 1 MiB maps made room for the 2 MiB one, which the next 2 MiB block reuses
    assert _blockpool.pooled_bytes() == 4 * 2**20
    assert sorted(_blockpool._free) == [2**20, 2 * 2**20]


def test_clear_handles_gives_the_pool_back():
    from lazyvol import gzaccess

    block = _blockpool.block_array(_blockpool.MIN_POOLED_BYTES, np.dtype("u1"))
    del block
    gc.collect()
    assert _blockpool.pooled_bytes() > 0
    gzaccess.clear_handles()
    assert _blockpool.pooled_bytes() == 0
