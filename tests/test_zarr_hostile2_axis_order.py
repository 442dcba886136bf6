"""OME images whose three space axes are not last (a channel after them, time between them: not
the order OME-NGFF requires, but written so by some tools) were refused with the 2-D image's
reason, "a 2-D image states no slice thickness": the refusal now names the axis after a space
axis and the order OME-NGFF and lazyvol read. Such arrays are never read by position (their
channel taken for x)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import lazyvol as lv

TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


@pytest.mark.parametrize(("names", "moved"), [("zyxc", "'c'"), ("ztyx", "'t'"), ("xyzt", "'t'")])
def test_an_axis_after_a_space_axis_is_named_in_the_refusal(
    tmp_path: Path, names: str, moved: str
) -> None:
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=3)
    group.create_array("0", data=np.zeros((2, 3, 4, 5), "uint8"))
    axes = [{"name": n, "type": TYPES[n]} for n in names]
    ds = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1] * 4}]}
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [ds]}]}
    with pytest.raises(lv.UnsupportedError, match=f"put {moved} after a space axis") as err:
        lv.open(str(tmp_path / "s.zarr"))
    assert "2-D" not in str(err.value)
