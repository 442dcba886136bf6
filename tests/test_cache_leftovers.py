"""Killed builds' leftovers in the cache (swept by later builds of any key, listed, cleared) and
clears racing with builds and failing (counted only when done, reported when not)."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import cache as lvcache
from lazyvol._fsutil import make_temp_dir, release_temp_dir
from lazyvol.cli import main as cli_main
from lazyvol.errors import CacheError
from lazyvol.testing import write_phantom_nifti


def _killed_build(group: Path, key: str, nbytes: int) -> Path:
    """A killed build's temporary store: made and locked as a build makes it, its lock then
    released as the writer's death releases it."""
    tmp, lock = make_temp_dir(str(group / key))
    (Path(tmp) / "c").write_bytes(b"x" * nbytes)
    release_temp_dir(lock)
    return Path(tmp)


def _cached(tmp_path: Path, seed: int = 0) -> tuple[str, Path]:
    src = str(tmp_path / "a.nii")
    a = np.random.default_rng(seed).integers(0, 999, (8, 7, 6), dtype=np.int16)
    nib.save(nib.Nifti1Image(a, np.eye(4)), src)
    lv.open(src, cache=True)
    return src, Path(lvcache.list_entries()[0].path).parent


def test_a_killed_builds_leftover_of_another_key_is_swept_by_the_next_build(tmp_path):
    """Only a build of the killed one's own key swept it: once the source changed (a new key),
    it stayed for good. A live writer's temporary store is kept."""
    src, group = _cached(tmp_path)
    dead = _killed_build(group, "0" * 40, 1000)
    live, lock = make_temp_dir(str(group / ("1" * 40)))  # (this process holds its lock)
    try:
        nib.save(nib.Nifti1Image(np.zeros((8, 7, 6), np.int16), np.eye(4)), src)  # a new key
        lv.open(src, cache=True)
        assert not dead.exists() and os.path.isdir(live)
    finally:
        release_temp_dir(lock)


def test_leftovers_are_listed_and_cleared_with_older_than(tmp_path, capsys):
    """`cache list` did not show a killed build's store (its total was part of what was on
    disk) and `cache clear --older-than` kept it."""
    _src, group = _cached(tmp_path)
    dead = _killed_build(group, "0" * 40, 1000)
    live, lock = make_temp_dir(str(group / ("1" * 40)))
    try:
        listed = lvcache.list_entries(leftovers=True)
        assert {e.path for e in listed if e.leftover} == {str(dead), live}
        assert [e.size_bytes for e in listed if e.path == str(dead)] == [1000]
        assert [e for e in listed if not e.leftover] == lvcache.list_entries()
        assert cli_main(["cache", "list", "--kind", "zarr"]) == 0
        out = capsys.readouterr().out
        assert "(leftover)" in out and "3 entries (2 leftover, 1 zarr)" in out
        assert cli_main(["cache", "list", "--json", "--kind", "zarr"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert sorted(r["leftover"] for r in rows) == [False, True, True]
        assert lvcache.clear(older_than=3600) == 0  # the entry is new: kept
        assert not dead.exists() and os.path.isdir(live) and len(lvcache.list_entries()) == 1
    finally:
        release_temp_dir(lock)


def test_a_clear_removing_the_entry_folder_under_a_build_is_not_an_unusable_cache(
    tmp_path, monkeypatch
):
    """A clear between the build's mkdir of the entry folder and its lock (or while it waits for
    the lock) removed the empty folder: the lock's open failed, 'cache directory ... is not
    usable (No such file or directory)', a CacheError with require_cache=True."""
    real_open = os.open
    cleared: list[int] = []

    def open_after_a_clear(path, *args, **kwargs):
        if os.fspath(path).endswith(".lock") and not cleared:  # (the build's lock, first)
            cleared.append(-1)
            cleared[0] = lvcache.clear()
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_after_a_clear)
    src = write_phantom_nifti(tmp_path / "a.nii", (8, 7, 6))
    vol = lv.open(src, cache=True, require_cache=True)
    assert cleared == [0] and vol.data.name.startswith("lazyvol-zarr-")
    np.testing.assert_array_equal(vol.compute(), nib.load(src).get_fdata())


def test_a_clear_that_cannot_remove_says_what_and_why(tmp_path, monkeypatch, capsys):
    """A cache it cannot change (a read-only mount, another user's): `cache clear` printed
    'removed 0 cache entries' and exited 0, clear() returned 0; a failed move aside was not told
    from a removal. Now only what went is counted, and the rest is an error naming it (as rm -r)."""
    keep = write_phantom_nifti(tmp_path / "keep.nii.gz", (8, 7, 6))
    lv.open(keep, cache=True).compute()  # (a seek index too)
    stuck = [e.path for e in lvcache.list_entries()] + [e.path for e in lvcache.list_index_files()]
    go = write_phantom_nifti(tmp_path / "go.nii", (8, 7, 5))
    lv.open(go, cache=True)
    real_rename, real_unlink = os.rename, os.unlink

    def read_only(real):
        def call(path, *args, **kwargs):
            if os.fspath(path) in stuck:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "rename", read_only(real_rename))
    monkeypatch.setattr(os, "unlink", read_only(real_unlink))
    with pytest.raises(
        CacheError, match=rf"\({re.escape(stuck[0])}: Read-only file system\), removed 1;"
    ):
        lvcache.clear()
    assert [e.path for e in lvcache.list_entries()] == stuck[:1]  # the other one went
    with pytest.raises(CacheError, match=rf"{re.escape(stuck[1])}: Read-only file system"):
        lvcache.clear_index_files()
    capsys.readouterr()
    assert cli_main(["cache", "clear"]) == 2
    out, err = capsys.readouterr()
    assert "removed 0 cache entries" in out
    assert "could not remove 2 of the cache files" in err and stuck[0] in err and stuck[1] in err
    assert len(lvcache.list_entries()) == 1 and len(lvcache.list_index_files()) == 1


