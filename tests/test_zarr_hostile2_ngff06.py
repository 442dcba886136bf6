"""An OME-NGFF 0.6 image (RFC-5: axes in ``coordinateSystems``, transformations between them)
was refused as corrupt metadata, "state no 'axes' ... add the 'axes' list": its axes are there,
where 0.6 puts them. It is an UnsupportedError saying what the image is and what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import lazyvol as lv


def test_an_ngff_0_6_image_is_refused_as_such_not_as_corrupt(tmp_path: Path) -> None:
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=3)
    group.create_array("s0", data=np.zeros((2, 3, 4), "uint8"))
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    scale = {"type": "scale", "scale": [2, 1, 1], "input": "s0", "output": "physical"}
    group.attrs["ome"] = {
        "version": "0.6",
        "multiscales": [
            {
                "coordinateSystems": [{"name": "physical", "axes": axes}],
                "datasets": [{"path": "s0", "coordinateTransformations": [scale]}],
            }
        ],
    }
    with pytest.raises(lv.UnsupportedError, match="coordinateSystems") as err:
        lv.open(str(tmp_path / "s.zarr"))
    assert "0.6" in str(err.value) and "add the 'axes' list" not in str(err.value)
