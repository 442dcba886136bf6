"""A foreign store's files are read non-blocking, as regular files only, and bounded.

zarr-python's ``LocalStore`` reads a file whole (``Path.read_bytes``): an OME-Zarr store of
another tool (no manifest lists its files) whose chunk or ``zarr.json`` was a symlink to
``/dev/zero`` was read until memory ran out, a FIFO in a chunk's place blocked the read for
ever, and a sparse file of GiB was allocated whole. Now each is a typed error naming the file.
"""

from __future__ import annotations

import os
import shutil
import threading
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes


def _foreign(path, fmt: int = 3) -> str:
    """An OME-Zarr store of another tool (0.5 on Zarr v3, 0.4 on v2), 4x4x4 in 2x2x2 chunks."""
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    group.create_array("0", data=np.arange(64, dtype="f4").reshape(4, 4, 4), chunks=(2, 2, 2))
    _mark_ome(group, fmt)
    return str(path)


def _mark_ome(group: zarr.Group, fmt: int = 3) -> None:
    """OME-Zarr attributes (0.5 on Zarr v3, 0.4 on v2) of one dataset, array "0": axes z, y, x
    of space without units, scale 1."""
    group.attrs.update(ome_zarr_attributes(unit=None, version="0.5" if fmt == 3 else "0.4"))


