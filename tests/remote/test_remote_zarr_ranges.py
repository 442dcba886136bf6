"""A sharded Zarr store over HTTP(S) read slice by slice: zarr-python asks for byte ranges (a shard
index by suffix, then each chunk), and fsspec's HTTP reads returned whatever body a server sent.
A 206 naming other bytes than asked was decoded as the chunk (wrong voxels, no error); a server
ignoring Range (200, the whole shard) or sending a shorter or longer 206 made a checksum or
reshape error blaming the store. Against the loopback hostile server; truth from zarr-python on
the local store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from hostile_server import HostileServer

import lazyvol as lv
from lazyvol.errors import FormatError, RemoteReadError
from lazyvol.testing import ome_zarr_attributes

zarr = pytest.importorskip("zarr")


def _sharded_store(
    tmp_path: Path, server: HostileServer, seed: int = 7, **behaviour: object
) -> np.ndarray:
    """A foreign OME-Zarr 0.5 store (zarr-python, uncompressed chunks in shards) served with
    ``behaviour``; its values in volume order (i, j, k)."""
    truth = np.random.default_rng(seed).integers(-2000, 2000, (8, 16, 16)).astype("int16")
    root = tmp_path / "sharded.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=3)
    arr = group.create_array(
        "0",
        shape=truth.shape,
        dtype="int16",
        chunks=(2, 8, 8),
        shards=(4, 16, 16),
        compressors=None,
    )
    arr[:] = truth
    group.attrs.update(ome_zarr_attributes(scale=[1.0, 1.0, 1.0]))
    for file in root.rglob("*"):
        if file.is_file():
            server.put(f"s.zarr/{file.relative_to(root)}", file.read_bytes(), **behaviour)
    return truth.transpose(2, 1, 0)


@pytest.mark.parametrize(
    "behaviour",
    [{}, {"norange": True}, {"halve": True}, {"cap": 100}, {"more": 100}, {"chunked": True}],
    ids=["honest", "range-ignored", "halved", "capped", "longer", "chunked"],
)
def test_a_sharded_store_read_by_ranges_gets_its_voxels(tmp_path, hostile_server, behaviour):
    truth = _sharded_store(tmp_path, hostile_server, **behaviour)
    vol = lv.open(f"{hostile_server.url}/s.zarr", chunks=(8, 8, 2))
    np.testing.assert_array_equal(vol[:8, :8, 0:1].compute(), truth[:8, :8, 0:1])
    np.testing.assert_array_equal(vol[8:, 8:, 5:7].compute(), truth[8:, 8:, 5:7])
    ranged = [e for e in hostile_server.log if e[0] == "GET" and e[2]]
    assert any(e[2].startswith("bytes=-") for e in ranged)  # (a suffix read of a shard index)
    assert any(e[2].startswith("bytes=0-") for e in ranged)  # (and a chunk read by its range)


def test_a_shifted_range_is_never_decoded_as_the_chunk(tmp_path, hostile_server):
    """A 206 whose Content-Range names other bytes than asked: the voxels came out shifted."""
    _sharded_store(tmp_path, hostile_server, shift=16)
    vol = lv.open(f"{hostile_server.url}/s.zarr", chunks=(8, 8, 2))
    with pytest.raises(
        RemoteReadError, match=r"asked for bytes 0-255, the server sent bytes 16-271"
    ):
        vol[:8, :8, 0:1].compute()


def test_a_missing_shard_still_reads_as_the_fill_value(tmp_path, hostile_server):
    """A shard never written (all fill value) is a 404 on its index read: not an error."""
    truth = _sharded_store(tmp_path, hostile_server)
    del hostile_server.objects["/s.zarr/0/c/1/0/0"]  # k = 4..7
    got = lv.open(f"{hostile_server.url}/s.zarr", chunks=(8, 8, 2))[:, :, 3:6].compute()
    np.testing.assert_array_equal(got[:, :, 0], truth[:, :, 3])
    assert not got[:, :, 1:].any()


def test_a_rate_limited_chunk_read_is_asked_again(tmp_path, hostile_server):
    """A foreign store's chunk and shard files (read whole by zarr-python through fsspec) were
    not retried: one 503 on a shard failed the compute; now as every other HTTP(S) read, then
    a typed error."""
    truth = _sharded_store(tmp_path, hostile_server)
    for path, obj in hostile_server.objects.items():
        if "/c/" in path:
            obj.status_get, obj.status_times = 503, 1
    vol = lv.open(f"{hostile_server.url}/s.zarr")
    np.testing.assert_array_equal(vol.compute(), truth)  # (whole shards)
    assert any(e[3] == 503 and "/c/" in e[1] for e in hostile_server.log)
    for path, obj in hostile_server.objects.items():
        if "/c/" in path:
            obj.status_times = None  # failing for good
    with pytest.raises(RemoteReadError, match="HTTP 503"):
        lv.open(f"{hostile_server.url}/s.zarr").compute()


def test_a_store_file_is_looked_for_by_head_and_asked_again(tmp_path, hostile_server):
    """StoreRoot.exists (which manifest a store has, whether a chunk file is there) was fsspec's
    isfile: a 503 (HEAD, then fsspec's GET) counted as absent, and a server sending bodies in
    chunks (a HEAD stating no size) had fsspec ask for the whole file."""
    from lazyvol.zarr_store import StoreRoot

    _sharded_store(tmp_path, hostile_server)
    root = StoreRoot.of(f"{hostile_server.url}/s.zarr")
    meta = hostile_server.obj("s.zarr/zarr.json")
    meta.status_head = meta.status_get = 503
    meta.status_times = 2
    assert root.exists("zarr.json")
    assert not root.exists("lazyvol-manifest.json")
    shard = hostile_server.obj("s.zarr/0/c/0/0/0")
    shard.chunked = True
    assert root.exists("0/c/0/0/0")
    assert not [e for e in hostile_server.gets("s.zarr/0/c/0/0/0") if not e[2]]
    assert shard.sent <= 1


def test_a_shard_replaced_between_its_index_and_a_chunk_is_never_mixed(tmp_path, hostile_server):
    """Two replicas answering in turn while a shard is rewritten: the index came from one
    version and the chunk bytes from the other (the same layout, other voxels: read silently).
    A chunk read is checked against the version its index read stated."""
    from lazyvol.errors import SourceChangedError

    _sharded_store(tmp_path / "new", hostile_server, seed=8)
    new = {p: o.data for p, o in hostile_server.objects.items()}
    truth = _sharded_store(tmp_path, hostile_server)
    for path, obj in hostile_server.objects.items():
        if "/c/" in path:
            obj.replicas = (new[path],)  # (a rewrite: the same layout, other voxels)
    vol = lv.open(f"{hostile_server.url}/s.zarr", chunks=(8, 8, 2))
    with pytest.raises(SourceChangedError, match=r"the object changed"):
        vol[:8, :8, 0:1].compute()
    for obj in hostile_server.objects.values():
        obj.replicas = ()
    np.testing.assert_array_equal(vol[:8, :8, 0:1].compute(), truth[:8, :8, 0:1])


def test_a_refused_index_read_of_a_whole_shard_is_not_said_truncated(tmp_path, hostile_server):
    """A proxy answering the shard index's suffix read with 416 while its Content-Range states
    the shard's size: the error said the shard was truncated ('shorter than its header says',
    write the store again) when the shard is whole and the range was valid."""
    _sharded_store(tmp_path, hostile_server)
    shard = hostile_server.obj("s.zarr/0/c/0/0/0")
    shard.refuse_ranges = True
    vol = lv.open(f"{hostile_server.url}/s.zarr", chunks=(8, 8, 2))
    with pytest.raises(RemoteReadError, match=r"refused a valid range: reading its last \d+ bytes"):
        vol[:8, :8, 0:1].compute()
    hostile_server.put("s.zarr/0/c/0/0/0", b"")  # (an empty shard: truncated, as said before)
    with pytest.raises(FormatError, match=r"truncated: reading its last \d+ bytes"):
        lv.open(f"{hostile_server.url}/s.zarr", chunks=(8, 8, 2))[:8, :8, 0:1].compute()


def test_a_chunk_read_is_checked_against_its_own_index_read(tmp_path, hostile_server):
    """Two reads of one shard at once (two dask threads), the shard rewritten between their
    index reads: the first read's chunk was checked against the version the second's index
    stated (the store remembered the last index read of any read), so it was the new bytes at the
    old index's offsets, read silently. Each read's chunks are checked against its own index."""
    from zarr.abc.store import RangeByteRequest, SuffixByteRequest
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    from lazyvol._remote_errors import _status
    from lazyvol.errors import SourceChangedError
    from lazyvol.zarr_store import StoreRoot

    _sharded_store(tmp_path / "new", hostile_server, seed=8)
    new = hostile_server.obj("s.zarr/0/c/0/0/0").data
    _sharded_store(tmp_path, hostile_server)
    shard = hostile_server.obj("s.zarr/0/c/0/0/0")
    store = StoreRoot.of(f"{hostile_server.url}/s.zarr").zarr_store("0")
    proto = default_buffer_prototype()

    async def both() -> None:
        first_index, second_index = asyncio.Event(), asyncio.Event()

        async def first() -> None:
            await store.get("c/0/0/0", proto, SuffixByteRequest(16 * 4 + 4))
            first_index.set()
            await second_index.wait()
            await store.get("c/0/0/0", proto, RangeByteRequest(0, 256))

        async def second() -> None:
            await first_index.wait()
            shard.data = new  # (rewritten between the two index reads)
            await store.get("c/0/0/0", proto, SuffixByteRequest(16 * 4 + 4))
            second_index.set()

        await asyncio.gather(asyncio.ensure_future(first()), asyncio.ensure_future(second()))

    with pytest.raises(Exception) as info:  # (412 to its If-Match: lazyvol's reader types it)
        sync(both())
    assert isinstance(info.value, SourceChangedError) or _status(info.value) == 412


def test_a_store_file_that_is_not_there_costs_one_request(tmp_path, hostile_server):
    """4199d91 asked for each absent store file (the manifests a store may have, a format-2
    .zarray beside zarr.json) by HEAD and, on its 404, by a GET of its first byte: two requests
    each where fsspec's isfile sent one (4 more at every open of a remote store). A HEAD's 404
    is final from a server that has answered a HEAD (one routing GET only may answer every HEAD
    404: tests/remote/test_hostile2_head.py); a HEAD refused (405, or 403 from a URL signed for
    GET only) still asks by GET."""
    from lazyvol.zarr_store import StoreRoot

    _sharded_store(tmp_path, hostile_server)
    root = StoreRoot.of(f"{hostile_server.url}/s.zarr")
    assert root.exists("zarr.json")  # (the server answers HEADs)
    hostile_server.log.clear()
    assert not root.exists("lazyvol-manifest.json")
    assert [e[0] for e in hostile_server.log] == ["HEAD"]
    hostile_server.obj("s.zarr/zarr.json").status_head = 405
    assert root.exists("zarr.json")


def test_a_chunk_that_does_not_decode_is_not_said_a_request_that_could_not_be_made(
    tmp_path, hostile_server
):
    """1d1104b read any ValueError in a remote failure as aiohttp refusing to make the request:
    a shard cut short after its index (index_location 'start') made zarr's 'cannot reshape' a
    'request could not be made; check the URL and storage_options (credentials given twice)'."""
    from zarr.codecs import BytesCodec, ShardingCodec

    root = tmp_path / "start.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=3)
    sharding = ShardingCodec(chunk_shape=(2, 8, 8), codecs=[BytesCodec()], index_location="start")
    arr = group.create_array(
        "0",
        shape=(8, 16, 16),
        dtype="int16",
        chunks=(4, 16, 16),
        serializer=sharding,
        compressors=None,
    )
    arr[:] = np.arange(8 * 16 * 16, dtype="int16").reshape(8, 16, 16) + 1
    group.attrs.update(ome_zarr_attributes(scale=[1.0, 1.0, 1.0]))
    for file in root.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            cut = file.relative_to(root).as_posix() == "0/c/0/0/0"
            hostile_server.put(f"s.zarr/{file.relative_to(root)}", data[:-100] if cut else data)
    vol = lv.open(f"{hostile_server.url}/s.zarr", chunks=(8, 8, 2))
    with pytest.raises(lv.errors.LazyvolError, match="cannot reshape") as info:
        vol[:, :, 0:4].compute()
    assert "could not be made" not in str(info.value)


def test_a_store_whose_metadata_the_server_gzips_on_the_fly_opens(tmp_path, hostile_server):
    """A server that sends JSON with Content-Encoding: gzip whatever the request accepts (an
    object stored with that header, as a static-site upload sets it; chunks served as stored):
    zarr-python reads the store (whole reads are decoded), lazyvol took each metadata file for
    absent (its HEAD states no decoded size, which a stamp needs) and said of the store URL 'no
    such object'. Existence and identity of a metadata file need no size: it opens and reads."""
    truth = _sharded_store(tmp_path, hostile_server)
    for name, obj in hostile_server.objects.items():
        obj.gzip_body = name.endswith("zarr.json")
    url = f"{hostile_server.url}/s.zarr"
    expected = zarr.open_array(f"{url}/0", mode="r")[:].transpose(2, 1, 0)  # (zarr-python)
    np.testing.assert_array_equal(expected, truth)
    np.testing.assert_array_equal(lv.open(url).compute(), truth)


