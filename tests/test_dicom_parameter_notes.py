"""A volume whose images state different RepetitionTime, InversionTime or FlipAngle values (a
slice re-acquired with another TR, two flip angles of a variable flip angle acquisition at the
same positions stacked along time, a first volume of longer TR) kept the volume and left the key
out of the sidecar without a word; dcm2niix writes one volume per TR and per flip angle. Now a
warning (and a note in the scan) names each value with its count of images."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

NOTE = "acquisition parameters differ between the images of this volume"


def _series(folder: Path, change: Any) -> Path:
    write_dicom_4d_series(folder, (6, 5, 4), n_volumes=2, modality="MR", shuffle_names=False)
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        ds.RepetitionTime, ds.InversionTime, ds.FlipAngle = "2000", "900", "90"
        change(ds)
        ds.save_as(path)
    return folder


def _open(folder: Path, out: Path) -> tuple[dict, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lv.open(folder).to_nifti(out)
    return json.loads(out.with_suffix(".json").read_text()), [str(w.message) for w in caught]


def _second_volume(ds: pydicom.Dataset) -> bool:
    return int(ds.InstanceNumber) > 4


CASES = [
    (
        "FlipAngle",
        # (one slice of each volume at another flip angle: whole volumes of each flip angle are
        # one volume per value instead, test_dicom_unseen_parameter_split)
        lambda ds: setattr(ds, "FlipAngle", "18" if int(ds.InstanceNumber) in (2, 6) else "4"),
        "FlipAngle (0018,1314): 4 degrees in 6 files, 18 degrees in 2 files",
    ),
    (
        "RepetitionTime",
        lambda ds: setattr(ds, "RepetitionTime", "2500" if int(ds.InstanceNumber) == 2 else "2000"),
        "RepetitionTime (0018,0080): 2 s in 7 files, 2.5 s in 1 file",
    ),
    (
        "InversionTime",
        lambda ds: setattr(ds, "InversionTime", "900.5" if int(ds.InstanceNumber) == 3 else "900"),
        "InversionTime (0018,0082): 0.9 s in 7 files, 0.9005 s in 1 file",
    ),
]


@pytest.mark.parametrize(("key", "change", "shown"), CASES, ids=[c[0] for c in CASES])
def test_a_parameter_differing_between_images_is_warned(tmp_path, key, change, shown):
    src = _series(tmp_path / "in", change)
    sidecar, caught = _open(src, tmp_path / "lz.nii")
    assert key not in sidecar
    assert [m for m in caught if NOTE in m and shown in m]
    info = lv.scan(src)[0]
    assert any(w.startswith(NOTE) for w in info.warnings)


def test_one_value_within_float_noise_is_written_without_a_note(tmp_path):
    src = _series(
        tmp_path / "in",
        lambda ds: setattr(ds, "FlipAngle", "90.0000001" if _second_volume(ds) else "90"),
    )
    sidecar, caught = _open(src, tmp_path / "lz.nii")
    assert sidecar["FlipAngle"] == 90 and sidecar["RepetitionTime"] == 2
    assert not [m for m in caught if NOTE in m]


def _enhanced(path: Path, key: str, values: tuple[float, float]) -> Path:
    """An enhanced MR file of 2 time points whose frames state ``key`` per frame
    (MRTimingAndRelatedParametersSequence), ``values[t]`` for time point t."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from lazyvol.testing import write_enhanced_dicom

    write_enhanced_dicom(path, (6, 5, 4), n_volumes=2)
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "Philips"
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        timing = Dataset()
        timing.RepetitionTime, timing.FlipAngle = 2000.0, 9.0
        setattr(timing, key, values[n // 4])
        item.MRTimingAndRelatedParametersSequence = DicomSequence([timing])
    ds.save_as(path)
    return path


@pytest.mark.parametrize("key", ["FlipAngle", "RepetitionTime"])
def test_the_note_on_an_enhanced_files_frames_says_what_dcm2niix_does(tmp_path, dcm2niix, key):
    """The frames of one enhanced file stating two flip angles (or TRs) are one volume in
    dcm2niix too (one file, its sidecar stating the last frame's value): the note said dcm2niix
    writes one volume per value and told the user to move the files of each value apart, which
    the frames of one file cannot be."""
    src = _enhanced(tmp_path / "in" / "e.dcm", key, (4.0, 18.0)).parent
    dcm2niix.run(src, tmp_path / "ref", sidecar=True, check=True)
    (ref,) = (tmp_path / "ref").glob("*.json")  # (one volume: no file per value)
    assert json.loads(ref.read_text())[key] in (18, 0.018)  # (the last frame's)
    sidecar, caught = _open(src, tmp_path / "lz.nii")
    assert key not in sidecar
    (note,) = [m for m in caught if NOTE in m]
    assert "keeps an enhanced file's frames in one volume" in note
    assert "move the files" not in note and "one volume per" not in note
    assert [w for w in lv.scan(src)[0].warnings if w.startswith(NOTE)] == [note[note.index(NOTE) :]]


def test_enhanced_files_of_one_value_each_keep_the_files_note(tmp_path):
    """Two enhanced files of one flip angle each, stacked along time: the values differ between
    files, which dcm2niix writes apart and which can be moved apart: the classic note."""
    for n, angle in enumerate((4.0, 18.0)):
        path = _enhanced(tmp_path / "in" / f"e{n}.dcm", "FlipAngle", (angle, angle))
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.{n + 1}"
        ds.InstanceNumber = n + 1
        for item in ds.PerFrameFunctionalGroupsSequence:
            item.FrameContentSequence[0].TemporalPositionIndex += 2 * n
        ds.save_as(path)
    _, caught = _open(tmp_path / "in", tmp_path / "lz.nii")
    (note,) = [m for m in caught if NOTE in m]
    assert "move the files of each value" in note and "enhanced" not in note