def _run_bounded(fn, seconds: float = 20.0):
    """``fn()`` in a daemon thread: its exception or result, or a failure when it blocks."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # (handed back to the test)
            out["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "the read blocked"
    return out


def _chunk(store: str, fmt: int) -> str:
    return (
        os.path.join(store, "0", "c", "0", "0", "0")
        if fmt == 3
        else os.path.join(store, "0", "0.0.0")
    )


@pytest.mark.parametrize("fmt", [3, 2])
@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_a_chunk_that_is_not_a_regular_file_is_refused_unread(tmp_path, fmt, kind):
    store = _foreign(tmp_path / "s.zarr", fmt)
    chunk = _chunk(store, fmt)
    os.remove(chunk)
    if kind == "fifo":
        os.mkfifo(chunk)
    else:
        os.symlink("/dev/zero", chunk)
    vol = lv.open(store)
    out = _run_bounded(lambda: vol[:2, :2, :2].compute())
    exc = out.get("exc")
    assert isinstance(exc, lv.FormatError), out
    assert chunk in str(exc) and "not a regular file" in str(exc)
    # the other chunks still read
    assert np.array_equal(
        vol[2:, 2:, 2:].compute(), np.arange(64, dtype="f4").reshape(4, 4, 4).T[2:, 2:, 2:]
    )


def _assert_metadata_refused(store: str, name: str, kind: str) -> None:
    """Replace the store's metadata file ``name`` by a FIFO or a link to /dev/zero ("fifo",
    "dev-zero"): lv.open is refused promptly with a FormatError naming it."""
    meta = os.path.join(store, name)
    os.remove(meta)
    if kind == "fifo":
        os.mkfifo(meta)
    else:
        os.symlink("/dev/zero", meta)
    out = _run_bounded(lambda: lv.open(store))
    exc = out.get("exc")
    assert isinstance(exc, lv.FormatError), out
    assert meta in str(exc) and "not a regular file" in str(exc)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_array_metadata_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    _assert_metadata_refused(_foreign(tmp_path / "s.zarr"), os.path.join("0", "zarr.json"), kind)


def test_a_chunk_file_larger_than_any_chunk_is_refused_unallocated(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "1048576")  # files: 64 MiB at most
    store = _foreign(tmp_path / "s.zarr")
    chunk = _chunk(store, 3)
    with open(chunk, "r+b") as f:  # sparse: no disk used, but read whole it would be allocated
        f.truncate(128 << 20)
    vol = lv.open(store)
    with pytest.raises(lv.ResourceLimitError, match="c/0/0/0"):
        vol[:2, :2, :2].compute()


def test_byte_ranges_read_only_their_bytes(tmp_path):
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest

    from lazyvol.zarr_files import read_store_file

    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    assert read_store_file(str(path), "chunk c/0") == bytes(range(100))
    assert read_store_file(str(path), "x", RangeByteRequest(10, 20)) == bytes(range(10, 20))
    assert read_store_file(str(path), "x", RangeByteRequest(90, 200)) == bytes(range(90, 100))
    assert read_store_file(str(path), "x", OffsetByteRequest(95)) == bytes(range(95, 100))
    assert read_store_file(str(path), "x", SuffixByteRequest(3)) == bytes(range(97, 100))
    with pytest.raises(FileNotFoundError):
        read_store_file(str(tmp_path / "missing"), "x")


def test_a_sharded_foreign_store_reads_the_same_values(tmp_path):
    """(Shards are read by byte ranges, index then inner chunks, through the bounded reads.)"""
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    data = np.random.default_rng(0).random((6, 8, 10)).astype("f4")
    group.create_array("0", data=data, chunks=(2, 2, 5), shards=(4, 4, 10))
    _mark_ome(group)
    assert np.array_equal(lv.open(str(tmp_path / "s.zarr")).compute(), data.T)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_a_group_zarr_json_that_is_not_a_regular_file_is_named(tmp_path, kind):
    """The folder was not taken for a Zarr store, and was scanned for DICOM files instead ("no
    DICOM image volume found", listing the chunk files)."""
    _assert_metadata_refused(_foreign(tmp_path / "s.zarr"), "zarr.json", kind)


def _sharded(path, data: np.ndarray, chunks, shards) -> str:
    """An OME-Zarr 0.5 store of another tool: ``data`` (z, y, x) uncompressed in shards."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    array = group.create_array(
        "0", shape=data.shape, dtype=data.dtype, chunks=chunks, shards=shards, compressors=None
    )
    array[:] = data
    _mark_ome(group)
    return str(path)


def test_a_shard_larger_than_the_chunk_limit_is_read_whole(tmp_path, monkeypatch):
    """Small inner chunks in one shard larger than one read's limit (the chunk limit's, 64 MiB
    at least: here lowered): the store opened, then compute() raised ResourceLimitError when
    zarr read the whole shard in one get (h94). A shard is bounded by its array's metadata."""
    import lazyvol.zarr_files as zarr_files

    monkeypatch.setattr(zarr_files, "MIN_FILE_BYTES", 0)
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "65536")  # one read: about 1.06 MiB
    data = (np.arange(32 * 256 * 256) % 251).astype("u1").reshape(32, 256, 256)
    store = _sharded(tmp_path / "s.zarr", data, (8, 64, 64), (32, 256, 256))
    shard = os.path.join(store, "0", "c", "0", "0", "0")
    assert os.path.getsize(shard) > zarr_files.max_file_bytes()
    assert np.array_equal(lv.open(store).compute(), data.T)
    # a shard file grown past what its metadata allows (sparse) is still refused unallocated
    with open(shard, "r+b") as f:
        f.truncate(64 << 20)
    with pytest.raises(lv.ResourceLimitError, match="c/0/0/0"):
        lv.open(store).compute()


