"""Something other than a regular file where a ``.nii.gz``'s saved seek index is looked for (the
cache directory may be shared): never a hang, never a changed read; the image reads as without
an index, and a later index is saved. A FIFO there blocked the open of the index until a writer
came (the read never returned)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import gzaccess
from lazyvol.nifti import clear_gzip_handles

SHAPE = (16, 12, 10)


def _image(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(3).integers(-500, 500, size=SHAPE).astype(np.int16)
    path = tmp_path / "img.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path, data


def _index_path(path: Path) -> Path:
    where = gzaccess.index_path(gzaccess.GzSource.of(str(path), 0))
    where.parent.mkdir(parents=True, exist_ok=True)
    return where


def _reads(path: Path, data: np.ndarray) -> None:
    clear_gzip_handles()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (an index that cannot be saved)
        vol = lv.open(path)
        np.testing.assert_array_equal(vol[:, :, -1:].compute(), data[:, :, -1:])
        np.testing.assert_array_equal(vol.compute(), data)
        clear_gzip_handles()
        np.testing.assert_array_equal(vol[:, ::3, 4:5].compute(), data[:, ::3, 4:5])


def _plant_fifo(where: Path) -> None:
    os.mkfifo(where)


def _plant_device_link(where: Path) -> None:
    where.symlink_to("/dev/zero")


def _plant_fifo_link(where: Path) -> None:
    os.mkfifo(str(where) + ".fifo")
    where.symlink_to(str(where) + ".fifo")


def _plant_dangling_link(where: Path) -> None:
    where.symlink_to(where.parent / "missing")


PLANTS = {
    "fifo": _plant_fifo,
    "link-to-fifo": _plant_fifo_link,
    "link-to-device": _plant_device_link,
    "dangling-link": _plant_dangling_link,
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("plant", sorted(PLANTS))
@pytest.mark.parametrize("engine", ["", "indexed_gzip"])
def test_a_non_file_at_the_index_path_is_no_index(
    tmp_path: Path, plant: str, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine:
        monkeypatch.setenv("LAZYVOL_GZIP_ENGINE", engine)
    path, data = _image(tmp_path)
    where = _index_path(path)
    PLANTS[plant](where)
    # In a fresh interpreter: before the fix the open of a FIFO blocked for ever.
    code = f"""
import numpy as np, lazyvol as lv
vol = lv.open({str(path)!r})
print(int(vol[:, :, -1:].compute().sum()), int(vol.compute().sum()))
"""
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path.name} hung with a {plant} at its index path")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(int(data[:, :, -1:].sum())), str(int(data.sum()))]
    _reads(path, data)  # and in this process, with whatever the first pass left there
    assert where.is_file() and not where.is_symlink()  # a real index replaced it


def test_a_folder_at_the_index_path_is_no_index(tmp_path: Path) -> None:
    path, data = _image(tmp_path)
    _index_path(path).mkdir()
    _reads(path, data)
