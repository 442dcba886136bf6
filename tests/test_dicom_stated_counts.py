"""A volume one slice (or one time point) short of the count its series states: noted.

A slice file lost at an end of a stack leaves no gap in the positions; dcm2niix reads the stated
count (NumberOfSlices (0054,0081); GE ImagesInAcquisition (0020,1002) / (0021,104F); Philips
(2001,1018)) and says "DICOM images may be missing". lazyvol opened the volume one slice short
without a word.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_dicom_series

GE = {"Manufacturer": "GE MEDICAL SYSTEMS", "Modality": "MR"}


def _incomplete(info: lv.SeriesInfo) -> list[str]:
    return [w for w in info.warnings if w.startswith("series incomplete")]


@pytest.mark.parametrize("lost", [0, -1, "empty"])
def test_a_lost_end_slice_is_noted_from_images_in_acquisition(tmp_path, lost):
    truth = write_dicom_series(
        tmp_path / "s", (8, 8, 6), modality="MR", extra={**GE, "ImagesInAcquisition": 6}
    )
    assert not _incomplete(lv.scan(tmp_path / "s", use_index=False)[0])
    if lost == "empty":
        open(truth.files[-1], "wb").close()  # (a zero-byte file: skipped quietly, BAD_INPUTS)
    else:
        os.remove(truth.files[lost])
    (info,) = lv.scan(tmp_path / "s", use_index=False)
    assert info.shape == (8, 8, 5)
    (note,) = _incomplete(info)
    assert "ImagesInAcquisition (0020,1002) states 6" in note and "5 slices" in note
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lv.open(tmp_path / "s", cache=None)
    assert any("ImagesInAcquisition" in str(w.message) for w in seen)


def test_number_of_slices_any_vendor_and_counts_that_fit(tmp_path):
    """NumberOfSlices (0054,0081) is read for any vendor; a count the volume's slices are a
    multiple of (an interpolated stack), or the series' images are (a count over the series),
    fits."""
    truth = write_dicom_series(
        tmp_path / "pet", (8, 8, 5), modality="PT", extra={"NumberOfSlices": 6}
    )
    (info,) = lv.scan(tmp_path / "pet", use_index=False)
    assert "NumberOfSlices (0054,0081) states 6" in _incomplete(info)[0]
    del truth
    for n, stated in ((8, 4), (6, 6)):  # ZIP2 (8 slices of 4 acquired); complete
        write_dicom_series(
            tmp_path / f"s{n}", (8, 8, n), extra={**GE, "ImagesInAcquisition": stated}
        )
        assert not _incomplete(lv.scan(tmp_path / f"s{n}", use_index=False)[0])
    # not GE: ImagesInAcquisition is not read as the slice count (as dcm2niix)
    write_dicom_series(tmp_path / "ct", (8, 8, 5), extra={"ImagesInAcquisition": 6})
    assert not _incomplete(lv.scan(tmp_path / "ct", use_index=False)[0])


def test_a_lost_last_volume_is_noted_from_number_of_temporal_positions(tmp_path):
    truth = write_dicom_4d_series(
        tmp_path / "f", (8, 8, 3), 4, labels=("TemporalPositionIdentifier",), shuffle_names=False
    )
    assert not _incomplete(lv.scan(tmp_path / "f", use_index=False)[0])
    for path in truth.files[-3:]:  # the last volume's three slices (numbered volume by volume)
        os.remove(path)
    (info,) = lv.scan(tmp_path / "f", use_index=False)
    assert info.shape == (8, 8, 3, 3)
    (note,) = _incomplete(info)
    assert "NumberOfTemporalPositions (0020,0105) states 4" in note and "3 volumes" in note


def test_time_points_of_volumes_split_from_the_series_are_not_counted(tmp_path):
    """Two image types at the same positions (a TRACEW and an ADC map) are two volumes of one
    time point each: the series' stated time points are no count of either."""
    kinds = [["DERIVED", "PRIMARY", "DIFFUSION", k] for k in ("TRACEW", "ADC")]
    for n, kind in enumerate(kinds):
        write_dicom_series(
            tmp_path / "d" / kind[-1],
            (8, 8, 3),
            modality="MR",
            series_uid="1.2.3.4.5",
            image_type=kind,
            prefix=f"I{n}",
            seed=n,
            extra={"NumberOfTemporalPositions": 4, "TemporalPositionIdentifier": 1},
        )
    report = lv.scan(tmp_path / "d", use_index=False)
    assert len(report) == 2
    assert not any(_incomplete(i) for i in report)


