"""Series acquired across midnight (CT perfusion, dynamic PET): the 4th axis in acquisition order.

AcquisitionTime (0008,0032) is a time of day: 00:00:05 sorts before 23:59:55. The volumes are
ordered by date and time when every image states its date; truth is the synthetic writer's (the
voxel values of each time point, written in acquisition order) and Python's datetime.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.dicom_time import da_day, dt_instant, stated_datetime
from lazyvol.errors import SeriesError
from lazyvol.testing import write_dicom_4d_series, write_dicom_series, write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")

SHAPE = (6, 5, 3)
T = 5
#: Volume t is acquired at START + STEP * t (its slices 0.1 s apart): 23:59:40 to 00:00:20.
START = dt.datetime(2024, 2, 28, 23, 59, 40)
STEP = 10.0


def _when(t: int, k: int = 0) -> dt.datetime:
    return START + dt.timedelta(seconds=STEP * t + 0.1 * k)


def _series(folder, numbering: str, stamp) -> list[np.ndarray]:
    """Write T volumes of SHAPE under one SeriesInstanceUID, one file per slice, volume t's slice
    k dated by ``stamp(when)`` (attributes); InstanceNumber restarting at 1 in every volume
    ("restart", as CT perfusion exports) or running over the series ("series"). Returns each
    volume's stored values, in acquisition order."""
    nk = SHAPE[2]
    truth = []
    for t in range(T):
        per_slice = [
            {
                "InstanceNumber": k + 1 if numbering == "restart" else t * nk + k + 1,
                **stamp(_when(t, k)),
            }
            for k in range(nk)
        ]
        written = write_dicom_series(
            folder,
            SHAPE,
            series_uid="1.2.826.0.1.3680043.8.498.55",
            prefix=f"T{t}_",
            seed=3 + t,
            per_slice=per_slice,
        )
        truth.append(written.stored)
    return truth


def _date_and_time(when: dt.datetime) -> dict[str, str]:
    return {"AcquisitionDate": f"{when:%Y%m%d}", "AcquisitionTime": f"{when:%H%M%S.%f}"}


def _date_time(when: dt.datetime) -> dict[str, str]:
    """AcquisitionDateTime (and the time of day) only: no AcquisitionDate."""
    return {
        "AcquisitionDateTime": f"{when:%Y%m%d%H%M%S.%f}",
        "AcquisitionTime": f"{when:%H%M%S.%f}",
    }


def _time_only(when: dt.datetime) -> dict[str, str]:
    return {"AcquisitionTime": f"{when:%H%M%S.%f}"}


def _assert_volumes(vol, truth: list[np.ndarray]) -> None:
    got = vol.compute()
    assert got.shape == (*SHAPE, T)
    for t in range(T):
        np.testing.assert_array_equal(got[..., t], truth[t], err_msg=f"time point {t}")


@pytest.mark.parametrize("numbering", ["restart", "series"])
@pytest.mark.parametrize("stamp", [_date_and_time, _date_time], ids=["date+time", "datetime"])
def test_volumes_across_midnight_keep_their_acquisition_order(tmp_path, numbering, stamp):
    """The volumes acquired after midnight came first (their time of day is smaller), with no
    warning when InstanceNumber restarts in every volume."""
    truth = _series(tmp_path, numbering, stamp)
    vol = lv.open(tmp_path)
    _assert_volumes(vol, truth)
    assert vol.meta["axis4_rule"] == "AcquisitionTime (0008,0032) rank"
    assert not [w for w in vol.meta.get("warnings", []) if "4th axis" in w]


def test_undated_times_across_midnight_follow_instance_numbers_with_a_warning(tmp_path):
    """No date: which image came first is unknown from times of day spanning 23.99 h. A
    consistent InstanceNumber orders the volumes (as dcm2niix), and a warning says why."""
    truth = _series(tmp_path, "series", _time_only)
    vol = lv.open(tmp_path)
    _assert_volumes(vol, truth)
    assert vol.meta["axis4_rule"] == "InstanceNumber (0020,0013) rank"
    (warned,) = [w for w in vol.meta["warnings"] if "4th axis" in w]
    assert "midnight" in warned and "AcquisitionDate (0008,0022)" in warned


