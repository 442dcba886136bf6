"""Reads of lazyvol's own unsharded Zarr arrays without zarr-python (lazyvol.zarr_direct).

The reference is zarr-python reading the same store (``zarr.open_array``); the checks against the
manifest are the ones :class:`~lazyvol.zarr_integrity.VerifiedStore` makes (the integrity tests of
test_zarr_io.py with ``shards=False`` run through this path too).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol import zarr_integrity as zi
from lazyvol import zarr_read
from lazyvol.errors import FormatError, IntegrityError
from lazyvol.zarr_direct import DirectArray, direct_layout


def _rand(shape, dtype, seed=0):
    """Values of ``dtype`` (0..120, an imaginary part for complex types) that every type holds."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 120, size=shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.uniform(-5, 5, size=shape)
    return x.astype(dtype)


def _opened(store: str, array: str = "0"):
    """What a read task reads through for ``array`` of a lazyvol store (as zarr_read opens it)."""
    root = zarr_read.StoreRoot.of(store)
    manifest = json.loads(Path(store, "lazyvol-manifest", "zarr.json").read_bytes())
    sha = manifest["attributes"]["lazyvol_manifest"]["manifest_sha256"]
    return zarr_read._open_array(root, array, sha)


@pytest.mark.parametrize("shards", [False, (32, 20, 8)])
@pytest.mark.parametrize("codec", ["none", "blosc-lz4", "blosc-zstd", "zstd"])
@pytest.mark.parametrize("dtype", ["int16", "uint8", "float32", "float64", "int64", "complex64"])
def test_reads_equal_zarr_python(tmp_path, codec, dtype, shards):
    """Every box of a store with edge chunks (and shards) on every axis reads as zarr-python
    reads it."""
    a = _rand((37, 23, 11), dtype, seed=3)
    store = lv.Volume(a).to_zarr(
        tmp_path / "x.zarr", codec=codec, chunks=(16, 10, 4), shards=shards
    )
    arr = _opened(store)
    assert isinstance(arr, DirectArray)
    ref = zarr.open_array(os.path.join(store, "0"), mode="r")
    assert arr.dtype == ref.dtype and arr.shape == ref.shape
    rng = np.random.default_rng(0)
    boxes = [tuple(slice(0, n) for n in ref.shape)]
    for _ in range(20):
        lo = [int(rng.integers(0, n)) for n in ref.shape]
        hi = [int(rng.integers(a0 + 1, n + 1)) for a0, n in zip(lo, ref.shape)]
        boxes.append(tuple(slice(x, y) for x, y in zip(lo, hi)))
    for box in boxes:
        np.testing.assert_array_equal(arr[box], ref[box])
    # and through the Volume, in lazyvol's axis order
    np.testing.assert_array_equal(lv.open(store).compute(), a)


def test_strided_and_empty_selections(tmp_path):
    a = _rand((20, 18, 9), "int16", seed=4)
    store = lv.Volume(a).to_zarr(
        tmp_path / "x.zarr", codec="blosc-lz4", chunks=(7, 5, 3), shards=False
    )
    arr = _opened(store)
    full = zarr.open_array(os.path.join(store, "0"), mode="r")[...]
    for sel in [
        (slice(None, None, 2), slice(1, None, 3), slice(None)),
        (slice(None, None, -1), slice(10, 2, -2), slice(8, None, -4)),
        (slice(3, 3), slice(None), slice(None)),
        (slice(5, 2), slice(None), slice(None)),
    ]:
        np.testing.assert_array_equal(arr[sel], full[sel])


def test_a_4d_store(tmp_path):
    a = _rand((9, 8, 7, 5), "float32", seed=5)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", chunks=(4, 4, 4, 1), shards=False)
    assert isinstance(_opened(store), DirectArray)
    np.testing.assert_array_equal(lv.open(store).compute(), a)
    np.testing.assert_array_equal(
        lv.open(store)[2:7, 1:3, 6:7, 1:4].compute(), a[2:7, 1:3, 6:7, 1:4]
    )


def test_other_layouts_are_read_by_zarr_python(tmp_path):
    """The gzip codec is not read here; it still reads right (through zarr)."""
    a = _rand((16, 16, 16), "int16", seed=6)
    for shards in (False, (16, 16, 16)):
        gz = lv.Volume(a).to_zarr(
            tmp_path / f"g{bool(shards)}.zarr", codec="gzip", chunks=8, shards=shards
        )
        assert not isinstance(_opened(gz), DirectArray)
        np.testing.assert_array_equal(lv.open(gz).compute(), a)


