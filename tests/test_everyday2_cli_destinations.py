"""What ``convert`` says of a destination it cannot write:

- a destination under a file (``x.nii.gz/out.nii``) was said to be in a folder that "does not
  exist; create it first" (it exists, as a file); under a missing folder a ``.zarr`` got "cannot
  create a directory"; both are refused before the source is read, as ``references -o`` is;
- a sidecar collision told the Python keyword (``pass sidecars=False``), not the flag."""

from __future__ import annotations

import os

import pytest

from lazyvol.cli import main
from lazyvol.testing import write_dicom_series, write_phantom_nifti


@pytest.mark.parametrize("name", ["out.nii", "out.nii.gz", "out.zarr"])
def test_a_destination_under_a_file_is_refused_saying_so(tmp_path, capsys, name):
    src = str(write_phantom_nifti(tmp_path / "p.nii.gz", (4, 4, 3)))
    before = sorted(os.listdir(tmp_path))
    assert main(["-q", "convert", src, os.path.join(src, name)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(f"the folder {src} is a file, not a folder; choose another location")
    missing = tmp_path / "no" / "such"
    assert main(["-q", "convert", src, str(missing / name)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"the folder {missing} does not exist" in line
    assert sorted(os.listdir(tmp_path)) == before  # (nothing written, no temporary left)


def test_a_sidecar_collision_names_the_flag(tmp_path, capsys):
    write_dicom_series(tmp_path / "s", (6, 5, 3))
    (tmp_path / "ct.json").mkdir()  # a folder where the BIDS sidecar goes
    dst = str(tmp_path / "ct.nii")
    assert main(["-q", "convert", str(tmp_path / "s"), dst]) == 2
    err = capsys.readouterr().err
    assert "pass --no-sidecars" in err and "sidecars=False" not in err
    assert not os.path.exists(dst)
    assert main(["-q", "convert", str(tmp_path / "s"), dst, "--no-sidecars"]) == 0
    assert os.path.isfile(dst) and os.path.isdir(tmp_path / "ct.json")