def test_undated_times_across_midnight_and_no_other_rule_are_refused(tmp_path):
    """No date and an InstanceNumber restarting in every volume: nothing orders the volumes;
    the error names the missing date rather than stacking 00:00 before 23:59."""
    _series(tmp_path, "restart", _time_only)
    with pytest.raises(SeriesError) as err:
        lv.open(tmp_path)
    msg = str(err.value)
    assert "AcquisitionTime (0008,0032) rank" in msg and "midnight" in msg
    assert "AcquisitionDate (0008,0022)" in msg and "AcquisitionDateTime (0008,002A)" in msg


def _one_date(when: dt.datetime) -> dict[str, str]:
    """The study's date copied onto every image (an export writing one AcquisitionDate)."""
    return {"AcquisitionDate": f"{START:%Y%m%d}", "AcquisitionTime": f"{when:%H%M%S.%f}"}


@pytest.mark.parametrize("numbering", ["restart", "series"])
def test_one_date_on_every_image_across_midnight_is_judged_as_undated(tmp_path, numbering):
    """Every image dated 2024-02-28 but acquired 23:59:40 to 00:00:20: the date tells no day,
    and the volumes after midnight came first with no warning. Judged as undated times are:
    InstanceNumber orders them with a warning, or nothing does (an error naming the dates)."""
    truth = _series(tmp_path, numbering, _one_date)
    if numbering == "restart":
        with pytest.raises(SeriesError, match="the same date on every image"):
            lv.open(tmp_path)
        return
    vol = lv.open(tmp_path)
    _assert_volumes(vol, truth)
    (warned,) = [w for w in vol.meta["warnings"] if "4th axis" in w]
    assert "midnight" in warned and "the same date on every image" in warned


