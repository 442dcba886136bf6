"""ImagePositionPatient written coarsely (a fixed number of decimals, or six significant digits
as GE writes them): a regular stack opens whatever its step, length and direction, as SimpleITK
and dcm2niix read it, with the true geometry within the rounding; a slice missing or a step off
by more than the rounding is still refused. Checked against the synthetic truth (the exact
positions the rounded ones were written from)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol import slice_grid
from lazyvol.testing import write_dicom_4d_series, write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _rounded(value: float, rounding: str) -> str:
    """``value`` as a writer keeping ``rounding`` writes it: ``"2f"`` two decimals, ``"6g"`` six
    significant digits."""
    return f"{value:.{rounding}}"


def _quantum(rounding: str, magnitude: float) -> float:
    """The step of the last digit ``rounding`` writes for values of ``magnitude``."""
    digits = int(rounding[:-1])
    if rounding.endswith("f"):
        return 10.0**-digits
    return 10.0 ** (int(np.floor(np.log10(magnitude))) - digits + 1)


def _flip_k(affine: np.ndarray, nk: int) -> np.ndarray:
    """The affine of a volume whose slice axis is reversed."""
    out = affine.copy()
    out[:3, 3] += (nk - 1) * affine[:3, 2]
    out[:3, 2] *= -1
    return out


@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize(
    ("rounding", "step", "orientation", "origin_z", "nk"),
    [
        # a PET stack's step: rounded steps 2.02 and 2.03, 1e-16 more than 0.01 apart
        ("2f", 2.02734375, "axial", -1150.3, 120),
        ("2f", 0.6134, "oblique", 30.0, 40),  # per coordinate: the projected steps vary more
        ("1f", 3.27, "axial", 30.0, 40),
        ("3f", 0.6134, "axial", 30.0, 40),  # a step 1e-3 off is within spacing_atol, the median not
        ("6g", 0.6134, "axial", 512.0, 40),  # six digits: three decimals from 100 mm
        ("6g", 2.02734375, "axial", -1150.3, 40),  # six digits: two decimals from 1000 mm
    ],
)
def test_a_regular_stack_written_coarsely_opens_as_its_true_geometry(
    tmp_path, rounding, step, orientation, origin_z, nk, direction
):
    """Each rounded position lies within half a digit of the true regular grid: the stack opens,
    its affine the true one within the rounding and its slices in the true order. The median of
    the rounded steps (2.03 for a 2.0273 mm step written to 0.01 mm) was the expected step, so a
    step of 2.02 was refused, the message saying '0 slice(s) missing. Pass allow_gaps=True'."""
    truth = write_dicom_series(
        tmp_path / "s",
        (4, 3, nk),
        orientation=orientation,
        spacing=(0.9, 0.8, direction * step),
        origin=(-349.2, -349.2, origin_z),
    )
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = [_rounded(float(v), rounding) for v in ds.ImagePositionPatient]
        ds.save_as(f)
    vol = lv.open(tmp_path / "s")
    q = _quantum(rounding, np.abs(truth.positions).max())
    # (said when the steps failed the strict comparison; three decimals may pass it)
    assert vol.meta.get("position_precision_mm", q) == pytest.approx(q)
    affine, stored = truth.affine, truth.stored
    if direction < 0:  # (slices are stacked along the normal, whatever order the files have)
        affine, stored = _flip_k(affine, nk), stored[..., ::-1]
    np.testing.assert_allclose(vol.affine, affine, atol=q)
    np.testing.assert_allclose(vol.spacing[2], step, atol=q / (nk - 1) * 2)
    np.testing.assert_array_equal(vol.compute(), stored)


@pytest.mark.parametrize("damage", ["missing-slice", "uneven-step"])
def test_a_true_gap_or_uneven_step_in_coarse_positions_is_still_refused(tmp_path, damage):
    """The 2.0273 mm stack written to 0.01 mm, with a slice removed or the slices past the middle
    moved by 0.05 mm (five of the rounding's digits): refused, a missing slice as one missing slice
    (filled where it was with allow_gaps=True), an uneven step never as '0 slice(s) missing'."""
    nk, step = 40, 2.02734375
    z = np.array([round(-1150.3 + k * step, 2) for k in range(nk)])
    if damage == "missing-slice":
        z = np.delete(z, 17)
    else:
        z[20:] = np.round(z[20:] + 0.05, 2)
    pos = np.column_stack([np.full(len(z), -349.2), np.full(len(z), -349.2), z])
    write_dicom_series(tmp_path / "s", (4, 3, len(z)), spacing=(4.07, 4.07, step), positions=pos)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing") as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    if damage == "missing-slice":
        assert "1 slice(s) missing" in msg
        vol = lv.open(tmp_path / "s", allow_gaps=True)
        assert vol.meta["filled_slices"] == [17]
        assert vol.spacing[2] == pytest.approx(step, abs=0.01 / nk)
    else:
        assert "slice(s) missing" not in msg and "allow_gaps" not in msg
        assert "never averages spacing" in msg


@pytest.mark.parametrize("decimals", [1, 2, 3])
def test_a_long_rounded_stack_with_gaps_has_its_slots_counted_step_by_step(decimals):
    """1500 slices, a 2.0273 mm step written to 1-3 decimals, slices 700 and 1200 missing: the
    median rounded step is off the true one by up to a digit, which from slice 0 adds up to more
    than half a step by the end. The grid slots are the true indices (synthetic truth), the steps
    reported bad the two across the gaps, and the spacing the true step within the rounding."""
    step, q = 2.02734375, 10.0**-decimals
    kept = np.delete(np.arange(1500), [700, 1200])
    p = np.round(-1150.3 + kept * step, decimals)
    spacing, bad = slice_grid.regular_grid_errors(p, floor=q * (1 + 1e-6), rounded=True)
    assert [i for i, _ in bad] == [699, 1198]
    assert spacing == pytest.approx(step, abs=q)
    slots = slice_grid.grid_slots(
        p, spacing, slice_grid.spacing_tolerance(spacing, floor=q * (1 + 1e-6))
    )
    assert slots is not None and slots.tolist() == kept.tolist()


def _whole(z: np.ndarray, unit: float) -> np.ndarray:
    """``z`` rounded to whole multiples of ``unit`` (a writer keeping whole millimetres: 1)."""
    return np.round(z / unit) * unit


@pytest.mark.parametrize(
    ("step", "unit", "nk"),
    [(3.3, 1.0, 9), (2.7, 0.5, 12), (17.0, 5.0, 10)],
    ids=["3.3mm-to-1mm", "2.7mm-to-0.5mm", "17mm-to-5mm"],
)
def test_positions_written_to_whole_units_are_compared_within_them(tmp_path, step, unit, nk):
    """Positions written to whole millimetres (halves, fives): every value integral showed no
    rounding (position_quantum 0), so the coarse comparison was never tried and the rounded
    steps (3 and 4 mm of a 3.3 mm stack) were called uneven or a grid with slices missing. The
    stack opens with all its slices in the true order, its spacing the true one within the
    rounding, and says the rounding."""
    z = _whole(7.0 + step * np.arange(nk), unit)
    assert slice_grid.position_quantum(z) == unit
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, step), positions=pos)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.spacing[2] == pytest.approx(step, abs=unit / (nk - 1) * 2)
    assert vol.meta["position_precision_mm"] == unit
    assert any(f"is written to {unit:g} mm" in w for w in vol.meta["warnings"])


def test_whole_millimetres_as_coarse_as_half_a_step_are_not_called_missing_slices(tmp_path):
    """A 1.2 mm stack written to whole millimetres (z = 0, 1, 2, 4, 5, 6, 7, 8, 10: every slice
    there): refused as '2 slice(s) missing. Pass allow_gaps=True', which invented two blank
    slices on a 1 mm grid. The rounding cannot be told from missing slices: the refusal says so
    and gives both remedies; the first opens the nine slices (synthetic truth) on the grid
    through the first and last."""
    nk = 9
    z = _whole(1.2 * np.arange(nk), 1.0)
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, 1.2), positions=pos)
    with pytest.raises(lv.SeriesError) as exc:
        lv.open(tmp_path / "s")
    msg = str(exc.value)
    assert "2 slice(s) missing, or none: ImagePositionPatient (0020,0032) is written to 1 mm" in msg
    assert "(the grid through the first and last slices: 1.25 mm), pass spacing_atol=1" in msg
    assert "if slices are missing, pass allow_gaps=True" in msg
    vol = lv.open(tmp_path / "s", spacing_atol=1.0)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.spacing[2] == pytest.approx(1.25)


@pytest.mark.parametrize("spacing", [1.0, 3.0])
def test_an_integer_grid_is_unchanged_and_its_gap_still_refused(tmp_path, spacing):
    """Integer positions exactly on a 1 or 3 mm grid: open as before, no rounding said; with
    slice 3 removed: refused (a 3 mm step's gap as one missing slice, filled at k = 3 with
    allow_gaps=True; a 1 mm grid's, whose rounding is as coarse as its step, with both remedies)."""
    nk = 8
    z = spacing * np.arange(nk)
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(
        tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, spacing), positions=pos
    )
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.spacing[2] == spacing and "position_precision_mm" not in vol.meta
    kept = np.delete(np.arange(nk), 3)
    pos = np.column_stack([np.full(nk - 1, -12.5), np.full(nk - 1, -20.0), z[kept]])
    gap = write_dicom_series(
        tmp_path / "g", (6, 5, nk - 1), spacing=(0.8, 0.7, spacing), positions=pos
    )
    with pytest.raises(lv.SeriesError, match=r"1 slice\(s\) missing") as exc:
        lv.open(tmp_path / "g")
    assert ("or none:" in str(exc.value)) == (spacing == 1.0)
    if spacing == 3.0:
        vol = lv.open(tmp_path / "g", allow_gaps=True)
        assert vol.meta["filled_slices"] == [3] and vol.spacing[2] == spacing
        np.testing.assert_array_equal(vol.compute()[..., kept], gap.stored)


@pytest.mark.parametrize(
    ("z", "moved"),
    [
        ([0.0, 2.5, 5.0, 7.5, 10.5, 12.5, 15.0, 17.5], 4),
        ([0.0, 5.0, 10.0, 15.0, 20.5, 25.0, 30.0, 35.0], 4),
        ([30.0, 32.5, 35.0, 38.0, 40.0, 42.5, 45.0, 47.5, 50.0], 3),
    ],
    ids=["2.5mm-slice-4-moved-0.5", "5mm-slice-4-moved-0.5", "2.5mm-slice-3-moved-0.5"],
)
def test_a_slice_moved_half_a_millimetre_on_an_exact_grid_is_refused(tmp_path, z, moved):
    """An exact 2.5 (5) mm grid written to one decimal with one slice 0.5 mm off along the normal
    (20 % of a step): every value a multiple of 0.5, so the positions were taken for a rounding to
    halves and the stack opened on the regular grid, the moved slice's place changed without a
    word but a note in the meta (dcm2niix: 'Interslice distance varies'; SimpleITK: 'Non uniform
    sampling'). The grid's own halves are no evidence of such a rounding: refused, naming the
    moved slice's file."""
    nk = len(z)
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, 2.5), positions=pos)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing") as exc:
        lv.open(tmp_path / "s")
    assert truth.files[moved] in str(exc.value)


