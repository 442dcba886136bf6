"""Values of the DICOM stacking options (``spacing_rtol``, ``fill``, the flags, ``workers``) are
checked before any file is read: a bad value is an :class:`lazyvol.OptionError` naming the source
and the option, never a stack made with it (a NaN tolerance compares false with every deviation:
it stacked a series with a gap as one volume at an averaged spacing) and never a bare ValueError
or TypeError (a CLI traceback)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series


@pytest.fixture(scope="module")
def gap(tmp_path_factory):
    """Six int16 slices 2 mm apart, then one 40 mm further: a gap no tolerance below half the
    spacing may bridge."""
    d = tmp_path_factory.mktemp("gap")
    positions = np.array([[0.0, 0.0, 2.0 * k] for k in range(6)] + [[0.0, 0.0, 50.0]])
    write_dicom_series(d, (8, 6, 7), positions=positions, spacing=(1.0, 1.0, 2.0))
    return d


@pytest.mark.parametrize(
    "bad",
    [
        {"spacing_rtol": float("nan")},
        {"spacing_rtol": float("inf")},
        {"spacing_rtol": 1000.0},
        {"spacing_rtol": -1.0},
        {"spacing_rtol": "0.1"},
        {"spacing_atol": float("nan")},
        {"spacing_atol": float("inf")},
        {"spacing_atol": -0.5},
        {"split_4d": "no"},
        {"allow_gaps": "yes"},
        {"fill": "abc"},
        {"fill": [1]},
        {"philips_scaling": "bogus"},
    ],
)
def test_bad_option_values_are_refused_before_stacking(gap, bad):
    (name,) = bad
    for call in (lv.open, lv.scan):
        with pytest.raises(lv.OptionError, match=name) as err:
            call(gap, **bad)
        assert str(gap) in str(err.value)
        assert isinstance(err.value, ValueError)


def test_nan_tolerance_never_bridges_a_gap(gap):
    # (the truth: pydicom's positions are not on one grid)
    z = sorted(float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in gap.iterdir())
    assert len(set(np.round(np.diff(z), 3))) > 1
    with pytest.raises(lv.SeriesError, match="irregular slice spacing"):
        lv.open(gap)
    with pytest.raises(lv.OptionError):
        lv.open(gap, spacing_rtol=float("nan"))


def test_fill_outside_the_output_dtype(gap):
    for fill in (1e10, 0.5, float("nan")):
        with pytest.raises(lv.OptionError, match="fill=") as err:
            lv.open(gap, allow_gaps=True, fill=fill)
        assert str(gap) in str(err.value) and "int16" in str(err.value)
    # the way out the message names: float output takes any fill value
    vol = lv.open(gap, allow_gaps=True, fill=1e10, dtype="float32")
    data = vol.compute()
    assert data.shape == (8, 6, 26)
    assert (data[:, :, 6] == np.float32(1e10)).all()


@pytest.mark.parametrize("workers", [0, -2, "2", True])
def test_bad_workers(gap, workers):
    with pytest.raises(lv.OptionError, match="workers"):
        lv.scan(gap, workers=workers)


def test_cli_bad_fill_is_one_line(lazyvol_cli, gap):
    res = lazyvol_cli("info", gap, "--allow-gaps", "--fill", "1e10")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("lazyvol: error: ") and "--fill" in res.stderr
    res = lazyvol_cli("stats", gap, "--spacing-rtol", "1000")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--spacing-rtol" in res.stderr