def test_enhanced_frames_across_midnight_keep_their_acquisition_order(tmp_path):
    """An enhanced file whose volumes only FrameAcquisitionDateTime (0018,9074) tells apart: its
    date is part of the order."""
    path = tmp_path / "e.dcm"
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=3, volume_tag="none", seed=5)
    ds = pydicom.dcmread(path)
    for n, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        when = _when(n // SHAPE[2] + 1, n % SHAPE[2])  # 23:59:50, 00:00:00, 00:00:10
        frame.FrameContentSequence[0].FrameAcquisitionDateTime = f"{when:%Y%m%d%H%M%S.%f}"
    ds.save_as(path)
    got = lv.open(path).compute()
    for t in range(3):
        np.testing.assert_array_equal(got[..., t], truth.stored[..., t], err_msg=f"volume {t}")


def test_slice_timing_of_a_volume_across_midnight(tmp_path):
    """Siemens slices one per file: SliceTiming from AcquisitionTime relative to the first slice,
    by date and time (the slices after midnight were 86,000 s early, and no SliceTiming given)."""
    first = dt.datetime(2024, 2, 29, 23, 59, 59, 500000)
    when = [first + dt.timedelta(seconds=0.4 * k) for k in range(4)]
    write_dicom_series(
        tmp_path,
        (6, 5, 4),
        modality="MR",
        extra={"Manufacturer": "SIEMENS", "RepetitionTime": "2000"},
        per_slice=[_date_and_time(w) for w in when],
    )
    bids = lv.open(tmp_path).meta["bids"]
    want = [(w - first).total_seconds() for w in when]
    np.testing.assert_allclose(bids["SliceTiming"], want, atol=1e-9)
    assert bids["AcquisitionTime"] == "23:59:59.500000"


def test_date_and_time_values_against_datetime():
    """DA and DT parsing: differences between instants as Python's datetime gives them."""
    pairs = [
        (
            "20240228235955",
            "20240229000005.5",
            dt.datetime(2024, 2, 28, 23, 59, 55),
            dt.datetime(2024, 2, 29, 0, 0, 5, 500000),
        ),
        ("20231231235959.999", "20240101", None, None),  # a date alone states no time
        (
            "20240101120000+0100",
            "20240101120000-0200",
            dt.datetime(2024, 1, 1, 11),
            dt.datetime(2024, 1, 1, 14),
        ),
    ]
    for a, b, wa, wb in pairs:
        if wb is None:
            assert dt_instant(b) is None
            continue
        (da, sa), (db, sb) = dt_instant(a), dt_instant(b)
        assert (db - da) * 86400 + sb - sa == pytest.approx((wb - wa).total_seconds(), abs=1e-9)
    assert da_day("20240229") == dt.date(2024, 2, 29).toordinal()
    assert da_day("2024.02.29") == dt.date(2024, 2, 29).toordinal()
    for bad in ("20230229", "2024022", "2024022X", "", None):
        assert da_day(bad) is None
    for bad in ("20240101246000", "2024010112000", "20240101120000+1500", "x"):
        assert dt_instant(bad) is None
    # one pair: AcquisitionDate + AcquisitionTime, else AcquisitionDateTime; never mixed
    assert stated_datetime("20240101", "235959", "20240102000001") == "20240101235959"
    assert stated_datetime("", "235959", "20240102000001") == "20240102000001"
    assert stated_datetime("20240101", "", "") == ""


@pytest.mark.parametrize("dated", [True, False])
def test_diffusion_volumes_across_midnight_in_acquisition_order(dated):
    """Diffusion volumes keep their acquisition order (the earliest image of each b-value and
    direction): by date and time when dated; undated times of day across midnight leave the
    InstanceNumber order, with a warning (the time of day put b = 500, acquired after midnight,
    first)."""
    from lazyvol.dicom.ordering import order_volumes
    from lazyvol.dicom.records import FrameRecord

    acquired_b = [1000.0, 0.0, 500.0]  # acquired in this order, 10 s apart from 23:59:45

    def rec(k: int, t: int) -> FrameRecord:
        when = _when(t) + dt.timedelta(seconds=5 + 0.1 * k)
        return FrameRecord(
            path=f"{k}-{t}",
            size=0,
            mtime_ns=0,
            transfer_syntax="",
            b_value=acquired_b[t],
            gradient=[0.0, 0.0, 1.0],
            instance_number=t * 3 + k + 1,
            acquisition_time=f"{when:%H%M%S.%f}",
            acquisition_datetime=f"{when:%Y%m%d%H%M%S.%f}" if dated else "",
        )

    # (InstanceNumber in acquisition order: what orders undated volumes across midnight)
    groups = [[rec(k, t) for t in range(3)] for k in range(3)]
    got = order_volumes(groups)
    assert not isinstance(got, str)
    assert got.values["DiffusionBValue"] == acquired_b
    assert ("midnight" in got.note) is not dated


def test_uih_grid_slices_across_midnight_give_no_slice_timing(tmp_path):
    """UIH GRID items state a time of day and no date: slices straddling midnight gave slice
    times of nearly 86,400 s; which slice came first is unknown, so no SliceTiming."""
    from lazyvol.testing import write_uih_grid_series

    truth = write_uih_grid_series(tmp_path, (8, 6, 4))
    for path in truth.files:
        ds = pydicom.dcmread(path)
        for k, item in enumerate(ds[0x00651051].value):
            when = _when(0, k) + dt.timedelta(
                seconds=19.8
            )  # 23:59:59.8, 23:59:59.9, 00:00:00.0 ...
            item.AcquisitionTime = f"{when:%H%M%S.%f}"
        ds.save_as(path)
    vol = lv.open(tmp_path)
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth.stored)
    assert "SliceTiming" not in vol.meta["bids"]


@pytest.mark.parametrize("modality", ["MR", "CT", "PT"])
@pytest.mark.parametrize(
    "dates",
    [{}, {"StudyDate": "20240228", "SeriesDate": "20240228"}, {"AcquisitionDate": "20240228"}],
    ids=["no-date", "study-date-only", "acquisition-date"],
)
def test_sidecar_acquisition_time_needs_the_acquisition_date_as_dcm2niix(
    tmp_path, dcm2niix, modality, dates
):
    """A series whose AcquisitionDate (0008,0022) an anonymiser removed (StudyDate / SeriesDate
    kept or not): dcm2niix writes no AcquisitionTime for MR or CT (it writes it from the
    acquisition's date and time), a PET one's whatever its date; lazyvol wrote the time of day for
    every modality (09:01:26.845 for dcm_qa_mosaic ep2d_Asc without its dates)."""
    import json

    src = tmp_path / "s"
    t = write_dicom_series(src, SHAPE, modality=modality)
    for f in t.files:
        ds = pydicom.dcmread(f)
        ds.AcquisitionTime = "095130.250000"
        for key, value in dates.items():
            setattr(ds, key, value)
        ds.save_as(f)
    dcm2niix.run(src, tmp_path / "ref", name="ref", sidecar=True)
    ref = json.loads((tmp_path / "ref" / "ref.json").read_text())
    lv.open(src).to_nifti(tmp_path / "lz.nii")
    mine = json.loads((tmp_path / "lz.json").read_text())
    assert mine.get("AcquisitionTime") == ref.get("AcquisitionTime")
    want_time = "AcquisitionDate" in dates or modality == "PT"
    assert ("AcquisitionTime" in mine) == want_time


