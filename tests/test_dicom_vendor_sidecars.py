"""Classic (one frame per file) series carrying attributes the scanners of several vendors write,
against dcm2niix's conversion of the same files (its sidecar, .bval/.bvec and NIfTI) and the truth.

- EffectiveEchoTime (0018,9082) at the top level of a classic image: dcm2niix's echo time (read
  after EchoTime (0018,0081), it replaces it; 0 or empty: no EchoTime).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series
from lazyvol.testing.dicom_4d import _rewrite

SHAPE = (8, 6, 4)


def _sidecars(dcm2niix, vol: lv.Volume, src: Path, tmp: Path) -> tuple[dict, dict]:
    """(dcm2niix's sidecar, lazyvol's) of the one series in ``src``."""
    dcm2niix.run(src, tmp / "out", sidecar=True, check=True)
    (ref,) = sorted((tmp / "out").glob("*.json"))
    vol.to_nifti(tmp / "v.nii")
    return json.loads(ref.read_text()), json.loads((tmp / "v.json").read_text())


@pytest.mark.parametrize(("effective", "expected"), [(35.5, 0.0355), (0.0, None), (None, None)])
@pytest.mark.parametrize("manufacturer", ["SIEMENS", "Philips Medical Systems", "CANON_MEC"])
def test_top_level_effective_echo_time_is_the_echo_time_as_dcm2niix_reads_it(
    tmp_path, dcm2niix, manufacturer, effective, expected
):
    truth = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        modality="MR",
        extra={"Manufacturer": manufacturer, "EchoTime": "30", "RepetitionTime": "2000"},
    )
    _rewrite(truth.files, lambda ds: ds.add_new(0x00189082, "FD", effective))
    vol = lv.open(tmp_path / "s")
    ref, mine = _sidecars(dcm2niix, vol, tmp_path / "s", tmp_path)
    assert ref.get("EchoTime") == pytest.approx(expected) if expected else "EchoTime" not in ref
    assert mine.get("EchoTime") == pytest.approx(expected) if expected else "EchoTime" not in mine