@pytest.mark.parametrize("step", [1.7, 2.2, 2.7, 3.3, -2.7, 4.6])
@pytest.mark.parametrize("nk", [6, 7, 8])
def test_a_stack_written_to_halves_opens_whatever_its_step(tmp_path, step, nk):
    """A 1.7 / 2.2 / 2.7 / 3.3 / -2.7 / 4.6 mm stack of 6-8 slices whose positions were written to
    halves (rounded half up, as C's round): every value a multiple of 0.5 and the most common step
    between them a multiple of it too (1.5, 2, 2.5, 3.5, 4.5 mm), so the values off that step's progression were
    taken for moved slices of an exact grid (f6803c4) and the stack refused as uneven. A rounding
    moves the values from one progression to the next for good (runs off it), never one slice
    off and back: it opens (synthetic truth), its spacing the grid through the first and last."""
    z = np.floor((30.0 + step * np.arange(nk)) * 2.0 + 0.5) / 2.0
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(
        tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, abs(step)), positions=pos
    )
    vol = lv.open(tmp_path / "s")
    data = vol.compute()
    stored = truth.stored if step > 0 else truth.stored[..., ::-1]
    np.testing.assert_array_equal(data, stored)
    assert vol.spacing[2] == pytest.approx(abs(step), abs=1.0 / (nk - 1))
    assert vol.meta["position_precision_mm"] == 0.5


