"""``lazyvol.references`` of a Siemens mosaic series is refused saying it is a mosaic and why (its
slices are tiles of one image a file), not with the internal plan field it came from
("frames laid out with tiles=(0, 1, 2, ...")."""

from __future__ import annotations

import pytest

import lazyvol as lv
from lazyvol.errors import UnsupportedError
from lazyvol.testing import write_mosaic_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def test_a_mosaic_series_is_refused_as_a_mosaic(tmp_path):
    folder = tmp_path / "mosaic"
    write_mosaic_series(str(folder), (8, 6, 5), volumes=2)
    with pytest.raises(UnsupportedError) as info:
        lv.references(str(folder))
    msg = str(info.value)
    assert "a mosaic series cannot be referenced" in msg, msg
    assert "tiles=" not in msg and "(0, 1" not in msg, msg
    assert "to_zarr" in msg
