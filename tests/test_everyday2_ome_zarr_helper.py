"""lazyvol.testing.write_ome_zarr (the OME-Zarr images other tools write, which tests built
inline in a dozen files): what it writes, read by ome-zarr-py and zarr-python, not by lazyvol."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes, write_ome_zarr


def test_an_ome_0_5_image_as_ome_zarr_py_reads_it(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    truth = np.arange(2 * 3 * 4 * 5, dtype="int16").reshape(2, 3, 4, 5)
    store = write_ome_zarr(
        tmp_path / "t.zarr",
        truth,
        axes="tzyx",
        time_unit="second",
        scale=[2.0, 3.0, 1.5, 0.5],
        translation=[10.0, 1.0, 2.0, 3.0],
        chunks=(1, 3, 4, 5),
    )
    node = next(iter(Reader(parse_url(store))()))
    assert [(a["name"], a["type"], a.get("unit")) for a in node.metadata["axes"]] == [
        ("t", "time", "second"),
        ("z", "space", "millimeter"),
        ("y", "space", "millimeter"),
        ("x", "space", "millimeter"),
    ]
    scale, shift = node.metadata["coordinateTransformations"][0]
    assert scale == {"type": "scale", "scale": [2.0, 3.0, 1.5, 0.5]}
    assert shift == {"type": "translation", "translation": [10.0, 1.0, 2.0, 3.0]}
    np.testing.assert_array_equal(np.asarray(node.data[0]), truth)
    array = zarr.open_array(f"{store}/0", mode="r")
    assert array.metadata.zarr_format == 3 and array.chunks == (1, 3, 4, 5)
    assert "lazyvol" not in zarr.open_group(store, mode="r").attrs  # no lazyvol metadata
    assert lv.open(store).meta["format"] == "ome-zarr"


def test_an_ome_0_4_image_is_zarr_v2_with_the_version_in_its_multiscale(tmp_path):
    truth = np.ones((3, 4, 5), "uint8")
    store = write_ome_zarr(tmp_path / "v.zarr", truth, unit=None, version="0.4")
    group = zarr.open_group(store, mode="r", zarr_format=2)
    (ms,) = group.attrs["multiscales"]
    assert ms["version"] == "0.4" and "ome" not in group.attrs
    assert ms["axes"] == [{"name": n, "type": "space"} for n in "zyx"]
    assert ms["datasets"] == [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}]}
    ]
    np.testing.assert_array_equal(group["0"][...], truth)


def test_listed_axes_are_written_as_given():
    axes = ["z", {"name": "y"}, {"name": "x", "type": "space", "unit": "micrometer"}]
    attrs = ome_zarr_attributes(axes, unit="millimeter")
    assert attrs["ome"]["multiscales"][0]["axes"] == axes
    with pytest.raises(ValueError, match="version="):
        ome_zarr_attributes(version="0.3")  # type: ignore[arg-type]