@pytest.mark.parametrize("nk", [8, 12])
def test_a_stack_rounded_to_even_halves_opens(tmp_path, nk):
    """A 1.25 mm stack written to halves by numpy's rounding (ties to even: 1.25 -> 1, 3.75 -> 4,
    6.25 -> 6): its values leave the 1 mm progression and come back to it (0, 1, 2.5, 4, 5, 6,
    7.5 ...), which a rounding to halves of an even step does across two grid steps, so no moved
    slice: it opens within its rounding (synthetic truth), as it did before f6803c4."""
    z = np.round((30.0 + 1.25 * np.arange(nk)) * 2.0) / 2.0
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, 1.25), positions=pos)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.spacing[2] == pytest.approx(1.25, abs=1.0 / (nk - 1))
    assert vol.meta["position_precision_mm"] == 0.5


@pytest.mark.parametrize(
    "nk, z0, step, moved",
    [
        (10, 30.0, 2.5, (3, 4)),
        (10, 30.0, 2.5, (2, 5)),
        (10, 30.0, 2.5, (3, 4, 5)),
        (24, 32.0, 6.0, (1, 4, 10, 11, 16, 21)),
        (24, 32.0, 6.0, (2, 5, 8, 11, 14)),
    ],
    ids=["two-adjacent", "two", "three", "six", "five"],
)
def test_slices_moved_half_a_millimetre_on_an_exact_grid_are_refused(tmp_path, nk, z0, step, moved):
    """An exact grid (2.5 mm, 10 slices; 6 mm, 24 slices) with two to six slices moved 0.5 mm
    along the normal (together or apart): values off the grid and back on it within a few grid
    steps, which no rounding to halves of an even step does (it needs 2 (u - 1) grid steps to
    come back). Five or six moved slices were counted as chance's through (0.1 / 0.5) ** 5 <
    1e-3, so taken for a rounding to halves and opened on the regular grid, the moved slices'
    places changed without a word but a note in the meta. Refused, as one moved slice is,
    naming a moved slice's file."""
    z = z0 + step * np.arange(nk)
    z[list(moved)] += 0.5
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, step), positions=pos)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing") as exc:
        lv.open(tmp_path / "s")
    assert any(truth.files[k] in str(exc.value) for k in moved)


