"""The synthetic writers of lazyvol.testing and a misspelt or impossible argument: several raised a
bare KeyError or IndexError after writing part of the series (``vendor="siemens"``: the vendors
are "GE", "SIEMENS", "PHILIPS"; a ``bvecs`` list shorter than ``bvals``), or wrote what was not
asked without a word (``numbering="slice"`` numbered by volume; ``frame_order`` naming 2 of 3
slices wrote a 2-frame file whose truth holds 3; ``shape=(4, 4, -1)`` wrote a header-only NIfTI
of dim -1). Each is now a ValueError naming the argument, raised before anything is written."""

from __future__ import annotations

import os

import pytest

from lazyvol.testing import (
    write_dicom_4d_series,
    write_dicom_series,
    write_enhanced_dicom,
    write_mosaic_series,
    write_phantom_nifti,
)

CASES = {
    "series syntax": (lambda d: write_dicom_series(d, (4, 4, 2), syntax="little"), "syntax="),
    "series shape": (lambda d: write_dicom_series(d, (0, 4, 2)), "shape="),
    "4d vendor": (lambda d: write_dicom_4d_series(d, (4, 4, 2), 2, vendor="siemens"), "vendor="),
    "4d numbering": (
        lambda d: write_dicom_4d_series(d, (4, 4, 2), 2, numbering="slice"),
        "numbering=",
    ),
    "4d bvecs": (
        lambda d: write_dicom_4d_series(d, (4, 4, 2), bvals=[0, 1000], bvecs=[[0, 0, 0]]),
        "bvecs",
    ),
    "mosaic syntax": (lambda d: write_mosaic_series(d, (4, 4, 2), syntax="big"), "syntax="),
    "enhanced order": (
        lambda d: write_enhanced_dicom(os.path.join(d, "e.dcm"), (4, 4, 3), frame_order=[0, 1]),
        "frame_order=",
    ),
    "enhanced tag": (
        lambda d: write_enhanced_dicom(
            os.path.join(d, "e.dcm"), (4, 4, 3), n_volumes=2, volume_tag="EchoTime"
        ),
        "volume_tag=",
    ),
    "nifti shape": (
        lambda d: write_phantom_nifti(os.path.join(d, "a.nii"), (4, 4, -1)),
        "shape=",
    ),
    "nifti 2d": (lambda d: write_phantom_nifti(os.path.join(d, "a.nii"), (4, 4)), "shape="),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_argument_is_a_value_error_before_any_file(tmp_path, case):
    write, named = CASES[case]
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ValueError, match=named):
        write(str(folder))
    assert list(folder.iterdir()) == []


def test_the_values_the_writers_take_still_write(tmp_path):
    write_dicom_4d_series(tmp_path / "a", (4, 4, 2), 2, vendor="GE", numbering="position")
    write_enhanced_dicom(tmp_path / "e.dcm", (4, 4, 3), frame_order=[2, 0, 1], n_volumes=2)
    write_enhanced_dicom(tmp_path / "n.dcm", (4, 4, 3), n_volumes=2, volume_tag="none")
    write_phantom_nifti(tmp_path / "f.nii", (4, 4, 2, 3))
    write_mosaic_series(tmp_path / "m", (4, 4, 2), syntax="implicit")
