"""A zarr-python array's ``fill_value`` its floating-point dtype cannot hold (``1e40`` for
``float32``, written by hand or by a tool that does not check): zarr-python casts it to ``inf``
(numpy's overflow warning escaping) and reads every chunk never written as ``inf``, a value no
writer stored; lazyvol read it so. Now a FormatError at open naming the metadata file and the
value. Fill values the dtype holds (its largest, printed short or exact; NaN, infinities, hex)
read as zarr-python reads them.

A foreign Zarr array's integer ``fill_value`` its dtype cannot hold (300 for uint8, -1 for
uint8, 2**64 for uint64) or that is no integer (1.5, "NaN"): zarr-python refuses the array in its
own words ('Python integer 300 out of bounds for uint8', 'Invalid type: 1.5'), which lazyvol
passed on as 'zarr cannot open the array'. Now the refusal names the metadata file, the field
and the value, and the range. Fill values zarr-python reads (7.0, "7", true, the dtype's
extremes) read as it reads them. And a complex fill_value part past its float range ([1e40, 0]
for complex64), which zarr-python reads as inf + 0j, is refused as a float one is."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes


def _store(path: Path, fmt: int, dtype: str, fill: object) -> str:
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)  # type: ignore[arg-type]
    data = np.arange(1, 6 * 7 * 8 + 1).reshape(6, 7, 8).astype(dtype)
    group.create_array("0", data=data, chunks=(3, 4, 5))
    group.attrs.update(ome_zarr_attributes("zyx", unit=None, version="0.4" if fmt == 2 else "0.5"))
    meta = Path(path, "0", ".zarray" if fmt == 2 else "zarr.json")
    doc = json.loads(meta.read_text())
    doc["fill_value"] = fill
    meta.write_text(json.dumps(doc))
    chunks = sorted(p for p in Path(path, "0").rglob("*") if p.is_file() and p.name[0] not in ".z")
    chunks[0].unlink()  # (a chunk never written: its values are the fill value)
    return str(path)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize(
    ("dtype", "fill"),
    [("float32", 1e40), ("float32", "1e40"), ("float32", -1e39), ("float16", 70000.0)],
)
def test_a_fill_value_the_dtype_cannot_hold_is_refused(
    tmp_path: Path, fmt: int, dtype: str, fill: object
) -> None:
    store = _store(tmp_path / "s.zarr", fmt, dtype, fill)
    with pytest.raises(lv.FormatError, match=r"fill_value .* does not fit") as err:
        lv.open(store)
    assert (".zarray" if fmt == 2 else "zarr.json") in str(err.value)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize(
    ("dtype", "fill"),
    [
        ("float32", 3.4028235e38),  # (float32's largest, printed short: rounds to it)
        ("float32", float(np.finfo(np.float32).max)),
        ("float32", "NaN"),
        ("float32", "-Infinity"),
        ("float64", 1e308),
        ("float16", 65504.0),
    ],
)
def test_a_fill_value_the_dtype_holds_reads_as_zarr_reads_it(
    tmp_path: Path, fmt: int, dtype: str, fill: object
) -> None:
    store = _store(tmp_path / "s.zarr", fmt, dtype, fill)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = np.asarray(zarr.open_array(str(Path(store, "0")), mode="r")[...])
        got = lv.open(store).compute()
    np.testing.assert_array_equal(got, want.T)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize(
    ("dtype", "fill", "words"),
    [
        ("uint8", 300, r"does not fit uint8 \(0\.\.255\)"),
        ("uint8", -1, "does not fit uint8"),
        ("uint64", 2**64, "does not fit uint64"),
        ("int16", 1.5, "is not an integer"),
        ("int16", "NaN", "is not an integer"),
    ],
)
def test_an_integer_fill_value_the_dtype_cannot_hold_is_named(
    tmp_path: Path, fmt: int, dtype: str, fill: object, words: str
) -> None:
    store = _store(tmp_path / "s.zarr", fmt, dtype, fill)
    with pytest.raises(lv.FormatError, match=rf"fill_value {fill!r} {words}") as err:
        lv.open(store)
    assert (".zarray" if fmt == 2 else "zarr.json") in str(err.value)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize(
    ("dtype", "fill"),
    [("int16", 7.0), ("int16", "7"), ("int16", True), ("int64", 2**63 - 1), ("uint8", 255)],
)
def test_integer_fill_values_zarr_reads_read_as_it_reads_them(
    tmp_path: Path, fmt: int, dtype: str, fill: object
) -> None:
    store = _store(tmp_path / "s.zarr", fmt, dtype, fill)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.asarray(zarr.open_array(str(Path(store, "0")), mode="r")[...])
    np.testing.assert_array_equal(lv.open(store).compute(), want.T)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("fill", [[1e40, 0.0], [0.0, -1e39]])
def test_a_complex_fill_value_a_part_of_which_the_dtype_cannot_hold_is_refused(
    tmp_path: Path, fmt: int, fill: object
) -> None:
    """complex64 with a fill_value part past float32's range: zarr-python reads every chunk
    never written as inf + 0j (a value no writer stored), as lazyvol did; now refused."""
    store = _store(tmp_path / "s.zarr", fmt, "complex64", fill)
    with pytest.raises(lv.FormatError, match=r"fill_value .* does not fit float32"):
        lv.open(store)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("fill", [[1.0, 2.0], ["NaN", "Infinity"], [3.4e38, -3.4e38]])
def test_complex_fill_values_zarr_reads_read_as_it_reads_them(
    tmp_path: Path, fmt: int, fill: object
) -> None:
    store = _store(tmp_path / "s.zarr", fmt, "complex64", fill)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.asarray(zarr.open_array(str(Path(store, "0")), mode="r")[...])
    np.testing.assert_array_equal(lv.open(store).compute(), want.T)