@pytest.mark.parametrize(
    ("z", "moved"),
    [
        ([0.0, 5.0, 10.0, 16.0, 20.0, 25.0, 30.0, 35.0], [3]),
        ([100.0, 105.0, 110.0, 115.0, 120.0, 126.0, 130.0, 135.0, 140.0], [5]),
        ([0.0, 3.0, 6.0, 10.0, 12.0, 15.0, 18.0, 21.0], [3]),
        ([172.0, 182.0, 192.0, 202.0, 212.0, 222.0, 232.0, 243.0, 252.0], [7]),
        (
            [-75.0, -70.0, -65.0, -60.0, -55.0, -50.0, -45.0, -40.0, -35.0, -30.0, -26.0, -20.0],
            [10],
        ),
        ([-40.0, -34.0, -28.0, -22.0, -16.0, -9.0, -4.0, 2.0, 8.0, 15.0, 20.0, 26.0, 32.0], [5, 9]),
    ],
    ids=["5mm-one-up", "5mm-from-100", "3mm", "10mm", "5mm-one-down", "6mm-two"],
)
def test_a_slice_moved_a_millimetre_on_an_exact_integer_grid_is_refused(tmp_path, z, moved):
    """An exact 5 (3, 6, 10) mm grid written as whole millimetres with a slice 1 mm off along the
    normal: every value integral, so any whole-millimetre step was taken as the positions'
    rounding without asking whether a rounding could have made them (f6803c4 asks it of values
    showing decimals only), and the stack opened on the regular grid, the moved slice's place
    changed (dcm2niix: 'Interslice distance varies'). A rounding of an even step never puts one
    value off the grid and the next back on it: refused, naming a moved slice's file."""
    nk = len(z)
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, 5.0), positions=pos)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing") as exc:
        lv.open(tmp_path / "s")
    assert any(truth.files[k] in str(exc.value) for k in moved)


