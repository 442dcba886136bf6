"""A diffusion series of b = 0 volumes only (a reverse phase-encoding b = 0 series for topup, as
Siemens' ep2d_diff exports it: ImageType ...\\DIFFUSION\\..., every image b = 0): dcm2niix writes
its .bval/.bvec (zeros); lazyvol wrote none, its rule being that some volume must be weighted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

SHAPE = (16, 12, 5)
DIFFUSION = ("ORIGINAL", "PRIMARY", "DIFFUSION", "NONE")


def _tables(folder: Path) -> list[np.ndarray]:
    return [
        np.loadtxt(p, ndmin=2) for ext in ("bval", "bvec") for p in sorted(folder.glob(f"*.{ext}"))
    ]


@pytest.mark.parametrize("vendor", ["standard", "SIEMENS", "PHILIPS", "GE"])
@pytest.mark.parametrize("volumes", [1, 3])
@pytest.mark.parametrize("image_type", [DIFFUSION, ("ORIGINAL", "PRIMARY", "M", "ND")])
def test_a_b0_only_series_has_the_table_dcm2niix_writes(
    tmp_path, dcm2niix, vendor, volumes, image_type
):
    src = tmp_path / "s"
    write_dicom_4d_series(
        src,
        SHAPE,
        bvals=[0] * volumes,
        bvecs=[(0, 0, 0)] * volumes,
        labels=("AcquisitionTime",),
        vendor=vendor,
        image_type=image_type,
    )
    mine = tmp_path / "lv"
    mine.mkdir()
    vol = lv.open(src)
    vol.to_nifti(mine / "v.nii")
    dcm2niix.run(src, tmp_path / "ref", sidecar=True, check=True)
    theirs = _tables(tmp_path / "ref")
    assert len(_tables(mine)) == len(theirs)
    for a, b in zip(_tables(mine), theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    expected = image_type == DIFFUSION and vendor != "GE"
    assert bool(theirs) == expected  # (what dcm2niix does, checked here)
    assert (vol.meta.get("diffusion") is not None) == expected
    if expected:
        assert vol.meta["diffusion"]["bvals"] == [0.0] * volumes


@pytest.mark.parametrize("vendor", ["standard", "SIEMENS", "PHILIPS"])
@pytest.mark.parametrize(
    "image_type",
    [
        ("DERIVED", "PRIMARY", "DIFFUSION", "ADC"),
        ("DERIVED", "PRIMARY", "DIFFUSION", "TRACEW"),
        ("ORIGINAL", "PRIMARY", "NODIFFUSION"),
        ("ORIGINAL", "PRIMARY", "M", "DIFFUSION"),
        ("ORIGINAL", "PRIMARY", "DIFFUSION_MAP"),
        ("ORIGINAL", "PRIMARY", "DIFFUSION", "TRACEW"),
    ],
)
def test_a_b0_only_series_is_diffusion_as_dcm2niix_reads_its_image_type(
    tmp_path, dcm2niix, vendor, image_type
):
    """ImageType holding DIFFUSION-like words: a derived map (ADC / TRACEW, first value DERIVED),
    NODIFFUSION, or DIFFUSION as the last value got a table of zeros (any value containing
    DIFFUSION counted); dcm2niix writes none for them (its test: '_DIFFUSION_' in the values
    joined by '_', not DERIVED)."""
    src = tmp_path / "s"
    write_dicom_4d_series(
        src,
        SHAPE,
        bvals=[0],
        bvecs=[(0, 0, 0)],
        labels=("AcquisitionTime",),
        vendor=vendor,
        image_type=image_type,
    )
    mine = tmp_path / "lv"
    mine.mkdir()
    vol = lv.open(src)
    vol.to_nifti(mine / "v.nii")
    dcm2niix.run(src, tmp_path / "ref", sidecar=True, check=True)
    theirs = _tables(tmp_path / "ref")
    assert len(_tables(mine)) == len(theirs)
    assert (vol.meta.get("diffusion") is not None) == bool(theirs)
