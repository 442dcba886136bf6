"""Two runs of one protocol under one SeriesInstanceUID (a PACS or anonymiser that reused the UID),
numbered alike (InstanceNumber 1.. in each, as GE numbers one-file-per-slice fMRI): no rule orders
their volumes, so the series is refused (dcm2niix stacks them interleaved, run 1 and run 2 volume
by volume). The refusal listed the rules tried but named no remedy; it now says the images look
like runs, by which attribute, and to move each run's files to a folder of its own."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

SHAPE = (16, 12, 5)


def _two_runs(tmp_path, label: str):
    runs = []
    for run in (1, 2):
        truth = write_dicom_4d_series(
            tmp_path / "s" / f"run{run}", SHAPE, 3, labels=(), series_uid="1.2.3.4.5", seed=run
        )
        for f in truth.files:
            ds = pydicom.dcmread(f)
            ds.SOPInstanceUID = f"1.2.3.4.5.{run}.{ds.InstanceNumber}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            if label == "AcquisitionNumber":
                ds.AcquisitionNumber = run
            else:
                ds.AcquisitionTime = f"1{run}0000"
            ds.save_as(f)
        runs.append(truth)
    return runs


@pytest.mark.parametrize("label", ["AcquisitionNumber (0020,0012)", "AcquisitionTime (0008,0032)"])
def test_two_runs_under_one_uid_are_refused_naming_the_runs_and_the_remedy(tmp_path, label):
    runs = _two_runs(tmp_path, label.split()[0])
    with pytest.raises(lv.SeriesError) as err:
        lv.open(tmp_path / "s")
    assert f"2 runs under one SeriesInstanceUID, told apart by {label}" in str(err.value)
    assert "(15 images)" in str(err.value) and "folder of its own" in str(err.value)
    shutil.move(tmp_path / "s" / "run2", tmp_path / "run2")  # the remedy
    for folder, truth in ((tmp_path / "s", runs[0]), (tmp_path / "run2", runs[1])):
        np.testing.assert_array_equal(lv.open(folder).compute(), truth.stored)


def test_one_run_whose_images_repeat_a_label_is_not_called_runs(tmp_path):
    """Images numbered alike at every position with one AcquisitionNumber (a GE series whose
    InstanceNumbers were all set to 1): no runs note."""
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=())
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.InstanceNumber = 1
        ds.AcquisitionNumber = 1
        ds.save_as(f)
    with pytest.raises(lv.SeriesError) as err:
        lv.open(tmp_path / "s")
    assert "runs under one SeriesInstanceUID" not in str(err.value)


def test_two_mosaic_runs_under_one_uid_stacked_one_after_the_other_are_warned(tmp_path):
    """Mosaic runs (one file a time point) under one SeriesInstanceUID, each numbering its files
    1..: the volumes stack run after run by AcquisitionNumber (here the second run's continue the
    first's; no AcquisitionTime), with no word; now a warning that several series may be
    stacked as one, naming the numbering."""
    from lazyvol.testing.mosaic import write_mosaic_series

    first = write_mosaic_series(tmp_path / "s" / "a", (8, 6, 4), volumes=3, seed=0)
    second = write_mosaic_series(tmp_path / "s" / "b", (8, 6, 4), volumes=3, seed=1)
    head = pydicom.dcmread(first.files[0])
    for n, f in enumerate(first.files + second.files):
        ds = pydicom.dcmread(f)
        for key in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID", "PatientID"):
            if key in head:
                setattr(ds, key, getattr(head, key))
        ds.InstanceNumber = n % 3 + 1
        ds.AcquisitionNumber = n + 1
        for key in ("AcquisitionTime", "ContentTime"):
            if key in ds:
                delattr(ds, key)
        ds.save_as(f)
    with pytest.warns(RuntimeWarning, match="several series may be stacked as one") as caught:
        vol = lv.open(tmp_path / "s")
    (note,) = [str(w.message) for w in caught if "several series" in str(w.message)]
    assert "numbers the files 2 times over (1..3, each number in 2 files)" in note
    both = np.concatenate([first.stored, second.stored], axis=-1)
    np.testing.assert_array_equal(vol.compute(), both)


def test_one_mosaic_run_numbered_once_is_not_warned(tmp_path):
    from lazyvol.testing.mosaic import write_mosaic_series

    write_mosaic_series(tmp_path / "s", (8, 6, 4), volumes=3)
    vol = lv.open(tmp_path / "s")
    assert not any("several series" in w for w in vol.meta.get("warnings") or [])
