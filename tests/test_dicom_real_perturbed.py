"""Real scanner series (``../shared/dicom-real``) damaged the way users' folders are: what lazyvol
says about each, checked against pydicom's reading of the files (skipped without the data, as
``test_dicom_realdata.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from test_dicom_realdata import REAL

pytestmark = pytest.mark.usefixtures("dicom_cache")

GE_FMRI = REAL / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0004"


def _copy_by_instance(src: Path, dst: Path) -> list[Path]:
    """The series' files copied into ``dst`` (writable), in InstanceNumber order."""
    dst.mkdir(parents=True)
    files = []
    for f in src.glob("*.dcm"):
        shutil.copyfile(f, dst / f.name)
        files.append(dst / f.name)
    return sorted(
        files, key=lambda f: int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber)
    )


@pytest.mark.skipif(not GE_FMRI.is_dir(), reason=f"real GE data not found under {REAL}")
def test_real_ge_fmri_with_a_file_lost_inside_names_its_instance_number(tmp_path: Path) -> None:
    """A GE fMRI (15 slices x 10 volumes, one file per slice, volumes told apart by
    InstanceNumber only) with one file of its 6th volume lost: dcm2niix writes one 149-slice
    3D image ("Check sorted order"); lazyvol refuses. The refusal gave the usual causes (mixed
    acquisitions, PET beds: move each into a folder of its own); it now names the InstanceNumber
    missing (read back with pydicom) and says to restore it."""
    files = _copy_by_instance(GE_FMRI, tmp_path / "in")
    lost = 78  # (InstanceNumber 79: volume 6, slice 4)
    number = int(pydicom.dcmread(files[lost], stop_before_pixels=True).InstanceNumber)
    files[lost].unlink()
    with pytest.raises(lv.SeriesError) as e:
        lv.open(tmp_path / "in", use_index=False)
    text = str(e.value)
    assert f"InstanceNumber (0020,0013) skips {number}: 1 number for the 1 image" in text, text
    assert "restore them" in text and "mixed acquisitions" not in text, text


GE_OTHER = REAL / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0007"


@pytest.mark.skipif(not GE_OTHER.is_dir(), reason=f"real GE data not found under {REAL}")
def test_real_ge_runs_under_one_series_uid_without_a_number_are_said_stacked(
    tmp_path: Path,
) -> None:
    """The first volume of two real GE fMRI series (interleaved I to S, sequential S to I) put
    under one SeriesInstanceUID with their SeriesNumbers left out: lazyvol stacks them as two
    time points (dcm2niix mixes them too, "Check sorted order"). The only note was a volume
    missing by NumberOfTemporalPositions; the volume now says several series may be stacked as
    one, naming both SeriesDescriptions as pydicom reads them."""
    folder = tmp_path / "in"
    runs = [_copy_by_instance(src, folder / src.name)[:15] for src in (GE_FMRI, GE_OTHER)]
    uid = pydicom.dcmread(runs[0][0], stop_before_pixels=True).SeriesInstanceUID
    for files in runs:
        for f in files:
            ds = pydicom.dcmread(f)
            ds.SeriesInstanceUID = uid
            del ds.SeriesNumber
            ds.save_as(f)
        for f in set((folder / files[0].parent.name).iterdir()) - set(files):
            f.unlink()  # (the later volumes: one volume of each run)
    texts = [str(pydicom.dcmread(r[0], stop_before_pixels=True).SeriesDescription) for r in runs]
    assert texts[0] != texts[1]
    with pytest.warns(RuntimeWarning, match="several series may be stacked as one") as rec:
        vol = lv.open(folder, use_index=False)
    assert vol.shape == (64, 64, 15, 2)
    (note,) = [str(w.message) for w in rec if "SeriesDescription (0008,103E)" in str(w.message)]
    assert all(f"{t!r} in 15 files" in note for t in texts), note