def test_counts_that_differ_between_the_images_are_not_read(tmp_path):
    """Two acquisitions stacked as one volume (a CT series of 5 then 3 slices), each image
    stating its own acquisition's count: no count of the volume, no note."""
    per = [{**GE, "ImagesInAcquisition": 5 if k < 5 else 3} for k in range(8)]
    write_dicom_series(tmp_path / "ct", (8, 8, 8), per_slice=per)
    (info,) = lv.scan(tmp_path / "ct", use_index=False)
    assert info.error is None and not _incomplete(info)


@pytest.mark.parametrize("position", [1, 3])
def test_one_time_point_stored_as_its_own_series_is_not_noted(tmp_path, position):
    """NumberOfTemporalPositions (0020,0105) counts the acquisition's time points: a series
    holding one of them (one series per measurement, a subtraction of one dynamic) is complete,
    and dcm2niix converts it without a word. It was noted as missing 4 volumes."""
    write_dicom_series(
        tmp_path / "t",
        (8, 8, 6),
        modality="MR",
        extra={"NumberOfTemporalPositions": 5, "TemporalPositionIdentifier": position},
    )
    (info,) = lv.scan(tmp_path / "t", use_index=False)
    assert info.error is None and not _incomplete(info)


def test_the_note_names_the_file_stating_the_count_and_the_folder(tmp_path):
    """The note (and the warning at open) names the file whose header states the count and the
    folder to look in; it named neither ('Check the folder for ...')."""
    truth = write_dicom_series(
        tmp_path / "pet", (8, 8, 5), modality="PT", extra={"NumberOfSlices": 6}
    )
    (info,) = lv.scan(tmp_path / "pet", use_index=False)
    (note,) = _incomplete(info)
    assert info.files[0] in note and f"the folder {tmp_path / 'pet'}" in note
    assert info.files[0] in truth.files


@pytest.mark.parametrize("kind", ["echoes", "diffusion"])
def test_a_4d_volume_of_echoes_or_b_values_is_not_counted_in_time_points(tmp_path, kind):
    """A 4-D volume whose 4th axis is echoes or b-values is one time point: a series stating 5
    NumberOfTemporalPositions (0020,0105) that holds one (one series per measurement) is
    complete; it was noted as missing 2 volumes."""
    extra = {"NumberOfTemporalPositions": 5, "TemporalPositionIdentifier": 2}
    if kind == "echoes":
        kw: dict = {"echoes": 3}
        n = 1
    else:
        kw = {"bvals": [0, 1000, 1000], "bvecs": [[0, 0, 0], [1, 0, 0], [0, 1, 0]]}
        n = 3
    write_dicom_4d_series(tmp_path / "v", (8, 8, 4), n, labels=(), modality="MR", extra=extra, **kw)
    report = lv.scan(tmp_path / "v", use_index=False)
    # (single-frame echoes of one volume: one volume per echo, as dcm2niix writes them, h201)
    assert [len(i.shape) for i in report] == ([3] * 3 if kind == "echoes" else [4])
    assert all(i.error is None and not _incomplete(i) for i in report)


