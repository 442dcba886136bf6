"""An MR 4D series whose volumes are not evenly spaced in acquisition time says so (a Python
warning at open, the scan report's warnings): a volume missing with InstanceNumber renumbered
(as anonymisers do), two runs of one protocol sharing a SeriesInstanceUID, a volume acquired
again. The images still stack in time order; RepetitionTime alone would describe a regular
series. Evenly spaced series (and the jitter of whole-second times) do not warn."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import dicom_time, write_dicom_4d_series, write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

#: How the note begins (lazyvol.dicom.model.UNEVEN_VOLUMES_NOTE).
UNEVEN_VOLUMES_NOTE = "volumes not evenly spaced in acquisition time"


def _open(folder: Path) -> tuple[lv.Volume, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = lv.open(folder, use_index=False)
    return vol, [str(w.message) for w in caught]


def _uneven(messages: list[str]) -> list[str]:
    return [m for m in messages if UNEVEN_VOLUMES_NOTE in m]


def _renumber(files: list[Path]) -> None:
    """InstanceNumber and AcquisitionNumber 1..n in acquisition order, as an anonymiser does."""
    for n, f in enumerate(sorted(files, key=lambda p: pydicom.dcmread(p).AcquisitionTime), 1):
        ds = pydicom.dcmread(f)
        ds.InstanceNumber = n
        ds.AcquisitionNumber = n
        ds.save_as(f, enforce_file_format=False)


def test_missing_volume_renumbered(tmp_path: Path) -> None:
    write_mosaic_series(tmp_path, volumes=6, repetition_ms=2000.0)
    files = sorted(tmp_path.glob("*.dcm"))
    files[2].unlink()
    _renumber(files[:2] + files[3:])
    vol, messages = _open(tmp_path)
    assert vol.shape[3] == 5
    (note,) = _uneven(messages)
    assert "volume 1 to 2: 4 s" in note and "2 s apart" in note
    assert any(UNEVEN_VOLUMES_NOTE in w for w in lv.scan(tmp_path, use_index=False)[0].warnings)


def test_two_runs_sharing_a_series_uid(tmp_path: Path) -> None:
    truth = write_dicom_4d_series(tmp_path / "a", n_volumes=3, seed=1)
    run2 = write_dicom_4d_series(tmp_path / "b", n_volumes=3, seed=2, series_uid=truth.series_uid)
    for f in run2.files:  # the second run 10 minutes later, its own AcquisitionNumber
        ds = pydicom.dcmread(f)
        t = str(ds.AcquisitionTime)
        secs = int(t[:2]) * 3600 + int(t[2:4]) * 60 + float(t[4:]) + 600
        ds.AcquisitionTime = dicom_time(secs)
        ds.AcquisitionNumber = 2
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = int(ds.InstanceNumber) + 1000
        ds.save_as(f, enforce_file_format=False)
    vol, messages = _open(tmp_path)
    assert vol.shape[3] == 6
    (note,) = _uneven(messages)
    assert "volume 2 to 3" in note and "SeriesInstanceUID" in note and "vol[..., a:b]" in note


def test_even_series_does_not_warn(tmp_path: Path) -> None:
    write_mosaic_series(tmp_path / "m", volumes=5)
    write_dicom_4d_series(tmp_path / "s", n_volumes=5)
    for d in ("m", "s"):
        vol, messages = _open(tmp_path / d)
        assert vol.shape[3] == 5 and not _uneven(messages), messages


def test_whole_second_jitter_does_not_warn(tmp_path: Path) -> None:
    """Times written to the whole second (GE) jitter by up to 1 s around a 2.5 s repetition."""
    write_mosaic_series(tmp_path, volumes=5, repetition_ms=2500.0)
    for f in tmp_path.glob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.AcquisitionTime = str(ds.AcquisitionTime).partition(".")[0]
        ds.save_as(f, enforce_file_format=False)
    vol, messages = _open(tmp_path)
    assert vol.shape[3] == 5 and not _uneven(messages), messages


def test_a_cut_of_one_run_drops_the_note(tmp_path: Path) -> None:
    """The note's remedy: cutting the 4th axis to one run's volumes leaves no uneven-time note
    in the cut's meta; a cut still spanning both runs keeps it."""
    write_mosaic_series(tmp_path, volumes=6, repetition_ms=2000.0)
    files = sorted(tmp_path.glob("*.dcm"))
    files[2].unlink()
    _renumber(files[:2] + files[3:])
    vol, _ = _open(tmp_path)
    assert _uneven(vol.meta["warnings"])
    assert not _uneven(vol[..., 2:].meta.get("warnings", []))
    assert _uneven(vol[..., 1:4].meta["warnings"])