def _meta(**over):
    meta = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [4, 4],
        "data_type": "int16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "blosc", "configuration": {"cname": "lz4"}},
            {"name": "crc32c"},
        ],
        "fill_value": 0,
    }
    meta.update(over)
    return meta


def _sharded(inner=(1, 2), index_location="end", codecs=None, index_codecs=None):
    cfg = {
        "chunk_shape": list(inner),
        "codecs": codecs or [{"name": "bytes"}, {"name": "zstd"}, {"name": "crc32c"}],
        "index_codecs": index_codecs or [{"name": "bytes"}, {"name": "crc32c"}],
        "index_location": index_location,
    }
    return _meta(codecs=[{"name": "sharding_indexed", "configuration": cfg}])


def test_direct_layout_accepts_only_the_layouts_it_decodes():
    assert direct_layout(_meta()).codec == "blosc"
    assert direct_layout(_meta(codecs=[{"name": "bytes"}, {"name": "crc32c"}])).codec == ""
    zstd = [{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 3}}, {"name": "crc32c"}]
    assert direct_layout(_meta(codecs=zstd)).codec == "zstd"
    lay = direct_layout(_sharded())
    assert (lay.codec, lay.chunk, lay.inner, lay.n_inner) == ("zstd", (2, 2), (1, 2), 2)
    assert np.isnan(direct_layout(_meta(data_type="float32", fill_value="NaN")).fill)
    refused = [
        _meta(codecs=[{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "crc32c"}]),
        _meta(
            codecs=[
                {"name": "transpose", "configuration": {"order": [1, 0]}},
                {"name": "bytes"},
                {"name": "crc32c"},
            ]
        ),
        _meta(
            codecs=[
                {"name": "bytes"},
                {"name": "gzip", "configuration": {"level": 5}},
                {"name": "crc32c"},
            ]
        ),
        _meta(codecs=[{"name": "bytes"}, {"name": "blosc"}]),  # no crc32c: nothing to check
        _meta(codecs=[{"name": "sharding_indexed", "configuration": {}}]),
        _meta(chunk_key_encoding={"name": "default", "configuration": {"separator": "."}}),
        _meta(chunk_key_encoding={"name": "v2"}),
        _meta(chunk_grid={"name": "rectilinear", "configuration": {}}),
        _meta(chunk_grid={"name": "regular", "configuration": {"chunk_shape": [2]}}),
        _meta(chunk_grid={"name": "regular", "configuration": {"chunk_shape": [0, 2]}}),
        _meta(data_type="r16"),
        _meta(storage_transformers=[{"name": "x"}]),
        _meta(zarr_format=2),
        _meta(codecs="bytes"),
        _meta(data_type="float32", fill_value="0x7fc00000"),  # zarr's hex float form
        _sharded(index_location="start"),
        _sharded(inner=(3, 2)),  # does not divide the shard
        _sharded(inner=(1,)),
        _sharded(codecs=[{"name": "bytes"}, {"name": "gzip"}, {"name": "crc32c"}]),
        _sharded(index_codecs=[{"name": "bytes"}]),
    ]
    for meta in refused:
        assert direct_layout(meta) is None, meta


def _reseal(store: str, array: str, key: str, raw: bytes) -> None:
    """Write chunk ``key`` as ``raw`` (a payload plus its crc32c) and record it in the manifest,
    re-sealed: a store whose checksums all agree but whose chunk is not what its shape needs."""
    Path(store, array, *key.split("/")).write_bytes(raw)
    node = Path(store, "lazyvol-manifest", "zarr.json")
    doc = json.loads(node.read_bytes())
    man = doc["attributes"]["lazyvol_manifest"]
    level = next(lv_ for lv_ in man["levels"] if lv_["path"] == array)
    level["chunks"][key] = [len(raw), int.from_bytes(raw[-4:], "little")]
    doc["attributes"]["lazyvol_manifest"] = zi.seal_manifest(man)
    node.write_text(json.dumps(doc))


def _with_crc(payload: bytes) -> bytes:
    return payload + zi.crc32c(payload).to_bytes(4, "little")