def _concatenation(folder, parts, *, total=True, offsets=True):
    """An enhanced 4-D file (4 time points of 3 slices) split into files of ``parts`` frames each
    (a concatenation, as DCMTK's ConcatenationCreator writes one: one InstanceNumber)."""
    import copy

    import pydicom
    from pydicom.uid import generate_uid

    from lazyvol.testing import write_enhanced_dicom

    folder.mkdir(parents=True)
    whole = folder / "whole.dcm"
    write_enhanced_dicom(whole, (6, 5, 3), n_volumes=4)
    ds = pydicom.dcmread(whole)
    whole.unlink()
    frames = list(ds.PerFrameFunctionalGroupsSequence)
    size = len(ds.PixelData) // len(frames)
    uid, start = generate_uid(), 0
    paths = []
    for n, count in enumerate(parts):
        part = copy.deepcopy(ds)
        part.SOPInstanceUID = part.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        part.ConcatenationUID, part.InConcatenationNumber = uid, n + 1
        if total:
            part.InConcatenationTotalNumber = len(parts)
        if offsets:
            part.ConcatenationFrameOffsetNumber = start
        part.PerFrameFunctionalGroupsSequence = frames[start : start + count]
        part.NumberOfFrames = count
        part.PixelData = ds.PixelData[start * size : (start + count) * size]
        paths.append(folder / f"part{n + 1}.dcm")
        part.save_as(paths[-1], enforce_file_format=True)
        start += count
    return paths


@pytest.mark.parametrize(
    ("lost", "total", "offsets", "said"),
    [
        (1, True, True, "InConcatenationTotalNumber (0020,9163) states 3 parts"),
        (2, True, False, "InConcatenationNumber (0020,9162) 3 missing"),
        (0, False, True, "frames 0-2 (from 0) in none"),
        (1, False, True, "frames 3-5 (from 0) in none"),
    ],
)
def test_a_lost_part_of_a_concatenation_is_noted(tmp_path, lost, total, offsets, said):
    """An enhanced image split across files (ConcatenationUID) with a part file lost on a volume
    boundary: the others stack into fewer complete volumes, without a gap; the parts' stated
    total or frame offsets tell. lazyvol opened the shorter volume without a word."""
    paths = _concatenation(tmp_path / "s", [3, 3, 6], total=total, offsets=offsets)
    assert not _incomplete(lv.scan(tmp_path / "s", use_index=False)[0])
    assert lv.open(tmp_path / "s", cache=None).shape == (6, 5, 3, 4)
    os.remove(paths[lost])
    (info,) = lv.scan(tmp_path / "s", use_index=False)
    assert info.error is None and info.shape[3] < 4
    (note,) = _incomplete(info)
    assert said in note and "ConcatenationUID (0020,9161)" in note
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lv.open(tmp_path / "s", cache=None)
    assert any("ConcatenationUID" in str(w.message) for w in seen)


def _four_time_points(folder, **options):
    """A 4-D series of 3 slices x 4 time points stating NumberOfTemporalPositions 4."""
    return write_dicom_4d_series(
        folder,
        (8, 8, 3),
        4,
        labels=("TemporalPositionIdentifier",),
        shuffle_names=False,
        extra={"NumberOfTemporalPositions": 4},
        **options,
    )


@pytest.mark.parametrize("lost_echoes", [(2,), (1, 2)], ids=["echo-2", "both-echoes"])
def test_a_lost_last_volume_of_a_multi_echo_series_is_noted_per_echo(tmp_path, lost_echoes):
    """A multi-echo time series (one SeriesInstanceUID, one 4-D volume per echo) that lost its
    last volume in one echo, or in both (an interrupted run): each short echo is noted as a
    single-echo series is; the echo split made the count of the whole series no count of either
    volume, so they opened 3 time points of the stated 4 without a word (the GE fMRI of
    dcm_qa_nih made two-echo, the last 15 files of echo 2 removed: 10 and 9 volumes, silent)."""
    truth = _four_time_points(tmp_path / "f", echoes=2)
    assert not any(_incomplete(i) for i in lv.scan(tmp_path / "f", use_index=False))
    for path in truth.files[-6:]:  # the last volume's three slices of echo 1 then of echo 2
        if pydicom.dcmread(path, stop_before_pixels=True).EchoNumbers in lost_echoes:
            os.remove(path)
    report = lv.scan(tmp_path / "f", use_index=False)
    assert sorted(i.shape[3] for i in report) == sorted(
        3 if e in lost_echoes else 4 for e in (1, 2)
    )
    for info in report:
        notes = _incomplete(info)
        assert len(notes) == (info.shape[3] == 3)
        if notes:
            assert "states 4 time points" in notes[0] and "(3 volumes)" in notes[0]
            assert "EchoNumbers" in notes[0]


