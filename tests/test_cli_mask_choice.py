"""``lazyvol stats --mask`` naming a DICOM folder of several volumes."""

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
    assert err.startswith("lazyvol: error: --mask ") and len(err.strip().splitlines()) == 1, err
    assert "holds 2 volumes" in err and "choose one with --series" not in err, err
    assert "lazyvol convert" in err and "mask.nii.gz" in err, err
    # the hint works: the mask written to a file is taken
    assert cli_main(["convert", "-q", str(study), str(tmp_path / "m.nii.gz"), "--series", "2"]) == 0
    capsys.readouterr()
    argv = ["stats", "-q", str(study), "--series", "2", "--mask", str(tmp_path / "m.nii.gz")]
    assert cli_main(argv) == 0, capsys.readouterr()
