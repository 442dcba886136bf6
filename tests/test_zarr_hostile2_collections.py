"""OME-Zarr groups other tools write around images (ome-zarr-py, bioformats2raw: an image's
``labels`` group) opened directly: each is no volume, and the refusal names an image in it that
opens (the reference: zarr-python's read of that image's array), not "open it with zarr directly".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import lazyvol as lv

AXES = [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]


def _image(group: zarr.Group, version: str, data: np.ndarray, extra: dict | None = None) -> None:
    group.create_array("0", data=data, chunks=(2, 3, 3))
    ms = {
        "axes": AXES,
        "datasets": [
            {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1] * 3}]}
        ],
    }
    if version == "0.5":
        group.attrs["ome"] = {"version": "0.5", "multiscales": [ms], **(extra or {})}
    else:
        group.attrs.update({"multiscales": [{"version": "0.4", **ms}], **(extra or {})})


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("names", [["cells"], ["nuclei", "cells", "a", "b"]])
def test_a_labels_group_names_a_label_image_to_open(
    tmp_path: Path, version: str, names: list[str]
) -> None:
    """An image's ``labels`` group (attribute ``labels``: its label images) opened directly was
    'neither a lazyvol store nor an OME-Zarr image; open it with zarr directly'."""
    fmt = 3 if version == "0.5" else 2
    image = zarr.open_group(str(tmp_path / "img.zarr"), mode="w", zarr_format=fmt)
    data = np.arange(4 * 5 * 6, dtype="uint16").reshape(4, 5, 6)
    _image(image, version, data)
    labels = image.create_group("labels")
    labels.attrs.update(
        {"ome": {"version": "0.5", "labels": names}} if fmt == 3 else {"labels": names}
    )
    source = {"image-label": {"version": version, "source": {"image": "../../"}}}
    for i, name in enumerate(names):
        _image(labels.create_group(name), version, (data % (i + 2)).astype("uint8"), source)
    with pytest.raises(lv.FormatError) as err:
        lv.open(str(tmp_path / "img.zarr" / "labels"))
    message = str(err.value)
    assert "labels group" in message and "with zarr directly" not in message
    assert names[0] in message
    hinted = message.rsplit("e.g. ", 1)[1]
    want = np.asarray(zarr.open_array(str(Path(hinted) / "0"), mode="r")[...])
    np.testing.assert_array_equal(lv.open(hinted).compute(), want.T)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("value", [[], {}, "", None])
def test_an_empty_multiscales_is_named_not_called_absent(
    tmp_path: Path, version: str, value: object
) -> None:
    """'multiscales': [] (a writer stopped before its image) was refused as a store with no
    'multiscales' attribute, 'open it with zarr directly'."""
    fmt = 3 if version == "0.5" else 2
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=fmt)
    group.create_array("0", data=np.zeros((2, 3, 4), "uint8"))
    attrs = {"multiscales": value}
    group.attrs.update({"ome": {"version": "0.5", **attrs}} if fmt == 3 else attrs)
    with pytest.raises(lv.FormatError, match=r"'multiscales' = .* lists no image") as err:
        lv.open(str(tmp_path / "s.zarr"))
    assert "with zarr directly" not in str(err.value)