def test_b0_volumes_at_another_echo_time_are_not_noted_as_a_short_echo(tmp_path):
    """A time series whose stated time points are split between two echo times (some volumes
    at another TE, one volume per echo time as dcm2niix writes them) is complete: its echoes
    together hold the stated count, so neither is noted."""
    truth = _four_time_points(tmp_path / "f")
    for path in truth.files[:3]:  # the first volume at another echo time
        ds = pydicom.dcmread(path)
        ds.EchoTime = 90
        ds.save_as(path)
    report = lv.scan(tmp_path / "f", use_index=False)
    assert len(report) == 2
    assert not any(_incomplete(i) for i in report)


@pytest.mark.parametrize("parts", [[11, 1], [1, 11], [2, 9, 1]])
def test_a_concatenation_part_of_one_frame_stacks_with_the_others(tmp_path, parts):
    """A part of a concatenation may hold one frame (the last of 600 + 600 + 1): its
    NumberOfFrames of 1 made it a 'single-frame' image split from the other parts (and its
    ImageType compared as a single-frame file's), so a complete image was refused ('positions
    repeat') beside a volume of one frame. It is a part of the multi-frame image."""
    from lazyvol.testing import write_enhanced_dicom

    _concatenation(tmp_path / "s", parts)
    whole = write_enhanced_dicom(tmp_path / "whole" / "w.dcm", (6, 5, 3), n_volumes=4)
    (info,) = lv.scan(tmp_path / "s", use_index=False)
    assert info.error is None and not _incomplete(info)
    vol = lv.open(tmp_path / "s", cache=None)
    np.testing.assert_array_equal(vol.compute(), whole.stored)
    np.testing.assert_allclose(vol.affine, whole.affine, atol=1e-6)


def test_a_volume_without_echo_time_beside_short_echoes_scans(tmp_path):
    """A 4-D series stating NumberOfTemporalPositions whose images of another kind (a phase
    volume) state no EchoTime nor EchoNumbers, beside volumes at an echo time, one time point
    lost: the per-echo count (_one_echo) formatted the missing EchoTime and scan raised a bare
    TypeError. It scans; the volume of no echo is not counted as an echo."""
    truth = _four_time_points(tmp_path / "f")
    for path in truth.files[-3:]:
        os.remove(path)
    for path in truth.files[6:9]:
        ds = pydicom.dcmread(path)
        del ds.EchoTime, ds.EchoNumbers
        ds.ImageType = ["ORIGINAL", "PRIMARY", "P", "ND"]
        ds.save_as(path)
    report = lv.scan(tmp_path / "f", use_index=False)
    assert sorted(len(i.shape) for i in report) == [3, 4]
    assert not any(_incomplete(i) for i in report if len(i.shape) == 3)


