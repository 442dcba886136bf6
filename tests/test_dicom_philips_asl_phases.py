"""Philips classic (one file per slice) multi-phase ASL whose InstanceNumbers carry no order
(dcm_qa_philips_asl: "Philips often assigns instance number randomly"): no one attribute is
distinct at each position, but TemporalPositionIdentifier (repeat) + (2005,1429) (label/control)
+ TriggerTime (phase) together are. The volumes are stacked by that combination in dcm2niix's
order (repeat, then control before label, then phase); checked against the synthetic truth (each
volume's voxels encode its repeat, phase and kind) and against dcm2niix."""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.errors import SeriesError
from lazyvol.testing import write_dicom_4d_series

NREP = 2
KINDS = ("LABEL", "CONTROL")  # acquired label first


def _volumes(nph: int) -> list[tuple[int, int, str]]:
    """(repeat, phase, kind) of each volume in acquisition order."""
    return list(itertools.product(range(1, NREP + 1), range(1, nph + 1), KINDS))


def _philips_asl(folder, nph: int, *, seed: int = 1, phase_time=None, run_time=None):
    """Write the series; InstanceNumbers scrambled, one AcquisitionTime for every image (unless
    ``run_time`` gives one per volume). Returns the files and each volume's (repeat, phase, kind)
    and expected voxels (the code repeat * 100 + phase * 10 + label, 1 for label)."""
    vols = _volumes(nph)
    truth = write_dicom_4d_series(
        folder,
        (6, 5, 3),
        n_volumes=len(vols),
        labels=("TemporalPositionIdentifier",),
        numbering="position",
        modality="MR",
        dtype="uint16",
        extra={"Manufacturer": "Philips Medical Systems", "PatientPosition": "HFS"},
    )
    numbers = np.random.default_rng(seed).permutation(len(truth.files)) + 1
    for path, number in zip(truth.files, numbers, strict=True):
        ds = pydicom.dcmread(path)
        t = int(ds.TemporalPositionIdentifier) - 1
        rep, ph, kind = vols[t]
        ds.TemporalPositionIdentifier = rep
        ds.NumberOfTemporalPositions = NREP
        ds.InstanceNumber = int(number)
        ds.TriggerTime = phase_time(ph, ds) if phase_time else 300.0 + 250.0 * (ph - 1)
        ds.AcquisitionTime = run_time(t) if run_time else "163708.84"
        ds.add_new(0x20010010, "LO", "Philips Imaging DD 001")
        ds.add_new(0x20011008, "IS", ph)  # Philips phase number
        ds.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
        ds.add_new(0x20051429, "CS", kind)
        code = rep * 100 + ph * 10 + (kind == "LABEL")
        ds.PixelData = np.full((ds.Rows, ds.Columns), code, np.uint16).tobytes()
        ds.save_as(path)
    return vols


def _dcm2niix_order(vols):
    """dcm2niix's order of these volumes: repeat, then control before label, then phase."""
    return sorted(vols, key=lambda v: (v[0], v[2] != "CONTROL", v[1]))


def _code(v) -> int:
    return v[0] * 100 + v[1] * 10 + (v[2] == "LABEL")


@pytest.mark.parametrize("nph", [1, 2])
def test_scrambled_instance_numbers_stack_by_combined_labels(tmp_path, nph):
    vols = _philips_asl(tmp_path / "in", nph)
    vol = lv.open(tmp_path / "in")
    order = _dcm2niix_order(vols)
    assert vol.shape == (6, 5, 3, len(vols))
    a = np.asarray(vol.compute())
    for t, v in enumerate(order):  # every voxel of volume t is its own code
        assert np.all(a[..., t] == _code(v)), (t, v, np.unique(a[..., t]))
    assert vol.meta["axis4_values"]["ASLContext"] == [v[2].lower() for v in order]
    assert vol.meta["axis4_values"]["TemporalPositionIdentifier"] == [v[0] for v in order]
    rule = vol.meta["axis4_rule"]
    assert rule.startswith("TemporalPositionIdentifier (0020,0100) + Philips ASL")
    assert ("TriggerTime (0018,1060)" in rule) == (nph > 1)


def test_combined_order_is_dcm2niix_order(tmp_path, dcm2niix):
    _philips_asl(tmp_path / "in", 2, seed=3)
    a = np.asarray(lv.open(tmp_path / "in").compute())
    (ref,) = dcm2niix(tmp_path / "in", tmp_path / "out")
    theirs = np.asarray(nib.load(ref).dataobj)
    ours = [int(a[0, 0, 0, t]) for t in range(a.shape[3])]
    assert ours == [int(theirs[0, 0, 0, t]) for t in range(theirs.shape[3])]


def test_phase_label_varying_inside_a_volume_is_not_combined(tmp_path):
    # TriggerTime differs per slice (a slice time, not a phase): its set differs between
    # positions, so it is no volume label; repeat + kind alone repeat at each position: refused
    def per_slice(ph, ds):
        return 300.0 + 250.0 * (ph - 1) + 7.0 * int(ds.InstanceNumber % 3)

    _philips_asl(tmp_path / "in", 2, phase_time=per_slice)
    with pytest.raises(SeriesError) as err:
        lv.open(tmp_path / "in")
    assert "combined labels" in str(err.value)


