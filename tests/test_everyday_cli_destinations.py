"""``lazyvol convert SRC DST`` with a destination a dcm2niix user would give: an output folder
(dcm2niix's ``-o``), or a NIfTI name with a trailing ``/``. The folder was refused as an
"unknown output format"; the ``x.nii.gz/`` wrote the file ``x.nii.gz``. Both are refused now,
saying what to give, and nothing is written."""

from __future__ import annotations

import os

from lazyvol.cli import main
from lazyvol.testing import write_phantom_nifti


def test_an_output_folder_is_refused_naming_a_file_to_give(tmp_path, capsys):
    src = write_phantom_nifti(tmp_path / "p.nii.gz", (6, 5, 4))
    out = tmp_path / "converted"
    out.mkdir()
    for dst in (str(out), str(out) + "/"):
        assert main(["-q", "convert", str(src), dst]) == 2
        err = capsys.readouterr().err
        assert f"{dst}: is a folder; give the file to write in it" in err, err
        assert os.path.join(dst, "volume.nii.gz") in err, err
    assert os.listdir(out) == []


def test_a_nifti_name_with_a_trailing_slash_is_refused(tmp_path, capsys):
    src = write_phantom_nifti(tmp_path / "p.nii.gz", (6, 5, 4))
    for name in ("x.nii.gz/", "x.nii/"):
        assert main(["-q", "convert", str(src), f"{tmp_path}/{name}"]) == 2
        err = capsys.readouterr().err
        assert "a NIfTI destination is a file, not a folder; drop the trailing '/'" in err, err
    assert sorted(os.listdir(tmp_path)) == ["p.nii.gz"]