@pytest.mark.parametrize("codec", ["none", "blosc-lz4", "zstd"])
def test_a_chunk_of_the_wrong_size_is_a_format_error(tmp_path, codec):
    """Checksums and manifest agree, but the chunk decodes to fewer bytes than its shape needs: a
    FormatError naming the chunk, never a block with stale or missing values."""
    a = _rand((8, 8, 8), "int16", seed=7)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec=codec, chunks=4, shards=False)
    short = np.arange(4 * 4 * 3, dtype="<i2").tobytes()  # 3 of the chunk's 4 planes
    if codec == "blosc-lz4":
        from numcodecs import blosc

        short = blosc.compress(short, b"lz4", 5, blosc.SHUFFLE, 2)
    elif codec == "zstd":
        from numcodecs import zstd

        short = zstd.compress(short, 3)
    _reseal(store, "0", "c/1/0/1", _with_crc(short))
    vol = lv.open(store)
    with pytest.raises(FormatError, match=r"c/1/0/1.*decodes to"):
        vol.compute()
    np.testing.assert_array_equal(vol[:, :, :4].compute(), a[:, :, :4])


def test_a_chunk_that_does_not_decode_is_a_format_error(tmp_path):
    """Checksums and manifest agree, but the chunk is not a blosc frame (its header's own length
    is wrong), or is one whose compressed body is damaged: a FormatError naming the chunk."""
    a = _rand((8, 8, 8), "int16", seed=8)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec="blosc-lz4", chunks=4, shards=False)
    _reseal(store, "0", "c/0/0/0", _with_crc(zlib.compress(b"not a blosc frame" * 40)))
    with pytest.raises(FormatError, match=r"c/0/0/0 is not a blosc frame that states its"):
        lv.open(store).compute()
    from numcodecs import blosc

    frame = bytearray(blosc.compress(np.arange(64, dtype="<i2") % 7, b"lz4", 5, 1, 2))
    frame[16] ^= 0xFF  # the first byte after the header: the first block's offset
    _reseal(store, "0", "c/0/0/0", _with_crc(bytes(frame)))
    with pytest.raises(FormatError, match=r"c/0/0/0 passed its checksums but does not decode as"):
        lv.open(store).compute()


def test_bit_flips_are_found_on_the_direct_path(tmp_path):
    """Every byte of one blosc chunk flipped in turn (one bit each): each read raises
    IntegrityError naming the chunk; none returns values."""
    a = _rand((8, 8, 8), "int16", seed=9)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec="blosc-lz4", chunks=4, shards=False)
    assert isinstance(_opened(store), DirectArray)
    path = Path(store, "0", "c", "1", "1", "0")
    good = path.read_bytes()
    vol = lv.open(store)
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= 1 << (i % 8)
        path.write_bytes(bytes(bad))
        with pytest.raises(IntegrityError, match="c/1/1/0"):
            vol.compute()
    path.write_bytes(good)
    np.testing.assert_array_equal(vol.compute(), a)


