"""The time unit a NIfTI written from a DICOM series states (``xyzt_units``): seconds, as DICOM
states its times and dcm2niix writes them, also where no step between volumes is known (a 3D
volume, a dynamic PET series stating no frame interval): it was "unknown" there."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series
from test_dicom_pet_frames import _dynamic_pet, _frame_refs, _numbers


def _ct(folder):
    write_dicom_series(folder, (12, 10, 5))


def _pet(folder):
    _dynamic_pet(folder, _numbers("restarting"), _frame_refs("frame"))


def _mr(folder):
    write_dicom_series(folder, (12, 10, 5), modality="MR", extra={"RepetitionTime": "2300"})


@pytest.mark.parametrize("make", [_ct, _pet, _mr], ids=["CT-3D", "PET-no-interval", "MR-3D-TR"])
def test_dicom_volume_written_states_seconds_as_dcm2niix(tmp_path, make, dcm2niix):
    make(tmp_path / "s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol = lv.open(tmp_path / "s")
    vol.to_nifti(tmp_path / "mine.nii")
    mine = nib.load(tmp_path / "mine.nii").header
    (nii,) = dcm2niix(tmp_path / "s", tmp_path / "out")
    theirs = nib.load(nii).header
    assert mine.get_xyzt_units() == theirs.get_xyzt_units() == ("mm", "sec")
    assert mine["dim"][0] == theirs["dim"][0]
    if mine["dim"][0] == 4:  # the step between volumes, where there is a 4th axis
        np.testing.assert_allclose(mine["pixdim"][4], theirs["pixdim"][4], atol=1e-6)
