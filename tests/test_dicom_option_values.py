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
        {"split_4d": 2},
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


@pytest.fixture(scope="module")
def fine_gap(tmp_path_factory):
    """As ``gap``, at positions written to three decimals (whole millimetres could be rounding)."""
    d = tmp_path_factory.mktemp("fine_gap")
    positions = np.array([[0.0, 0.0, 0.137 + 2.0 * k] for k in range(6)] + [[0.0, 0.0, 50.137]])
    write_dicom_series(d, (8, 6, 7), positions=positions, spacing=(1.0, 1.0, 2.0))
    return d


@pytest.mark.parametrize("atol", [1.0, 5.0, 1000.0])
def test_absolute_tolerance_of_half_the_spacing_or_more_is_refused(fine_gap, atol):
    """spacing_atol=1000 stacked pydicom's CT2 (a 202 mm gap among 1.25 mm steps) as one volume at
    an averaged 68.3 mm, warning that "the positions are regular": a tolerance of half the slice
    spacing or more cannot tell a slice from its neighbour's place."""
    with pytest.raises(lv.OptionError, match=rf"spacing_atol={atol:g} mm is at least half") as err:
        lv.open(fine_gap, spacing_atol=atol)
    assert "slice spacing (2 mm" in str(err.value) and "spacing_atol below 1 mm" in str(err.value)
    (info,) = lv.scan(fine_gap, spacing_atol=atol, use_index=False)
    assert info.error_kind == "option"


def test_absolute_tolerance_below_half_the_spacing_is_taken(gap, tmp_path):
    with pytest.raises(lv.SeriesError, match="irregular slice spacing") as err:
        lv.open(gap, spacing_atol=0.9)
    assert not isinstance(err.value, lv.OptionError)
    regular = write_dicom_series(tmp_path / "r", (8, 6, 5), spacing=(1.0, 1.0, 2.0))
    vol = lv.open(tmp_path / "r", spacing_atol=0.9, scale=False)
    assert vol.spacing[2] == pytest.approx(2.0)
    np.testing.assert_array_equal(vol.compute(), regular.stored)


def test_pydicom_ct2_gap_is_not_bridged_by_a_wide_tolerance(tmp_path):
    import shutil
    from pathlib import Path

    from pydicom.data import get_testdata_file

    ct2 = Path(get_testdata_file("DICOMDIR")).parent / "77654033" / "CT2"
    shutil.copytree(ct2, tmp_path / "CT2")
    with pytest.raises(
        lv.OptionError, match=r"spacing_atol=1000 .*\(1\.25 mm.*spacing_atol below 0\.625 mm"
    ):
        lv.open(tmp_path / "CT2", spacing_atol=1000)


def test_tolerance_up_to_the_positions_rounding_is_still_taken(tmp_path):
    """Positions written to whole millimetres (a 1.2 mm stack): spacing_atol=1 (their rounding,
    which lazyvol advises) opens them although it is half a step or more; 2 does not."""
    nk = 9
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), np.round(1.2 * np.arange(nk))])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, 1.2), positions=pos)
    vol = lv.open(tmp_path / "s", spacing_atol=1.0)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    with pytest.raises(lv.OptionError, match=r"spacing_atol of at most 1 mm \(the positions'"):
        lv.open(tmp_path / "s", spacing_atol=2.0)


@pytest.mark.parametrize(
    "given",
    [
        {"workers": np.int64(1)},
        {"spacing_rtol": np.float32(0.01)},
        {"spacing_atol": np.int64(0)},
        {"allow_gaps": np.True_, "fill": np.int16(3)},
        {"split_4d": np.False_},
    ],
)
def test_numpy_option_values_are_taken(gap, tmp_path, given):
    """Numpy scalars are numbers and flags as Python's are: taken (workers=np.int64 was refused),
    saved in the scan's report and its listing digest as JSON (a float32 tolerance raised an
    untyped 'not JSON serializable' TypeError), the same scan as the Python value's."""
    folder = tmp_path / "s"
    folder.mkdir()
    for f in sorted(gap.iterdir())[:6]:
        (folder / f.name).write_bytes(f.read_bytes())
    python = {k: v.item() for k, v in given.items()}
    for options in (given, python, given):  # (the second and third: the saved report)
        (info,) = lv.scan(folder, **options)
        assert info.shape == (8, 6, 6) and not info.error
    vol = lv.open(folder, cache=tmp_path / "c", **given)
    assert vol.shape == (8, 6, 6)


def test_an_infinite_fill_is_a_float_outputs_value(gap):
    """fill=inf (taken before the option checks) fills a float output; an integer output refuses
    it as any value it cannot hold."""
    data = lv.open(gap, allow_gaps=True, fill=-np.inf, dtype="float32").compute()
    assert data.shape == (8, 6, 26)
    assert (data[:, :, 6] == -np.inf).all() and np.isfinite(data[:, :, :6]).all()
    with pytest.raises(lv.OptionError, match="does not fit the output dtype int16"):
        lv.open(gap, allow_gaps=True, fill=np.inf)


@pytest.mark.parametrize("workers", [np.True_, 2.0, np.float64(2)])
def test_workers_takes_integers_only(gap, workers):
    with pytest.raises(lv.OptionError, match="workers"):
        lv.scan(gap, workers=workers)


def test_flags_take_one_and_zero(gap):
    """allow_gaps=1 (taken before the option checks, as Python takes 1) is True; scale too."""
    want = lv.open(gap, allow_gaps=True, dtype="float32").compute()
    got = lv.open(gap, allow_gaps=1, scale=1, instance_order=0, dtype="float32").compute()
    np.testing.assert_array_equal(got, want)


def test_the_advised_tolerance_is_taken_on_a_tilted_stack(tmp_path):
    """A gantry-tilted CT whose table positions are written to whole millimetres: the refusal
    advises spacing_atol=1 (the positions' rounding), and that tolerance is taken, though the
    rounding moves the tilted slice step by less than 1 mm (the half-spacing limit refused
    lazyvol's own advice)."""
    import math

    t = math.radians(25.0)
    nk = 12
    pos = np.c_[np.zeros(nk), np.full(nk, -20.0), np.round(np.arange(nk) * 1.3)]
    truth = write_dicom_series(
        tmp_path / "s",
        (8, 8, nk),
        orientation=[1, 0, 0, 0, math.cos(t), -math.sin(t)],
        positions=pos,
        spacing=(0.5, 0.5, 1.3),
    )
    with pytest.raises(lv.SeriesError, match=r"spacing_atol=1 to compare"):
        lv.open(tmp_path / "s")
    vol = lv.open(tmp_path / "s", spacing_atol=1.0, scale=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    with pytest.raises(lv.OptionError, match=r"spacing_atol of at most 1 mm"):
        lv.open(tmp_path / "s", spacing_atol=2.0)