@pytest.mark.parametrize(
    "file_stamps",
    [
        {"AcquisitionDateTime": "20240228095000.500000"},
        {"AcquisitionDate": "20240228", "AcquisitionTime": "094500"},
        {"AcquisitionTime": "094500"},
        {},
    ],
    ids=["file-datetime", "file-date-and-time", "file-time-undated", "file-none"],
)
def test_an_enhanced_files_sidecar_acquisition_time_is_the_files_as_dcm2niix(
    tmp_path, dcm2niix, file_stamps
):
    """An enhanced file whose frames state FrameAcquisitionDateTime (0018,9074): dcm2niix writes
    the file's own AcquisitionTime (AcquisitionDate + AcquisitionTime, or AcquisitionDateTime),
    none where the file states no dated one; lazyvol wrote the earliest frame's (09:51:30.25
    where the file says 09:50:00.5). The per-volume times stay the frames'."""
    import json

    from pydicom.dataset import Dataset

    src = tmp_path / "s"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", SHAPE, n_volumes=2)
    ds = pydicom.dcmread(src / "e.dcm")
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        if "FrameContentSequence" not in item:
            item.FrameContentSequence = [Dataset()]
        item.FrameContentSequence[0].FrameAcquisitionDateTime = f"2024022809513{n}.250000"
    for key, value in file_stamps.items():
        setattr(ds, key, value)
    ds.save_as(src / "e.dcm")
    want = {
        "AcquisitionDateTime": "09:50:00.500000",
        "AcquisitionDate": "09:45:00.000000",
    }
    expected = next((want[k] for k in file_stamps if k in want), None)
    dcm2niix.run(src, tmp_path / "ref", name="ref", sidecar=True)
    ref = json.loads((tmp_path / "ref" / "ref.json").read_text())
    assert ref.get("AcquisitionTime") == expected
    for n in range(2):  # (the second open from the saved scan index)
        vol = lv.open(src)
        vol.to_nifti(tmp_path / f"lz{n}.nii")
        mine = json.loads((tmp_path / f"lz{n}.json").read_text())
        assert mine.get("AcquisitionTime") == expected
        assert vol.meta["volume_acquisition"]["time"][0] == pytest.approx(35490.25)


def test_sidecar_acquisition_time_is_the_first_images_as_dcm2niix(tmp_path, dcm2niix):
    """A one-file-per-slice time series acquired interleaved (odd slices first), numbered slice
    by slice: dcm2niix writes its first image's AcquisitionTime (the lowest InstanceNumber,
    slice 0, acquired 1 s into the volume); lazyvol wrote the earliest slice's (10:00:00 where
    dcm2niix writes 10:00:01; the real ep2d_Int mosaic split into single slices: 09:02:57.49
    against 09:02:58.83). A cut along t states its first volume's first image's, as dcm2niix
    does on that volume's files."""
    import json
    import shutil

    src = tmp_path / "s"
    nk, nt, tr = 4, 3, 2.0
    truth = write_dicom_4d_series(
        src, (6, 5, nk), nt, labels=("AcquisitionNumber",), shuffle_names=False
    )
    slot = {1: 0.0, 3: 0.5, 0: 1.0, 2: 1.5}  # (seconds into the volume of slice k)
    for n, path in enumerate(truth.files):  # (numbered volume by volume, slice by slice)
        ds = pydicom.dcmread(path)
        t, k = divmod(n, nk)
        assert int(ds.InstanceNumber) == n + 1
        ds.AcquisitionDate = "20240228"
        ds.AcquisitionTime = f"1000{t * tr + slot[k]:09.6f}"
        ds.save_as(path)
    vol = lv.open(src)
    vol.to_nifti(tmp_path / "whole.nii")
    vol[..., 1:].to_nifti(tmp_path / "cut.nii")
    part = tmp_path / "part"
    part.mkdir()
    for path in truth.files[nk:]:
        shutil.copy(path, part)
    for folder, name, want in ((src, "whole", "10:00:01.000000"), (part, "cut", "10:00:03.000000")):
        dcm2niix.run(folder, tmp_path / f"ref-{name}", name="ref", sidecar=True)
        ref = json.loads((tmp_path / f"ref-{name}" / "ref.json").read_text())
        mine = json.loads((tmp_path / f"{name}.json").read_text())
        assert (mine["AcquisitionTime"], ref["AcquisitionTime"]) == (want, want), name


