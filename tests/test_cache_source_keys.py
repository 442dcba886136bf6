"""What keys a cache entry: the files the reader of the path opened says it reads, for every
kind of source; never files named by metadata carried over from an earlier source (a Zarr
store converted from a NIfTI file or a DICOM series keeps their path in ``source`` and
``meta["files"]``)."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
import zarr

import lazyvol as lv
from lazyvol import cache as lvcache
from lazyvol.errors import CacheError
from lazyvol.formats import registry
from lazyvol.testing import write_dicom_series, write_ome_zarr, write_phantom_nifti

UID = "1.2.826.0.1.3680043.8.498.424242"
#: An SPM affine the .mat gives (another orientation than the header's pixdim).
ROTATED = np.array([[0, -2.0, 0, 5], [3, 0, 0, 6], [0, 0, 4, 7], [0, 0, 0, 1]])

Truth = Callable[[], tuple[np.ndarray, np.ndarray | None]]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(d))
    return d


def _from_cache(vol: lv.Volume) -> bool:
    return vol.data.name.startswith("lazyvol-zarr-")


def _zarr_truth(store: Path) -> np.ndarray:
    """zarr-python's reading of a store's 3-D array, disk (z, y, x) to volume (i, j, k)."""
    group = zarr.open_group(str(store), mode="r")
    arr = next(a for _, a in sorted(group.arrays()) if a.ndim == 3)
    return np.asarray(arr[...]).transpose()


def _dicom_truth(files: list[str]) -> np.ndarray:
    return np.stack([pydicom.dcmread(f).pixel_array.T for f in files], axis=-1)


def _nifti(tmp: Path, name: str) -> tuple[Path, Callable[[], None], Truth]:
    path = tmp / name
    write_phantom_nifti(path, (8, 6, 4), seed=1)

    def change() -> None:
        write_phantom_nifti(path, (8, 6, 4), seed=2)

    return (
        path,
        change,
        lambda: (np.asanyarray(nib.load(path).dataobj).copy(), nib.load(path).affine),
    )


def _analyze(tmp: Path, part: str) -> tuple[Path, Callable[[], None], Truth]:
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    nib.save(nib.Spm2AnalyzeImage(data, ROTATED), tmp / "a.img")
    moved = ROTATED.copy()
    moved[:3, 3] = [50.0, 60.0, 70.0]
    (tmp / "other").mkdir()
    nib.save(nib.Spm2AnalyzeImage(data[::-1].copy(), moved), tmp / "other" / "a.img")

    def change() -> None:  # only one file of the three changes
        shutil.copyfile(tmp / "other" / part, tmp / part)

    def truth() -> tuple[np.ndarray, np.ndarray | None]:
        img = nib.load(tmp / "a.hdr")
        return np.asanyarray(img.dataobj).copy(), img.affine

    return tmp / "a.hdr", change, truth


def _dicom(tmp: Path, single: bool) -> tuple[Path, Callable[[], None], Truth]:
    files = write_dicom_series(tmp / "s", (8, 8, 4), series_uid=UID, seed=1).files
    other = write_dicom_series(tmp / "o", (8, 8, 4), series_uid=UID, seed=2).files

    def change() -> None:  # one slice rewritten with other pixels
        shutil.copyfile(other[2], files[2])

    if single:
        return Path(files[2]), change, lambda: (_dicom_truth([files[2]]), None)
    return tmp / "s", change, lambda: (_dicom_truth(files), None)


def _lazyvol_zarr(tmp: Path) -> tuple[Path, Callable[[], None], Truth]:
    store = tmp / "v.zarr"
    data = np.arange(8 * 6 * 4, dtype=np.int16).reshape(8, 6, 4)
    lv.Volume(data).to_zarr(store)

    def change() -> None:
        lv.Volume(data[::-1].copy()).to_zarr(store, overwrite=True)

    return store, change, lambda: (_zarr_truth(store), None)


def _ome_zarr(tmp: Path) -> tuple[Path, Callable[[], None], Truth]:
    """An OME-Zarr 0.5 store written by zarr-python (no lazyvol manifest)."""
    store = tmp / "ome.zarr"
    write_ome_zarr(store, np.arange(192, dtype="int16").reshape(4, 6, 8), chunks=(4, 6, 4))

    def change() -> None:  # one chunk file rewritten
        zarr.open_array(str(store / "0"), mode="r+")[:, :, :4] = -7

    return store, change, lambda: (_zarr_truth(store), None)


CASES: dict[str, Callable[[Path], tuple[Path, Callable[[], None], Truth]]] = {
    "nii": lambda t: _nifti(t, "a.nii"),
    "nii.gz": lambda t: _nifti(t, "a.nii.gz"),
    "analyze .img": lambda t: _analyze(t, "a.img"),
    "analyze .mat": lambda t: _analyze(t, "a.mat"),
    "dicom folder": lambda t: _dicom(t, single=False),
    "dicom file": lambda t: _dicom(t, single=True),
    "lazyvol zarr": _lazyvol_zarr,
    "ome-zarr": _ome_zarr,
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_change_of_any_file_the_reader_reads_gives_a_new_entry(tmp_path, cache_dir, kind):
    opened, change, truth = CASES[kind](tmp_path)
    before, _ = truth()
    np.testing.assert_array_equal(lv.open(opened, cache=True).compute(), before)
    assert _from_cache(lv.open(opened, cache=True))
    change()
    data, affine = truth()
    assert not np.array_equal(data, before) or kind == "analyze .mat"
    vol = lv.open(opened, cache=True)
    np.testing.assert_array_equal(vol.compute(), data)
    if affine is not None:
        np.testing.assert_allclose(vol.affine, affine)
    assert _from_cache(lv.open(opened, cache=True)) and len(lvcache.list_entries()) == 1


def _zarr_copy_of_nifti(tmp: Path) -> tuple[Path, Callable[[], None], Path]:
    write_phantom_nifti(tmp / "a.nii", (8, 6, 4), seed=1)
    store = tmp / "s.zarr"
    lv.open(tmp / "a.nii").to_zarr(store)

    def rewrite() -> None:  # same shape and dtype, other values
        lv.open(tmp / "a.nii")[::-1].to_zarr(store, overwrite=True)

    return store, rewrite, tmp / "a.nii"


def _zarr_copy_of_dicom(tmp: Path) -> tuple[Path, Callable[[], None], Path]:
    write_dicom_series(tmp / "s", (8, 8, 4), series_uid=UID, seed=1)
    store = tmp / "s.zarr"
    lv.open(tmp / "s").to_zarr(store)

    def rewrite() -> None:  # other values, the same meta["files"]
        lv.open(tmp / "s")[::-1].to_zarr(store, overwrite=True)

    return store, rewrite, tmp / "s"


@pytest.mark.parametrize("make", [_zarr_copy_of_nifti, _zarr_copy_of_dicom], ids=["nifti", "dicom"])
def test_a_zarr_copy_is_keyed_on_its_own_files_not_its_origin(tmp_path, cache_dir, make):
    """The store keeps its origin in ``source`` / ``meta["files"]``; an entry keyed on those was
    served after the store was rewritten, and the store could not be cached once they were gone."""
    store, rewrite, origin = make(tmp_path)
    first = lv.open(store, cache=True).compute()
    np.testing.assert_array_equal(first, _zarr_truth(store))
    rewrite()
    now = _zarr_truth(store)
    assert not np.array_equal(now, first)
    np.testing.assert_array_equal(lv.open(store, cache=True).compute(), now)
    (key,) = [e.key for e in lvcache.list_entries()]
    shutil.rmtree(origin) if origin.is_dir() else origin.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CacheWarning, no error: the store is intact
        vol = lv.open(store, cache=True)
    assert _from_cache(vol) and [e.key for e in lvcache.list_entries()] == [key]
    np.testing.assert_array_equal(vol.compute(), now)


class _RawWithScale:
    """A third-party reader of a ``.raw`` file of int16 (8, 6, 4) whose ``.scale`` sidecar
    multiplies the values: both are its source files; only the data file is in meta["files"]."""

    name = "raw-with-scale"
    priority = 5

    def can_open(self, source: Any) -> bool:
        return str(source).endswith(".raw") and os.path.isfile(source)

    def source_files(self, source: Any, **options: Any) -> list[str]:
        files = [os.path.abspath(source), os.path.abspath(f"{source}.scale")]
        return [*files, *self.missing]

    def open(self, source: Any, **options: Any) -> lv.Volume:
        data = np.fromfile(source, "<i2").reshape(8, 6, 4)
        scale = float(Path(f"{source}.scale").read_text())
        meta = {"files": [os.path.abspath(source)]}
        return lv.Volume(data * scale, meta=meta, source=str(source))

    def describe(self, source: Any) -> dict[str, Any]:
        return {"format": self.name}

    missing: tuple[str, ...] = ()


@pytest.fixture
def raw_reader():
    reader = _RawWithScale()
    registry.register(reader)
    yield reader
    registry.unregister(reader.name)


def test_a_plugin_readers_own_list_keys_its_entries(tmp_path, cache_dir, raw_reader):
    raw = tmp_path / "v.raw"
    data = np.arange(8 * 6 * 4, dtype="<i2").reshape(8, 6, 4)
    data.tofile(raw)
    Path(f"{raw}.scale").write_text("2")
    np.testing.assert_array_equal(lv.open(raw, cache=True).compute(), data * 2.0)
    Path(f"{raw}.scale").write_text("3")  # only the sidecar changes
    np.testing.assert_array_equal(lv.open(raw, cache=True).compute(), data * 3.0)


def test_a_source_file_gone_is_named_in_the_error(tmp_path, cache_dir, raw_reader):
    raw = tmp_path / "v.raw"
    np.zeros((8, 6, 4), "<i2").tofile(raw)
    Path(f"{raw}.scale").write_text("1")
    raw_reader.missing = (str(tmp_path / "gone.bin"),)
    with pytest.raises(CacheError, match=r"vanished while it was opened \(.*gone\.bin") as err:
        lv.open(raw, cache=True)
    assert "(None)" not in str(err.value)


class _RawFolder:
    """A third-party reader of a folder ``*.rawdir`` holding ``data.raw`` (int16 (8, 6, 4)): its
    source_files is the folder itself, which the cache key walks."""

    name = "raw-folder"
    priority = 5

    def can_open(self, source: Any) -> bool:
        return str(source).endswith(".rawdir") and os.path.isdir(source)

    def source_files(self, source: Any, **options: Any) -> list[str]:
        return [os.path.abspath(str(source))]

    def open(self, source: Any, **options: Any) -> lv.Volume:
        data = np.fromfile(os.path.join(str(source), "data.raw"), "<i2").reshape(8, 6, 4)
        return lv.Volume(data.astype(np.float32), source=str(source))

    def describe(self, source: Any) -> dict[str, Any]:
        return {"format": self.name}


def test_a_folder_sources_linked_file_keys_its_entries(tmp_path, cache_dir):
    """A folder source whose file is a symbolic link (git-annex / DataLad: every file is one;
    a new version of the content leads the link to another object): the key's walk of the folder
    left links out, so an entry made before the link was led to new content was served after."""
    reader = _RawFolder()
    registry.register(reader)
    try:
        objects = tmp_path / "annex"
        objects.mkdir()
        old = np.arange(8 * 6 * 4, dtype="<i2").reshape(8, 6, 4)
        old.tofile(objects / "a")
        (old + 7).tofile(objects / "b")
        folder = tmp_path / "v.rawdir"
        folder.mkdir()
        (folder / "README").write_text("scan 1")  # (a plain file beside the link)
        (folder / "data.raw").symlink_to(objects / "a")
        np.testing.assert_array_equal(lv.open(folder, cache=True).compute(), old)
        (folder / "data.raw").unlink()
        (folder / "data.raw").symlink_to(objects / "b")  # (a new version: another object)
        np.testing.assert_array_equal(lv.open(folder, cache=True).compute(), old + 7)
    finally:
        registry.unregister(reader.name)
