"""A leading ``~`` in a local path is the home folder, as nibabel (``load``, ``save``) and fsspec
take it: a script written for nibabel keeps working with lazyvol."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_phantom_nifti


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def test_open_expands_a_leading_tilde_as_nibabel_does(home) -> None:
    write_phantom_nifti(str(home / "a.nii.gz"), (9, 8, 7))
    ref = nib.load("~/a.nii.gz")  # nibabel expands it
    vol = lv.open("~/a.nii.gz")
    np.testing.assert_array_equal(vol.compute(), np.asarray(ref.dataobj))
    np.testing.assert_allclose(vol.affine, ref.affine)


def test_a_dicom_folder_under_a_tilde_path_is_scanned(home) -> None:
    write_dicom_series(str(home / "ct"), (8, 8, 5))
    direct = lv.open(str(home / "ct"))
    vol = lv.open("~/ct")
    np.testing.assert_array_equal(vol.compute(), direct.compute())
    assert len(lv.scan("~/ct")) == 1


@pytest.mark.parametrize("name", ["~/out.nii.gz", "~/out.zarr"])
def test_writers_write_a_tilde_path_into_the_home_folder(home, tmp_path, name) -> None:
    src = lv.open(write_phantom_nifti(str(tmp_path / "src.nii.gz"), (9, 8, 7)))
    written = src.to_nifti(name) if name.endswith(".nii.gz") else src.to_zarr(name)
    target = home / name[2:]
    assert target.exists()
    assert not (tmp_path / "~").exists()
    assert str(written) == str(target)
    np.testing.assert_array_equal(lv.open(str(target)).compute(), src.compute())
    if name.endswith(".nii.gz"):
        np.testing.assert_array_equal(np.asarray(nib.load(name).dataobj), src.compute())
