"""Zarr v3 ``dimension_names`` that put an OME axis at another place than the OME ``axes`` do
(OME-NGFF 0.5: they MUST match), in images written by zarr-python.

Reading by the OME order alone, time and z (``t, z, y, x`` over ``z, t, y, x``) or time and
channel (``t, c, z, y, x`` over ``c, t, z, y, x``) were swapped silently where x, y and z already
were refused: which is right cannot be told, so every such disagreement is an UnsupportedError
naming the names. Names that only spell an axis otherwise, or name no OME axis, are read by the
OME order (the reference: zarr-python's array, transposed as OME orders it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import lazyvol as lv

TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space", "q": "foo"}


def _image(path: Path, names: str, dims: list[str | None]) -> tuple[str, np.ndarray]:
    shape = tuple(range(2, 2 + len(names)))
    data = np.arange(np.prod(shape), dtype="uint16").reshape(shape)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.create_array("0", data=data, dimension_names=dims)
    axes = [{"name": n, "type": TYPES[n]} for n in names]
    ds = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1] * len(names)}]}
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [ds]}]}
    return str(path), data


@pytest.mark.parametrize(
    ("names", "dims", "moved"),
    [
        ("tzyx", ["z", "t", "y", "x"], "'z', 't'"),
        ("tczyx", ["c", "t", "z", "y", "x"], "'c', 't'"),
        ("czyx", ["C", "Z", "Y", "T"], None),  # (no axis moved: read)
        ("tczyx", ["t", "z", "c", "y", "x"], "'z', 'c'"),
        ("qzyx", ["z", "q", "y", "x"], "'z', 'q'"),
        ("zyx", ["x", "y", "z"], "'x', 'z'"),
    ],
)
def test_dimension_names_that_move_an_ome_axis_are_refused(
    tmp_path: Path, names: str, dims: list[str], moved: str | None
) -> None:
    store, _ = _image(tmp_path / "s.zarr", names, list(dims))
    if moved is None:
        lv.open(store)
        return
    with pytest.raises(lv.UnsupportedError, match="dimension_names") as err:
        lv.open(store)
    assert f"put {moved} at another place" in str(err.value)
    assert store in str(err.value)


@pytest.mark.parametrize(
    ("names", "dims"),
    [
        ("tczyx", ["T", "C", "Z", "Y", "X"]),
        ("tczyx", ["time", "channel", "z", "y", "x"]),
        ("tzyx", [None, "z", None, "x"]),
        ("zyx", ["a", "b", "c"]),
        ("zyx", ["t", "y", "x"]),  # (a name of no OME axis: not judged)
    ],
)
def test_dimension_names_that_only_spell_the_axes_otherwise_read_by_the_ome_order(
    tmp_path: Path, names: str, dims: list[str | None]
) -> None:
    store, _ = _image(tmp_path / "s.zarr", names, dims)
    vol = lv.open(store)
    # (volume axes x, y, z, then time, then channel: OME's trailing z, y, x reversed)
    order = [names.index(a) for a in "xyz"] + [names.index(a) for a in "tcq" if a in names]
    want = np.asarray(zarr.open_array(str(tmp_path / "s.zarr" / "0"), mode="r")[...])
    assert np.array_equal(vol.compute(), want.transpose(order))
