"""Philips ASL stored one image per slice: label and control images of a pair share their
TemporalPositionIdentifier and (2005,1429) says which is which. The volumes keep their acquisition
(InstanceNumber) order and each one's kind is reported (``meta["axis4_values"]["ASLContext"]``)
and written beside the NIfTI as BIDS ``_aslcontext.tsv``; checked against the synthetic truth."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.errors import LazyvolError
from lazyvol.testing import write_dicom_4d_series

NT = 6


def _asl_series(folder):
    truth = write_dicom_4d_series(
        folder,
        (8, 6, 4),
        n_volumes=NT,
        labels=("TemporalPositionIdentifier",),
        numbering="position",
        modality="MR",
        extra={"Manufacturer": "Philips Medical Systems", "PatientPosition": "HFS"},
    )
    for path in truth.files:
        ds = pydicom.dcmread(path)
        t = int(ds.TemporalPositionIdentifier) - 1  # acquired label, control, label, ...
        ds.TemporalPositionIdentifier = t // 2 + 1
        ds.NumberOfTemporalPositions = NT // 2
        ds.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
        ds.add_new(0x20051429, "CS", "LABEL" if t % 2 == 0 else "CONTROL")
        ds.save_as(path)
    return truth, ["label" if t % 2 == 0 else "control" for t in range(NT)]


def test_asl_volumes_in_acquisition_order_with_their_kind(tmp_path):
    truth, kinds = _asl_series(tmp_path / "in")
    vol = lv.open(tmp_path / "in")
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth.stored)  # acquisition order
    assert vol.meta["axis4_values"]["ASLContext"] == kinds
    vol.to_nifti(tmp_path / "sub-01_asl.nii")  # BIDS: sub-01_aslcontext.tsv beside it
    tsv = (tmp_path / "sub-01_aslcontext.tsv").read_text().split()
    assert tsv == ["volume_type", *kinds]
    part = vol[..., 1:4]
    part.to_nifti(tmp_path / "part.nii")
    assert (tmp_path / "part_aslcontext.tsv").read_text().split() == ["volume_type", *kinds[1:4]]


def test_asl_kind_must_be_constant_inside_a_volume(tmp_path):
    # one image of the first volume says CONTROL: the volumes are mixed, no rule orders them
    truth, _ = _asl_series(tmp_path / "in")
    first = min(truth.files, key=lambda p: int(pydicom.dcmread(p).InstanceNumber))
    ds = pydicom.dcmread(first)
    ds[0x20051429].value = "CONTROL"
    ds.save_as(first)
    with pytest.raises(LazyvolError) as err:
        lv.open(tmp_path / "in")
    assert "Philips ASL label/control (2005,1429) varies inside volume 0" in str(err.value)


def _by_instance(truth) -> list[str]:
    return sorted(truth.files, key=lambda p: int(pydicom.dcmread(p).InstanceNumber))


def test_an_image_without_the_kind_does_not_hide_a_mixed_volume(tmp_path):
    """The check skipped the attribute for the whole series once any image lacked it: a volume
    whose images disagree was then reported as the kind of its first image."""
    truth, _ = _asl_series(tmp_path / "in")
    files = _by_instance(truth)
    ds = pydicom.dcmread(files[0])
    ds[0x20051429].value = "CONTROL"  # volume 0: one CONTROL among LABELs
    ds.save_as(files[0])
    ds = pydicom.dcmread(files[-1])
    del ds[0x20051429]  # an unrelated image without the attribute
    ds.save_as(files[-1])
    with pytest.raises(LazyvolError) as err:
        lv.open(tmp_path / "in")
    assert "Philips ASL label/control (2005,1429) varies inside volume 0" in str(err.value)


def test_a_volume_whose_first_image_lacks_the_kind_takes_its_other_images(tmp_path):
    """ASLContext was dropped for the whole series (no .tsv, no word) when the first image of a
    volume lacked (2005,1429): the volume's other images state it."""
    truth, kinds = _asl_series(tmp_path / "in")
    first = _by_instance(truth)[0]
    ds = pydicom.dcmread(first)
    del ds[0x20051429]
    ds.save_as(first)
    vol = lv.open(tmp_path / "in")
    assert vol.meta["axis4_values"]["ASLContext"] == kinds
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth.stored)
