"""A series that opens without some of its files says so as a Python warning, and says when a
missing file is a whole volume (a time point): BAD_INPUTS.md's rows on files cut inside their
header (series flagged incomplete) and InstanceNumber gaps (a warning)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.dicom.records import FrameRecord
from lazyvol.dicom.stack_notes import instance_gaps
from lazyvol.testing import write_dicom_4d_series, write_dicom_series, write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

SERIES_UID = b"\x20\x00\x0e\x00"  # (0020,000E) SeriesInstanceUID, little endian
ROWS = b"\x28\x00\x10\x00"  # (0028,0010) Rows: after the UIDs


def _cut_before(path: str, tag: bytes) -> None:
    """Cut the file inside its header, just before the element ``tag`` (the file ends there)."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: data.index(tag) + 3])


def _open_warned(folder: Path) -> tuple[lv.Volume, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = lv.open(folder, scale=False)
    return vol, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("cut", [SERIES_UID, ROWS], ids=["names-no-series", "names-its-series"])
def test_a_mosaic_time_point_cut_in_its_header_is_warned_as_a_missing_volume(tmp_path, cut):
    """Six mosaic files, one a time point; the third cut inside its header. The volume opens with
    the other five (as dcm2niix writes them), and Python warnings say a whole volume (time point)
    may be missing, the damaged file, and which InstanceNumber is missing."""
    truth = write_mosaic_series(tmp_path / "s", (8, 6, 4), volumes=6)
    numbers = [int(pydicom.dcmread(f).InstanceNumber) for f in truth.files]
    assert numbers == [1, 2, 3, 4, 5, 6]
    victim = truth.files[2]
    _cut_before(victim, cut)
    vol, said = _open_warned(tmp_path / "s")
    kept = [0, 1, 3, 4, 5]
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., kept])
    missing = [w for w in said if victim in w]
    assert missing and all("time point" in w for w in missing), said
    assert any("InstanceNumber (0020,0013) has gaps" in w and ": 3 missing" in w for w in said)
    assert all(w.removeprefix("lazyvol: ") in vol.meta["warnings"] for w in said)


