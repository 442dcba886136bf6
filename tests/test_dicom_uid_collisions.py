"""One SeriesInstanceUID over images of two studies or two patients (an anonymiser or export
that reused it): never one volume, and never called copies of one another unless their pixels
are. Found on a real-folder review: two patients' series were stacked as time points 0 and 1 of
one 4D volume (dcm2niix does the same, so it is no reference here: the truth is how the files
were written)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

UID = "1.2.3.4.5.6"


def _two(tmp_path, first, second, shape=(8, 6, 4), shape2=None):
    """Two series under one SeriesInstanceUID, each with its own ``extra`` attributes."""
    a = write_dicom_series(
        tmp_path / "s" / "A", shape, series_uid=UID, prefix="A", seed=1, extra=first
    )
    b = write_dicom_series(
        tmp_path / "s" / "B", shape2 or shape, series_uid=UID, prefix="B", seed=2, extra=second
    )
    return a, b


@pytest.mark.parametrize(
    "tag, values",
    [
        ("AcquisitionNumber", (1, 2)),
        ("TemporalPositionIdentifier", (1, 2)),
        ("AcquisitionTime", ("101010", "151515")),
    ],
)
@pytest.mark.parametrize("frame", ["", "1.2.3.9"])
def test_two_studies_under_one_series_uid_are_two_volumes(tmp_path, tag, values, frame):
    """Blank or shared FrameOfReferenceUID, a tag that would order a 4th axis: still two 3D
    volumes, each one study's images, the reason naming StudyInstanceUID."""
    common = {"FrameOfReferenceUID": frame}
    a, b = _two(
        tmp_path,
        {**common, "StudyInstanceUID": "1.2.3.100", "PatientID": "A", tag: values[0]},
        {**common, "StudyInstanceUID": "1.2.3.200", "PatientID": "B", tag: values[1]},
    )
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2
    for info, truth in zip(sorted(report, key=lambda i: i.files[0]), (a, b), strict=True):
        assert info.error is None and len(info.shape) == 3
        assert sorted(info.files) == sorted(truth.files)
        assert any(r.startswith("StudyInstanceUID (0020,000D) differs") for r in info.reasons)
        vol = lv.open(tmp_path / "s", series=info.id, scale=False)
        np.testing.assert_array_equal(vol.compute(), truth.stored)


def test_two_patients_under_one_study_and_series_uid_are_two_volumes(tmp_path):
    """The studies do not tell them apart (one StudyInstanceUID): PatientID does."""
    a, b = _two(
        tmp_path,
        {"StudyInstanceUID": "1.2.3.100", "PatientID": "A", "AcquisitionNumber": 1},
        {"StudyInstanceUID": "1.2.3.100", "PatientID": "B", "AcquisitionNumber": 2},
    )
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2
    for info in report:
        assert any(r.startswith("PatientID (0010,0020) differs") for r in info.reasons)
        # (the identifier is never shown, not even as a digest: the patients are numbered)
        assert not any("A (" in r or "B (" in r or "id#" in r for r in info.reasons), info.reasons
        assert any("patient 1" in r for r in info.reasons), info.reasons
        truth = a if info.files[0] in a.files else b
        assert sorted(info.files) == sorted(truth.files)


def test_a_blanked_patient_or_study_splits_nothing(tmp_path):
    """The same series exported twice, one export anonymised (PatientID and StudyInstanceUID
    left out): its images are still copies of the others (same SOPInstanceUIDs and pixels),
    dropped as duplicates; a value stated once and blank once is no second study."""
    a = write_dicom_series(
        tmp_path / "s" / "A", (8, 6, 4), series_uid=UID, extra={"StudyInstanceUID": "1.2.3.100"}
    )
    blank = {"StudyInstanceUID": "", "PatientID": ""}
    write_dicom_series(tmp_path / "s" / "B", (8, 6, 4), series_uid=UID, extra=blank)
    assert pydicom.dcmread(a.files[0]).PatientID  # (the synthetic series states one)
    (info,) = lv.scan(tmp_path / "s")
    assert info.error is None and not info.reasons
    vol = lv.open(tmp_path / "s", scale=False)
    np.testing.assert_array_equal(vol.compute(), a.stored)
    (note,) = [w for w in vol.meta["warnings"] if "duplicate" in w]
    assert note.startswith("exact duplicates dropped: 4 images repeat images kept")


