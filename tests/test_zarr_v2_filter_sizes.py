"""Zarr v2 arrays with numcodecs filters: the compressor's frame must state the size the
filters make of a chunk. Before, with any filter, a Blosc, zstd or LZ4 frame was only bounded
by 16 bytes per item (complex128), so a frame stating twice (up to 16 times) its chunk's bytes
was decoded, allocated, and failed afterwards in a reshape. Now the size is worked out from the
filters (delta, astype, fixedscaleoffset, quantize, bitround, shuffle: numcodecs' encode rules)
and a frame stating another is refused before decoding, naming the frame; arrays these filters
wrote read as zarr-python reads them."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes

SHAPE, CHUNKS = (6, 7, 9), (4, 3, 5)


def _store(path: Path, data: np.ndarray, filters: Any, compressor: Any) -> str:
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (zarr: some numcodecs filters are not in the spec)
        group.create_array("0", data=data, chunks=CHUNKS, filters=filters, compressors=compressor)
    group.attrs.update(ome_zarr_attributes("zyx", unit=None, version="0.4"))
    return str(path)


_INTS = np.arange(np.prod(SHAPE), dtype="int32").reshape(SHAPE)
_FLOATS = np.linspace(-300.0, 300.0, int(np.prod(SHAPE)), dtype="float32").reshape(SHAPE)
FILTERED = [
    (_INTS, [numcodecs.Delta(dtype="i4")]),
    (_INTS, [numcodecs.Delta(dtype="i4", astype="i8")]),
    (_INTS, [numcodecs.AsType(encode_dtype="i2", decode_dtype="i4")]),
    (_FLOATS, [numcodecs.FixedScaleOffset(offset=0, scale=10, dtype="f4", astype="i2")]),
    (_FLOATS, [numcodecs.Quantize(digits=2, dtype="f4", astype="f8")]),
    (_FLOATS, [numcodecs.BitRound(keepbits=8)]),
    (_INTS, [numcodecs.Delta(dtype="i4", astype="i8"), numcodecs.Shuffle(elementsize=8)]),
]
COMPRESSORS = [numcodecs.Blosc(), numcodecs.Zstd(), numcodecs.LZ4()]


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=lambda c: c.codec_id)
@pytest.mark.parametrize(
    ("data", "filters"),
    FILTERED,
    ids=[",".join(f.codec_id for f in fs) + str(i) for i, (_, fs) in enumerate(FILTERED)],
)
def test_filtered_arrays_read_as_zarr_reads_them(
    tmp_path: Path, data: np.ndarray, filters: Any, compressor: Any
) -> None:
    store = _store(tmp_path / "s.zarr", data, filters, compressor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.asarray(zarr.open_array(str(Path(store, "0")), mode="r")[...])
    np.testing.assert_array_equal(lv.open(store).compute(), want.T)


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=lambda c: c.codec_id)
@pytest.mark.parametrize("factor", [2, 4])
def test_a_frame_stating_more_than_the_filters_make_is_refused_before_decoding(
    tmp_path: Path, compressor: Any, factor: int
) -> None:
    filters = [numcodecs.AsType(encode_dtype="i2", decode_dtype="i4")]  # (2 bytes an item)
    store = _store(tmp_path / "s.zarr", _INTS, filters, compressor)
    items = int(np.prod(CHUNKS))
    payload = np.arange(items * factor, dtype="i2").tobytes()  # (factor x the chunk's bytes)
    Path(store, "0", "0.0.0").write_bytes(compressor.encode(payload))
    with pytest.raises(lv.FormatError, match="frame that does not match its chunk") as err:
        lv.open(store).compute()
    assert "0.0.0" in str(err.value) and "not decoded" in str(err.value)
    assert f"{items * 2 * factor} decoded bytes" in str(err.value)