@pytest.mark.parametrize(
    ("step", "origin", "nk", "unit"),
    [
        (10.33, -99.367, 25, 1.0),
        (8.04, -90.76, 22, 1.0),
        (8.05, -62.064, 19, 1.0),
        (8.19, -136.015, 25, 0.5),
    ],
)
def test_a_stack_truncated_toward_zero_across_zero_opens(tmp_path, step, origin, nk, unit):
    """Positions truncated toward zero (a C cast) to whole millimetres (halves): the offset from the
    true grid turns back where the values cross 0, the one place a rounding puts values off the
    grid and back within a few steps; it opens within its rounding (synthetic truth)."""
    z = np.trunc((origin + step * np.arange(nk)) / unit) * unit
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, step), positions=pos)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.spacing[2] == pytest.approx(step, abs=2 * unit / (nk - 1))


@pytest.mark.parametrize(
    ("origin", "step", "nk"),
    [(-37.5, 5.0, 16), (0.5, 3.0, 20), (-60.5, 7.0, 12), (-97.0, 4.5, 24), (12.5, 9.0, 10)],
)
def test_an_exact_grid_on_ties_rounded_to_even_opens(tmp_path, origin, step, nk):
    """An exact 5 (3, 7, 9) mm grid from a half millimetre (-37.5, -32.5 ...; a 4.5 mm grid
    from a whole one) written as whole millimetres rounded half to even, as printf("%.0f"),
    Python's and numpy's round do: -38, -32, -28, -22 ..., each value off the grid and back the
    next slice. The moved-slice check (35906ed) took that for slices moved and refused the stack
    as irregular; a rounding of an exact grid, it opens within the rounding (synthetic truth)."""
    z = np.round(origin + step * np.arange(nk))
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, step), positions=pos)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert vol.spacing[2] == pytest.approx(step, abs=2.0 / (nk - 1))


def test_an_exact_grid_on_ties_rounded_to_even_with_a_slice_missing_opens_with_gaps(tmp_path):
    """The grid of test_an_exact_grid_on_ties_rounded_to_even_opens (-37.5 + 5 k written -38,
    -32, -28 ...) with slice 6 not there: its values are slotted by the written step, a
    rounding still, so allow_gaps=True opens it with the slot filled (synthetic truth)."""
    z = np.delete(np.round(-37.5 + 5.0 * np.arange(16)), [6])
    nk = z.size
    pos = np.column_stack([np.full(nk, -12.5), np.full(nk, -20.0), z])
    truth = write_dicom_series(tmp_path / "s", (6, 5, nk), spacing=(0.8, 0.7, 5.0), positions=pos)
    vol = lv.open(tmp_path / "s", allow_gaps=True)
    data = vol.compute()
    assert data.shape[2] == 16
    np.testing.assert_array_equal(data[:, :, :6], truth.stored[:, :, :6])
    np.testing.assert_array_equal(data[:, :, 7:], truth.stored[:, :, 6:])
    assert np.all(data[:, :, 6] == 0)


#: An oblique stack whose positions a full-precision writer writes with many decimals.
_FULL_PRECISION = {
    "orientation": "oblique",
    "spacing": (0.9, 1.3, 2.7),
    "origin": (-120.3123, 88.1234, -40.7345),
}


def _opens_as(folder, truth, atol: float, shape=None) -> None:
    """The series in ``folder`` opens with ``truth``'s affine (within ``atol`` mm), its values
    and, given, ``shape``."""
    vol = lv.open(folder)
    if shape is not None:
        assert vol.shape == shape
    np.testing.assert_allclose(vol.affine, truth.affine, atol=atol)
    np.testing.assert_array_equal(vol.compute(), truth.stored)


def _rewrite_positions(files, decimals: int, shift: float = 0.0) -> None:
    """Rewrite the ImagePositionPatient of ``files`` to ``decimals`` (moved by ``shift`` mm
    along each coordinate first), as a tool re-exporting part of a series writes them."""
    for f in files:
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = [
            f"{float(v) + shift:.{decimals}f}" for v in ds.ImagePositionPatient
        ]
        ds.save_as(f)