def test_the_shard_bound_follows_the_array_metadata(tmp_path, monkeypatch):
    """Inner chunks and index, shard shape clipped to the array; 0 where not sharded or the
    bound passes the volume limit."""
    from lazyvol.zarr_files import shard_file_bound

    data = np.ones((40, 128, 128), "u2")  # (1.25 MiB)
    store = _sharded(tmp_path / "s.zarr", data, (16, 64, 64), (64, 128, 128))
    root = os.path.join(store, "0")
    shard = os.path.join(root, "c", "0", "0", "0")
    bound = shard_file_bound(root, shard)
    assert os.path.getsize(shard) <= bound < 48 * 128 * 128 * 2 * 1.01 + 20 * 1024
    plain = _foreign(tmp_path / "p.zarr")
    assert shard_file_bound(os.path.join(plain, "0"), _chunk(plain, 3)) == 0
    monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", "1")  # (and a read: 1 MiB and a little)
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "1")
    import lazyvol.zarr_files as zarr_files

    monkeypatch.setattr(zarr_files, "MIN_FILE_BYTES", 0)
    assert shard_file_bound(root, shard) == 0


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_a_lazyvol_stores_chunk_that_is_not_a_regular_file_is_named_so(tmp_path, kind):
    """A lazyvol store (with its manifest) whose chunk file is a FIFO or a link to a device was
    refused as 'chunk c/0/0/0 has 0 bytes, the manifest lists N (truncated, extended or
    replaced)' -- the size of what is not a file; a foreign store's says what it is."""
    store = str(tmp_path / "s.zarr")
    data = np.arange(64 * 64 * 16, dtype=np.int16).reshape(64, 64, 16)
    lv.Volume(data, np.eye(4)).to_zarr(store, chunks=(32, 32, 8), shards=False)
    chunk = os.path.join(store, "0", "c", "0", "0", "0")
    os.remove(chunk)
    if kind == "fifo":
        os.mkfifo(chunk)
    else:
        os.symlink("/dev/zero", chunk)
    out = _run_bounded(lambda: lv.open(store).compute())
    exc = out.get("exc")
    assert isinstance(exc, lv.IntegrityError), out
    assert "c/0/0/0" in str(exc) and "not a regular file" in str(exc)


def linked_copy(real: os.PathLike[str] | str, links: Path) -> Path:
    """``links``: the folders of ``real`` made again, each file a symbolic link to its file in
    ``real`` (as ``cp -rs`` makes them, and a git-annex / DataLad dataset holds every file)."""
    for folder, _, files in os.walk(real):
        rel = os.path.relpath(folder, real)
        os.makedirs(links / rel, exist_ok=True)
        for name in files:
            os.symlink(os.path.join(folder, name), links / rel / name)
    return links


def test_a_lazyvol_store_of_links_to_its_files_reads(tmp_path):
    """A lazyvol store whose files are symbolic links to regular files (git-annex / DataLad
    datasets hold every file so; `cp -rs`) was refused as altered: the manifest check compared
    the link's own size with the chunk's. A link is read as the file it names, as the metadata
    files and every other source are."""
    data = np.arange(64 * 64 * 16, dtype=np.int16).reshape(64, 64, 16)
    real = tmp_path / "real.zarr"
    lv.Volume(data, np.eye(4)).to_zarr(real, chunks=(32, 32, 8), shards=False)
    links = linked_copy(real, tmp_path / "links.zarr")
    np.testing.assert_array_equal(lv.open(links).compute(), data)


@pytest.mark.parametrize("lazyvol_store", [False, True], ids=["foreign", "lazyvol"])
def test_a_chunk_link_that_leads_to_no_file_is_never_read_as_absent(tmp_path, lazyvol_store):
    """A chunk file that is a symbolic link to nothing (a git-annex / DataLad dataset whose
    content was not fetched holds every file so) was, in a foreign store, read as an absent
    chunk: its block came back as the fill value (zeros), no error (zarr-python does the same);
    a lazyvol store's manifest check said 'has -1 bytes'. Both now name the link and the fix."""
    if lazyvol_store:
        store = str(tmp_path / "s.zarr")
        data = np.arange(64 * 64 * 16, dtype=np.int16).reshape(64, 64, 16)
        lv.Volume(data, np.eye(4)).to_zarr(store, chunks=(32, 32, 8), shards=False)
    else:
        store = _foreign(tmp_path / "s.zarr")
    chunk = os.path.join(store, "0", "c", "0", "0", "0")
    os.remove(chunk)
    os.symlink(str(tmp_path / ".git" / "annex" / "objects" / "x"), chunk)
    error = lv.IntegrityError if lazyvol_store else lv.FormatError
    with pytest.raises(error, match=r"c/0/0/0.*(link|leads to no file).*git annex get"):
        lv.open(store).compute()


