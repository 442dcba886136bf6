"""A source rewritten in place (same size) while a read is under way: the read raises
SourceChangedError, never a mix of old and new bytes or bytes of the new version (a local
uncompressed NIfTI block is a view of the page cache: checked before and after the map, not
while it is reduced).

Every version of a test file is all 0 or all 1 (synthetic truth). The rewrite is done by the test
itself in the middle of the read (between the two halves of a ``preadv``, or after the check made
before the read), so no timing is involved. Each file's mtime is first set far in the past: the
rewrite then moves the stamp whatever the file system's timestamp granularity.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import _io, _io_local, gzaccess, nifti_plan
from lazyvol.dicom import pixels
from lazyvol.errors import SourceChangedError
from lazyvol.sources import SourceStamp
from lazyvol.testing import write_dicom_series

SHAPE = (16, 12, 8)
PAST_NS = 10**18  # 2001-09-09: any write after it moves the mtime


def _age(path: Path) -> None:
    os.utime(path, ns=(PAST_NS, PAST_NS))


def _write_zeros(path: Path) -> tuple[Path, int]:
    """A zero-filled int16 image (``.nii``, ``.nii.gz`` or an Analyze ``.img`` pair); returns the
    data file and the data's offset in it."""
    zeros = np.zeros(SHAPE, np.int16)
    if path.suffix == ".img":
        nib.save(nib.AnalyzeImage(zeros, np.eye(4)), path.with_suffix(".hdr"))
        data, offset = path, 0
    else:
        nib.save(nib.Nifti1Image(zeros, np.eye(4)), path)
        data, offset = path, int(nib.load(path).dataobj.offset)
    for p in path.parent.iterdir():
        _age(p)
    return data, offset


def _rewrite(path: Path, offset: int, payload: bytes) -> None:
    """An in-place rewrite of ``path`` from ``offset`` (same size)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, payload, offset)
    finally:
        os.close(fd)


def _split_read(monkeypatch, module, rewrite: Callable[[int], None]) -> list[int]:
    """Patch ``module.pread_full``: the first read takes its first half, the file is rewritten
    (``rewrite(fd)``), then the read takes the rest (a torn read without the check after it).
    Returns the calls made."""
    real = _io_local.pread_full
    calls: list[int] = []

    def torn(fd: int, view: memoryview, offset: int) -> int:
        half = view.nbytes // 2
        got = real(fd, view[:half], offset)
        if not calls:
            rewrite(fd)
        calls.append(fd)
        return got + real(fd, view[half:], offset + half)

    monkeypatch.setattr(module, "pread_full", torn)
    return calls


@pytest.mark.parametrize(("name", "cut"), [("a.nii", False), ("a.nii", True), ("a.img", False)])
def test_nifti_block_changed_after_the_check_raises(tmp_path, monkeypatch, name, cut):
    """A block mapped after the check before the read: the file rewritten in between gives an
    error, not the new version's bytes as the old one's (a whole block, a block whose first axis
    is cut, an Analyze pair's .img). (A rewrite while the mapped view is being reduced is not
    seen: the view is the page cache, as nibabel's and numpy's maps; docs/nifti.md.)"""
    data, offset = _write_zeros(tmp_path / name)
    ones = np.ones(SHAPE, np.int16).tobytes()
    vol = lv.open(tmp_path / name, chunks=SHAPE)
    vol = vol[2:5] if cut else vol
    real = nifti_plan._open_verified

    def then_rewrite(plan):
        f = real(plan)
        _rewrite(data, offset, ones)
        return f

    monkeypatch.setattr(nifti_plan, "_open_verified", then_rewrite)
    with pytest.raises(SourceChangedError, match=re.escape(name)):
        vol.compute()
    assert np.all(np.asarray(nib.load(tmp_path / name).dataobj) == 1)  # the new version


def test_nifti_blocks_are_copies(tmp_path):
    """A block handed back does not change when the file is rewritten afterwards."""
    data, offset = _write_zeros(tmp_path / "a.nii")
    whole = lv.open(data, chunks=SHAPE)
    blocks = [whole.compute(), whole.data.compute(), lv.open(data)[2:5].compute()]
    _rewrite(data, offset, np.ones(SHAPE, np.int16).tobytes())
    for b in blocks:
        assert not np.any(b)


def test_byte_layer_read_rewritten_during_read_raises(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(1 << 16))
    _age(path)
    stamp = SourceStamp.of(path)
    _split_read(monkeypatch, _io_local, lambda _fd: _rewrite(path, 0, b"\1" * (1 << 16)))
    with pytest.raises(SourceChangedError, match=r"f\.bin"):
        _io.read(str(path), 0, 1 << 16, expect=stamp)


def test_dicom_frame_rewritten_during_read_raises(tmp_path, monkeypatch):
    folder = tmp_path / "ser"
    write_dicom_series(folder, (8, 8, 4))
    files = sorted(folder.glob("*.dcm"))
    for p in files:
        _age(p)
    vol = lv.open(folder)

    def rewrite_read_file(fd: int) -> None:  # only the file being read: its last pixel
        (p,) = [p for p in files if p.stat().st_ino == os.fstat(fd).st_ino]
        _rewrite(p, p.stat().st_size - 2, b"\x7f\x00")

    calls = _split_read(monkeypatch, pixels, rewrite_read_file)
    with pytest.raises(SourceChangedError, match=r"\.dcm"):
        vol.compute()
    assert calls


def test_gzip_block_rewritten_during_read_raises(tmp_path, monkeypatch):
    """A ``.nii.gz`` rewritten in place (here with its own bytes) during a block's reads."""
    data, _ = _write_zeros(tmp_path / "a.nii.gz")
    vol = lv.open(data, chunks=SHAPE)
    real = gzaccess.read

    def read_then_rewrite(src, offset, view):
        got = real(src, offset, view)
        _rewrite(data, 0, data.read_bytes())
        return got

    monkeypatch.setattr(gzaccess, "read", read_then_rewrite)
    with pytest.raises(SourceChangedError, match=r"a\.nii\.gz"):
        vol.compute()