def test_a_cache_entry_is_read_without_importing_zarr(tmp_path):
    """A fresh process opens a cached volume and computes its mean without importing zarr, and
    gets numpy's mean of the source."""
    a = _rand((64, 64, 40), "int16", seed=10)
    src = tmp_path / "v.nii"
    import nibabel as nib

    nib.save(nib.Nifti1Image(a, np.eye(4)), src)
    cache = tmp_path / "cache"
    lv.open(src, cache=str(cache))  # writes the entry
    code = (
        "import sys, lazyvol as lv\n"
        f"v = lv.open({str(src)!r}, cache={str(cache)!r})\n"
        "m = float(v.data.mean().compute())\n"
        "print(m, 'zarr' in sys.modules, v.data.name)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert float(out[0]) == pytest.approx(float(a.mean(dtype=np.float64)), rel=1e-12)
    assert out[1] == "False"
    assert out[2].startswith("lazyvol-zarr-")  # read from the cache entry, not the source


@pytest.mark.parametrize("shards", [False, (8, 8, 8)])
def test_both_read_paths_refuse_the_same_damage_alike(tmp_path, shards):
    """The same damage in a gzip store (read by zarr-python through VerifiedStore) and a blosc one
    (read here) raises IntegrityError with the same words and chunk key, at the same reads."""
    a = _rand((8, 8, 16), "int16", seed=11)
    messages = {}
    for codec in ("gzip", "blosc-lz4"):
        store = lv.Volume(a).to_zarr(
            tmp_path / f"{codec}.zarr", codec=codec, chunks=4, shards=shards
        )
        assert isinstance(_opened(store), DirectArray) == (codec != "gzip")
        keys = sorted(
            str(p.relative_to(Path(store, "0")))
            for p in Path(store, "0", "c").rglob("*")
            if p.is_file()
        )
        vol = lv.open(store)
        first, second = (Path(store, "0", k) for k in keys[:2])
        good = first.read_bytes()
        got = []
        # a bit flip, a cut, the chunk file of another key, a missing file
        for bad in (
            good[:-9] + bytes([good[-9] ^ 4]) + good[-8:],
            good[:-3],
            second.read_bytes() if second.stat().st_size != len(good) else good[:-1],
        ):
            first.write_bytes(bad)
            with pytest.raises(IntegrityError) as exc:
                vol.compute()
            got.append(str(exc.value).replace(store, "STORE"))
        first.unlink()
        with pytest.raises(IntegrityError) as exc:
            vol.compute()
        got.append(str(exc.value).replace(store, "STORE"))
        first.write_bytes(good)
        np.testing.assert_array_equal(vol.compute(), a)
        messages[codec] = got
    for gz, direct in zip(messages["gzip"], messages["blosc-lz4"]):
        # same check failed, same chunk named (sizes and fingerprints differ with the codec)
        strip = lambda m: re.sub(r"\d+ bytes|0x[0-9a-f]+|\d{3,}", "N", m)  # noqa: E731
        assert strip(gz) == strip(direct)


def _refusal_and_peak(
    store: str, error: type[Exception], grow: tuple[Path, int] | None = None
) -> tuple[str, int]:
    """The message of the ``error`` that computing the store raises, and the peak bytes allocated
    meanwhile (tracemalloc: Python objects and numpy buffers); ``grow`` extends a file (sparse)
    to a size after the open.

    In a fresh process that ends with ``os._exit`` and never stops tracemalloc: before CPython
    3.12.9 (gh-128679), ``tracemalloc.stop()`` races with numpy untracking a buffer in a thread
    that is still decoding another chunk when the refusal surfaces, and the process crashes
    (CI's Python 3.11 segfaulted here once)."""
    code = (
        "import json, os, sys, tracemalloc\n"
        "import lazyvol as lv\n"
        "from lazyvol import errors\n"
        f"vol = lv.open({str(store)!r})\n"
        f"grow = {None if grow is None else (str(grow[0]), grow[1])!r}\n"
        "if grow is not None:\n"
        "    with open(grow[0], 'r+b') as f:\n"
        "        f.truncate(grow[1])\n"
        "tracemalloc.start()\n"
        "try:\n"
        "    vol.compute()\n"
        f"except errors.{error.__name__} as exc:\n"
        "    peak = tracemalloc.get_traced_memory()[1]\n"
        "    sys.stdout.write(json.dumps([str(exc), peak]))\n"
        "    sys.stdout.flush()\n"
        "    os._exit(0)\n"
        "except BaseException as exc:\n"
        "    sys.stdout.write(json.dumps([f'{type(exc).__name__}: {exc}', -1]))\n"
        "    sys.stdout.flush()\n"
        "    os._exit(1)\n"
        "os._exit(2)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode != 2, f"computing {store} raised nothing"
    assert out.returncode == 0, (out.stdout, out.stderr[-2000:])
    message, peak = json.loads(out.stdout)
    return str(message), int(peak)


@pytest.mark.parametrize("codec", ["blosc-lz4", "zstd"])
def test_a_frame_claiming_a_huge_size_is_refused_before_any_allocation(tmp_path, codec):
    """A chunk whose frame header claims far more than its shape needs (checksums and manifest
    re-sealed to agree): a FormatError naming the chunk and the claim, and no buffer of the
    claimed size is ever allocated."""
    a = _rand((8, 8, 8), "int16", seed=9)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec=codec, chunks=4, shards=False)
    if codec == "zstd":
        from numcodecs import zstd

        claim = 64 * 2**20
        frame = zstd.compress(bytes(claim), 3)  # a few KiB that inflate to 64 MiB
    else:
        from numcodecs import blosc

        frame = bytearray(blosc.compress(bytes(128), b"lz4", 5, blosc.SHUFFLE, 2))
        claim = 2**31 - 1024
        frame[4:8] = claim.to_bytes(4, "little")  # the header's decoded size, and only that
        frame = bytes(frame)
    _reseal(store, "0", "c/0/1/0", _with_crc(frame))
    message, peak = _refusal_and_peak(store, FormatError)
    assert re.search(rf"c/0/1/0 decodes to {claim} bytes.*needs 128", message)
    assert peak < 8 * 2**20, f"{peak} bytes allocated while refusing a {claim}-byte claim"


def test_a_zstd_frame_stating_no_size_is_refused(tmp_path):
    """A well-formed zstd frame without Frame_Content_Size (one raw block; lazyvol's writes
    always state it): refused with a FormatError, not decoded into a buffer of guessed size."""
    a = _rand((8, 8, 8), "int16", seed=10)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec="zstd", chunks=4, shards=False)
    payload = a[:4, :4, :4].T.copy().tobytes()  # what the chunk should hold (any 128 bytes)
    n = len(payload)
    # magic, descriptor 0 (no content size, not single-segment), window descriptor, then one
    # last raw block: header = last(1) | type raw(0) << 1 | size << 3, 3 bytes little-endian.
    frame = b"\x28\xb5\x2f\xfd" + b"\x00" + b"\x50" + (1 | (n << 3)).to_bytes(3, "little")
    from numcodecs import zstd

    assert zstd.decompress(frame + payload) == payload  # a valid frame, as zstd reads it
    _reseal(store, "0", "c/0/0/0", _with_crc(frame + payload))
    with pytest.raises(FormatError, match=r"c/0/0/0 is not a zstd frame that states its decoded"):
        lv.open(store).compute()