def test_a_classic_series_missing_a_file_warns_not_only_in_meta(tmp_path):
    """A slice file cut after its SeriesInstanceUID: the series opens flagged incomplete, now a
    Python warning as well, and the note speaks of slices, not time points."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 5))
    _cut_before(truth.files[0], ROWS)
    vol, said = _open_warned(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored[:, :, 1:])
    incomplete = [w for w in said if "series incomplete" in w]
    assert incomplete and truth.files[0] in incomplete[0]
    assert "time point" not in incomplete[0]


def _frames(path: str, number: int, slices: int) -> list[FrameRecord]:
    return [
        FrameRecord(
            path=path,
            size=0,
            mtime_ns=0,
            transfer_syntax="1.2.840.10008.1.2.1",
            frame=k,
            number_of_frames=slices,
            instance_number=number,
        )
        for k in range(slices)
    ]


def test_instance_gaps_of_files_holding_whole_volumes():
    """Enhanced files one volume each (frames share their file's InstanceNumber): numbers 1, 2,
    4 of three files name 3 as a missing time point; 1, 2, 3 say nothing; one file of all the
    volumes has no gap to tell."""
    gap = [r for n in (1, 2, 4) for r in _frames(f"f{n}.dcm", n, 3)]
    (note,) = instance_gaps(gap[:3], gap)
    assert "1..4 for 3 files, each a whole volume): 3 missing" in note
    assert "time point" in note
    whole = [r for n in (1, 2, 3) for r in _frames(f"f{n}.dcm", n, 3)]
    assert instance_gaps(whole[:3], whole) == []
    one_file = _frames("all.dcm", 7, 9)
    assert instance_gaps(one_file[:3], one_file) == []


def _number_over_echoes(files: list[str]) -> None:
    """Mosaic files one a time point made two echoes of half as many time points, numbered over
    the series as the scanner writes them: file t is echo t % 2 of TR t // 2, InstanceNumber
    t + 1."""
    for t, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.InstanceNumber = t + 1
        ds.AcquisitionNumber = t // 2 + 1
        ds.AcquisitionTime = f"{100000 + 2 * (t // 2):06d}.000000"
        ds.EchoTime = 30.0 if t % 2 == 0 else 60.0
        ds.EchoNumbers = t % 2 + 1
        ds.save_as(f)


def _open_each(folder: Path) -> dict[int, tuple[lv.Volume, list[str]]]:
    """Every volume of ``folder`` by its EchoNumbers (pydicom's, of its first file), opened with
    the RuntimeWarnings it gives."""
    out = {}
    for info in lv.scan(folder):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vol = lv.open(folder, series=info.id, scale=False)
        said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        out[int(pydicom.dcmread(info.files[0]).EchoNumbers)] = (vol, said)
    return out


def test_a_complete_multi_echo_mosaic_series_has_no_instance_gaps(tmp_path):
    """3 TRs x 2 echoes, numbered 1..6 over the series: each echo's numbers skip the other's,
    which are no missing files. With the file of InstanceNumber 3 (echo 1 of TR 2) gone, echo 1
    says 3 is missing."""
    truth = write_mosaic_series(tmp_path / "s", (8, 6, 4), volumes=6)
    _number_over_echoes(truth.files)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        echoes = _open_each(tmp_path / "s")
    for e, (vol, said) in echoes.items():
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., e - 1 :: 2])
        assert said == [] and not any("has gaps" in w for w in vol.meta.get("warnings", []))
    Path(truth.files[2]).unlink()
    vol, said = _open_each(tmp_path / "s")[1]
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., [0, 4]])
    assert any(
        "InstanceNumber (0020,0013) has gaps (1..5" in w and ": 3 missing" in w for w in said
    )


@pytest.mark.parametrize("split", [{"echoes": 2}, {"components": ["M", "P"]}])
def test_volumes_split_from_one_series_have_no_instance_gaps(tmp_path, split):
    """Two echoes, or magnitude and phase, of one SeriesInstanceUID numbered over the series:
    complete, no volume warns; an InstanceNumber no image of the series holds still does."""
    truth = write_dicom_4d_series(tmp_path / "s", (8, 6, 4), 3 if "echoes" in split else 2, **split)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        vols = [lv.open(tmp_path / "s", series=i.id) for i in lv.scan(tmp_path / "s")]
    assert len(vols) == 2
    assert not any("has gaps" in w for v in vols for w in v.meta.get("warnings", []))
    numbers = sorted(int(pydicom.dcmread(f).InstanceNumber) for f in truth.files)
    assert numbers == list(range(1, len(truth.files) + 1))
    last = max(truth.files, key=lambda f: int(pydicom.dcmread(f).InstanceNumber))
    ds = pydicom.dcmread(last)
    ds.InstanceNumber = 100
    ds.save_as(last)
    said = [
        w for i in lv.scan(tmp_path / "s") for w in i.warnings if w.startswith("InstanceNumber")
    ]
    assert len(said) == 1 and f"..100 for {len(truth.files) // 2} " in said[0], said


def test_instance_gaps_are_numbers_no_image_of_the_series_holds():
    """Two volumes of one series numbered alternately (1, 3, 5 and 2, 4, 6): given the
    series' numbers neither has a gap; without 4, the first spans it and says so."""
    one = [r for n in (1, 3, 5) for r in _frames(f"f{n}.dcm", n, 3)]
    assert instance_gaps(one[:3], one, {1, 2, 3, 4, 5, 6}) == []
    (note,) = instance_gaps(one[:3], one, {1, 2, 3, 5, 6})
    assert "1..5 for 3 files, each a whole volume): 4 missing" in note


def test_a_gap_in_an_echo_numbered_on_its_own_is_still_warned(tmp_path):
    """Two echoes each numbered 1..20 (the numbers repeat across the series), a time point of
    echo 2 missing: echo 2 warns of its gap, as pydicom's numbers show it (the other echo's
    files hold those numbers; counting them as held hid the gap)."""
    nk, nt = 5, 4
    write_dicom_4d_series(tmp_path / "s", (8, 6, nk), nt, echoes=2, numbering="volume")
    missing = []
    for f in sorted((tmp_path / "s").iterdir()):
        ds = pydicom.dcmread(f)
        w, k = divmod(int(ds.InstanceNumber) - 1, nk)
        t, e = divmod(w, 2)
        if (e, t) == (1, 1):
            missing.append(t * nk + k + 1)
            f.unlink()
            continue
        ds.InstanceNumber = t * nk + k + 1  # numbered within its echo
        ds.save_as(f)
    shapes = {}
    for info in lv.scan(tmp_path / "s"):
        gaps = [w for w in info.warnings if "InstanceNumber (0020,0013) has gaps" in w]
        shapes[info.shape[3]] = gaps
    assert shapes[nt] == []  # the complete echo
    assert len(shapes[nt - 1]) == 1, shapes  # the echo missing a time point
    assert sorted(missing) == list(range(nk + 1, 2 * nk + 1))


@pytest.mark.parametrize("lost", [[2], [1, 2]])
def test_a_slice_per_file_time_series_missing_whole_volumes_says_so(tmp_path, lost):
    """One file a slice (GE fMRI numbers its images 1.. across volumes, no other label): a time
    point whose files are all lost leaves regular positions and a 4D volume one time point short
    (dcm2niix too); the warning said only that InstanceNumber has gaps 'but the positions are
    regular'. It now says how many whole volumes the missing numbers make, as for a mosaic."""
    nk = 5
    truth = write_dicom_4d_series(tmp_path / "s", (8, 6, nk), 5, labels=())
    for f in truth.files:
        if (int(pydicom.dcmread(f).InstanceNumber) - 1) // nk in lost:
            Path(f).unlink()
    vol, said = _open_warned(tmp_path / "s")
    kept = [t for t in range(5) if t not in lost]
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., kept])
    (gap,) = [w for w in said if "InstanceNumber (0020,0013) has gaps" in w]
    first, last = min(lost) * nk + 1, (max(lost) + 1) * nk
    assert f"{first}..{last} missing, as many images as {len(lost)} whole volume(s) of {nk}" in gap
    assert "a volume (time point) of the series may be missing" in gap


def test_a_gap_smaller_than_a_volume_is_not_called_a_missing_volume():
    records = [
        FrameRecord(
            path=f"f{n}",
            size=0,
            mtime_ns=0,
            transfer_syntax="1.2.840.10008.1.2.1",
            instance_number=n,
            ipp=[0.0, 0.0, float(n % 3)],
        )
        for n in (1, 2, 3, 4, 6, 7)
    ]
    (note,) = instance_gaps(records[:3], records)
    assert note.endswith("but the positions are regular")


def test_whole_volumes_missing_apart_are_named_each(tmp_path):
    """Time points 1 and 3 of 5 lost (numbers 6..10 and 16..20): the warning named '6..20
    missing', ten numbers that are no gap among them (11..15) included."""
    nk = 5
    truth = write_dicom_4d_series(tmp_path / "s", (8, 6, nk), 5, labels=())
    for f in truth.files:
        if (int(pydicom.dcmread(f).InstanceNumber) - 1) // nk in (1, 3):
            Path(f).unlink()
    vol, said = _open_warned(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., [0, 2, 4]])
    (gap,) = [w for w in said if "InstanceNumber (0020,0013) has gaps" in w]
    assert "6..10, 16..20 missing, as many images as 2 whole volume(s) of 5" in gap
