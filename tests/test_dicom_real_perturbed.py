"""Real scanner series (``../shared/dicom-real``) damaged the way users' folders are: what lazyvol
says about each, checked against pydicom's reading of the files (skipped without the data, as
``test_dicom_realdata.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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


MOSAIC = REAL / "dcm_qa_mosaic" / "In" / "ep2d_Asc_2"
#: (series folder, dcm2niix's reference conversion of it as exported)
_REAL_SERIES = {
    "ge-slices": (GE_FMRI, REAL / "dcm_qa_nih" / "Ref" / "DCM2NIIX_regression_test_4.nii"),
    "siemens-mosaic": (MOSAIC, REAL / "dcm_qa_mosaic" / "Ref" / "2_ep2d_Asc.nii"),
}


def _rewrite(files: list[Path], change: Any) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        change(ds)
        ds.save_as(f)


def _blank(ds: pydicom.Dataset) -> None:
    """An anonymiser's damage: patient attributes blanked; SeriesNumber, SliceLocation,
    AcquisitionTime and ContentTime removed; ImagePositionPatient written with extra digits."""
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName"):
        if kw in ds:
            ds[kw].value = ""
    for kw in ("SeriesNumber", "SliceLocation", "AcquisitionTime", "ContentTime"):
        if kw in ds:
            del ds[kw]
    ds.ImagePositionPatient = [f"{float(v) + 3e-6:.9f}"[:16] for v in ds.ImagePositionPatient]


def _folder(kind: str, src: Path, dst: Path) -> None:
    """``src``'s files as a user's folder may hold them (``kind``)."""
    import random

    rng = random.Random(kind)
    files = _copy_by_instance(src, dst / "tmp")
    if kind == "dicomdir":  # PT000000/ST000000/SE000000/IM000000 ..., no extensions, DICOMDIR
        from pydicom.fileset import FileSet

        fs = FileSet()
        for f in files:
            fs.add(str(f))
        fs.write(str(dst / "media"))
    else:
        for n, f in enumerate(files):
            sub = dst.joinpath(*[f"d{rng.randint(0, 2)}" for _ in range(n % 3)])
            sub.mkdir(parents=True, exist_ok=True)
            shutil.move(f, sub / f"{rng.getrandbits(48):012x}")
        (dst / "Thumbs.db").write_bytes(bytes(rng.getrandbits(8) for _ in range(999)))
        (dst / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(500))
        (dst / "notes.txt").write_text("subject moved in run 2\n")
        (dst / "empty.dcm").write_bytes(b"")
        renamed = sorted(p for p in dst.rglob("*") if p.is_file() and len(p.name) == 12)
        if kind == "anonymised":
            _rewrite(renamed, _blank)
        shutil.copyfile(renamed[3], dst / "copy_of_one")  # (the same SOPInstanceUID again)
    shutil.rmtree(dst / "tmp")


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real DICOM data not found at {REAL}")
@pytest.mark.parametrize("kind", ["renamed-nested-junk", "dicomdir", "anonymised"])
@pytest.mark.parametrize("series", sorted(_REAL_SERIES))
def test_real_series_in_a_messy_folder_still_match_dcm2niix(
    tmp_path: Path, series: str, kind: str
) -> None:
    """A real series renamed at random without extensions, nested in sub-folders beside
    non-DICOM files, an empty .dcm and a copy of one file (or behind a DICOMDIR in its media
    layout), optionally anonymised: one volume, equal in geometry and values to dcm2niix's
    conversion of the series as exported (found agreeing by the perturbation harness; kept as
    a guard)."""
    from test_dicom_realdata import compare_with_reference

    src, ref = _REAL_SERIES[series]
    if not src.is_dir() or not ref.exists():
        pytest.skip(f"{src} or {ref} not found")
    _folder(kind, src, tmp_path / "in")
    (info,) = lv.scan(tmp_path / "in", use_index=False)
    assert info.error is None, info.error
    vol = lv.open(tmp_path / "in", use_index=False)
    compare_with_reference(vol, ref)


@pytest.mark.skipif(not GE_FMRI.is_dir(), reason=f"real GE data not found under {REAL}")
def test_real_ge_slices_each_under_a_new_series_uid_are_said_so(tmp_path: Path) -> None:
    """The first volume of the real GE fMRI, each file given its own SeriesInstanceUID (an
    anonymiser's damage; dcm2niix then writes 15 files too): the listing of 15 one-image volumes
    now says why (SeriesNumber and description as pydicom reads them)."""
    from pydicom.uid import generate_uid

    files = _copy_by_instance(GE_FMRI, tmp_path / "in")
    for f in files[15:]:
        f.unlink()
    _rewrite(files[:15], lambda ds: setattr(ds, "SeriesInstanceUID", generate_uid()))
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    with pytest.raises(lv.MultipleSeriesError) as exc:
        lv.open(tmp_path / "in", use_index=False)
    text = str(exc.value)
    alike = f"SeriesNumber {ds.SeriesNumber}, description {str(ds.SeriesDescription)!r}"
    assert f"15 of them are single images alike ({alike}, 64x64)" in text, text
