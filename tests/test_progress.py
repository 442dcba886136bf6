"""One progress style: real units (files, slices, bytes), no per-task counts, no 'level 0'."""

from __future__ import annotations

import dask.array as da
import numpy as np

import lazyvol as lv
from lazyvol.progress import DaskProgress, NullBar, bar
from lazyvol.testing import write_dicom_series, write_phantom_nifti


def _final(err: str) -> str:
    return err.replace("\r", "\n")


def test_bar_off_and_on(capsys):
    assert isinstance(bar(10, desc="x", unit="files", enabled=False), NullBar)
    b = bar(3, desc="reading", unit="files")
    for _ in range(3):
        b.update(1)
    b.refresh()
    b.close()
    err = _final(capsys.readouterr().err)
    assert "reading" in err and "3/3 files" in err


def test_dask_progress_counts_bytes(capsys):
    x = da.ones((64, 64, 32), chunks=(64, 64, 4), dtype="float32")
    with DaskProgress("summing", x.nbytes):
        assert float(x.sum().compute()) == 64 * 64 * 32
    err = _final(capsys.readouterr().err)
    assert "summing" in err and "100%" in err
    assert "512kB/512kB" in err  # 64*64*32*4 bytes = 512 KiB
    assert "task" not in err and "it/s" not in err


def test_commands_progress_units(tmp_path, capsys):
    path = write_phantom_nifti(tmp_path / "p.nii", (32, 32, 24), dtype="int16")
    vol = lv.open(path)
    lv.stats(vol, progress=True)
    vol.to_nifti(tmp_path / "o.nii", progress=True)
    vol.to_zarr(tmp_path / "o.zarr", progress=True, levels=2)
    write_dicom_series(tmp_path / "dcm", (8, 8, 5))
    lv.scan(tmp_path / "dcm", progress=True, use_index=False)
    err = _final(capsys.readouterr().err)
    assert "24/24 slices" in err  # to_nifti counts slices
    assert "5/5 files" in err  # scan counts files
    assert "level 0" not in err and "pyramid level 1" in err
    assert "task" not in err and "slab" not in err
    np.testing.assert_array_equal(lv.open(tmp_path / "o.nii").compute(), vol.compute())
