"""Compressed Zarr stores written by zarr-python whose frames' headers do not match their chunks.

Blosc-compressed stores (v2 ``compressor``, v3 ``blosc`` codec, in
shards too) whose chunk bytes do not hold the frame their Blosc header states.

c-blosc decodes from the frame's header alone: a chunk file cut short, or a shard index giving an
inner chunk fewer bytes (or bytes past the shard's end), had it read memory beyond the chunk, so
the block came back as garbage that changed from read to read, or by chance as another chunk's
bytes, with no error (zarr-python reads such stores so too). Such chunks are a FormatError naming
the store and the Blosc frame; whole frames of every layout still read as zarr-python reads them.

zstd frames (Frame_Content_Size) and numcodecs' LZ4 chunks (a 4-byte size) whose header claims
more decoded bytes than the chunk has sized numcodecs' allocation from that claim (2**40: a 1 TiB
allocation, a MemoryError): refused unallocated, naming the claim.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr
import zarr.codecs.numcodecs as zn
from zarr.codecs import BloscCodec, BytesCodec, TransposeCodec, ZstdCodec

import lazyvol as lv
from lazyvol.errors import FormatError

AXES = [{"name": n, "type": "space", "unit": "millimeter"} for n in "zyx"]


def _noise(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    """Values Blosc does not compress: it stores them uncompressed (its 'memcpyed' frames)."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(list(shape))
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def _store(path: Path, data: np.ndarray, fmt: int, **kw: object) -> str:
    """An OME-Zarr image written by zarr-python (0.4 on Zarr v2, 0.5 on v3): array '0'."""
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)  # type: ignore[arg-type]
    group.create_array("0", data=data, **kw)  # type: ignore[arg-type]
    ms = {
        "axes": AXES,
        "datasets": [
            {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1] * 3}]}
        ],
    }
    if fmt == 2:
        group.attrs.update({"multiscales": [{"version": "0.4", **ms}]})
    else:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [ms]}
    return str(path)


def _compressor(fmt: int | str) -> object:
    if fmt == "v3-numcodecs":
        return zn.Blosc(cname="lz4")
    return numcodecs.Blosc(cname="lz4") if fmt == 2 else BloscCodec(cname="lz4")


def _chunk_files(store: str) -> list[Path]:
    names = {"zarr.json", ".zarray", ".zattrs"}
    return sorted(p for p in Path(store, "0").rglob("*") if p.is_file() and p.name not in names)


def _zarr_read(store: str) -> np.ndarray:
    return np.asarray(zarr.open_array(os.path.join(store, "0"), mode="r")[...]).T


@pytest.mark.parametrize("fmt", [2, 3, "v3-numcodecs"])
@pytest.mark.parametrize("cut", ["half", "header-only", "one-byte-short", "empty"])
@pytest.mark.parametrize("values", ["noise", "smooth"])
def test_a_cut_blosc_chunk_is_refused_never_read_past(
    tmp_path: Path, fmt: int | str, cut: str, values: str
) -> None:
    shape = (6, 8, 10)
    data = _noise(shape) if values == "noise" else np.indices(shape).sum(0).astype("uint16")
    zarr_format = 2 if fmt == 2 else 3
    store = _store(
        tmp_path / "x.zarr", data, zarr_format, chunks=(3, 4, 5), compressors=_compressor(fmt)
    )
    victim = _chunk_files(store)[1]
    raw = victim.read_bytes()
    keep = {"half": len(raw) // 2, "header-only": 16, "one-byte-short": len(raw) - 1, "empty": 0}
    victim.write_bytes(raw[: keep[cut]])
    vol = lv.open(store)  # (what is wrong is in a chunk: found as it is read)
    with pytest.raises(FormatError, match=r"Blosc|an empty file") as err:  # (empty: any chunk)
        vol.compute()
    assert store in str(err.value)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("values", ["noise", "smooth"])
def test_a_blosc_header_claiming_a_huge_decoded_size_is_refused(
    tmp_path: Path, fmt: int, values: str
) -> None:
    """nbytes sizes the buffer numcodecs allocates: a chunk's own size is the only one taken."""
    shape = (6, 8, 10)
    data = _noise(shape) if values == "noise" else np.indices(shape).sum(0).astype("uint16")
    store = _store(tmp_path / "x.zarr", data, fmt, chunks=(3, 4, 5), compressors=_compressor(fmt))
    victim = _chunk_files(store)[0]
    raw = bytearray(victim.read_bytes())
    raw[4:8] = (2**31 - 1).to_bytes(4, "little")
    victim.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="Blosc header states 2147483647"):
        lv.open(store).compute()


