"""A zarr-python array's ``fill_value`` its floating-point dtype cannot hold (``1e40`` for
``float32``, written by hand or by a tool that does not check): zarr-python casts it to ``inf``
(numpy's overflow warning escaping) and reads every chunk never written as ``inf``, a value no
writer stored; lazyvol read it so. Now a FormatError at open naming the metadata file and the
value. Fill values the dtype holds (its largest, printed short or exact; NaN, infinities, hex)
read as zarr-python reads them."""

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
    data = np.arange(1, 6 * 7 * 8 + 1, dtype=dtype).reshape(6, 7, 8)
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