@pytest.mark.parametrize("codec", ["blosc-lz4", "gzip"])  # gzip: read through zarr-python
def test_a_grown_chunk_file_is_refused_without_reading_it(tmp_path, codec):
    """A chunk file grown to 256 MiB (sparse) after the store was opened (open checks every
    file's size; this is the read's own check): an IntegrityError naming the chunk and both
    sizes, from the file's size alone; the file is never read into memory."""
    a = _rand((8, 8, 8), "int16", seed=11)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec=codec, chunks=4, shards=False)
    chunk = Path(store, "0", "c", "1", "1", "0")
    listed = chunk.stat().st_size
    message, peak = _refusal_and_peak(store, IntegrityError, grow=(chunk, 256 * 2**20))
    assert f"c/1/1/0 has {256 * 2**20} bytes, the manifest lists {listed}" in message
    assert peak < 16 * 2**20, f"{peak} bytes allocated while refusing a 256 MiB chunk file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_a_fifo_in_a_chunks_place_is_refused_not_waited_on(tmp_path, codec):
    """A named pipe put where a chunk file was, after the store was opened: the read is refused
    at once with an IntegrityError (opening a FIFO for reading waits for a writer forever)."""
    a = _rand((8, 8, 8), "int16", seed=12)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec=codec, chunks=4, shards=False)
    chunk = Path(store, "0", "c", "0", "1", "1")
    code = (
        "import os, sys, lazyvol as lv\n"
        "from lazyvol.errors import IntegrityError\n"
        f"vol = lv.open({str(store)!r})\n"
        f"os.unlink({str(chunk)!r})\n"
        f"os.mkfifo({str(chunk)!r})\n"
        "try:\n"
        "    vol.compute()\n"
        "except IntegrityError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the read waited on the FIFO instead of refusing it")
    assert out.returncode == 3, out.stderr[-2000:]
    assert "c/0/1/1 is not a regular file" in out.stdout


@pytest.mark.parametrize("codec", ["blosc-lz4", "gzip"])
def test_a_chunk_file_the_system_cannot_open_is_an_integrity_error(tmp_path, codec):
    """A chunk file replaced, after the open, by a symbolic link to itself (opening it fails with
    ELOOP): an IntegrityError naming the chunk and the system's reason, not a bare OSError."""
    a = _rand((8, 8, 8), "int16", seed=13)
    store = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec=codec, chunks=4, shards=False)
    chunk = Path(store, "0", "c", "1", "0", "1")
    vol = lv.open(store)
    chunk.unlink()
    chunk.symlink_to(chunk.name)
    with pytest.raises(
        IntegrityError, match=r"chunk file c/1/0/1 cannot be read \(Too many levels"
    ):
        vol.compute()