def test_label_order_contradicted_by_acquisition_time_warns(tmp_path: Path) -> None:
    """An anonymiser renumbered AcquisitionNumber and InstanceNumber alike (here: reversed) but
    kept AcquisitionTime: the volumes are stacked by AcquisitionNumber (a label comes first; so
    does dcm2niix, by InstanceNumber), silently against their times. Now the order doubt is a
    warning naming AcquisitionTime and the permutation."""
    write_mosaic_series(tmp_path, volumes=4)
    files = sorted(tmp_path.glob("*.dcm"), key=lambda f: pydicom.dcmread(f).AcquisitionTime)
    for t, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.AcquisitionNumber = ds.InstanceNumber = len(files) - t
        ds.save_as(f, enforce_file_format=False)
    vol, messages = _open(tmp_path)
    assert vol.meta["axis4_rule"].startswith("AcquisitionNumber")
    doubt = [m for m in messages if "AcquisitionTime (0008,0032) ranks them otherwise" in m]
    assert doubt and "[3, 2, 1, 0]" in doubt[0], messages


def test_label_order_agreeing_with_time_does_not_warn(tmp_path: Path) -> None:
    write_mosaic_series(tmp_path, volumes=4)
    vol, messages = _open(tmp_path)
    assert vol.meta["axis4_rule"].startswith("AcquisitionNumber")
    assert not [m for m in messages if "ranks them otherwise" in m], messages


def test_a_cut_of_one_run_of_whole_second_times_drops_the_note(tmp_path: Path) -> None:
    """The note's remedy with times written to the whole second (GE): the cut's check took
    them as exact, so the jitter of a 2.5 s repetition (2 s, 3 s) kept the note on one run."""
    write_mosaic_series(tmp_path, volumes=8, repetition_ms=2500.0)
    files = sorted(tmp_path.glob("*.dcm"), key=lambda p: pydicom.dcmread(p).AcquisitionTime)
    files[2].unlink()
    _renumber(files[:2] + files[3:])
    for f in files[:2] + files[3:]:
        ds = pydicom.dcmread(f)
        ds.AcquisitionTime = str(ds.AcquisitionTime).partition(".")[0]
        ds.save_as(f, enforce_file_format=False)
    vol, _ = _open(tmp_path)
    assert _uneven(vol.meta["warnings"])
    assert not _uneven(vol[..., 2:].meta.get("warnings", []))
    assert _uneven(vol[..., 1:4].meta["warnings"])


def test_a_cut_spanning_a_missing_volume_of_a_1s_repetition_keeps_the_note(tmp_path: Path) -> None:
    """Times written with fractions (HHMMSS.FFFFFF) 1 s apart: the cut's check took them for
    whole seconds (every stamp a whole second from the first), so a missing volume's 2 s
    interval passed within 1 s of the usual one and a cut spanning it dropped the note (it kept
    it before 5add16e). The check at open takes the written digits; so does the cut now."""
    write_mosaic_series(tmp_path, volumes=6, repetition_ms=1000.0)
    files = sorted(tmp_path.glob("*.dcm"), key=lambda p: pydicom.dcmread(p).AcquisitionTime)
    assert "." in str(pydicom.dcmread(files[0]).AcquisitionTime)
    files[2].unlink()
    _renumber(files[:2] + files[3:])
    vol, _ = _open(tmp_path)
    assert _uneven(vol.meta["warnings"])
    assert _uneven(vol[..., 0:4].meta["warnings"])
    assert not _uneven(vol[..., 2:].meta.get("warnings", []))


def test_a_pause_by_design_is_named_among_the_causes(tmp_path: Path) -> None:
    """A dynamic contrast series pauses between its pre- and post-contrast volumes on purpose
    (so do an M0 volume, a TR per b-value, a clustered design): the note named only damage (a
    volume missing, acquired again, runs sharing a UID)."""
    write_mosaic_series(tmp_path, volumes=6, repetition_ms=2000.0)
    files = sorted(tmp_path.glob("*.dcm"), key=lambda p: pydicom.dcmread(p).AcquisitionTime)
    for f in files[2:]:  # 60 s for the injection after two pre-contrast volumes
        ds = pydicom.dcmread(f)
        t = str(ds.AcquisitionTime)
        secs = int(t[:2]) * 3600 + int(t[2:4]) * 60 + float(t[4:]) + 60
        ds.AcquisitionTime = dicom_time(secs)
        ds.save_as(f, enforce_file_format=False)
    _vol, messages = _open(tmp_path)
    (note,) = _uneven(messages)
    assert "volume 1 to 2: 62 s" in note and "contrast injection" in note, note
