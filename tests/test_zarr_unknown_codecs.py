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


def _missing_imagecodecs_codec() -> str:
    """The name of an imagecodecs codec registered with numcodecs whose library this imagecodecs
    build lacks (skip when none)."""
    imagecodecs = pytest.importorskip("imagecodecs")
    pytest.importorskip("imagecodecs.numcodecs")
    import numcodecs

    for name in sorted(dir(imagecodecs)):
        if not name.isupper() or getattr(getattr(imagecodecs, name), "available", True):
            continue
        try:
            numcodecs.get_codec({"id": f"imagecodecs_{name.lower()}"})
        except numcodecs.errors.UnknownCodecError:
            continue  # (no numcodecs codec of that name)
        except ValueError:
            return name  # (registered, its library not built: the case)
    pytest.skip("this imagecodecs build has every codec it registers")


def test_an_imagecodecs_codec_its_build_lacks_is_named(tmp_path: Path) -> None:
    """imagecodecs installed without one of its codecs (HEIF, JPEG XS, ... as builds leave
    out): zarr-python's 'ValueError: imagecodecs.HEIF not available' was a FormatError 'zarr
    cannot open the array'; now the refusal names the codec and the build."""
    name = _missing_imagecodecs_codec()
    edit = lambda d: d.update(compressor={"id": f"imagecodecs_{name.lower()}"})  # noqa: E731
    store = _store(tmp_path / "s.zarr", 2, edit)
    with pytest.raises(lv.UnsupportedError, match=rf"imagecodecs' {name} codec.*built without"):
        lv.open(store)


def test_an_imagecodecs_name_the_installed_version_lacks_says_upgrade(tmp_path: Path) -> None:
    """imagecodecs and imagecodecs-numcodecs installed, a codec name they do not register (a
    newer imagecodecs' codec): the hint said to install what is installed; now it says so and
    to upgrade."""
    from importlib import metadata

    try:
        metadata.version("imagecodecs-numcodecs")
    except metadata.PackageNotFoundError:
        pytest.skip("imagecodecs-numcodecs is not installed")
    pytest.importorskip("imagecodecs")
    edit = lambda d: d.update(compressor={"id": "imagecodecs_no_such_codec"})  # noqa: E731
    store = _store(tmp_path / "s.zarr", 2, edit)
    with pytest.raises(lv.UnsupportedError, match=r"are installed and register no codec.*-U"):
        lv.open(store)
