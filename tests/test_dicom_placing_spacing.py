"""A file whose slices are placed by a stated spacing (a Siemens mosaic's tiles, an NM
reconstruction's frames) with SpacingBetweenSlices 0.001 mm: its slices fell at one position and
the refusal blamed "missing images, or mixed acquisitions sharing one SeriesInstanceUID"; it now
names the spacing as damaged or implausible, and the fix."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_mosaic_series, write_nm_tomo


def _said(exc: pytest.ExceptionInfo[BaseException], path: str) -> None:
    message = str(exc.value)
    assert "SpacingBetweenSlices (0018,0088) = 0.001 mm" in message, message
    assert "implausible spacing" in message and "dcmodify" in message and path in message
    assert "mixed acquisitions" not in message


def test_a_mosaic_placed_by_a_spacing_of_a_micron_names_the_spacing(tmp_path):
    truth = write_mosaic_series(tmp_path / "m", (16, 12, 7), volumes=2, spacing=(2.0, 2.5, 0.001))
    first = sorted(str(p) for p in (tmp_path / "m").iterdir())[0]
    assert float(pydicom.dcmread(first).SpacingBetweenSlices) == 0.001
    with pytest.raises(lv.LazyvolError) as exc:
        lv.open(tmp_path / "m")
    _said(exc, first)
    assert truth is not None


def test_an_nm_reconstruction_placed_by_a_spacing_of_a_micron_names_the_spacing(tmp_path):
    path = tmp_path / "n" / "nm.dcm"
    write_nm_tomo(path, spacing=(4.0, 4.0, 0.001))
    assert float(pydicom.dcmread(path).SpacingBetweenSlices) == 0.001
    with pytest.raises(lv.LazyvolError) as exc:
        lv.open(tmp_path / "n")
    _said(exc, str(path))


def test_a_fine_but_distinct_spacing_still_places_the_slices(tmp_path):
    path = tmp_path / "n" / "nm.dcm"
    truth = write_nm_tomo(path, shape=(8, 6, 4), spacing=(4.0, 4.0, 0.01))
    vol = lv.open(tmp_path / "n")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
