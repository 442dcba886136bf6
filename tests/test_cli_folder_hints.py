"""CLI hints on DICOM folders: a --mask folder of several volumes, NIfTI files beside DICOM."""

from __future__ import annotations

from lazyvol.cli import main as cli_main
from lazyvol.testing import write_dicom_series


def test_mask_folder_of_several_volumes_names_the_mask(capsys, tmp_path, monkeypatch):
    """The mask's 'holds N volumes' refusal said 'choose one with --series', but --series
    chooses the source's volume, never the mask's: following the hint failed the same way."""
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    study = tmp_path / "study"
    write_dicom_series(study / "a", (6, 5, 4), series_number=2)
    write_dicom_series(study / "b", (6, 5, 4), series_number=3)
    code = cli_main(["stats", "-q", str(study), "--series", "2", "--mask", str(study)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (out, err)
    assert err.startswith("lazyvol: error: --mask "), err
    assert "holds 2 volumes" in err and "choose one with --series" not in err, err
    # the mask's volumes are listed, to choose N from (they were not: 'N' named no candidate)
    assert "N is one of:" in err and "number=2" in err and "number=3" in err, err
    assert "lazyvol convert" in err and "mask.nii.gz" in err, err
    # the hint works: the mask written to a file is taken
    assert cli_main(["convert", "-q", str(study), str(tmp_path / "m.nii.gz"), "--series", "2"]) == 0
    capsys.readouterr()
    argv = ["stats", "-q", str(study), "--series", "2", "--mask", str(tmp_path / "m.nii.gz")]
    assert cli_main(argv) == 0, capsys.readouterr()


def test_info_table_names_nifti_files_beside_the_dicom_volumes(capsys, tmp_path, monkeypatch):
    """A folder of DICOM files and NIfTI conversions beside them (a dcm2niix output folder next
    to its input): the table counted the NIfTI files as 'not a DICOM file' only; it now says to
    open them by path, as the refusal of a folder holding NIfTI files only does."""
    from lazyvol.testing import write_phantom_nifti

    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    write_dicom_series(tmp_path / "d" / "a", (6, 5, 4), series_number=2)
    write_dicom_series(tmp_path / "d" / "b", (6, 5, 4), series_number=3)
    write_phantom_nifti(tmp_path / "d" / "a.nii.gz", (4, 4, 3))
    assert cli_main(["info", "-q", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "not a DICOM file" in out, out
    assert "it holds 1 NIfTI file(s)" in out and "a.nii.gz" in out and "own path" in out, out
    assert cli_main(["info", "-q", str(tmp_path / "d" / "a")]) == 0  # nothing beside: no hint
    assert "NIfTI" not in capsys.readouterr().out
