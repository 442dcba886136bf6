"""Zarr v3 arrays with numcodecs array-to-array codecs (``numcodecs.astype``, ``.delta``, ...)
before a numcodecs compressor (``numcodecs.zstd``, ``.lz4``, ``.blosc``): the compressor's frame
was only bounded by 16 bytes an item, so a damaged frame stating twice its chunk's bytes was
decoded and allocated, failing afterwards in a reshape. The size is now worked out from the
filters (numcodecs' encode rules, as for Zarr v2 filters) and such a frame refused before
decoding; arrays these codecs wrote read as zarr-python reads them."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.codecs import numcodecs as nc

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes

SHAPE, CHUNKS = (6, 8, 10), (3, 4, 5)
DATA = np.arange(np.prod(SHAPE), dtype="int32").reshape(SHAPE)


def _store(path: Path, filters: Any, compressor: Any) -> str:
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (zarr: numcodecs codecs in v3 are not in the spec)
        group.create_array("0", data=DATA, chunks=CHUNKS, filters=filters, compressors=[compressor])
    group.attrs.update(ome_zarr_attributes("zyx", unit=None, version="0.5"))
    return str(path)


FILTERS = [
    [nc.AsType(encode_dtype="i2", decode_dtype="i4")],
    [nc.Delta(dtype="i4", astype="i8")],
    [nc.Delta(dtype="i4")],
]
COMPRESSORS = [nc.Zstd(), nc.LZ4(), nc.Blosc()]


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("filters", FILTERS, ids=["astype-i2", "delta-i8", "delta"])
def test_filtered_arrays_read_as_zarr_reads_them(
    tmp_path: Path, filters: Any, compressor: Any
) -> None:
    store = _store(tmp_path / "s.zarr", filters, compressor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.asarray(zarr.open_array(str(Path(store, "0")), mode="r")[...])
        got = lv.open(store).compute()
    np.testing.assert_array_equal(want, DATA)
    np.testing.assert_array_equal(got, want.T)


@pytest.mark.parametrize("kind", ["zstd", "lz4"])
def test_a_frame_stating_more_than_the_filters_make_is_refused_before_decoding(
    tmp_path: Path, kind: str
) -> None:
    import numcodecs

    compressor = {"zstd": nc.Zstd(), "lz4": nc.LZ4()}[kind]
    filters = [nc.AsType(encode_dtype="i2", decode_dtype="i4")]  # (2 bytes an item)
    store = _store(tmp_path / "s.zarr", filters, compressor)
    items = int(np.prod(CHUNKS))
    payload = np.arange(items * 2, dtype="i2").tobytes()  # (twice the chunk's bytes)
    encoder = {"zstd": numcodecs.Zstd(), "lz4": numcodecs.LZ4()}[kind]
    Path(store, "0", "c", "0", "0", "0").write_bytes(encoder.encode(payload))
    with pytest.raises(lv.FormatError, match="frame that does not match its chunk") as err:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lv.open(store).compute()
    assert f"{items * 4} decoded bytes" in str(err.value) and "not decoded" in str(err.value)
