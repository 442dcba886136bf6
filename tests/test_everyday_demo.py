"""``python -m lazyvol.demo`` as a newcomer runs it: again into the same folder (another size),
with sizes it cannot make, and with an ``--out`` that is a file or someone else's folder. Each
ends in the demo's output or a one-line usage error (status 2), never a traceback; what the demo
did not write is never touched."""

from __future__ import annotations

import nibabel as nib
import pytest

from lazyvol.demo import main


def test_running_again_into_the_same_folder_replaces_the_first_run(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["--out", str(out), "--size", "12"]) == 0
    # (a second run stopped at its DICOM output: 'file exists' WriteError; with another size its
    # series folder mixed two series' files)
    assert main(["--out", str(out), "--size", "8"]) == 0
    printed = capsys.readouterr().out
    assert nib.load(out / "phantom.nii.gz").shape == (8, 8, 8)
    assert nib.load(out / "dicom_as.nii.gz").shape == (8, 8, 4)
    assert len(list((out / "dicom").iterdir())) == 4
    assert "DICOM volume: <lazyvol.Volume shape=(8, 8, 4)" in printed


@pytest.mark.parametrize("size", ["0", "1", "-5", "100000", "1.5"])
def test_a_size_it_cannot_make_is_a_usage_error(tmp_path, size, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "demo"), "--size", size])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --size" in err and size in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "demo").exists()


def test_out_that_is_a_file_or_a_foreign_folder_is_refused_untouched(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    foreign = tmp_path / "study"
    foreign.mkdir()
    (foreign / "dicom").mkdir()
    (foreign / "dicom" / "IM0001.dcm").write_bytes(b"x" * 200)
    (foreign / "phantom.nii.gz").write_bytes(b"mine too")
    for out, words in (
        (a_file, "is not a folder"),
        (foreign, "holds files the demo did not write"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["--out", str(out), "--size", "4"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert f"--out {out}: {words}" in err, err
    assert a_file.read_text() == "mine"
    assert sorted(p.name for p in foreign.rglob("*")) == ["IM0001.dcm", "dicom", "phantom.nii.gz"]
    assert (foreign / "phantom.nii.gz").read_bytes() == b"mine too"