def test_an_entry_moved_aside_but_not_deleted_is_no_removal(tmp_path, monkeypatch, capsys):
    """An entry holding files it cannot delete (another user's chunks): it was moved aside,
    counted as removed ('removed 1', exit 0) and left on disk, and every later clear said
    'removed 0', exit 0, with the leftover listed. Now both clears say what is left, exit 2."""
    import shutil

    from lazyvol import cache_admin

    src = write_phantom_nifti(tmp_path / "a.nii", (8, 7, 5))
    lv.open(src, cache=True)
    (entry,) = lvcache.list_entries()
    monkeypatch.setattr(cache_admin.shutil, "rmtree", lambda *a, **k: None)  # nothing deletable
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(CacheError, match=r"1 of .*not all of it could be deleted\), removed 0;"):
        lvcache.clear()
    capsys.readouterr()
    assert cli_main(["cache", "clear"]) == 2
    _, err = capsys.readouterr()
    assert "could not remove 1 of the cache files" in err and "could not all be deleted" in err
    left = [e for e in lvcache.list_entries(leftovers=True) if e.leftover]
    assert len(left) == 1 and os.path.isdir(left[0].path) and entry.path not in err


def test_clear_removes_files_sitting_where_entry_folders_go(tmp_path, capsys):
    """A plain file (or link) named as an entry or an entry group, a crashed or hostile writer's,
    was neither listed nor removed: `cache clear` said 'removed 0' and left it (and its group
    folder) in place for good. Now listed as leftovers and unlinked (a link's target is kept)."""
    _src, group = _cached(tmp_path)
    root = group.parent
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    plain, link, top = group / ("b" * 40), group / ("c" * 40), root / ("d" * 24)
    plain.write_bytes(b"x" * 10)
    link.symlink_to(outside)
    top.write_bytes(b"y")
    listed = {e.path for e in lvcache.list_entries(leftovers=True) if e.leftover}
    assert listed == {str(plain), str(link), str(top)}
    assert lvcache.clear(older_than=3600) == 0  # (all new: kept)
    assert plain.exists() and top.exists()
    assert cli_main(["cache", "clear", "--kind", "zarr"]) == 0
    assert "removed 1 cache entry" in capsys.readouterr().out
    assert not any(os.path.lexists(p) for p in (plain, link, top, group))
    assert outside.read_text() == "keep me" and os.listdir(root) == []
