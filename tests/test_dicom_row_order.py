"""The order of the volumes of one SeriesInstanceUID in :func:`lazyvol.scan` (their ``#N``) is
decided by what tells them apart (echo, image type, orientation, index on a split 4th axis),
never by their files' names: the same files renamed give the same content at every row."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_dicom_series


def _echoes_time_series(d: Path) -> None:
    write_dicom_4d_series(d, (4, 3, 2), 2, echoes=3)


def _echoes_one_volume(d: Path) -> None:
    write_dicom_4d_series(d, (4, 3, 2), 1, echoes=3, labels=())


def _magnitude_phase(d: Path) -> None:
    write_dicom_4d_series(d, (4, 3, 2), components=["P", "M"], labels=())


def _orientations(d: Path) -> None:
    uid = "1.2.826.0.1.3680043.8.498.4242"
    for view in ("axial", "sagittal", "coronal"):
        write_dicom_series(d, (4, 3, 2), orientation=view, series_uid=uid, prefix=view[:2], seed=3)


# (writer, split_4d)
KINDS = {
    "echoes of a time series": (_echoes_time_series, False),
    "echoes of one volume, split_4d": (_echoes_one_volume, True),
    "time series, split_4d": (_echoes_time_series, True),
    "magnitude and phase": (_magnitude_phase, False),
    "orientations": (_orientations, False),
}


def _renamed(src: Path, dst: Path, how: str) -> Path:
    files = sorted(src.iterdir())
    if how == "reversed":
        names = [p.name for p in reversed(files)]
    else:
        names = [f"x{n:04d}" for n in range(len(files))]
        random.Random(how).shuffle(names)
    dst.mkdir()
    for p, name in zip(files, names, strict=True):
        shutil.copy(p, dst / name)
    return dst


def _rows(folder: Path, split_4d: bool) -> list[list[str]]:
    """Each row's SOPInstanceUIDs, as pydicom reads them from its files."""
    rows = lv.scan(folder, split_4d=split_4d, use_index=False)
    assert len(rows) > 1
    return [
        [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in info.files]
        for info in rows
    ]


@pytest.mark.parametrize("kind", list(KINDS))
def test_rows_do_not_depend_on_file_names(kind, tmp_path):
    write, split_4d = KINDS[kind]
    original = tmp_path / "orig"
    write(original)
    expected = _rows(original, split_4d)
    for how in ("reversed", "random 1", "random 2"):
        renamed = _renamed(original, tmp_path / how.replace(" ", "_"), how)
        assert _rows(renamed, split_4d) == expected, how


@pytest.mark.parametrize("split_4d", [False, True])
def test_echo_rows_in_echo_order(split_4d, tmp_path):
    """Row N is echo N + 1 (EchoNumbers read by pydicom), whatever the names."""
    write_dicom_4d_series(tmp_path / "me", (4, 3, 2), 1 if split_4d else 2, echoes=3, labels=())
    folder = _renamed(tmp_path / "me", tmp_path / "renamed", "reversed")
    for n, info in enumerate(lv.scan(folder, split_4d=split_4d, use_index=False)):
        echoes = {int(pydicom.dcmread(f, stop_before_pixels=True).EchoNumbers) for f in info.files}
        assert echoes == {n + 1}
        vol = lv.open(folder, series=f"#{n}", split_4d=split_4d, use_index=False)
        assert vol.meta["series_id"] == info.id
