"""Volumes of one series at other echo times: written apart per echo time, as dcm2niix writes them.

A DWI whose b = 0 images were acquired at other TEs, or a time series with a volume acquired again
at another TE, repeats its positions within one echo time only. Such a series was one 4D volume
ordered by its other labels, its echo times mixed along the 4th axis with no warning (the sidecar
leaving EchoTime out), where dcm2niix writes one file per echo time.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series, write_dicom_series
from lazyvol.testing.mosaic import write_mosaic_series

SHAPE = (16, 12, 5)


def _set_echo_time(files: list[str], te: str) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        ds.EchoTime = te
        ds.save_as(f)


def _volume_files(files: list[str], t: int, nk: int) -> list[str]:
    """The files of volume t of a series numbered volume by volume."""
    return [f for f in files if (int(pydicom.dcmread(f).InstanceNumber) - 1) // nk == t]


def _sidecar(vol: lv.Volume, path: Path) -> dict:
    vol.to_nifti(path)
    return json.loads(path.with_suffix(".json").read_text())


@pytest.mark.filterwarnings("ignore:lazyvol. volumes not evenly spaced:RuntimeWarning")
def test_a_b0_at_another_echo_time_is_written_apart_as_dcm2niix(tmp_path, dcm2niix):
    bvals = [0, 0, 1000, 1000, 1000]
    bvecs = [(0, 0, 0), (0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    truth = write_dicom_4d_series(
        tmp_path / "s", SHAPE, bvals=bvals, bvecs=bvecs, labels=("AcquisitionTime",)
    )
    _set_echo_time(_volume_files(truth.files, 1, SHAPE[2]), "80")
    report = lv.scan(tmp_path / "s")
    assert sorted(i.shape for i in report) == [SHAPE, (*SHAPE, 4)], report
    assert all(any("EchoTime (0018,0081) differ" in r for r in i.reasons) for i in report)
    (main,) = [i for i in report if len(i.shape) == 4]
    (other,) = [i for i in report if len(i.shape) == 3]
    vol = lv.open(tmp_path / "s", series=main.id)
    np.testing.assert_array_equal(vol.compute(), truth.stored[..., [0, 2, 3, 4]])
    assert vol.meta["diffusion"]["bvals"] == [0.0, 1000.0, 1000.0, 1000.0]
    b0 = lv.open(tmp_path / "s", series=other.id)
    np.testing.assert_array_equal(b0.compute(), truth.stored[..., 1])
    docs = {
        i.id: _sidecar(lv.open(tmp_path / "s", series=i.id), tmp_path / f"{i.id}.nii")
        for i in report
    }
    dcm2niix.run(tmp_path / "s", tmp_path / "ref", name="%s_%e_%t", sidecar=True, check=True)
    refs = sorted((tmp_path / "ref").glob("*.nii"))
    assert sorted(nib.load(r).shape for r in refs) == [SHAPE, (*SHAPE, 4)]
    for r in refs:
        ref = json.loads(r.with_suffix(".json").read_text())
        mine = docs[main.id if len(nib.load(r).shape) == 4 else other.id]
        assert (mine["EchoTime"], mine.get("EchoNumber")) == (ref["EchoTime"], ref["EchoNumber"])


def test_a_mosaic_time_point_at_another_echo_time_is_written_apart(tmp_path):
    truth = write_mosaic_series(tmp_path / "m", (16, 12, 7), volumes=4)
    _set_echo_time([truth.files[3]], "45")
    report = lv.scan(tmp_path / "m")
    assert sorted(i.shape for i in report) == [(16, 12, 7), (16, 12, 7, 3)], report
    for info in report:
        vol = lv.open(tmp_path / "m", series=info.id)
        want = truth.stored[..., :3] if vol.ndim == 4 else truth.stored[..., 3]
        np.testing.assert_array_equal(vol.compute(), want)
        assert vol.meta["echo_times"] == ([30.0] if vol.ndim == 4 else [45.0])


@pytest.mark.parametrize("labels", [(), ("AcquisitionTime",)])
def test_echoes_stating_echo_numbers_1_told_apart_by_echo_time_have_echo_number_1(
    tmp_path, dcm2niix, labels
):
    """A multi-echo time series whose images all state EchoNumbers 1 (told apart by EchoTime):
    dcm2niix writes EchoNumber 1 in each echo's sidecar (its echo times differing make it
    multi-echo); lazyvol wrote none."""
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=labels, echoes=2)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.EchoNumbers = 1
        ds.save_as(f)
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2
    mine = sorted(
        (d["EchoTime"], d.get("EchoNumber"))
        for d in (
            _sidecar(lv.open(tmp_path / "s", series=i.id), tmp_path / f"{i.id}.nii") for i in report
        )
    )
    dcm2niix.run(tmp_path / "s", tmp_path / "ref", name="%s_%t_%e", sidecar=True, check=True)
    docs = [json.loads(p.read_text()) for p in sorted((tmp_path / "ref").glob("*.json"))]
    assert mine == sorted((d["EchoTime"], d.get("EchoNumber")) for d in docs)
    assert [n for _, n in mine] == [1, 1]


@pytest.mark.parametrize("numbered", [True, False])
def test_echoes_of_one_volume_are_one_volume_per_echo_as_dcm2niix(tmp_path, dcm2niix, numbered):
    """Single-frame echoes of one volume (no position repeating within any echo) were one 4D
    volume with the echo as its 4th axis, where dcm2niix writes one file per echo (_e1, _e2, _e3)
    and a multi-echo time series was already split per echo: now one 3D volume per echo, each
    with its EchoTime (and EchoNumber, where the images state EchoNumbers) in its sidecar, as
    dcm2niix's. Told apart by EchoTime alone too."""
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 1, labels=(), echoes=3, modality="MR")
    if not numbered:
        for f in truth.files:
            ds = pydicom.dcmread(f)
            del ds.EchoNumbers
            ds.save_as(f)
    report = lv.scan(tmp_path / "s")
    assert [i.shape for i in report] == [SHAPE] * 3
    assert all("one volume per echo, as dcm2niix" in i.reasons[0] for i in report), report
    mine = []
    for e, info in enumerate(report):
        vol = lv.open(tmp_path / "s", series=info.id)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., e])
        doc = _sidecar(vol, tmp_path / f"e{e}.nii")
        mine.append((doc["EchoTime"], doc.get("EchoNumber")))
    dcm2niix.run(tmp_path / "s", tmp_path / "ref", name="%s_%e", sidecar=True, check=True)
    docs = [json.loads(p.read_text()) for p in (tmp_path / "ref").glob("*.json")]
    assert mine == sorted((d["EchoTime"], d.get("EchoNumber")) for d in docs)
    written = sorted({float(pydicom.dcmread(f).EchoTime) / 1000 for f in truth.files})
    assert [te for te, _ in mine] == written