def _acquisition_times(tmp_path, dcm2niix, modality, stamps):
    """(lazyvol's, dcm2niix's) sidecar AcquisitionTime of a series of ``modality`` whose files
    state ``stamps`` of AcquisitionDate / AcquisitionTime / AcquisitionDateTime and no other."""
    import json

    src = tmp_path / "s"
    for f in write_dicom_series(src, SHAPE, modality=modality).files:
        ds = pydicom.dcmread(f)
        for key in ("AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime"):
            if key in ds:
                delattr(ds, key)
        for key, value in stamps.items():
            setattr(ds, key, value)
        ds.save_as(f)
    lv.open(src).to_nifti(tmp_path / "lz.nii")
    dcm2niix.run(src, tmp_path / "ref", name="ref", sidecar=True)
    mine = json.loads((tmp_path / "lz.json").read_text()).get("AcquisitionTime")
    return mine, json.loads((tmp_path / "ref" / "ref.json").read_text()).get("AcquisitionTime")


@pytest.mark.parametrize(
    ("stamps", "want"),
    [
        ({"AcquisitionDateTime": "20240228131313.25", "AcquisitionTime": "101010"}, None),
        (
            {
                "AcquisitionDate": "",
                "AcquisitionDateTime": "20240228131313.25",
                "AcquisitionTime": "101010",
            },
            None,
        ),
        ({"AcquisitionDate": "20240228", "AcquisitionDateTime": "20240228131313.25"}, None),
        ({"AcquisitionDateTime": "202402281313"}, None),
        ({"AcquisitionDateTime": "2024022813"}, None),
        ({"AcquisitionDateTime": "20240228131313"}, "13:13:13.000000"),
        ({"AcquisitionDateTime": "20240228131313.25"}, "13:13:13.250000"),
        (
            {
                "AcquisitionDate": "20240228",
                "AcquisitionDateTime": "20240228131313.25",
                "AcquisitionTime": "101010",
            },
            "10:10:10.000000",
        ),
    ],
    ids=[
        "time-and-datetime",
        "blank-date-time-and-datetime",
        "date-and-datetime",
        "datetime-to-the-minute",
        "datetime-to-the-hour",
        "datetime-to-the-second",
        "datetime",
        "all-three",
    ],
)
def test_sidecar_acquisition_time_from_acquisition_datetime_only_where_dcm2niix_reads_it(
    tmp_path, dcm2niix, stamps, want
):
    """dcm2niix reads AcquisitionDateTime (0008,002A) only where an MR image states neither
    AcquisitionDate nor a nonzero AcquisitionTime, and only to the second or finer: an image
    keeping its AcquisitionTime (or its AcquisitionDate) beside AcquisitionDateTime, the other
    removed by an anonymiser, or an AcquisitionDateTime to the minute, gets no sidecar
    AcquisitionTime from it. lazyvol dated them by AcquisitionDateTime and wrote 10:10:10 (or the
    AcquisitionDateTime's time of day)."""
    mine, ref = _acquisition_times(tmp_path, dcm2niix, "MR", stamps)
    assert mine == want and ref == want


def test_an_enhanced_files_acquisition_datetime_beside_its_time_gives_no_sidecar_time(
    tmp_path, dcm2niix
):
    """An enhanced file stating AcquisitionTime and AcquisitionDateTime without AcquisitionDate
    (frames stamped by FrameAcquisitionDateTime): dcm2niix reads the file's date from neither,
    so writes no AcquisitionTime; lazyvol wrote the file's 09:45:00."""
    import json

    src = tmp_path / "s"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", SHAPE, n_volumes=2)
    ds = pydicom.dcmread(src / "e.dcm")
    for key in ("AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime"):
        if key in ds:
            delattr(ds, key)
    ds.AcquisitionTime, ds.AcquisitionDateTime = "094500", "20240228095000.5"
    ds.save_as(src / "e.dcm")
    dcm2niix.run(src, tmp_path / "ref", name="ref", sidecar=True)
    assert "AcquisitionTime" not in json.loads((tmp_path / "ref" / "ref.json").read_text())
    lv.open(src).to_nifti(tmp_path / "lz.nii")
    assert "AcquisitionTime" not in json.loads((tmp_path / "lz.json").read_text())


