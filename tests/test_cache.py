"""The Zarr cache: hits, misses, staleness, killed and concurrent writers, unusable locations."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import cache as lvcache
from lazyvol.errors import CacheError
from lazyvol.testing import write_phantom_nifti
from lazyvol.zarr_io import TMP_MARK

SRC_DIR = str(Path(lv.__file__).resolve().parents[1])


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(d))
    return d


def _reads_from_cache(vol):
    return vol.data.name.startswith("lazyvol-zarr-")


def test_miss_then_hit(tmp_path, cache_dir):
    src = write_phantom_nifti(tmp_path / "a.nii.gz", (32, 28, 20), slope=0.5, inter=10.0)
    first = lv.open(src, cache=True)
    entries = lvcache.list_entries()
    assert len(entries) == 1
    assert entries[0].source == src and entries[0].size_bytes > 0
    assert Path(entries[0].path).is_relative_to(cache_dir / "zarr")
    second = lv.open(src, cache=True)
    assert _reads_from_cache(second)
    ref = nib.load(src)
    np.testing.assert_array_equal(second.compute(), ref.get_fdata())
    np.testing.assert_array_equal(first.compute(), ref.get_fdata())
    plain = lv.open(src)
    assert second.dtype == plain.dtype and second.meta == plain.meta
    assert np.array_equal(second.affine, ref.affine)
    assert len(lvcache.list_entries()) == 1
    # cache paths are made of hex digests only
    rel = Path(entries[0].path).relative_to(cache_dir / "zarr")
    assert all(re.fullmatch(r"[0-9a-f]+", part) for part in rel.parts)


def test_explicit_cache_dir_and_options_key(tmp_path, cache_dir):
    src = write_phantom_nifti(tmp_path / "a.nii", (16, 16, 8), slope=2.0, inter=1.0)
    other = tmp_path / "elsewhere"
    scaled = lv.open(src, cache=other)
    raw = lv.open(src, cache=other, scale=False)
    f64 = lv.open(src, cache=other, dtype="float64")
    assert len(lvcache.list_entries(other)) == 3
    assert lvcache.list_entries() == []
    ref = nib.load(src)
    np.testing.assert_array_equal(raw.compute(), np.asanyarray(ref.dataobj.get_unscaled()))
    np.testing.assert_array_equal(scaled.compute(), ref.get_fdata())
    assert f64.dtype == np.float64 and raw.dtype == np.int16


def test_touch_and_replace_never_stale(tmp_path, cache_dir):
    path = tmp_path / "a.nii"
    write_phantom_nifti(path, (16, 16, 8), seed=1)
    lv.open(path, cache=True).compute()
    # replace with a file of the same size and different content, same mtime second
    st = os.stat(path)
    write_phantom_nifti(path, (16, 16, 8), seed=2)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert os.path.getsize(path) == st.st_size
    vol = lv.open(path, cache=True)
    np.testing.assert_array_equal(vol.compute(), nib.load(path).get_fdata())
    # the old version's entry was evicted; only the current one remains
    assert len(lvcache.list_entries()) == 1
    key = lvcache.list_entries()[0].key
    os.utime(path)  # touch: a new entry (re-verified), never the old one blindly
    np.testing.assert_array_equal(lv.open(path, cache=True).compute(), nib.load(path).get_fdata())
    assert [e.key for e in lvcache.list_entries()] != [key]


class _NpyFolderReader:
    """A stand-in for the DICOM reader, registered like a third-party reader: a folder holding one
    .npy file per slice, listed in meta['files']."""

    name = "npy-folder"
    priority = 5  # asked before the built-in DICOM catch-all

    def can_open(self, source):
        return Path(source).is_dir() and any(Path(source).glob("*.npy"))

    def source_files(self, source, **kw):
        return sorted(str(p) for p in Path(source).glob("*.npy"))

    def open(self, source, **kw):
        files = self.source_files(source)
        data = np.stack([np.load(f) for f in files], axis=-1)
        return lv.Volume(
            data, np.eye(4), meta={"files": files, "n": len(files)}, source=str(source)
        )

    def describe(self, source):
        return {"format": "npy-folder"}


@pytest.fixture
def npy_reader():
    from lazyvol.formats import registry

    registry.register(_NpyFolderReader())
    yield
    registry.unregister("npy-folder")


def test_multi_file_source_append_remove_modify(tmp_path, cache_dir, npy_reader):
    folder = tmp_path / "series"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(4):
        np.save(folder / f"s{k}.npy", rng.integers(0, 1000, (8, 6), dtype=np.int16))

    def truth():
        return np.stack([np.load(f) for f in sorted(folder.glob("*.npy"))], axis=-1)

    np.testing.assert_array_equal(lv.open(str(folder), cache=True).compute(), truth())
    hit = lv.open(str(folder), cache=True)
    assert _reads_from_cache(hit)
    np.save(folder / "s4.npy", rng.integers(0, 1000, (8, 6), dtype=np.int16))  # appended
    vol = lv.open(str(folder), cache=True)
    assert vol.shape == (8, 6, 5)
    np.testing.assert_array_equal(vol.compute(), truth())
    os.remove(folder / "s1.npy")  # removed
    np.testing.assert_array_equal(lv.open(str(folder), cache=True).compute(), truth())
    st = os.stat(folder / "s2.npy")
    np.save(folder / "s2.npy", rng.integers(0, 1000, (8, 6), dtype=np.int16))  # modified, same size
    os.utime(folder / "s2.npy", ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    vol = lv.open(str(folder), cache=True)
    np.testing.assert_array_equal(vol.compute(), truth())
    assert vol.meta["files"] == sorted(str(p) for p in folder.glob("*.npy"))


def test_unwritable_cache_warns_once_and_reads_uncached(tmp_path, cache_dir, monkeypatch):
    src = write_phantom_nifti(tmp_path / "a.nii", (16, 16, 8))
    real_mkdir = Path.mkdir

    def deny(self, *args, **kwargs):
        if str(self).startswith(str(cache_dir)):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", deny)
    with pytest.warns(lvcache.CacheWarning, match="not writable") as rec:
        vol = lv.open(src, cache=True)
    assert len(rec) == 1
    assert not _reads_from_cache(vol)
    np.testing.assert_array_equal(vol.compute(), nib.load(src).get_fdata())
    assert not cache_dir.exists()
    with pytest.raises(CacheError, match="not writable"):
        lv.open(src, cache=True, require_cache=True)


def test_write_failure_in_cache_falls_back(tmp_path, cache_dir, monkeypatch):
    from lazyvol import zarr_write

    src = write_phantom_nifti(tmp_path / "a.nii", (16, 16, 8))

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zarr_write, "store_blocks", full)
    with pytest.warns(lvcache.CacheWarning, match="No space left"):
        vol = lv.open(src, cache=True)
    np.testing.assert_array_equal(vol.compute(), nib.load(src).get_fdata())
    assert lvcache.list_entries() == []
    leftovers = [p for p in cache_dir.rglob("*") if p.is_dir() and "lazyvol-tmp" in p.name]
    assert leftovers == []


def test_damaged_entry_is_rebuilt(tmp_path, cache_dir):
    src = write_phantom_nifti(tmp_path / "a.nii", (16, 16, 8))
    lv.open(src, cache=True)
    entry = Path(lvcache.list_entries()[0].path)
    chunk = next(p for p in (entry / "0").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.unlink()
    with pytest.warns(lvcache.CacheWarning, match="damaged cache entry.*missing"):
        vol = lv.open(src, cache=True)
    assert _reads_from_cache(vol)
    np.testing.assert_array_equal(vol.compute(), nib.load(src).get_fdata())


@pytest.mark.parametrize("damage", ["root-zarr-json", "all-metadata", "a-file"])
def test_an_entry_that_lost_its_zarr_json_is_rebuilt(tmp_path, cache_dir, damage):
    # An entry whose root zarr.json was lost (a disk error, a partial copy of the cache) was no
    # Zarr store to write_zarr, which refuses to replace one even with overwrite=True: every
    # later open warned "cannot write a cache entry ... remove it yourself" and read the source,
    # and never rebuilt it (with require_cache: a CacheError every time). (h197)
    src = write_phantom_nifti(tmp_path / "a.nii", (16, 16, 8))
    ref = nib.load(src).get_fdata()
    lv.open(src, cache=True)
    entry = Path(lvcache.list_entries()[0].path)
    if damage == "root-zarr-json":
        (entry / "zarr.json").unlink()
    elif damage == "all-metadata":
        for meta in entry.rglob("zarr.json"):
            meta.unlink()
    else:
        shutil.rmtree(entry)
        entry.write_bytes(b"not a store")
    with warnings.catch_warnings():
        warnings.simplefilter("error", lvcache.CacheWarning)
        vol = lv.open(src, cache=True, require_cache=True)
    assert _reads_from_cache(vol)
    np.testing.assert_array_equal(vol.compute(), ref)
    assert (entry / "zarr.json").is_file()


def _entry_chunks(entry):
    return sorted(p for p in (Path(entry) / "0" / "c").rglob("*") if p.is_file())


def _flip(path, pos, bit=2):
    raw = bytearray(Path(path).read_bytes())
    raw[pos] ^= 1 << bit
    Path(path).write_bytes(bytes(raw))


def test_bit_flip_in_entry_is_a_miss_rebuilt(tmp_path, cache_dir):
    """A flipped bit in a cache entry (blosc-lz4, read back silently wrong before checksums):
    the next open warns, rebuilds the entry and serves the source's values."""
    src = write_phantom_nifti(tmp_path / "a.nii.gz", (48, 40, 24), slope=0.5, inter=3.0)
    ref = nib.load(src).get_fdata()
    lv.open(src, cache=True)
    entry = lvcache.list_entries()[0].path
    for n, chunk in enumerate(_entry_chunks(entry)[:3]):
        size = chunk.stat().st_size
        _flip(chunk, size // 2 + n, bit=n)
        vol = lv.open(src, cache=True)  # a damaged chunk is found when it is read
        with pytest.warns(lvcache.CacheWarning, match="damaged cache entry") as rec:
            got = vol.compute()
        assert entry in str(rec[0].message) and "c/" in str(rec[0].message)
        np.testing.assert_array_equal(got, ref)
        assert not Path(entry).exists()  # removed, so the next open rebuilds it
        again = lv.open(src, cache=True)
        assert _reads_from_cache(again) and lvcache.list_entries()[0].path == entry
        np.testing.assert_array_equal(again.compute(), ref)


def test_entry_damaged_after_open_serves_the_source(tmp_path, cache_dir):
    src = write_phantom_nifti(tmp_path / "a.nii", (32, 32, 16))
    ref = nib.load(src).get_fdata()
    vol = lv.open(src, cache=True, chunks=(32, 32, 4))
    entry = lvcache.list_entries()[0].path
    chunk = _entry_chunks(entry)[0]
    _flip(chunk, chunk.stat().st_size - 1)  # the crc32c trailer itself
    with pytest.warns(lvcache.CacheWarning, match="reading from the source"):
        np.testing.assert_array_equal(vol.compute(), ref)
    np.testing.assert_array_equal(lv.open(src, cache=True).compute(), ref)
    assert len(lvcache.list_entries()) == 1


def test_entry_removed_while_in_use_serves_the_source_and_says_so(tmp_path, cache_dir):
    """An entry removed under an open volume (another process cleared the cache, or evicted the
    entry for a newer version of the source) is read from the source with a warning that says it
    was removed, not that it is damaged."""
    src = write_phantom_nifti(tmp_path / "a.nii", (32, 32, 16))
    ref = nib.load(src).get_fdata()
    lv.open(src, cache=True)
    vol = lv.open(src, cache=True, chunks=(32, 32, 4))
    assert _reads_from_cache(vol)
    entry = lvcache.list_entries()[0].path
    shutil.rmtree(entry)
    with pytest.warns(lvcache.CacheWarning, match="removed while in use") as rec:
        np.testing.assert_array_equal(vol.compute(), ref)
    assert not any("damaged" in str(w.message) for w in rec)


def test_entry_written_again_while_in_use_is_not_called_damaged(tmp_path, cache_dir):
    """The cache cleared under an open volume, then the unchanged source cached again by another
    open: the old volume read from the source with a warning calling the new entry damaged and
    promising a rebuild that does not happen. It says the entry was written again."""
    src = write_phantom_nifti(tmp_path / "a.nii", (32, 32, 16))
    ref = nib.load(src).get_fdata()
    lv.open(src, cache=True)
    vol = lv.open(src, cache=True, chunks=(32, 32, 4))
    assert _reads_from_cache(vol)
    lvcache.clear()
    np.testing.assert_array_equal(lv.open(src, cache=True).compute(), ref)
    with pytest.warns(lvcache.CacheWarning, match="written again while in use") as rec:
        np.testing.assert_array_equal(vol.compute(), ref)
    assert not any("damaged" in str(w.message) or "rebuilt" in str(w.message) for w in rec)


def test_source_changed_and_entry_damaged_is_an_error(tmp_path, cache_dir):
    """The fallback never mixes two versions: a damaged block of an entry whose source changed
    since it was opened is a FormatError saying to reopen."""
    src = write_phantom_nifti(tmp_path / "a.nii", (16, 16, 8))
    lv.open(src, cache=True)
    vol = lv.open(src, cache=True)
    entry = lvcache.list_entries()[0].path
    chunk = _entry_chunks(entry)[0]
    write_phantom_nifti(src, (16, 16, 8), seed=3)
    _flip(chunk, 10)
    with pytest.warns(lvcache.CacheWarning), pytest.raises(lv.FormatError, match="open it again"):
        vol.compute()


def test_swapped_chunks_and_edited_metadata_in_entry(tmp_path, cache_dir):
    src = write_phantom_nifti(tmp_path / "a.nii", (256, 256, 40), dtype="int16")  # 2 chunks
    ref = nib.load(src).get_fdata()
    lv.open(src, cache=True)
    entry = lvcache.list_entries()[0].path
    zj = Path(entry) / "0" / "zarr.json"
    zj.write_text(zj.read_text().replace('"int16"', '"uint16"'))
    with pytest.warns(lvcache.CacheWarning, match="zarr.json"):
        vol = lv.open(src, cache=True)
    np.testing.assert_array_equal(vol.compute(), ref)
    entry = lvcache.list_entries()[0].path
    a, b = _entry_chunks(entry)[:2]
    tmp = a.with_name("swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        vol = lv.open(src, cache=True)  # found at open when the sizes differ, else when read
        np.testing.assert_array_equal(vol.compute(), ref)
    assert [w for w in rec if issubclass(w.category, lvcache.CacheWarning)]


def test_clear_and_older_than(tmp_path, cache_dir):
    a = write_phantom_nifti(tmp_path / "a.nii", (8, 8, 8), seed=1)
    b = write_phantom_nifti(tmp_path / "b.nii", (8, 8, 8), seed=2)
    lv.open(a, cache=True)
    lv.open(b, cache=True)
    assert lvcache.clear(older_than=3600) == 0
    assert len(lvcache.list_entries()) == 2
    assert lvcache.clear() == 2
    assert lvcache.list_entries() == []
    assert lvcache.clear() == 0


# -- killed and concurrent writers (subprocesses) ---------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    import lazyvol.nifti as ln
    import lazyvol.zarr_write as zi
    real = ln.read_block
    def slow(plan, index):
        sys.stdout.write("block\\n")  # one write: lines from two threads do not interleave
        sys.stdout.flush()
        time.sleep(float(sys.argv[3]))
        return real(plan, index)
    ln.read_block = slow
    real_publish = zi._publish
    def slow_publish(tmp, dest, overwrite):
        sys.stdout.write("publish\\n")  # complete, manifest written, not yet renamed
        sys.stdout.flush()
        time.sleep(float(sys.argv[3]) * 20)
        return real_publish(tmp, dest, overwrite)
    zi._publish = slow_publish
    # Write in many small blocks (2-slice chunks, no shards) so there are kill points between them.
    import lazyvol.zarr_layout as zl
    zi.chunk_shape = lambda chunks, shape: tuple(min(int(n), 2 if ax == 2 else 256) for ax, n in enumerate(shape))
    zl.SHARD_BELOW_BYTES = 0
    zl.WRITE_BLOCK_BYTES = 1
    import lazyvol as lv
    vol = lv.open(sys.argv[1], cache=sys.argv[2], chunks=(32, 32, 2))
    print("sum", int(vol.data.sum(dtype="int64").compute()), flush=True)
    """
)


def _spawn(script, *args):
    env = dict(os.environ, PYTHONPATH=SRC_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("kill_after_blocks", [1, 5, 9, "publish"])
def test_sigkill_mid_write_leaves_no_usable_entry(tmp_path, kill_after_blocks):
    src = write_phantom_nifti(tmp_path / "a.nii", (32, 32, 20), seed=3)
    cdir = tmp_path / "cache"
    proc = _spawn(WRITER, src, cdir, 0.05)
    seen = 0
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "writer exited early"
        seen += line.count("block")
        if kill_after_blocks == "publish" and "publish" in line:
            break  # the temporary store is complete with its manifest, not yet renamed
        if kill_after_blocks != "publish" and seen >= kill_after_blocks:
            break
    # the writer is inside write_zarr: its temporary store exists, no entry is published yet
    assert list(cdir.rglob(f"*{TMP_MARK}*"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert lvcache.list_entries(cdir) == []  # nothing complete, nothing listed
    # the next open rebuilds a correct entry and removes the killed writer's leftovers
    vol = lv.open(src, cache=cdir)
    np.testing.assert_array_equal(vol.compute(), nib.load(src).get_fdata())
    assert len(lvcache.list_entries(cdir)) == 1
    assert [p for p in cdir.rglob("*lazyvol-tmp*")] == []


def test_concurrent_writers_one_valid_entry(tmp_path):
    src = write_phantom_nifti(tmp_path / "a.nii", (32, 32, 20), seed=4)
    cdir = tmp_path / "cache"
    procs = [_spawn(WRITER, src, cdir, 0.01) for _ in range(3)]
    outs = []
    deadline = time.monotonic() + 120
    for p in procs:
        out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert p.returncode == 0, err
        outs.append([line for line in out.splitlines() if line.startswith("sum")])
    expected = int(np.asanyarray(nib.load(src).dataobj).astype(np.int64).sum())
    assert all(o == [f"sum {expected}"] for o in outs)
    entries = lvcache.list_entries(cdir)
    assert len(entries) == 1
    vol = lv.open(src, cache=cdir)
    assert _reads_from_cache(vol)
    np.testing.assert_array_equal(vol.compute(), nib.load(src).get_fdata())


# -- DICOM folders ------------------------------------------------------------------------------------------


def test_dicom_folder_cache_never_stale(tmp_path, cache_dir):
    from lazyvol.testing.dicom import write_dicom_series

    folder = tmp_path / "ser"
    truth = write_dicom_series(
        folder, shape=(16, 12, 6), orientation="oblique", slope=2.0, intercept=-100
    )
    first = lv.open(folder, cache=True)
    hit = lv.open(folder, cache=True)
    assert _reads_from_cache(hit)
    np.testing.assert_array_equal(hit.compute(), truth.scaled(hit.dtype))
    assert np.array_equal(hit.affine, first.affine) and hit.meta == first.meta
    # rewrite one slice with other pixel values (same size): a new entry, the new values
    import pydicom

    ds = pydicom.dcmread(truth.files[2])
    arr = ds.pixel_array.copy()
    arr[:] = 7
    ds.PixelData = arr.tobytes()
    st = os.stat(truth.files[2])
    ds.save_as(truth.files[2])
    os.utime(truth.files[2], ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    vol = lv.open(folder, cache=True)
    expected = truth.scaled(vol.dtype)
    expected[:, :, 2] = 7 * 2 - 100
    np.testing.assert_array_equal(vol.compute(), expected)
    assert len(lvcache.list_entries()) == 1  # the older version was evicted
    # an unrelated file is not part of the volume (the reader lists its files in meta["files"]):
    # the entry stays valid and is served
    key = lvcache.list_entries()[0].key
    (folder / "README.txt").write_text("notes")
    again = lv.open(folder, cache=True)
    assert _reads_from_cache(again)
    np.testing.assert_array_equal(again.compute(), expected)
    assert [e.key for e in lvcache.list_entries()] == [key]
    # removing the last slice changes the volume: a new entry with the shorter series
    os.unlink(truth.files[-1])
    shorter = lv.open(folder, cache=True)
    assert shorter.shape == (16, 12, 5)
    np.testing.assert_array_equal(shorter.compute(), expected[:, :, :5])
    assert [e.key for e in lvcache.list_entries()] != [key]


def test_clear_touches_only_cache_entries(tmp_path):
    precious = tmp_path / "notacache" / "project" / "data"
    precious.mkdir(parents=True)
    (precious / "scan.txt").write_text("keep")
    assert lvcache.clear(tmp_path / "notacache") == 0
    assert (precious / "scan.txt").read_text() == "keep"
    assert lvcache.list_entries(tmp_path / "notacache") == []


def _user_data(root: Path) -> list[Path]:
    """A user's folder holding a directory named like a cache entry, and the files it holds."""
    hexdir = root / ("0123456789abcdef" * 3)[:40]
    hexdir.mkdir(parents=True)
    (hexdir / "precious.txt").write_text("x")
    (root / "notes.txt").write_text("y")
    return [hexdir / "precious.txt", root / "notes.txt"]


def test_clear_and_eviction_never_follow_links_out_of_the_cache(tmp_path, cache_dir):
    """`cache clear` deleted a folder behind a symbolic link placed in the cache directory (a
    link named like a source group, to a folder holding an entry-named directory); eviction of
    an older version followed a linked group the same way."""
    path = write_phantom_nifti(tmp_path / "a.nii.gz", (8, 8, 4), dtype="int16")
    lv.open(path, cache=True)
    zarr_dir = Path(cache_dir) / "zarr"
    (group,) = [p for p in zarr_dir.iterdir() if p.is_dir()]
    kept = _user_data(tmp_path / "user1") + _user_data(tmp_path / "user2")
    os.symlink(tmp_path / "user1", zarr_dir / ("abcdef" * 4))
    os.symlink(tmp_path / "user2", group / ("fedcba9876" * 4))
    assert {e.key for e in lv.cache.list_entries()} == {
        p.name
        for p in group.iterdir()
        if re.fullmatch("[0-9a-f]{40}", p.name) and not p.is_symlink()
    }
    lv.cache.clear()
    assert all(p.exists() for p in kept)
    # a source group that is a link: a new version of the source evicts nothing behind it
    lv.open(path, cache=True)
    (group,) = [p for p in zarr_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    os.rename(group, tmp_path / "moved")
    os.symlink(tmp_path / "user3", group)
    kept += _user_data(tmp_path / "user3")
    time.sleep(0.01)
    write_phantom_nifti(path, (8, 8, 5), dtype="int16")  # another version: another key
    np.testing.assert_array_equal(
        lv.open(path, cache=True).compute(), np.asarray(nib.load(path).dataobj)
    )
    assert all(p.exists() for p in kept)


def test_a_relative_path_reads_after_a_chdir(tmp_path, cache_dir, monkeypatch):
    """An entry opened by a relative path that fails later falls back to the source: the source
    is reopened by its absolute path, not the relative one (which names another file, or none,
    in another working directory); it raised a false 'the source changed' error."""
    (tmp_path / "a").mkdir()
    path = write_phantom_nifti(tmp_path / "a" / "r.nii.gz", (8, 8, 4), dtype="int16")
    truth = np.asarray(nib.load(path).dataobj)
    monkeypatch.chdir(tmp_path / "a")
    vol = lv.open("r.nii.gz", cache=True)
    monkeypatch.chdir(tmp_path)
    lv.cache.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the entry is gone: read from the source (a warning)
        np.testing.assert_array_equal(vol.compute(), truth)


def test_a_dicom_entry_built_under_older_reader_rules_is_not_reused(
    tmp_path, cache_dir, monkeypatch
):
    """A DICOM reader fix that changes grouping or metadata bumps the saved-report format; the
    cache key carries it, so an entry built before the fix (with the old meta) is built again."""
    from lazyvol.dicom import saved_scan
    from lazyvol.testing import write_dicom_series

    write_dicom_series(tmp_path / "s", (8, 8, 4))
    lv.open(tmp_path / "s", cache=True)
    (before,) = lv.cache.list_entries()
    monkeypatch.setattr(saved_scan, "REPORT_FORMAT", saved_scan.REPORT_FORMAT + 1)
    lv.open(tmp_path / "s", cache=True)
    (after,) = lv.cache.list_entries()  # the old entry is evicted by the new one
    assert after.key != before.key


def test_an_rgb_nifti_with_cache_true_reads_uncached_with_a_warning(tmp_path, cache_dir):
    """No Zarr entry holds RGB records: cache=True raised the store writer's UnsupportedError,
    which named the entry's hashed path as if it were the user's store; it is now the documented
    unusable-cache fallback (a CacheWarning naming the source, or a CacheError when required)."""
    rgb = np.zeros((4, 5, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["G"] = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    path = tmp_path / "rgb.nii"
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), path)
    with pytest.warns(lvcache.CacheWarning, match=r"rgb\.nii: its .* voxels cannot be cached"):
        vol = lv.open(path, cache=True)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(path).dataobj))
    assert lvcache.list_entries() == []
    with pytest.raises(CacheError, match=r"rgb\.nii: its .* voxels cannot be cached"):
        lv.open(path, cache=True, require_cache=True)


def test_an_extended_precision_volume_with_cache_true_is_told_the_dtype_that_caches(
    tmp_path, cache_dir
):
    """float128 (x86 long double) is a number: the warning said 'a Zarr entry holds numbers
    only'; it now says Zarr has no such data type and which dtype= gets an entry."""
    path = tmp_path / "f.nii"
    nib.save(nib.Nifti1Image(np.ones((4, 5, 3), np.float32), np.eye(4)), path)
    long = np.dtype(np.longdouble)
    if long.itemsize <= 8:
        pytest.skip("long double is float64 here")
    with pytest.warns(lvcache.CacheWarning) as rec:
        vol = lv.open(path, cache=True, dtype=long)
    msg = str(rec[0].message)
    assert f"f.nii: its {long} voxels cannot be cached" in msg and "numbers only" not in msg
    assert "dtype='f8'" in msg
    assert vol.dtype == long and lvcache.list_entries() == []
    assert lv.open(path, cache=True, dtype="f8").dtype == np.float64
    assert len(lvcache.list_entries()) == 1