def _rewrite_index(shard: Path, n_inner: int, edit) -> None:  # type: ignore[no-untyped-def]
    """Edit a shard's index (at its end: bytes + crc32c, as zarr-python writes it)."""
    raw = shard.read_bytes()
    size = n_inner * 16 + 4
    index = np.frombuffer(raw[-size:-4], "<u8").reshape(n_inner, 2).copy()
    edit(index, len(raw))
    body = index.astype("<u8").tobytes()
    shard.write_bytes(raw[:-size] + bytes(numcodecs.CRC32C().encode(body)))


def _past_end(index: np.ndarray, size: int) -> None:
    index[0, 0] = size * 10


def _fewer_bytes(index: np.ndarray, size: int) -> None:
    index[0, 1] //= 2


def _wrapping(index: np.ndarray, size: int) -> None:
    index[0] = (2**64 - 2, 10)


@pytest.mark.parametrize("edit", [_past_end, _fewer_bytes, _wrapping])
def test_a_shard_index_that_does_not_point_at_a_whole_blosc_frame_is_refused(
    tmp_path: Path,
    edit,  # type: ignore[no-untyped-def]
) -> None:
    data = _noise((6, 8, 8))
    store = _store(
        tmp_path / "x.zarr", data, 3, chunks=(1, 4, 4), shards=(3, 8, 8), compressors=BloscCodec()
    )
    _rewrite_index(_chunk_files(store)[0], 3 * 2 * 2, edit)
    with pytest.raises(FormatError, match="blosc frame that does not match its chunk"):
        lv.open(store).compute()


