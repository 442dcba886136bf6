"""A chunk file of a zarr-python store that does not decode (cut short, emptied, grown, another
codec's bytes) is a FormatError naming that file, not only the block: a block of lazyvol's read
spans many chunk files (here all of them), and the file is what a user restores."""

from __future__ import annotations

from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr
from zarr.codecs import GzipCodec, ZstdCodec

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes


def _store(path: Path, fmt: int, compressor: str, shards: bool) -> str:
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)  # type: ignore[arg-type]
    codec = {
        "zstd": numcodecs.Zstd() if fmt == 2 else ZstdCodec(),
        "gzip": numcodecs.GZip() if fmt == 2 else GzipCodec(),
        "none": None,
    }[compressor]
    data = np.arange(6 * 8 * 10, dtype="int32").reshape(6, 8, 10)
    kw = {"chunks": (1, 4, 5), "shards": (3, 8, 10)} if shards else {"chunks": (3, 4, 5)}
    group.create_array("0", data=data, compressors=codec, **kw)  # type: ignore[arg-type]
    group.attrs.update(ome_zarr_attributes("zyx", unit=None, version="0.4" if fmt == 2 else "0.5"))
    return str(path)


@pytest.mark.parametrize(
    ("fmt", "shards", "key"),
    [(2, False, "1.1.0"), (3, False, "c/1/1/0"), (3, True, "c/1/0/0")],
    ids=["v2", "v3", "v3-sharded"],
)
@pytest.mark.parametrize("compressor", ["zstd", "gzip", "none"])
@pytest.mark.parametrize("damage", ["cut", "other-bytes"])
def test_a_chunk_file_that_does_not_decode_is_named(
    tmp_path: Path, fmt: int, shards: bool, key: str, compressor: str, damage: str
) -> None:
    store = _store(tmp_path / "s.zarr", fmt, compressor, shards)
    victim = Path(store, "0", *key.split("/"))
    raw = victim.read_bytes()
    new = {"cut": raw[: len(raw) // 2], "empty": b"", "other-bytes": b"\x01" * 37}[damage]
    victim.write_bytes(new)
    vol = lv.open(store, chunks=-1)  # (one block: every chunk file)
    with pytest.raises(lv.FormatError) as err:
        vol.compute()
    message = str(err.value)
    assert f"chunk file {victim}" in message or f"chunk {key} fails" in message
    others = [p for p in Path(store, "0").rglob("*") if p.is_file() and p != victim]
    for other in others:  # (no other file blamed)
        assert str(other.relative_to(Path(store, "0"))) not in message.replace(key, "")


@pytest.mark.parametrize(
    ("fmt", "shards", "key"),
    [(2, False, "1.1.0"), (3, False, "c/1/1/0"), (3, True, "c/1/0/0")],
    ids=["v2", "v3", "v3-sharded"],
)
@pytest.mark.parametrize("compressor", ["zstd", "none"])
def test_an_empty_chunk_file_is_refused_never_read_as_absent(
    tmp_path: Path, fmt: int, shards: bool, key: str, compressor: str
) -> None:
    """A chunk or shard file of 0 bytes (truncated, or a copy that stopped): an empty shard read
    as a shard without inner chunks, every value of it the fill value, silently (zarr-python
    reads it so too)."""
    store = _store(tmp_path / "s.zarr", fmt, compressor, shards)
    victim = Path(store, "0", *key.split("/"))
    victim.write_bytes(b"")
    with pytest.raises(lv.FormatError, match="empty file") as err:
        lv.open(store).compute()
    assert str(victim) in str(err.value)