def test_the_notes_read_each_image_of_a_series_once_not_once_per_volume(tmp_path, monkeypatch):
    """A series split into many volumes (here 120 one-image volumes, each at its own orientation,
    as a radial localizer): the per-echo count of the stated-count note (ce2b7ac) went over every
    image of the series for each volume, with the image count and the concatenation parts, so a
    scan grew with the square of the series (1000 volumes: 10.6 s, 5 of them these notes). The
    series is summarised once (series_counts); each image's echo is read a bounded number of
    times."""
    import math

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    from lazyvol.dicom import stated_counts

    n_images, series, frame = 120, generate_uid(), generate_uid()
    for n in range(n_images):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.Modality, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = "MR", series, frame
        ds.StudyInstanceUID = "1.2.3"
        ds.InstanceNumber, ds.EchoTime, ds.EchoNumbers = n + 1, 30, 1 + n % 2
        a = math.pi * n / n_images
        ds.ImageOrientationPatient = [math.cos(a), math.sin(a), 0, 0, 0, -1]
        ds.ImagePositionPatient, ds.PixelSpacing, ds.SliceThickness = [0, 0, 0], [1, 1], 1
        ds.Rows = ds.Columns = 4
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = bytes(32)
        ds.save_as(tmp_path / f"{n:04d}.dcm", enforce_file_format=True)
    calls = 0
    read = stated_counts.echo_number_of

    def counted(rec):
        nonlocal calls
        calls += 1
        return read(rec)

    monkeypatch.setattr(stated_counts, "echo_number_of", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = lv.scan(tmp_path, use_index=False)
    assert len(report) == n_images
    assert calls <= 4 * n_images


def test_volumes_at_another_echo_time_and_time_points_of_their_own_are_not_noted(tmp_path):
    """Two M0 volumes at TE 20 before six label / control volumes at TE 13, under one
    SeriesInstanceUID whose NumberOfTemporalPositions (0020,0105) counts the six: nothing is
    missing, yet the per-echo count (ce2b7ac) noted the M0 volume 'series incomplete' (its echo
    holds 2 of the stated 6 time points). Its TemporalPositionIdentifiers are its own, not the
    other echo's time points, as the echoes of a multi-echo time series share theirs: not
    counted as an echo of one."""
    truth = write_dicom_4d_series(
        tmp_path / "f",
        (8, 8, 3),
        8,
        labels=("TemporalPositionIdentifier",),
        shuffle_names=False,
    )
    for n, path in enumerate(truth.files):
        ds = pydicom.dcmread(path)
        ds.EchoTime = 20 if n < 6 else 13
        ds.NumberOfTemporalPositions = 6
        if "EchoNumbers" in ds:
            del ds.EchoNumbers
        ds.save_as(path)
    report = lv.scan(tmp_path / "f", use_index=False)
    assert sorted(i.shape[3] for i in report) == [2, 6]
    assert not any(_incomplete(i) for i in report)


@pytest.mark.parametrize("acquisition_number", [1, None], ids=["all-1", "none"])
def test_m0_volumes_at_another_echo_time_without_telling_stamps_are_not_noted(
    tmp_path, acquisition_number
):
    """b93fb61's M0 series (two volumes at TE 20 before six at TE 13, NumberOfTemporalPositions
    6) stating no TemporalPositionIdentifier and the one AcquisitionNumber 1 on every image (as
    GE does), or none: no stamp tells the M0 volumes' time points from the others', yet they
    were taken for an echo of one time series and noted 'series incomplete' (2 of 6)."""
    truth = write_dicom_4d_series(tmp_path / "f", (8, 8, 3), 8, shuffle_names=False)
    for n, path in enumerate(truth.files):
        ds = pydicom.dcmread(path)
        ds.EchoTime = 20 if n < 6 else 13
        ds.NumberOfTemporalPositions = 6
        for key in ("EchoNumbers", "TemporalPositionIdentifier", "AcquisitionNumber"):
            if key in ds:
                del ds[key]
        if acquisition_number is not None:
            ds.AcquisitionNumber = acquisition_number
        ds.save_as(path)
    report = lv.scan(tmp_path / "f", use_index=False)
    assert sorted(i.shape[3] for i in report) == [2, 6]
    assert not any(_incomplete(i) for i in report)
