"""An OME-Zarr array encoded with a codec this Python has not got (a numcodecs codec whose
library is not installed, an imagecodecs codec without its entry points, a name nothing
registers): refused at open with an UnsupportedError naming the codec, the array and the package
to install. Before, zarr-python's ``UnknownCodecError: codec not available: ''zfpy''`` was
passed on with no hint, and a Zarr v3 ``numcodecs.zfpy`` array opened and failed only inside
``compute`` (zarr's adapter looks its numcodecs codec up when a chunk is decoded)."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes


def _store(path: Path, fmt: int, edit: Any) -> str:
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)  # type: ignore[arg-type]
    group.create_array("0", data=np.arange(4 * 5 * 6, dtype="float32").reshape(4, 5, 6))
    group.attrs.update(ome_zarr_attributes("zyx", unit=None, version="0.4" if fmt == 2 else "0.5"))
    meta = Path(path, "0", ".zarray" if fmt == 2 else "zarr.json")
    doc = json.loads(meta.read_text())
    edit(doc)
    meta.write_text(json.dumps(doc))
    return str(path)


_ZFP = {"mode": 4, "tolerance": -1, "rate": -1, "precision": -1}
CASES = [
    # (zarr format, metadata edit, codec named, install hint)
    (2, lambda d: d.update(compressor={"id": "zfpy", **_ZFP}), "'zfpy'", "pip install zfpy"),
    (2, lambda d: d.update(compressor={"id": "pcodec", "level": 8}), "'pcodec'", "pcodec"),
    (2, lambda d: d.update(filters=[{"id": "no_such_filter"}]), "'no_such_filter'", "numcodecs"),
    (
        3,
        lambda d: d.update(codecs=[{"name": "numcodecs.zfpy", "configuration": _ZFP}]),
        "'zfpy'",
        "pip install zfpy",
    ),
    (
        3,
        lambda d: d["codecs"].append({"name": "imagecodecs_jpegxl", "configuration": {}}),
        "'imagecodecs_jpegxl'",
        "imagecodecs-zarr",
    ),
    (
        3,
        lambda d: d["codecs"].append({"name": "no_such_codec"}),
        "'no_such_codec'",
        "zarr's codec registry",
    ),
]


@pytest.mark.parametrize(("fmt", "edit", "codec", "hint"), CASES)
def test_a_codec_not_installed_is_refused_at_open_naming_codec_and_package(
    tmp_path: Path, fmt: int, edit: Any, codec: str, hint: str
) -> None:
    for module in ("zfpy", "pcodec"):
        if module in codec and importlib.util.find_spec(module) is not None:
            pytest.skip(f"{module} is installed here: the codec is available")
    store = _store(tmp_path / "s.zarr", fmt, edit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (zarr: numcodecs codecs in v3 are not yet in the spec)
        with pytest.raises(lv.UnsupportedError) as err:
            lv.open(store)  # (at open: not only when a chunk is read)
    text = str(err.value)
    assert f"codec {codec}" in text
    assert "array '0'" in text and "s.zarr" in text
    assert hint in text


def test_a_read_task_without_the_codec_names_it_too(tmp_path: Path, monkeypatch: Any) -> None:
    """A worker process lacking a codec the opening process had: the read task's error is the
    same refusal, not 'reading the chunk data failed: UnknownCodecError'."""
    import numcodecs.errors

    import lazyvol.zarr_read as zr

    store = _store(tmp_path / "s.zarr", 2, lambda d: None)
    vol = lv.open(store)

    class _NoCodec:
        def __getitem__(self, key: object) -> None:
            raise numcodecs.errors.UnknownCodecError("'zfpy'")

    monkeypatch.setattr(zr, "_cached_array", lambda *a, **k: _NoCodec())
    with pytest.raises(lv.UnsupportedError, match=r"codec 'zfpy'.*pip install zfpy"):
        vol.compute()
