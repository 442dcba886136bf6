"""Zarr v3 arrays whose serializer is not ``bytes`` (a shard with a compressor of its own after
it, ``numcodecs.pcodec``, ``numcodecs.zfpy``): the Blosc, zstd and LZ4 frames after the
serializer hold its encoding, whose size no chunk shape gives. lazyvol checked each such frame
against the chunk's raw size (shape x itemsize) and refused valid arrays, zarr-python reads them
("a blosc frame that does not match its chunk: its Blosc header states 679 decoded bytes, the
chunk is 756 bytes"). Such frames are now checked by their own headers only (a Blosc frame cut
short is still refused)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, BytesCodec, ShardingCodec, ZstdCodec
from zarr.codecs import numcodecs as nc

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes

DATA = np.random.default_rng(0).integers(0, 2**31, (6, 8, 10)).astype("int32")


def _store(path: Path, serializer: Any, compressor: Any, chunks: tuple[int, ...]) -> str:
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (zarr: numcodecs codecs in v3 are not in the spec)
        group.create_array(
            "0", data=DATA, chunks=chunks, serializer=serializer, compressors=[compressor]
        )
    group.attrs.update(ome_zarr_attributes("zyx", unit=None, version="0.5"))
    return str(path)


def _shard() -> Any:
    return ShardingCodec(chunk_shape=(3, 4, 5), codecs=[BytesCodec(), ZstdCodec()])


def _pcodec() -> Any:
    if importlib.util.find_spec("pcodec") is None:
        pytest.skip("pcodec is not installed (numcodecs' PCodec needs it)")
    return nc.PCodec(level=8)


COMPRESSORS = [BloscCodec(), ZstdCodec(), nc.Blosc(), nc.Zstd(), nc.LZ4()]


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize(("serializer", "chunks"), [(_shard, (6, 8, 10)), (_pcodec, (3, 8, 10))])
def test_frames_after_another_serializer_read_as_zarr_reads_them(
    tmp_path: Path, serializer: Any, chunks: tuple[int, ...], compressor: Any
) -> None:
    store = _store(tmp_path / "s.zarr", serializer(), compressor, chunks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.asarray(zarr.open_array(str(Path(store, "0")), mode="r")[...])
        got = lv.open(store).compute()
    np.testing.assert_array_equal(want, DATA)
    np.testing.assert_array_equal(got, want.T)


def test_a_cut_blosc_frame_after_a_shard_is_still_refused(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.zarr", _shard(), BloscCodec(), (6, 8, 10))
    chunk = Path(store, "0", "c", "0", "0", "0")
    chunk.write_bytes(chunk.read_bytes()[:-7])
    with pytest.raises(lv.FormatError, match="blosc frame that does not match its chunk"):
        lv.open(store).compute()
