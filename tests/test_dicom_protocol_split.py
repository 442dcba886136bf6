"""Images of one SeriesInstanceUID under two protocol names, against dcm2niix.

dcm2niix never stacks images whose protocol name differs ("Slices not stacked: protocol name
varies"), its name being ProtocolName (0018,1030), else SeriesDescription (0008,103E): a Canon /
Toshiba b = 0 run exported under the DWI's SeriesInstanceUID with a name of its own is written
apart, as is any vendor's. lazyvol stacked them as more volumes of one 4D volume, silently.

The references: dcm2niix's files (how many, their 4th dimension) and the synthetic truth.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

DIRS = np.random.default_rng(1).normal(size=(3, 3))
DIRS /= np.linalg.norm(DIRS, axis=1, keepdims=True)


@pytest.mark.parametrize("manufacturer", ["TOSHIBA_MEC", "CANON_MEC", "SIEMENS"])
@pytest.mark.parametrize(
    "case", ["protocol_differs", "description_differs_no_protocol", "description_differs_only"]
)
def test_a_b0_run_under_another_protocol_name_is_apart_as_dcm2niix(
    tmp_path, dcm2niix, manufacturer, case
):
    src = tmp_path / "s"
    truth = write_dicom_4d_series(
        src, (8, 6, 3), labels=(), bvals=[0, 1000, 1000, 1000],
        bvecs=[(0.0, 0.0, 0.0), *map(tuple, DIRS)], modality="MR",
        extra={"Manufacturer": manufacturer, "PatientPosition": "HFS"},
    )  # fmt: skip
    for f in truth.files:
        ds = pydicom.dcmread(f)
        b0 = float(ds.DiffusionBValue) == 0
        if case == "protocol_differs":
            ds.ProtocolName = "DWI b0" if b0 else "DWI"
        else:
            ds.SeriesDescription = "b0" if b0 else "dwi"
            if case == "description_differs_only":
                ds.ProtocolName = "DWI"
            elif "ProtocolName" in ds:
                del ds.ProtocolName
        ds.save_as(f)
    refs = dcm2niix(src, tmp_path / "out")
    expected = sorted(nib.load(r).shape for r in refs)
    report = lv.scan(src)
    assert sorted(i.shape for i in report) == expected
    apart = case != "description_differs_only"
    assert len(report) == (2 if apart else 1)
    if apart:
        (b0,) = [i for i in report if len(i.shape) == 3]
        np.testing.assert_array_equal(lv.open(src, series=b0.id).compute(), truth.stored[..., 0])
        (dwi,) = [i for i in report if len(i.shape) == 4]
        vol = lv.open(src, series=dwi.id)
        np.testing.assert_array_equal(vol.compute(), truth.stored[..., 1:])
        assert vol.meta["diffusion"]["bvals"] == [1000.0] * 3
        assert any(r.startswith("ProtocolName (0018,1030) differs") for r in dwi.reasons)
