"""What ``convert`` says of a destination it cannot write: a sidecar collision told the Python
keyword (``pass sidecars=False``), not the flag."""

from __future__ import annotations

import os

from lazyvol.cli import main
from lazyvol.testing import write_dicom_series


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
