"""How write blocks reach zarr: at most two storage units per assignment, every voxel once."""

from __future__ import annotations

import itertools
import math
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import write_phantom_nifti
from lazyvol.zarr_blockwrite import BoundedWrites


class _Recorder:
    """An array target that records every assignment and keeps the values."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.data = np.full(shape, -1, dtype=np.int64)
        self.writes: list[tuple[slice, ...]] = []

    def __setitem__(self, index: tuple[slice, ...], value: Any) -> None:
        assert np.all(self.data[index] == -1), f"{index} written twice"
        self.data[index] = value
        self.writes.append(index)


def _units_touched(index: tuple[slice, ...], unit: tuple[int, ...]) -> int:
    return math.prod((s.stop - 1) // u - s.start // u + 1 for s, u in zip(index, unit, strict=True))


@pytest.mark.parametrize(
    ("shape", "unit", "block"),
    [
        ((70, 50, 33), (16, 16, 8), (32, 48, 16)),  # ragged edges on every axis
        ((8, 64, 64), (4, 32, 32), (8, 64, 64)),  # eight units per block
        ((5, 9), (5, 9), (5, 9)),  # one unit: nothing to split
        ((3, 40, 7), (1, 8, 7), (3, 40, 7)),  # the fastest axis is whole: grow the next one
    ],
)
def test_blocks_reach_the_array_two_units_at_a_time(
    shape: tuple[int, ...], unit: tuple[int, ...], block: tuple[int, ...]
) -> None:
    truth = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    rec = _Recorder(shape)
    target = BoundedWrites(rec, unit)
    for origin in itertools.product(*(range(0, n, b) for n, b in zip(shape, block))):
        index = tuple(slice(o, min(o + b, n)) for o, b, n in zip(origin, block, shape))
        target[index] = truth[index]
    np.testing.assert_array_equal(rec.data, truth)  # every voxel, once, in its place
    for index in rec.writes:
        assert _units_touched(index, unit) <= 2, index
        for s, u, n in zip(index, unit, shape):  # unit-aligned: no partial chunk rewritten
            assert s.start % u == 0 and (s.stop % u == 0 or s.stop == n), index
    whole_units = math.prod(math.ceil(n / u) for n, u in zip(shape, unit))
    assert len(rec.writes) >= whole_units / 2


def test_to_zarr_hands_zarr_at_most_two_chunks_per_assignment(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: every assignment ``to_zarr`` makes to a zarr array covers at most two storage
    units, and the store reads back equal to nibabel's values (60 chunks, unsharded)."""
    src = tmp_path / "v.nii.gz"
    write_phantom_nifti(src, (64, 48, 40))
    seen: list[tuple[tuple[slice, ...], tuple[int, ...]]] = []
    real = zarr.Array.__setitem__

    def recording(self: Any, selection: Any, value: Any) -> None:
        seen.append((selection, tuple(self.shards or self.chunks)))
        real(self, selection, value)

    monkeypatch.setattr(zarr.Array, "__setitem__", recording)
    out = lv.open(src).to_zarr(tmp_path / "v.zarr", chunks=(16, 16, 8), shards=False)
    monkeypatch.undo()
    level0 = [(sel, ch) for sel, ch in seen if isinstance(sel, tuple) and len(sel) == 3]
    assert len(level0) >= (4 * 3 * 5) / 2
    for sel, chunks in level0:
        assert _units_touched(sel, chunks) <= 2, sel
    expected = np.asarray(nib.load(src).dataobj)
    np.testing.assert_array_equal(lv.open(out).data.compute(), expected)


@pytest.mark.parametrize(
    "cut",
    [
        (slice(None, None, -1),),  # a flip (to RAS, as dcm2niix flips rows)
        (slice(None), slice(None, None, -1), slice(2, 9), 1),  # flip, crop, one volume
        (slice(None), slice(None), slice(None, None, -1), slice(3, 0, -1)),  # time reversed
        (slice(None, None, 2), slice(1, None, 2), slice(None, None, -2)),  # a half-size copy
        (slice(1, None, 3), slice(None, None, -1), slice(None), slice(None, None, 2)),
    ],
)
def test_a_reversed_dropped_or_stepped_axis_cut_is_written_from_the_source_in_write_blocks(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, cut: tuple[Any, ...]
) -> None:
    """A cut that reverses, drops or steps axes is read from the source straight into the write
    blocks, as the uncut volume is: dask's rechunk of the cut array (whole-plane slabs of a NIfTI
    file into blocks a fraction of a plane wide) held every slab until all its blocks were
    written, ~1.4 GiB peak for a 1 GiB 4096 x 4096 x 32 volume flipped, 1.1 GiB for [::2]
    (0.34 GiB uncut, and now cut too)."""
    import dask.array as da

    src = tmp_path / "v.nii"
    write_phantom_nifti(src, (24, 20, 12, 4), slab_bytes=24 * 20 * 2)  # one plane a slab
    expected = np.asarray(nib.load(src).dataobj)[cut]
    calls: list[tuple[Any, ...]] = []
    real = da.Array.rechunk

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(tuple(self.chunks))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(da.Array, "rechunk", recording)
    vol = lv.open(src)[cut]
    out = vol.to_zarr(tmp_path / "v.zarr", chunks=(8, 8, 4, 1)[: vol.ndim], shards=False)
    assert calls == []  # (no dask rechunk of level 0)
    monkeypatch.undo()
    back = lv.open(out)
    np.testing.assert_array_equal(back.data.compute(), expected)
    np.testing.assert_allclose(back.affine, vol.affine)


def test_a_cut_with_large_steps_is_written_through_dask(tmp_path: Any) -> None:
    """Steps reading more than MAX_STEP_READS times a block (vol[::3, ::3, ::3]: 27) stay dask's
    rechunk, with the same values."""
    src = tmp_path / "v.nii"
    write_phantom_nifti(src, (24, 20, 12))
    cut = (slice(None, None, 3), slice(None, None, -3), slice(1, None, 3))
    out = lv.open(src)[cut].to_zarr(tmp_path / "v.zarr", chunks=(3, 2, 2), shards=False)
    expected = np.asarray(nib.load(src).dataobj)[cut]
    np.testing.assert_array_equal(lv.open(out).data.compute(), expected)


@pytest.mark.parametrize(
    "cut",
    [
        (slice(None, None, 2),),  # steps over the whole axis (odd length): the source's own box
        (slice(None, None, -2), slice(None, None, -1)),
        (slice(None, None, 4), slice(None, None, 3)),  # past MAX_STEP_READS: dask's rechunk
    ],
)
def test_a_stepped_cut_is_written_without_a_later_assignment_into_its_source(
    tmp_path: Any, cut: tuple[Any, ...]
) -> None:
    """A stepped cut spanning a whole axis kept the source volume's own plan as its box, whose
    dask array (``vol.data``) an assignment after the cut changes in place: to_zarr planned the
    cut on that box and wrote the assigned values, which the cut (and numpy's) does not hold."""
    src = tmp_path / "v.nii"
    write_phantom_nifti(src, (9, 7, 5))
    expected = np.asarray(nib.load(src).dataobj)[cut]
    vol = lv.open(src)
    part = vol[cut]
    vol.data[0, 0, 0] = 999  # (after the cut)
    vol.data[-1, -1, -1] = 999
    out = part.to_zarr(tmp_path / "v.zarr", chunks=(2, 2, 2), shards=False)
    np.testing.assert_array_equal(lv.open(out).data.compute(), expected)