def test_a_derived_copy_of_one_echo_leaves_the_echoes_of_one_volume_as_without_it(tmp_path):
    """Two echoes of one volume (a GRE field map's magnitudes) whose first echo also has a DERIVED
    copy at the same positions: the copy repeats echo 1's positions, yet no position repeats
    within an echo once the copy is set apart (as it is, by ImageType value 1). The echoes are
    one volume each, as without the copy (h201: dcm2niix's one file per echo), never reported as
    a time series of echoes."""
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 1, labels=(), echoes=2)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        if int(ds.EchoNumbers) == 1:
            kind = list(ds.ImageType)
            ds.ImageType = ["DERIVED", *kind[1:]]
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.InstanceNumber = int(ds.InstanceNumber) + 1000
            ds.save_as(f"{f}_derived.dcm")
    report = lv.scan(tmp_path / "s")
    assert sorted(i.shape for i in report) == [SHAPE] * 3, report
    assert not any("time series" in r for i in report for r in i.reasons), report
    echoes = [
        i for i in report if any(r.startswith("this volume: ImageType ORIGINAL") for r in i.reasons)
    ]
    assert len(echoes) == 2
    for e, info in enumerate(echoes):
        vol = lv.open(tmp_path / "s", series=info.id)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., e])


@pytest.mark.parametrize("at", [1, 3])
def test_an_enhanced_file_with_one_time_point_at_another_echo_time_is_one_4d_volume(
    tmp_path, dcm2niix, at
):
    """An enhanced file of 4 time points whose frames of one state another EffectiveEchoTime:
    dcm2niix writes one 4D volume (its echo times differing within the file); since the split on
    repeats within some echo it was split into 3 + 1 volumes."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from lazyvol.testing.dicom_enhanced import write_enhanced_dicom

    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "e.dcm"
    truth = write_enhanced_dicom(path, SHAPE, n_volumes=4)
    ds = pydicom.dcmread(path)
    for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        echo = Dataset()
        echo.EffectiveEchoTime = 45.0 if n // SHAPE[2] == at else 30.0
        item.MREchoSequence = Sequence([echo])
    ds.save_as(path)
    (info,) = lv.scan(tmp_path / "in")
    np.testing.assert_array_equal(lv.open(tmp_path / "in").compute(), truth.stored)
    dcm2niix.run(tmp_path / "in", tmp_path / "ref", name="%s_%e", sidecar=True, check=True)
    assert [nib.load(p).shape for p in (tmp_path / "ref").glob("*.nii")] == [info.shape]


def _alternating(k: int, n_echoes: int, numbered: bool) -> dict:
    echo = {"EchoTime": 10.0 + 5 * (k % n_echoes)}
    return {**echo, "EchoNumbers": 1 + k % n_echoes} if numbered else echo


@pytest.mark.parametrize(
    ("n_echoes", "nk", "numbered"), [(2, 8, True), (2, 9, False), (3, 9, True)]
)
def test_echoes_alternating_slice_by_slice_are_one_volume_per_echo(
    tmp_path, dcm2niix, n_echoes, nk, numbered
):
    """Slices alternating between echoes at distinct positions (EchoNumbers 1/2/..., or EchoTime
    alone): dcm2niix writes one volume per echo at the echo's own spacing. They were stacked as
    one volume of every slice at a fraction of the spacing, the echoes interleaved along k."""
    per = [_alternating(k, n_echoes, numbered) for k in range(nk)]
    truth = write_dicom_series(
        tmp_path / "s", shape=(16, 12, nk), spacing=(0.8, 0.9, 1.25), per_slice=per, modality="MR"
    )
    report = lv.scan(tmp_path / "s")
    assert len(report) == n_echoes, report
    vols = [lv.open(tmp_path / "s", series=i.id) for i in report]
    for e, vol in enumerate(vols):
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., e::n_echoes])
        np.testing.assert_allclose(vol.affine[:3, 2], truth.affine[:3, 2] * n_echoes, atol=1e-6)
        assert vol.meta["echo_times"] == [10.0 + 5 * e]
    assert all(any("one volume per echo" in r for r in i.reasons) for i in report)
    refs = dcm2niix(tmp_path / "s", tmp_path / "ref")
    assert sorted(nib.load(r).shape for r in refs) == sorted(v.shape for v in vols)


@pytest.mark.parametrize(
    ("nk", "echo_of"),
    [
        (3, lambda k: 1 + k % 2),
        (8, lambda k: 2 if k == 3 else 1),
        (6, lambda k: 2 if k == 0 else 1),
    ],
    ids=["two-echoes-over-three-slices", "one-slice-of-echo-2", "first-slice-of-echo-2"],
)
def test_an_echo_number_at_one_position_among_another_echos_slices_is_apart(
    tmp_path, dcm2niix, nk, echo_of
):
    """Slices at distinct positions told apart by EchoNumbers where one echo holds a single
    position: dcm2niix writes each echo apart. They were stacked as one volume (the split needed
    every echo at two or more positions, a rule for EchoTime alone), the echoes mixed along k."""
    per = [{"EchoTime": 5.0 + 5 * echo_of(k), "EchoNumbers": echo_of(k)} for k in range(nk)]
    truth = write_dicom_series(
        tmp_path / "s", shape=(16, 12, nk), spacing=(0.8, 0.9, 1.25), per_slice=per, modality="MR"
    )
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2, report
    for info in report:
        assert any("one volume per echo" in r for r in info.reasons), info.reasons
    ks = {e: [k for k in range(nk) if echo_of(k) == e] for e in (1, 2)}
    single = next(i for i in report if i.shape[2] == 1)
    vol = lv.open(tmp_path / "s", series=single.id)
    (e,) = (e for e, k in ks.items() if len(k) == 1)
    np.testing.assert_array_equal(vol.compute()[..., 0], truth.stored[..., ks[e][0]])
    assert vol.meta["echo_times"] == [5.0 + 5 * e]
    refs = [r for r in dcm2niix(tmp_path / "s", tmp_path / "ref") if "_Eq" not in r.name]
    assert sorted(nib.load(r).shape[2] for r in refs) == sorted(len(k) for k in ks.values())


@pytest.mark.parametrize("missing", [2, 5], ids=["inside", "last"])
def test_echoes_of_one_volume_missing_a_file_of_one_echo_are_each_apart(tmp_path, missing):
    """Two echoes of one volume sharing six positions, one file of echo 2 missing: dcm2niix
    writes each echo apart (echo 1 whole). The echo split needed positions repeating within an
    echo, so the series was one group with one position once and five twice, refused whole."""
    truths = [
        write_dicom_series(
            tmp_path / "s",
            shape=(16, 12, 6),
            modality="MR",
            prefix=f"E{e}",
            series_uid="1.2.826.0.1.3680043.8.498.150",
            seed=e,
            extra={"EchoTime": 10.0 * e, "EchoNumbers": e},
        )
        for e in (1, 2)
    ]
    gone = truths[1].files[missing]
    Path(gone).unlink()
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2, report
    assert all(any("one volume per echo" in r for r in i.reasons) for i in report)
    one, two = sorted(report, key=lambda i: -i.shape[2])
    vol = lv.open(tmp_path / "s", series=one.id)
    np.testing.assert_array_equal(vol.compute(), truths[0].stored)
    assert vol.meta["echo_times"] == [10.0]
    ks = [k for k in range(6) if k != missing]
    if missing == 5:
        np.testing.assert_array_equal(
            lv.open(tmp_path / "s", series=two.id).compute(), truths[1].stored[..., ks]
        )
    else:
        with pytest.raises(lv.errors.SeriesError, match="spacing"):
            lv.open(tmp_path / "s", series=two.id)


@pytest.mark.parametrize("n3", [1, 6], ids=["one-slice", "a-slab"])
def test_echoes_sharing_positions_beside_a_third_echo_elsewhere_are_each_apart(
    tmp_path, dcm2niix, n3
):
    """Echoes 1 and 2 of one volume at six shared positions, echo 3 (EchoNumbers 3) at positions
    of its own above them (one re-acquired slice, or a slab): dcm2niix writes each echo apart. The
    echo split wanted a position common to every echo, so the series stayed one group with
    positions repeating unevenly and was refused whole, echoes 1 and 2 with it."""
    truths = [
        write_dicom_series(
            tmp_path / "s",
            shape=(16, 12, 6 if e < 3 else n3),
            origin=(-12.5, -20.0, 30.0 if e < 3 else 45.0),
            modality="MR",
            prefix=f"E{e}",
            series_uid="1.2.826.0.1.3680043.8.498.152",
            seed=e,
            extra={"EchoTime": 5.0 * e, "EchoNumbers": e},
        )
        for e in (1, 2, 3)
    ]
    report = lv.scan(tmp_path / "s")
    assert len(report) == 3, report
    assert all(any("one volume per echo" in r for r in i.reasons) for i in report)
    by_te = {}
    for info in report:
        vol = lv.open(tmp_path / "s", series=info.id)
        (te,) = vol.meta["echo_times"]
        by_te[te] = vol
    assert sorted(by_te) == [5.0, 10.0, 15.0]
    for e, truth in enumerate(truths, start=1):
        np.testing.assert_array_equal(by_te[5.0 * e].compute(), truth.stored)
        np.testing.assert_allclose(by_te[5.0 * e].affine, truth.affine, atol=1e-6)
    refs = dcm2niix(tmp_path / "s", tmp_path / "ref")
    assert sorted(nib.load(r).shape for r in refs) == sorted(v.shape for v in by_te.values())


@pytest.mark.parametrize("jitter", [6e-4, -6e-4])
def test_echoes_at_positions_differing_by_rounding_noise_share_their_positions(tmp_path, jitter):
    """Two echoes of one volume whose second echo's positions are written 6e-4 mm off the first's,
    across a 3-decimal rounding boundary: the same positions within the stacking's tolerance, so
    one volume per echo at the same positions (as without the noise). The echo split compared
    positions rounded to 3 decimals and said the echoes lie at distinct positions."""
    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 1, labels=(), echoes=2)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        if int(ds.EchoNumbers) == 2:
            p = [float(x) for x in ds.ImagePositionPatient]
            p[2] += jitter  # 30.0 -> 30.0006 (or 29.9994): 30.001 (29.999) at 3 decimals
            assert round(p[2], 3) != round(float(ds.ImagePositionPatient[2]), 3)
            ds.ImagePositionPatient = [f"{x:.4f}" for x in p]
            ds.save_as(f)
    report = lv.scan(tmp_path / "s")
    assert [i.shape for i in report] == [SHAPE] * 2
    for e, info in enumerate(report):
        assert "at the same 5 positions" in info.reasons[0], info.reasons
        vol = lv.open(tmp_path / "s", series=info.id)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., e])


def test_a_slice_at_another_echo_time_alone_stays_in_the_volume_with_a_warning(tmp_path, dcm2niix):
    """EchoTime alone (no EchoNumbers): seven slices at TE 10 and one at TE 15 stay one volume
    (an echo time that differs slice by slice: 5514d54), now with a warning naming each echo time
    and its count and that dcm2niix writes one file per echo time (it does: 7 + 1 slices). It was
    silent, its sidecar without EchoTime."""
    per = [{"EchoTime": 15.0 if k == 3 else 10.0} for k in range(8)]
    truth = write_dicom_series(tmp_path / "s", shape=(16, 12, 8), per_slice=per, modality="MR")
    (info,) = lv.scan(tmp_path / "s")
    vol = lv.open(tmp_path / "s", series=info.id)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.meta["echo_times"] == [10.0, 15.0]
    assert "EchoTime" not in _sidecar(vol, tmp_path / "v.nii")
    (note,) = [w for w in info.warnings if w.startswith("EchoTime (0018,0081) differs")]
    assert "10 ms (7 images), 15 ms (1 image)" in note and "dcm2niix" in note, note
    refs = dcm2niix(tmp_path / "s", tmp_path / "ref")
    assert sorted(nib.load(r).shape[2] for r in refs if "_Eq" not in r.name) == [1, 7]


def test_echoes_of_one_volume_each_at_one_echo_time_get_no_echo_time_warning(tmp_path):
    """Echoes of one volume (a volume each) differ in EchoTime between volumes, not between the
    slices of one: no warning."""
    write_dicom_4d_series(tmp_path / "s", SHAPE, 1, labels=(), echoes=3)
    report = lv.scan(tmp_path / "s")
    assert [i.shape for i in report] == [SHAPE] * 3
    for info in report:
        assert not any(w.startswith("EchoTime") for w in info.warnings), info.warnings


def test_the_echo_time_warning_of_a_time_series_lists_a_few_values(tmp_path):
    """An fMRI series whose EchoTime differs slice by slice (one value per position, the same in
    every volume: one 4D volume, 5514d54) is warned of with its first values and a count of the
    others, not one entry per slice."""
    truth = write_dicom_4d_series(tmp_path / "s", (8, 8, 9), 2, labels=("AcquisitionTime",))
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.EchoTime = 30.0 + float(ds.ImagePositionPatient[2])  # one value per slice
        del ds.EchoNumbers
        ds.save_as(f)
    (info,) = lv.scan(tmp_path / "s")
    assert info.shape == (8, 8, 9, 2)
    (note,) = [w for w in info.warnings if w.startswith("EchoTime (0018,0081) differs")]
    assert "60 ms (2 images)" in note and "and 3 more values" in note, note


def test_the_echo_time_warning_of_enhanced_frames_says_what_dcm2niix_does(tmp_path, dcm2niix):
    """An enhanced file whose frames alternate between two EffectiveEchoTime values at distinct
    positions stays one volume, as dcm2niix keeps it (one file, its sidecar stating one echo
    time); the warning said dcm2niix writes one file per echo time."""
    from lazyvol.testing import write_enhanced_dicom

    src = tmp_path / "in"
    src.mkdir()
    write_enhanced_dicom(src / "e.dcm", (16, 12, 8))
    ds = pydicom.dcmread(src / "e.dcm")
    for k, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        echo = pydicom.Dataset()
        echo.EffectiveEchoTime = 10.0 if k % 2 == 0 else 15.0
        group.MREchoSequence = pydicom.Sequence([echo])
    ds.save_as(src / "e.dcm")
    (info,) = lv.scan(src)
    assert info.shape == (16, 12, 8)
    (note,) = [w for w in info.warnings if w.startswith("EchoTime (0018,0081) differs")]
    assert "one file per echo time" not in note and "enhanced file's frames in one volume" in note
    refs = dcm2niix(src, tmp_path / "ref")
    assert [nib.load(r).shape[2] for r in refs] == [8]