@pytest.mark.parametrize("folder", ["c", "c/0", "c/0/1"])
def test_a_lazyvol_store_whose_chunk_folder_is_a_link_reads(tmp_path, folder):
    """A chunk folder of a lazyvol store that is a symbolic link to a folder (moved to another
    disk and linked back; a dataset tree of links) was refused as 'chunk file c/0/0/0 is
    missing': the manifest check's listing took the link for a file, where every chunk read
    follows it. A folder link leading to no folder is named as such, not as missing chunks."""
    data = np.arange(64 * 64 * 16, dtype=np.int16).reshape(64, 64, 16)
    store = tmp_path / "s.zarr"
    lv.Volume(data, np.eye(4)).to_zarr(store, chunks=(32, 32, 8), shards=False)
    inside = store / "0" / folder
    os.rename(inside, tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", inside)
    np.testing.assert_array_equal(lv.open(store).compute(), data)
    os.remove(inside)
    os.symlink(tmp_path / ".git" / "annex" / "objects" / "x", inside)
    with pytest.raises(lv.IntegrityError, match=rf"{folder}.*link.*leads to no folder"):
        lv.open(store).compute()


def test_a_chunk_folder_link_back_into_the_store_is_refused_not_walked_forever(tmp_path):
    """A loop of folder links in a lazyvol store (c/0/0 -> ..) is refused, not listed forever."""
    data = np.arange(64 * 64 * 16, dtype=np.int16).reshape(64, 64, 16)
    store = tmp_path / "s.zarr"
    lv.Volume(data, np.eye(4)).to_zarr(store, chunks=(32, 32, 8), shards=False)
    os.symlink("..", store / "0" / "c" / "0" / "loop")
    with pytest.raises(lv.IntegrityError, match="c/0/loop"):
        lv.open(store).compute()


@pytest.mark.parametrize("folder", ["0", "nifti"])
def test_an_array_folder_that_is_a_link_to_no_folder_is_named_so(tmp_path, folder):
    """A lazyvol store whose array folder (a level, the NIfTI header's) is a symbolic link to
    nothing (a DataLad / git-annex folder not fetched) was said to be incomplete ('array '0' is
    missing (0/zarr.json not found)'): the metadata read looked for a dangling link at the file
    alone, not at the store's folders above it, as a chunk read does (7b9b287)."""
    store = tmp_path / "s.zarr"
    lv.Volume(np.ones((8, 8, 4), np.int16), np.eye(4)).to_zarr(store)
    shutil.rmtree(store / folder)
    os.symlink(tmp_path / ".git" / "annex" / "objects" / "x", store / folder)
    with pytest.raises(lv.FormatError, match=rf"{folder}: .*symbolic link .*git annex get"):
        lv.open(store).compute()


def _niizarr_of_a_scaled_nifti(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A NIfTI-Zarr store written by niizarr (skipped without it) of a NIfTI of int16 values
    scaled x2.5 - 10 (scl_slope / scl_inter, which only its 'nifti' header records), and the
    stored integers."""
    niizarr = pytest.importorskip("niizarr")
    stored = (np.arange(8 * 9 * 10) % 200).astype(np.int16).reshape(8, 9, 10)
    img = nib.Nifti1Image(stored, np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.set_slope_inter(2.5, -10.0)
    nib.save(img, tmp_path / "s.nii")
    store = tmp_path / "s.nii.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        niizarr.nii2zarr(str(tmp_path / "s.nii"), str(store), nb_levels=1)
    return store, stored


@pytest.mark.parametrize("part", ["nifti", "nifti/zarr.json", "nifti/c"])
def test_a_niftizarr_header_that_is_a_link_to_no_file_is_never_read_as_absent(tmp_path, part):
    """A NIfTI-Zarr store (niizarr) keeps a scaled NIfTI's stored integers, its header alone
    records scl_slope / scl_inter. The header's folder, metadata or chunk a symbolic link to
    nothing (a DataLad / git-annex dataset not fetched) was read as no header: the stored
    integers came back as the values (x2.5 - 10 missing), with no word (or one about the affine).
    The link is now named, as a chunk's is (7b9b287)."""
    store, stored = _niizarr_of_a_scaled_nifti(tmp_path)
    np.testing.assert_allclose(lv.open(store).compute(), stored * 2.5 - 10.0, rtol=1e-6)
    inside = store / part
    if part == "nifti/c":  # (its one chunk file, wherever niizarr puts it)
        inside = next(
            p for p in (store / "nifti").rglob("*") if p.is_file() and p.name != "zarr.json"
        )
    if inside.is_dir():
        shutil.rmtree(inside)
    else:
        os.remove(inside)
    os.symlink(tmp_path / ".git" / "annex" / "objects" / "x", inside)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(lv.FormatError, match=r"symbolic link to .*git annex get"):
            lv.open(store).compute()


def test_a_cached_store_whose_chunk_folder_is_a_link_sees_a_change_under_it(tmp_path):
    """An OME-Zarr store of another tool whose chunk folder is a symbolic link (moved to another
    disk and linked back) is read through the link, but its cache key listed the store without
    following folder links: a chunk rewritten under the link was served from the cache as the
    old one (no error). The key now lists the files under a linked folder too (a loop of links
    once)."""
    store = _foreign(tmp_path / "s.zarr")
    inside = os.path.join(store, "0", "c", "1")
    os.rename(inside, tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", inside)
    os.symlink("..", os.path.join(store, "0", "c", "0", "loop"))  # (walked once)
    cache = tmp_path / "cache"
    first = lv.open(store, cache=cache).compute()
    np.testing.assert_array_equal(first, lv.open(store).compute())
    arr = zarr.open_array(os.path.join(store, "0"), mode="r+")
    arr[2:4, 0:2, 0:2] = 999  # (a chunk under the linked folder c/1)
    truth = np.asarray(arr[...]).T if first.shape != arr.shape else np.asarray(arr[...])
    now = lv.open(store, cache=cache).compute()
    np.testing.assert_array_equal(now, lv.open(store).compute())
    assert (now == 999).sum() == 8 and np.array_equal(
        np.sort(now, axis=None), np.sort(truth, axis=None)
    )


def test_a_folder_link_to_a_large_tree_is_not_listed_without_bound(tmp_path, monkeypatch):
    """Folder links in a store are followed (a chunk folder moved and linked back), so one to
    '/' would have the manifest check or the cache key list the whole disk: the manifest check
    stops one file past the files the manifest lists (refused), the cache key's listing past
    LINKED_FILES_MAX files behind links (refused, naming the store)."""
    import lazyvol._zarr_folder as zf
    from lazyvol.zarr_store import StoreRoot

    big = tmp_path / "big"
    big.mkdir()
    for i in range(50):
        (big / f"f{i}").write_bytes(b"x")
    store = tmp_path / "s.zarr"
    lv.Volume(np.ones((8, 8, 4), np.int16), np.eye(4)).to_zarr(store, shards=False)
    os.symlink(big, store / "0" / "c" / "far")
    assert len(StoreRoot.of(str(store)).chunk_files("0", 1)) <= 2
    with pytest.raises(lv.IntegrityError, match="not listed in the manifest"):
        lv.open(store).compute()
    foreign = _foreign(tmp_path / "f.zarr")
    os.symlink(big, os.path.join(foreign, "0", "c", "far"))
    monkeypatch.setattr(zf, "LINKED_FILES_MAX", 10)
    with pytest.raises(lv.FormatError, match="folder links lead to more than 10 files"):
        zf.files_under(foreign)


def test_a_niftizarr_header_that_does_not_parse_is_said_to_leave_the_values_unscaled(tmp_path):
    """A NIfTI-Zarr store (niizarr) of a scaled NIfTI keeps the stored integers; its header alone
    records scl_slope / scl_inter. A header that does not parse (zeroed) was warned of as 'not
    used for the affine' only, while the values silently came back unscaled (x2.5 - 10 missing).
    The warning now says so (the values are the stored ones), beside the affine."""
    store, stored = _niizarr_of_a_scaled_nifti(tmp_path)
    header = zarr.open_group(store, mode="a")["nifti"]
    header[:] = 0
    with pytest.warns(RuntimeWarning, match=r"'nifti'.*scl_slope.*unscaled.*not usable"):
        vol = lv.open(store)
    np.testing.assert_array_equal(vol.compute(), stored)  # (as the warning says: unscaled)


def test_a_cached_store_with_an_unfetched_file_beside_the_image_keys_it(tmp_path):
    """A DataLad / git-annex OME-Zarr store fetched in part: the image's level is here, another
    array's chunk files are links to no file (not fetched; a link loop likewise). Read uncached
    it opens (those files are not read); with a cache, the key's listing (which follows links
    since c2d770c) took the links for files and refused the store as 'a source file vanished
    while it was opened'. A link to no file holds nothing to stamp: left out of the key, the
    store is cached and reads as uncached (zarr's own values)."""
    store = _foreign(tmp_path / "s.zarr")
    group = zarr.open_group(store, mode="r+")
    group.create_array("1", data=np.ones((2, 2, 2), dtype="f4"), chunks=(1, 2, 2))
    for chunk in ("c/0/0/0", "c/1/0/0"):
        path = os.path.join(store, "1", *chunk.split("/"))
        os.remove(path)
        os.symlink("../../../../.git/annex/objects/Xx/SHA256E-s16--0f", path)
    os.symlink("loop", os.path.join(store, "1", "loop"))
    truth = np.asarray(zarr.open_array(os.path.join(store, "0"), mode="r")[...])
    plain = lv.open(store).compute()
    cached = lv.open(tmp_path / "s.zarr", cache=tmp_path / "cache").compute()
    again = lv.open(tmp_path / "s.zarr", cache=tmp_path / "cache").compute()
    np.testing.assert_array_equal(cached, plain)
    np.testing.assert_array_equal(again, plain)
    np.testing.assert_array_equal(np.sort(plain, axis=None), np.sort(truth, axis=None))


@pytest.mark.parametrize("extra", ["file", "folder-link"])
def test_a_file_not_in_the_manifest_is_named_not_a_listed_one_said_missing(tmp_path, extra):
    """The manifest check's listing stops one file past the files the manifest lists (9e22ad3:
    a folder link to '/'), so a file not listed met early (in the first chunk folder; a link there
    to a large tree) left listed chunks unlisted, and the check said the first of those 'is
    missing ... the store is incomplete', though every chunk is present. The file not listed is
    named (as before the bound)."""
    store = tmp_path / "s.zarr"
    lv.Volume(np.ones((32, 32, 8), np.int16), np.eye(4)).to_zarr(
        store, shards=False, chunks=(8, 8, 8)
    )
    first = store / "0" / "c" / "0" / "0"
    if extra == "file":
        (first / "aaa").write_bytes(b"x")
    else:
        big = tmp_path / "big"
        big.mkdir()
        for i in range(40):
            (big / f"f{i}").write_bytes(b"x")
        os.symlink(big, first / "aaa")
    with pytest.raises(lv.IntegrityError, match="not listed in the manifest") as exc:
        lv.open(store).compute()
    assert "missing" not in str(exc.value)
    assert "c/0/0/aaa" in str(exc.value)


def test_a_store_whose_folder_link_leads_to_the_cache_is_cached_once(tmp_path):
    """A store with a folder link to its own parent (``0/up -> ../..``), the cache folder being
    beside the store: the cache key's listing follows folder links (c2d770c), so it listed the
    cache's own entries and locks through the link (the cache's folder left out by its path
    only): every open made a new key, the entry it built was gone at the next open, and one
    more lock file was left per open. Files found through links in the cache's folder are the
    cache's: left out, one entry is built and served again."""
    store = _foreign(tmp_path / "s.zarr")
    os.symlink(os.path.join("..", ".."), os.path.join(store, "0", "up"))
    cache = tmp_path / "cache"
    truth = lv.open(store).compute()
    for _ in range(3):
        np.testing.assert_array_equal(lv.open(store, cache=cache).compute(), truth)
    (sid,) = os.listdir(cache)
    assert len(os.listdir(cache / sid)) <= 2  # (one entry and its lock)
    assert any((cache / sid / n).is_dir() for n in os.listdir(cache / sid))