def test_repeated_headers_with_other_pixels_are_not_called_copies(tmp_path):
    """Two series of one study sharing a SeriesInstanceUID, with different slice counts: the
    refusal said the images 'are copies of others ... keep one copy', which deletes one series.
    Their pixels differ (pydicom reads them): the message says so."""
    same = {"StudyInstanceUID": "1.2.3.100", "PatientID": "A", "FrameOfReferenceUID": "1.2.3.9"}
    a, b = _two(tmp_path, same, same, shape=(8, 6, 4), shape2=(8, 6, 3))
    assert not np.array_equal(
        pydicom.dcmread(a.files[0]).pixel_array, pydicom.dcmread(b.files[0]).pixel_array
    )
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "copied into the folder twice" not in msg and "keep one copy" not in msg
    assert "but are not copies" in msg and "with different pixel data" in msg
    assert a.files[0] in msg and b.files[0] in msg


def test_repeated_headers_too_large_to_compare_are_not_called_different(tmp_path, monkeypatch):
    """Copies stored differently (one set RLE-compressed) over the decode-and-compare bound: the
    note said they 'are not copies ... keep both', a verdict nothing was compared for (h35); it
    says whether they are copies is not known."""
    from pydicom.uid import RLELossless

    from lazyvol.dicom import duplicates

    same = {"StudyInstanceUID": "1.2.3.100", "PatientID": "A", "FrameOfReferenceUID": "1.2.3.9"}
    _, b = _two(tmp_path, same, same, shape=(8, 6, 4), shape2=(8, 6, 3))
    for f in b.files:
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f)
    monkeypatch.setattr(duplicates, "DECODE_COMPARE_BYTES", 16)
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "whether they are copies is not known" in msg and "too large to decode" in msg
    assert "but are not copies" not in msg and "keep one copy" not in msg


def _two_runs_one_uid(tmp_path, numbered, protocol):
    """Two runs of one geometry under one SeriesInstanceUID, the SeriesNumber that splits them
    left out by an anonymiser (or one number for both), their SeriesDescriptions differing, and
    one ProtocolName (0018,1030) for both or none."""
    same = {"StudyInstanceUID": "1.2.3.100", "PatientID": "A", "FrameOfReferenceUID": "1.2.3.9"}
    a = write_dicom_series(
        tmp_path / "s" / "A", (8, 6, 4), series_uid=UID, prefix="A", seed=1,
        description="fMRI interleaved", extra={**same, "AcquisitionTime": "101500"},
    )  # fmt: skip
    b = write_dicom_series(
        tmp_path / "s" / "B", (8, 6, 4), series_uid=UID, prefix="B", seed=2,
        description="fMRI sequential", extra={**same, "AcquisitionTime": "102500"},
    )  # fmt: skip
    for f in [*a.files, *b.files]:
        ds = pydicom.dcmread(f)
        if numbered:
            ds.SeriesNumber = 7
        else:
            del ds.SeriesNumber
        if protocol:
            ds.ProtocolName = protocol
        ds.save_as(f)
    return a, b


