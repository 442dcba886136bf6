"""Never served stale: appended, replaced (same size, same mtime), touched and deleted source files.

Guarantee (cache): an entry is keyed on every source file's path, size, mtime_ns, device, inode
and ctime_ns. A same-size rewrite with the old mtime put back by ``os.utime`` still moves ctime
(the kernel sets it on every write; no user call can set it), so it is a miss and the entry is
rebuilt. Tests compare with nibabel / pydicom reading the files as they are now.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

import lazyvol as lv
from lazyvol import cache as lvcache
from lazyvol.testing import write_dicom_series, write_phantom_nifti

SHAPE = (16, 12, 6)


def _rewrite_keeping_stat(path: Path, data: bytes) -> None:
    """Overwrite in place with bytes of the same length and put the old atime/mtime back."""
    st = os.stat(path)
    assert len(data) == st.st_size
    time.sleep(0.02)  # past the file system's coarse timestamp clock
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    st2 = os.stat(path)
    assert (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def _dicom_truth(folder: Path) -> np.ndarray:
    """Stack the folder with pydicom (sorted along the slice normal): the independent reference."""
    dss = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    dss.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array.T for d in dss], axis=-1)


def test_cache_same_size_same_mtime_replacement(tmp_path):
    path = tmp_path / "a.nii"
    cache = tmp_path / "cache"
    write_phantom_nifti(path, (16, 16, 8), seed=1)
    first = lv.open(path, cache=cache).compute()
    np.testing.assert_array_equal(first, nib.load(path).get_fdata())
    other = tmp_path / "b.nii"
    write_phantom_nifti(other, (16, 16, 8), seed=2)
    _rewrite_keeping_stat(path, other.read_bytes())
    vol = lv.open(path, cache=cache)
    np.testing.assert_array_equal(vol.compute(), nib.load(path).get_fdata())
    assert not np.array_equal(vol.compute(), first)
    assert len(lvcache.list_entries(cache)) == 1  # the old version's entry was evicted


def test_cache_same_size_same_mtime_pixels_only(tmp_path):
    # the hard case for a header-only fingerprint: only pixel bytes change
    path = tmp_path / "a.nii"
    cache = tmp_path / "cache"
    write_phantom_nifti(path, (16, 16, 8), seed=1)
    first = lv.open(path, cache=cache).compute()
    data = bytearray(path.read_bytes())
    data[352 + 300] ^= 0x5A
    _rewrite_keeping_stat(path, bytes(data))
    again = lv.open(path, cache=cache).compute()
    np.testing.assert_array_equal(again, nib.load(path).get_fdata())
    assert not np.array_equal(again, first)


def test_dicom_folder_changes_never_stale(tmp_path):
    folder = tmp_path / "s"
    cache = tmp_path / "cache"
    truth = write_dicom_series(folder, SHAPE, dtype="uint16", modality="MR")

    def check():
        for kw in ({}, {"cache": cache}):
            vol = lv.open(folder, **kw)
            np.testing.assert_array_equal(vol.compute(), _dicom_truth(folder))
        return vol

    check()
    # append a slice at the next position
    ds = pydicom.dcmread(truth.files[-1])
    ds.ImagePositionPatient = [
        ds.ImagePositionPatient[0],
        ds.ImagePositionPatient[1],
        float(ds.ImagePositionPatient[2]) + 2.5,
    ]
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = SHAPE[2] + 1
    ds.save_as(folder / "IM99999.dcm")
    assert check().shape == (*SHAPE[:2], SHAPE[2] + 1)
    # replace a file by another of the same size and the same mtime: new pixels
    victim = Path(truth.files[2])
    dsv = pydicom.dcmread(victim)
    arr = dsv.pixel_array.copy()
    arr[:] = 4321
    dsv.PixelData = arr.tobytes()
    tmp = tmp_path / "x.dcm"
    dsv.save_as(tmp)
    _rewrite_keeping_stat(victim, tmp.read_bytes())
    vol = check()
    assert (vol.compute()[:, :, 2] == 4321).all()
    # touch a file: same data
    os.utime(truth.files[0])
    check()
    # delete the last slice
    os.remove(folder / "IM99999.dcm")
    assert check().shape == SHAPE


def test_dicom_scan_index_same_size_same_mtime_pixels(tmp_path):
    # the scan index keeps headers; pixels are read from the files at compute: a pixel-only
    # rewrite with the stat put back is served fresh
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="uint16")
    lv.scan(tmp_path / "s")
    victim = Path(truth.files[3])
    data = bytearray(victim.read_bytes())
    data[-2:] = b"\x07\x07"
    _rewrite_keeping_stat(victim, bytes(data))
    np.testing.assert_array_equal(
        lv.open(tmp_path / "s", scale=False).compute(), _dicom_truth(tmp_path / "s")
    )


def test_dicom_scan_index_same_size_same_mtime_header(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="uint16")
    lv.scan(tmp_path / "s")
    # swap the positions of slices 1 and 4 (same string lengths: same file sizes)
    a, b = Path(truth.files[1]), Path(truth.files[4])
    da_, db_ = pydicom.dcmread(a), pydicom.dcmread(b)
    pa, pb = list(da_.ImagePositionPatient), list(db_.ImagePositionPatient)
    da_.ImagePositionPatient, db_.ImagePositionPatient = pb, pa
    for ds, p in ((da_, a), (db_, b)):
        ds.save_as(tmp_path / "x.dcm")
        _rewrite_keeping_stat(p, (tmp_path / "x.dcm").read_bytes())
    np.testing.assert_array_equal(
        lv.open(tmp_path / "s", scale=False).compute(), _dicom_truth(tmp_path / "s")
    )