@pytest.mark.parametrize("modality", ["MR", "PT"])
@pytest.mark.parametrize(
    ("stamps", "want"),
    [
        ({"AcquisitionDate": "20240228", "AcquisitionTime": "000000"}, None),
        ({"AcquisitionTime": "000000"}, None),
        (
            {
                "AcquisitionDate": "20240228",
                "AcquisitionDateTime": "20240228131313.25",
                "AcquisitionTime": "000000",
            },
            None,
        ),
        (
            {"AcquisitionDateTime": "20240228131313.25", "AcquisitionTime": "000000"},
            "13:13:13.250000",
        ),
    ],
    ids=["date-and-zero-time", "zero-time", "all-three-zero-time", "zero-time-and-datetime"],
)
def test_a_zero_acquisition_time_is_no_sidecar_time_as_dcm2niix_reads_it(
    tmp_path, dcm2niix, stamps, want, modality
):
    """An AcquisitionTime (0008,0032) of 000000 (as anonymisers write it) is no time to dcm2niix:
    no sidecar AcquisitionTime, or AcquisitionDateTime's time where no AcquisitionDate is stated;
    lazyvol wrote 00:00:00.000000 (PET without a date too, and 11ad176's 'not matched' case)."""
    mine, ref = _acquisition_times(tmp_path, dcm2niix, modality, stamps)
    assert mine == want and ref == want


@pytest.mark.parametrize("modality", ["MR", "CT"])
@pytest.mark.parametrize(
    ("stamps", "want"),
    [
        ({"AcquisitionDate": "20240299", "AcquisitionTime": "101010"}, "10:10:10.000000"),
        ({"AcquisitionDate": "20241328", "AcquisitionTime": "101010"}, "10:10:10.000000"),
        ({"AcquisitionDate": "2024", "AcquisitionTime": "101010"}, "10:10:10.000000"),
        ({"AcquisitionDate": "00000000", "AcquisitionTime": "101010"}, None),
        ({"AcquisitionDate": "abc", "AcquisitionTime": "101010"}, None),
        (
            {
                "AcquisitionDate": "20240299",
                "AcquisitionDateTime": "20240228131313.25",
                "AcquisitionTime": "000000",
            },
            None,
        ),
    ],
    ids=["day-99", "month-13", "year", "zeros", "text", "day-99-zero-time-and-datetime"],
)
def test_an_acquisition_date_dcm2niix_reads_as_a_number_dates_the_sidecar_time(
    tmp_path, dcm2niix, stamps, want, modality
):
    """dcm2niix takes an AcquisitionDate (0008,0022) whose leading number is above 0 for a date,
    calendar date or not (day 99, month 13, a year alone), and writes the AcquisitionTime beside
    it (and does not split AcquisitionDateTime then); lazyvol wrote none for an MR / CT image
    whose date is no calendar date, or AcquisitionDateTime's time beside a zero time (h171)."""
    mine, ref = _acquisition_times(tmp_path, dcm2niix, modality, stamps)
    assert mine == want and ref == want


@pytest.mark.parametrize("modality", ["MR", "CT"])
@pytest.mark.parametrize(
    ("stamps", "want"),
    [
        ({"AcquisitionDate": "-2019", "AcquisitionTime": "000000"}, None),
        ({"AcquisitionTime": "0000001"}, None),
        ({"AcquisitionDate": "00000000", "AcquisitionTime": "000000"}, "13:13:13.250000"),
        ({"AcquisitionTime": "000000"}, "13:13:13.250000"),
    ],
    ids=["negative-date", "malformed-nonzero-time", "zero-date", "no-date"],
)
def test_acquisition_datetime_is_split_only_where_dcm2niix_reads_date_and_time_as_zero(
    tmp_path, dcm2niix, stamps, want, modality
):
    """dcm2niix splits AcquisitionDateTime (0008,002A) into date and time only where C's atof
    reads 0 from both AcquisitionDate and AcquisitionTime; a negative date or a malformed nonzero
    time (no TM lazyvol reads) is no split, so no sidecar time. lazyvol wrote
    AcquisitionDateTime's time (deb92f0 tested the date as above 0 and the time as lazyvol reads
    it) (h181)."""
    stamps = {**stamps, "AcquisitionDateTime": "20240228131313.25"}
    mine, ref = _acquisition_times(tmp_path, dcm2niix, modality, stamps)
    assert mine == want and ref == want