@pytest.mark.parametrize("numbered", [False, True], ids=["no-series-number", "same-number"])
def test_two_series_of_one_protocol_told_apart_only_by_description_are_said_stacked(
    tmp_path, numbered
):
    """Two runs under one SeriesInstanceUID and one ProtocolName, told apart only by their
    SeriesDescriptions (found perturbing the real GE fMRI series): stacked as a 4D volume, the
    runs its time points, without a word. The volume now warns (at scan and open) that several
    series may be stacked as one, naming each description (read back with pydicom) and how many
    files state it."""
    a, b = _two_runs_one_uid(tmp_path, numbered, "fMRI")
    texts = {str(pydicom.dcmread(t.files[0]).SeriesDescription) for t in (a, b)}
    with pytest.warns(RuntimeWarning, match="several series may be stacked as one") as rec:
        vol = lv.open(tmp_path / "s", use_index=False)
    assert vol.shape == (8, 6, 4, 2)
    (note,) = [str(w.message) for w in rec if "SeriesDescription" in str(w.message)]
    assert all(f"{t!r} in 4 files" in note for t in texts), note
    assert "SeriesDescription (0008,103E) differs" in note and "folder of their own" in note


@pytest.mark.parametrize("numbered", [False, True], ids=["no-series-number", "same-number"])
def test_two_series_without_protocol_name_split_by_description(tmp_path, numbered):
    """The same runs stating no ProtocolName: dcm2niix's protocol name falls back to the
    SeriesDescription and it never stacks two names, so they are two volumes, each its own run's
    pixels (read back with pydicom)."""
    a, b = _two_runs_one_uid(tmp_path, numbered, None)
    infos = lv.scan(tmp_path / "s", use_index=False)
    assert len(infos) == 2
    for info in infos:
        run = a if any(f in a.files for f in info.files) else b
        assert sorted(info.files) == sorted(run.files)
        desc = str(pydicom.dcmread(run.files[0]).SeriesDescription)
        vol = lv.open(tmp_path / "s", series=desc, scale=False, use_index=False)
        np.testing.assert_array_equal(np.asarray(vol.data), run.stored)
        assert not any("several series" in w for w in info.warnings), info.warnings


def test_one_description_or_a_blank_one_says_nothing(tmp_path):
    """A series whose images state one SeriesDescription, some left blank (an anonymiser that
    blanked part of an export): no note."""
    a = write_dicom_series(tmp_path / "s", (8, 6, 4), series_uid=UID, description="T1")
    ds = pydicom.dcmread(a.files[0])
    ds.SeriesDescription = ""
    ds.save_as(a.files[0])
    (info,) = lv.scan(tmp_path / "s", use_index=False)
    assert not any("SeriesDescription" in w for w in info.warnings), info.warnings


def test_a_series_whose_files_each_got_a_new_series_uid_is_said_so(tmp_path):
    """An export or anonymiser that gave every file of a series its own SeriesInstanceUID: one
    volume of one image per file (never stacked, as BAD_INPUTS.md asks of several UIDs), and the
    listing of 5 such volumes said nothing of why. It now says they are single images alike in
    SeriesNumber and description, each under its own SeriesInstanceUID, and what to do; at open
    and when a SeriesNumber matches them."""
    from pydicom.uid import generate_uid

    truth = write_dicom_series(tmp_path / "s", (8, 6, 5), series_number=9, description="T2 ax")
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = generate_uid()
        ds.save_as(f)
    assert len({pydicom.dcmread(f).SeriesInstanceUID for f in truth.files}) == 5
    for series in (None, 9):
        with pytest.raises(lv.MultipleSeriesError) as exc:
            lv.open(tmp_path / "s", series=series, use_index=False)
        text = str(exc.value)
        assert "5 of them are single images alike (SeriesNumber 9, description 'T2 ax', 8x6)" in (
            text
        ), text
        assert "each under its own SeriesInstanceUID (0020,000E)" in text, text


def test_single_image_series_of_their_own_numbers_get_no_hint(tmp_path):
    """Single images of series numbered apart (three screenshots, three localizer series): a
    plain listing."""
    for n in range(3):
        write_dicom_series(tmp_path / "s" / f"{n}", (8, 6, 1), series_number=n + 1, seed=n)
    with pytest.raises(lv.MultipleSeriesError) as exc:
        lv.open(tmp_path / "s", use_index=False)
    assert "single images alike" not in str(exc.value)