@pytest.mark.parametrize("decimals", [2, 1])
@pytest.mark.parametrize("part", ["alternate", "second-half"])
def test_a_stack_partly_rewritten_to_fewer_decimals_opens_as_its_true_geometry(
    tmp_path, decimals, part
):
    """Some files of an oblique stack written to full precision, the others to one or two
    decimals (a series partly re-exported): the most decimals shown is the full-precision
    writer's, so the coarse files' rounding was refused as irregular slice spacing (dcm2niix
    reads the series). Opened, its affine the true one within the rounding (h189)."""
    nk = 12
    truth = write_dicom_series(
        tmp_path / "s",
        (7, 9, nk),
        **_FULL_PRECISION,
    )
    rewritten = truth.files[::2] if part == "alternate" else truth.files[nk // 2 :]
    _rewrite_positions(rewritten, decimals)
    _opens_as(tmp_path / "s", truth, 10.0**-decimals)


def test_a_partly_rewritten_stack_moved_past_its_rounding_is_still_refused(tmp_path):
    """The second half of the stack rewritten to two decimals and moved 0.05 mm (five of the
    coarse writer's digits): an uneven step, refused as before (h189)."""
    truth = write_dicom_series(
        tmp_path / "s",
        (7, 9, 12),
        **_FULL_PRECISION,
    )
    _rewrite_positions(truth.files[6:], 2, shift=0.05)
    with pytest.raises(lv.SeriesError, match="irregular slice spacing"):
        lv.open(tmp_path / "s")


@pytest.mark.parametrize("labels", [("AcquisitionTime",), ()])
def test_a_4d_series_with_a_volume_rewritten_to_fewer_decimals_stacks_its_volumes(tmp_path, labels):
    """One volume of a 4D series with its positions rewritten to two decimals: its slices were
    more than 1e-3 mm from the other volumes' and taken for other positions ("positions repeat
    a different number of times"; dcm2niix reads the series). Stacked as the 4D volume, in
    acquisition order (h189)."""
    truth = write_dicom_4d_series(
        tmp_path / "s",
        (7, 9, 5),
        4,
        labels=labels,
        **_FULL_PRECISION,
    )
    volume_2 = [f for f in truth.files if int(pydicom.dcmread(f).InstanceNumber) in range(11, 16)]
    assert len(volume_2) == 5
    _rewrite_positions(volume_2, 2)
    _opens_as(tmp_path / "s", truth, 1e-6, shape=(7, 9, 5, 4))


def test_two_files_rewritten_to_one_decimal_are_told_by_their_positions(tmp_path):
    """A sagittal stack whose in-plane coordinates never change, two of its files rewritten to
    one decimal: one rewritten coordinate is whole (1345.0 shows no decimals) and the other the
    same in both files (365.7), so no coordinate column shows two coarse values; the positions
    (rows) do. Opened with its true geometry (h189)."""
    nk = 5
    pos = np.array([[-1110.6781518 - 4.677 * k, 1344.98535988, 365.65077839] for k in range(nk)])
    truth = write_dicom_series(
        tmp_path / "s",
        (4, 6, nk),
        orientation="sagittal",
        spacing=(0.377, 0.699, 4.677),
        positions=pos,
    )
    _rewrite_positions([truth.files[2], truth.files[4]], 1)
    _opens_as(tmp_path / "s", truth, 0.1)


def test_a_4d_series_rewritten_in_part_across_volumes_stacks_its_volumes(tmp_path):
    """Two files of a 4D series rewritten to one decimal, one in the first volume and one in
    another: the first volume alone holds one coarse position (chance, for all it shows), the
    series two. Its slice spacing compared within the coarse rounding; stacked (h189)."""
    truth = write_dicom_4d_series(
        tmp_path / "s",
        (7, 9, 5),
        3,
        **_FULL_PRECISION,
    )
    numbers = {int(pydicom.dcmread(f).InstanceNumber): f for f in truth.files}
    _rewrite_positions([numbers[3], numbers[5 + 4]], 1)  # volume 0 slice 2, volume 1 slice 3
    _opens_as(tmp_path / "s", truth, 0.1, shape=(7, 9, 5, 3))
