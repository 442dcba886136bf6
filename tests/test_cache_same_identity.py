"""A Zarr cache entry made from another file whose path, size, mtime, inode and ctime are the
ones a source has now (a file rewritten in place within its file system's timestamp
granularity, a cache directory copied from another machine, a restored backup) is never served:
an entry's key holds a sample of each local source file's bytes, as a gzip seek index's name
does (commit 6e32a9f9), so the other file's entry is not found and the source is read again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv


def _same_identity(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """From now on ``path`` stats as it does now (size, mtime, ctime), whatever is written to it
    in place: what a rewrite within the file system's timestamp granularity looks like."""
    before = os.stat(path)
    real_stat, real_fstat = os.stat, os.fstat
    names = [f for f in dir(before) if f.startswith("st_")]
    keep = ("st_size", "st_mtime", "st_mtime_ns", "st_ctime", "st_ctime_ns")

    def same(st: os.stat_result) -> os.stat_result:
        if (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
            return st
        extra = {f: getattr(before if f in keep else st, f) for f in names}
        seq = tuple(extra[f] for f in ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid"))
        seq += (st.st_gid, before.st_size, st[7], before[8], before[9])
        return os.stat_result(seq, extra)

    def fake_stat(p: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        return same(real_stat(p, *args, **kwargs))

    def fake_fstat(fd: int) -> os.stat_result:
        return same(real_fstat(fd))

    monkeypatch.setattr(os, "stat", fake_stat)
    monkeypatch.setattr(os, "fstat", fake_fstat)


def _rewrite_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as f:  # (same inode)
        f.write(data)


@pytest.mark.parametrize("kind", ["nii", "img"])
def test_an_entry_of_another_file_with_the_same_identity_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    cache = tmp_path / "cache"
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1000, size=(16, 12, 10)).astype(np.int16)
    b = rng.integers(0, 1000, size=a.shape).astype(np.int16)  # (another image, same size)
    made = []
    for name, arr in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        img: Any = nib.Nifti1Image if kind == "nii" else nib.AnalyzeImage
        out = tmp_path / name / f"v.{kind}"
        nib.save(img(arr, np.eye(4)), out)
        made.append(out)
    src = made[0]
    other = made[1].read_bytes()
    assert len(other) == src.stat().st_size
    np.testing.assert_array_equal(lv.open(src, cache=cache).compute(), a)  # (the entry made)
    _same_identity(monkeypatch, src)
    _rewrite_in_place(src, other)
    assert np.array_equal(np.asanyarray(nib.load(src).dataobj), b)
    vol = lv.open(src, cache=cache)
    np.testing.assert_array_equal(vol.compute(), b)
    np.testing.assert_array_equal(lv.open(src, cache=cache).compute(), b)  # (its own entry)