LAYOUTS = {
    "v2": (2, {"chunks": (4, 5, 3), "compressors": numcodecs.Blosc(cname="zstd", shuffle=2)}),
    "v2-delta-filter": (
        2,
        {
            "chunks": (4, 5, 3),
            "compressors": numcodecs.Blosc(),
            "filters": [numcodecs.Delta("<i4", "<i8")],
        },
    ),
    "v2-order-F": (2, {"chunks": (4, 5, 3), "compressors": numcodecs.Blosc(), "order": "F"}),
    "v3": (3, {"chunks": (4, 5, 3), "compressors": BloscCodec(cname="lz4", shuffle="bitshuffle")}),
    "v3-big-endian-transposed": (
        3,
        {
            "chunks": (4, 5, 3),
            "filters": [TransposeCodec(order=(2, 0, 1))],
            "serializer": BytesCodec(endian="big"),
            "compressors": BloscCodec(),
        },
    ),
    "v3-sharded": (3, {"chunks": (2, 5, 3), "shards": (4, 10, 6), "compressors": BloscCodec()}),
    "v3-numcodecs-blosc": (3, {"chunks": (4, 5, 3), "compressors": zn.Blosc(cname="lz4")}),
    "v3-numcodecs-zstd-sharded": (
        3,
        {"chunks": (2, 5, 3), "shards": (4, 10, 6), "compressors": zn.Zstd(level=1)},
    ),
    "v3-numcodecs-lz4-delta": (
        3,
        {"chunks": (4, 5, 3), "compressors": zn.LZ4(), "filters": [zn.Delta(dtype="<i4")]},
    ),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("values", ["noise", "smooth"])
def test_whole_blosc_frames_of_every_layout_read_as_zarr_python_reads_them(
    tmp_path: Path, layout: str, values: str
) -> None:
    """Edge chunks on every axis, a missing chunk (the fill value), bytes after a whole frame."""
    fmt, kw = LAYOUTS[layout]
    shape = (9, 12, 7)
    data = _noise(shape, "int32") if values == "noise" else np.indices(shape).sum(0).astype("int32")
    store = _store(tmp_path / "x.zarr", data, fmt, fill_value=-5, **kw)
    files = _chunk_files(store)
    files[-1].unlink()
    if not layout.endswith("sharded") and "lz4" not in layout:  # (Blosc frames: bytes after)
        files[0].write_bytes(files[0].read_bytes() + b"\0" * 7)
    want = _zarr_read(store)
    assert (want == -5).any()
    got = lv.open(store).compute()
    assert got.dtype == want.dtype.newbyteorder("=") and np.array_equal(got, want)


def test_the_v2_metadata_keeps_its_compressor_configuration(tmp_path: Path) -> None:
    """The checked codec is numcodecs' Blosc with the same configuration (same JSON)."""
    store = _store(
        tmp_path / "x.zarr",
        _noise((4, 4, 4)),
        2,
        chunks=(2, 2, 2),
        compressors=numcodecs.Blosc(cname="zstd", clevel=3),
    )
    zarray = json.loads(Path(store, "0", ".zarray").read_text())
    from lazyvol.zarr_crc import open_array_fast

    arr = open_array_fast(zarr.storage.LocalStore(os.path.join(store, "0")))
    assert arr.metadata.compressor.get_config() == zarray["compressor"]


def _zstd_claiming(raw: bytes, size: int) -> bytes:
    """A zstd frame whose Frame_Content_Size field says ``size`` (8 bytes), the rest unchanged."""
    fhd = raw[4]
    assert raw[:4] == b"\x28\xb5\x2f\xfd" and fhd & 0x20 and not fhd & 0xC3  # (1-byte size)
    return raw[:4] + bytes([fhd | 0xC0]) + size.to_bytes(8, "little") + raw[6:]


@pytest.mark.parametrize(
    ("fmt", "codec", "shards"),
    [(2, "zstd", False), (3, "zstd", False), (3, "zstd", True), (2, "lz4", False)],
    ids=["v2-zstd", "v3-zstd", "v3-zstd-sharded", "v2-lz4"],
)
def test_a_frame_claiming_a_huge_decoded_size_is_refused_unallocated(
    tmp_path: Path, fmt: int, codec: str, shards: bool
) -> None:
    data = np.indices((6, 8, 10)).sum(0).astype("uint16")
    if codec == "lz4":
        compressor: object = numcodecs.LZ4()
    else:
        compressor = numcodecs.Zstd() if fmt == 2 else ZstdCodec()
    kw = {"chunks": (1, 4, 5), "shards": (3, 8, 10)} if shards else {"chunks": (3, 4, 5)}
    store = _store(tmp_path / "x.zarr", data, fmt, compressors=compressor, **kw)
    victim = _chunk_files(store)[0]
    raw = victim.read_bytes()
    if shards:  # (the first inner chunk, its index entry grown by the 7 bytes added)
        n_inner = 3 * 2 * 2
        index = np.frombuffer(raw[-(n_inner * 16 + 4) : -4], "<u8").reshape(n_inner, 2).copy()
        first = int(np.argmin(index[:, 0]))
        start, length = (int(v) for v in index[first])
        body = _zstd_claiming(raw[start : start + length], 2**40)
        index[first, 1] = len(body)
        index[index[:, 0] > start, 0] += len(body) - length
        head = raw[:start] + body + raw[start + length : -(n_inner * 16 + 4)]
        packed = index.astype("<u8").tobytes()
        victim.write_bytes(head + bytes(numcodecs.CRC32C().encode(packed)))
    elif codec == "lz4":
        victim.write_bytes((2**31 - 1).to_bytes(4, "little") + raw[4:])
    else:
        victim.write_bytes(_zstd_claiming(raw, 2**40))
    with pytest.raises(FormatError, match=f"its {codec} header states [0-9]+ decoded bytes"):
        lv.open(store).compute()