@pytest.mark.parametrize("kind", ["lazyvol", "ome-v2", "ome-v3"])
def test_a_zarr_store_url_with_a_query_sends_it_with_every_file(tmp_path, http_server, kind):
    """A Zarr store URL whose query every file is served with (a token, a container-wide
    signature) had the group metadata asked for with it, but zarr's array store appended the
    array's keys after the query (``img.zarr?token=t/0/zarr.json``), asking for the store URL
    itself: "zarr.json (array metadata) is missing; the store was edited or damaged", of a
    store that is whole. Each file's URL is now joined before the query, as the metadata's is."""
    data = np.arange(7 * 6 * 5, dtype="int16").reshape(7, 6, 5)
    path = tmp_path / "img.zarr"
    if kind == "lazyvol":
        lv.Volume(data, np.eye(4)).to_zarr(path, chunks=(4, 3, 5))
        want = data
    else:
        fmt = 2 if kind == "ome-v2" else 3
        g = zarr.open_group(str(path), mode="w", zarr_format=fmt)
        g.create_array("0", shape=data.shape, chunks=(4, 3, 5), dtype="int16")[:] = data
        g.attrs.update(ome_zarr_attributes(scale=[1.0] * 3, version="0.4" if fmt == 2 else "0.5"))
        want = data.transpose(2, 1, 0)  # (an OME-Zarr stores z, y, x)
    for f in path.rglob("*"):
        if f.is_file():
            http_server.put(f"s/img.zarr/{f.relative_to(path).as_posix()}", f.read_bytes())
    vol = lv.open(f"{http_server.url}/s/img.zarr?token=t0k")
    np.testing.assert_array_equal(np.asarray(vol.compute()), want)
    asked = [p for m, p, _ in http_server.requests if m == "GET"]
    assert asked and all(p.endswith("?token=t0k") for p in asked), asked
