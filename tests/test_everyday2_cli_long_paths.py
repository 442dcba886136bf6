"""A long path in a table cell (``info``'s folder column, ``cache list``'s source) was cut at its
end: rows of series in sibling folders under one deep root, or cached files of one archive, all
showed the same start (``.../2019/...``) and not the part that tells them apart. The end is kept."""

from __future__ import annotations

import json

from lazyvol.cli import main
from lazyvol.testing import write_dicom_series, write_phantom_nifti

DEEP = "archive_of_the_radiology_department/2019/subject_0001/session_01"


def _rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("#") and not line.startswith("# ")]


def test_the_folder_column_keeps_the_end_of_a_long_folder(tmp_path, capsys):
    for n, name in ((2, "series_0002_t1"), (3, "series_0003_t2")):
        write_dicom_series(tmp_path / DEEP / name, (6, 5, 3), series_number=n)
    assert main(["-q", "info", str(tmp_path)]) == 0
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == 2
    assert "/series_0002_t1" in rows[0]
    assert "series_0003_t2" in rows[1]
    assert main(["-q", "info", str(tmp_path), "--json"]) == 0  # (the JSON keeps it whole)
    folders = [r["folder"] for r in json.loads(capsys.readouterr().out)["series"]]
    assert folders == [f"{DEEP}/series_0002_t1", f"{DEEP}/series_0003_t2"]


def test_cache_list_keeps_the_end_of_a_long_source(tmp_path, capsys, monkeypatch):
    import lazyvol as lv

    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / DEEP).mkdir(parents=True)
    for name in ("t1_mprage.nii", "t2_flair.nii"):
        lv.open(write_phantom_nifti(tmp_path / DEEP / name, (4, 4, 3)), cache=True).compute()
    assert main(["cache", "list", "--kind", "zarr"]) == 0
    out = capsys.readouterr().out
    assert "/t1_mprage.nii" in out and "/t2_flair.nii" in out