def test_runs_interleaved_by_the_combination_are_refused(tmp_path):
    # two runs under one series (the phase's TriggerTime tells them apart), the second acquired
    # an hour later: the combination would interleave them, AcquisitionTime says otherwise
    vols = _volumes(2)
    _philips_asl(tmp_path / "in", 2, run_time=lambda t: "1100" if vols[t][1] == 1 else "1200")
    with pytest.raises(SeriesError) as err:
        lv.open(tmp_path / "in")
    msg = str(err.value)
    assert "combined labels" in msg and "of an earlier time point" in msg


def test_instance_order_is_not_advised_when_it_cannot_order(tmp_path):
    # no (2005,1429): repeat alone labels 2 of the 4 images at a position, and InstanceNumber
    # ranks mix repeats whatever the numbering: instance_order=True cannot help, so it is not
    # advised (the SeriesError says why not)
    _philips_asl(tmp_path / "in", 1)
    for path in (tmp_path / "in").iterdir():
        ds = pydicom.dcmread(path)
        del ds[0x20051429]
        ds.save_as(path)
    with pytest.raises(SeriesError) as err:
        lv.open(tmp_path / "in")
    msg = str(err.value)
    assert "Pass instance_order=True" not in msg
    assert "instance_order=True cannot order them either" in msg
    with pytest.raises(SeriesError):  # and indeed it cannot
        lv.open(tmp_path / "in", instance_order=True)


def _two_labels(folder, second: str, values, *, diffusion: bool = False) -> None:
    """8 volumes of 3 slices, InstanceNumbers restarting per run, no acquisition times: volume t
    labelled AcquisitionNumber 1 + t // 4 and ``second`` = ``values(t)``."""
    truth = write_dicom_4d_series(
        folder,
        (6, 5, 3),
        n_volumes=8,
        labels=("TemporalPositionIdentifier",),
        numbering="volume",
        modality="MR",
        dtype="uint16",
    )
    for path in truth.files:
        ds = pydicom.dcmread(path)
        t = int(ds.TemporalPositionIdentifier) - 1
        del ds.TemporalPositionIdentifier
        for kw in ("AcquisitionTime", "AcquisitionDate", "ContentTime", "AcquisitionDateTime"):
            if kw in ds:
                delattr(ds, kw)
        ds.AcquisitionNumber = 1 + t // 4
        ds.InstanceNumber = (t % 4) * 3 + (int(ds.InstanceNumber) - 1) % 3 + 1
        if diffusion:
            ds.DiffusionBValue, ds.DiffusionGradientOrientation = values(t)
        else:
            setattr(ds, second, values(t))
        ds.save_as(path)


def test_two_run_counters_together_are_refused(tmp_path):
    """Two runs under one series, each numbering its time points (TemporalPositionIdentifier 1..4,
    AcquisitionNumber 1 / 2), without acquisition times: which counter runs inside which is not
    stated, so the combination orders nothing (it interleaved the runs, h54)."""
    _two_labels(tmp_path / "in", "TemporalPositionIdentifier", lambda t: t % 4 + 1)
    with pytest.raises(SeriesError) as err:
        lv.open(tmp_path / "in")
    assert "both number the volumes" in str(err.value)


def test_diffusion_label_is_not_combined(tmp_path):
    """Two repeats of a diffusion run (b1000 x, b0, b1000 z, b1000 y): the b-value and gradient
    tell volumes apart but not their acquisition order, which the combination sorted by (h54)."""
    scheme = [(1000.0, [1.0, 0.0, 0.0]), (0.0, [0.0, 0.0, 0.0])]
    scheme += [(1000.0, [0.0, 0.0, 1.0]), (1000.0, [0.0, 1.0, 0.0])]
    _two_labels(tmp_path / "in", "", lambda t: scheme[t % 4], diffusion=True)
    with pytest.raises(SeriesError) as err:
        lv.open(tmp_path / "in")
    assert "combined labels: fewer than two attributes" in str(err.value)


def test_two_counters_numbering_alike_are_one_label(tmp_path):
    """AcquisitionNumber written equal to TemporalPositionIdentifier numbers the same repeats: not
    two runs, so the series opens in dcm2niix's order (refused by the first two-counter check,
    h55)."""
    vols = _philips_asl(tmp_path / "in", 2, seed=5)
    for path in (tmp_path / "in").iterdir():
        ds = pydicom.dcmread(path)
        ds.AcquisitionNumber = int(ds.TemporalPositionIdentifier)
        ds.save_as(path)
    a = np.asarray(lv.open(tmp_path / "in").compute())
    assert [int(a[0, 0, 0, t]) for t in range(a.shape[3])] == [
        _code(v) for v in _dcm2niix_order(vols)
    ]
